"""The model kinds seqrev trains, each declared once: its name, what it is, its colour on every
chart, its default training steps, its shipped checkpoint and the class that builds it.

Everything that lists kinds (the Train page's choice, the sidebar's pickers, the charts'
colours, the default steps, the shipped checkpoints) reads :data:`KINDS`. A new kind is one
:class:`ModelKind` here plus the module its ``builder`` names; the builder is a
``"module:Class"`` path resolved when a model is built, so this module imports no model.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelKind:
    """One kind of model, as every part of the app sees it."""

    name: str  # the setting's value: --model NAME
    title: str  # "Plain model"
    summary: str  # one line: what the decoder gets
    color: str  # hex, the same on every chart
    text_color: str  # the nearest of Streamlit's Markdown colours, for ":blue[Plain]"
    default_steps: int  # trained alone with the app's defaults
    shipped: str  # the shipped checkpoint's name
    builder: str  # "module:Class", called with the model's config
    has_attention: bool


# Default steps: attention is at 99% well before the plain model is at 95% (docs/speed.md); the
# Transformer held 100% at every length 1-16 after 1000 (300 fresh strings per length).
KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (
    ModelKind("plain", "Plain model", "the encoder's last state is all the decoder gets",
              "#1f77b4", "blue", 1500, "plain", "seqrev.models.seq2seq:Seq2Seq",
              has_attention=False),
    ModelKind("attention", "Attention model",
              "the decoder looks back at every encoder state", "#ff7f0e", "orange", 1200,
              "attention", "seqrev.models.seq2seq:Seq2Seq", has_attention=True),
    ModelKind("transformer", "Transformer",
              "self-attention in place of the recurrence; every layer's heads look back at the "
              "encoder", "#2ca02c", "green", 1000, "transformer",
              "seqrev.models.transformer:Transformer", has_attention=True),
)}
KIND_NAMES = tuple(KINDS)


def model_kind(name: str) -> ModelKind:
    """The kind called ``name``; ValueError naming the known ones otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown model kind {name!r}; choose from "
                         f"{', '.join(KIND_NAMES)}") from None


def builder_of(name: str):
    """The class that builds a model of kind ``name`` (imported on first use)."""
    module, _, attribute = model_kind(name).builder.partition(":")
    return getattr(importlib.import_module(module), attribute)
