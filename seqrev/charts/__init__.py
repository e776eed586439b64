"""Pictures and tables built from plain data: no Streamlit in here.

One module per page's ideas: ``training`` (progress charts), ``decoding`` (step views, beam
tree), ``attention`` (heatmaps and the plain-vs-attention comparison). ``headline_table`` is
the home page's summary.
"""

from __future__ import annotations

import pandas as pd


def headline_table(sidecars: list[dict]) -> pd.DataFrame:
    """One row per checkpoint sidecar: kind, size, training and length-10 accuracy."""
    rows = []
    for meta in sidecars:
        config = meta.get("model_config") or {}
        evaluation = meta.get("evaluation") or {}
        ten = evaluation.get("length_10") or {}
        trained = evaluation.get("training_range") or {}
        train_config = meta.get("train_config") or {}
        rows.append({
            "model": meta.get("name", "?"),
            "kind": config.get("kind", "?"),
            "score": config.get("score", "") if config.get("kind") == "attention" else "",
            "hidden": config.get("hidden_dim"),
            "trained on lengths": (f"{train_config.get('min_len')}-{train_config.get('max_len')}"
                                   if train_config else "?"),
            "steps": meta.get("steps_done"),
            "training time (s)": meta.get("training_seconds"),
            "exact match, length 10": ten.get("exact_match"),
            "char accuracy, length 10": ten.get("char_accuracy"),
            "exact match, training lengths": trained.get("exact_match"),
        })
    return pd.DataFrame(rows)


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
