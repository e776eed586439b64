"""Pictures and tables built from plain data: no Streamlit in here.

One module per page's ideas: ``training`` (progress charts), ``decoding`` (step views, beam
tree), ``attention`` (heatmaps and the plain-vs-attention comparison). ``headline_table`` is
the home page's summary.
"""

from __future__ import annotations

import pandas as pd

from seqrev.i18n import N_
from seqrev.runs.history import format_duration
from seqrev.tables import ColumnSpec

HEADLINE_COLUMNS = (  # headers and help are marked: the page shows them with _()
    ColumnSpec("model", N_("model"), N_("The checkpoint's name."), 110),
    ColumnSpec("kind", N_("kind"), N_("plain, attention or transformer"), 80),
    ColumnSpec("score", N_("score"), N_("The attention score function."), 75),
    ColumnSpec("hidden", N_("hidden"), N_("The GRU's hidden size, or the Transformer's width."),
               70),
    ColumnSpec("lengths", N_("lengths"), N_("The string lengths it was trained on."), 75),
    ColumnSpec("steps", N_("steps"), N_("Optimizer steps it was trained for."), 65),
    ColumnSpec("time", N_("time"), N_("Wall time of its training."), 60),
    ColumnSpec("exact 10", N_("exact (10)"), N_("Exact match on fresh strings of length 10."),
               100, "percent"),
    ColumnSpec("chars 10", N_("chars (10)"),
               N_("Character accuracy on fresh strings of length 10."), 100, "percent"),
    ColumnSpec("exact trained", N_("exact (train)"),
               N_("Exact match on fresh strings of its training lengths."), 120, "percent"),
)


def headline_table(sidecars: list[dict]) -> pd.DataFrame:
    """One row per checkpoint sidecar: kind, size, training and length-10 accuracy.

    Its columns are described, in order, by ``HEADLINE_COLUMNS``.
    """
    rows = []
    for meta in sidecars:
        config = meta.get("model_config") or {}
        evaluation = meta.get("evaluation") or {}
        ten = evaluation.get("length_10") or {}
        trained = evaluation.get("training_range") or {}
        train_config = meta.get("train_config") or {}
        seconds = meta.get("training_seconds")
        rows.append({
            "model": meta.get("name", "?"),
            "kind": config.get("kind", "?"),
            "score": {"attention": config.get("score", ""), "transformer": "scaled_dot"}.get(
                config.get("kind"), ""),
            "hidden": config.get("d_model" if config.get("kind") == "transformer"
                                 else "hidden_dim"),
            "lengths": (f"{train_config.get('min_len')}-{train_config.get('max_len')}"
                        if train_config else "?"),
            "steps": meta.get("steps_done"),
            "time": "" if seconds is None else format_duration(seconds),
            "exact 10": ten.get("exact_match"),
            "chars 10": ten.get("char_accuracy"),
            "exact trained": trained.get("exact_match", ten.get("exact_match")
                                         if train_config.get("max_len") == 10
                                         and train_config.get("min_len") == 10 else None),
        })
    return pd.DataFrame(rows, columns=[column.name for column in HEADLINE_COLUMNS])


def sidecar_accuracy_by_length(sidecars: list[dict]) -> pd.DataFrame:
    """Exact match by length from each sidecar's evaluation, one row per (kind, length).

    Columns: length, model (the kind), n, exact_match, char_accuracy.
    """
    rows = []
    for meta in sidecars:
        kind = (meta.get("model_config") or {}).get("kind", "?")
        by_length = (meta.get("evaluation") or {}).get("by_length") or {}
        for length, numbers in by_length.items():
            rows.append({"length": int(length), "model": kind, "n": numbers.get("n"),
                         "exact_match": numbers.get("exact_match"),
                         "char_accuracy": numbers.get("char_accuracy")})
    columns = ["length", "model", "n", "exact_match", "char_accuracy"]
    return pd.DataFrame(rows, columns=columns).sort_values(["model", "length"], ignore_index=True)
