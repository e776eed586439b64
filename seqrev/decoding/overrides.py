"""Attention overrides, Seq2Seq-Vis's what-if: push the weights of one decode step towards one
input letter, a GRU's one attention or one Transformer head. Parsed from ``STEP:POS`` text (the
CLI and the URL) and checked against an input; a bad one is an :class:`OverrideError` that
names it, in the reader's language.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from seqrev.i18n import _
from seqrev.models.transformer import HeadOverride


class OverrideError(ValueError):
    """An attention override that cannot apply: malformed, out of range, or a plain model."""


@dataclass(frozen=True)
class AttentionOverride:
    """At decode ``step``, push the attention towards source ``position``.

    The weights used are ``(1 - blend) * own + blend * one_hot(position)``: ``blend = 1`` forces
    the one letter, ``0`` leaves the model alone. Steps and positions count from 0.
    """

    step: int
    position: int
    blend: float = 1.0
    layer: int | None = None  # a Transformer's layer and head; None: the last layer, head 0
    head: int | None = None

    def label(self) -> str:
        return f"{self.step}:{self.position}"


def parse_override(text: str, blend: float = 1.0) -> AttentionOverride:
    """``"STEP:POS"`` (two whole numbers >= 0) as an override; OverrideError naming the text."""
    parts = text.strip().split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise OverrideError(_("{text} is not STEP:POS (two whole numbers, e.g. 3:17)").format(
            text=repr(text)))
    return AttentionOverride(int(parts[0]), int(parts[1]), check_blend(blend))


def parse_overrides(text: str, blend: float = 1.0) -> list[AttentionOverride]:
    """A comma-separated list such as ``"3:17,5:2"`` (the URL's form); empty text gives []."""
    return [parse_override(part, blend) for part in text.split(",")] if text.strip() else []


def check_blend(blend: float) -> float:
    """``blend`` as a float in [0, 1], or OverrideError naming it."""
    try:
        value = float(blend)
    except (TypeError, ValueError):
        raise OverrideError(_("blend {blend} is not a number between 0 and 1").format(
            blend=repr(blend))) from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise OverrideError(_("blend {blend} is outside [0, 1]").format(blend=repr(blend)))
    return value


def override_steps(source_len: int) -> int:
    """How many decode steps can be overridden: the S letters and the ``<eos>`` step."""
    return source_len + 1


def check_overrides(overrides: Iterable[AttentionOverride], source_len: int, has_attention: bool
                    ) -> tuple[AttentionOverride, ...]:
    """The overrides sorted by step, or OverrideError naming the first bad one."""
    overrides = tuple(sorted(overrides, key=lambda o: o.step))
    if overrides and not has_attention:
        raise OverrideError(_("a plain model has no attention to override"))
    seen: set[int] = set()
    for override in overrides:
        check_blend(override.blend)
        if not 0 <= override.step < override_steps(source_len):
            raise OverrideError(_(
                "step {step} in {override} is out of range: a {n}-letter input decodes in "
                "steps 0-{n}").format(step=override.step, override=repr(override.label()),
                                      n=source_len))
        if not 0 <= override.position < source_len:
            raise OverrideError(_(
                "position {position} in {override} is out of range: the input has positions "
                "0-{last}").format(position=override.position,
                                   override=repr(override.label()), last=source_len - 1))
        if override.step in seen:
            raise OverrideError(_("step {step} is overridden twice; one per step").format(
                step=override.step))
        seen.add(override.step)
    return overrides


def head_override(model, override: AttentionOverride) -> HeadOverride:
    """``override`` as the Transformer's: one head pushed, the last layer's first by default."""
    layer = model.config.n_layers - 1 if override.layer is None else override.layer
    head = 0 if override.head is None else override.head
    return HeadOverride(layer, head, override.position, override.blend)
