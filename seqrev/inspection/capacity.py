"""The capacity question: how big must the hidden vector be to reverse N letters?

Each sweep trial is scored on fresh strings at every length from 1 to twice its training
maximum. From those rows this module builds the heatmap table (test length x hidden size) and
the curve "smallest hidden size that reaches 95% exact match at length N", per model.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from seqrev.decoding.evaluation import evaluate_fresh
from seqrev.i18n import _
from seqrev.models.seq2seq import Seq2Seq
from seqrev.tasks.vocab import MAX_INPUT_LEN

THRESHOLD = 0.95  # "reaches" means at least this exact match
SHIPPED_RESULTS = Path(__file__).resolve().parents[2] / "sweeps" / "capacity.csv"
# one row per (trial, test length); the shipped CSV has exactly these columns
COLUMNS = ("sweep_id", "run_id", "kind", "hidden_dim", "embedding_dim", "score", "min_len",
           "max_len", "learning_rate", "batch_size", "steps", "seed", "steps_done",
           "train_seconds", "test_length", "n", "exact_match", "char_accuracy")
TRIAL_SETTINGS = ("kind", "hidden_dim", "embedding_dim", "score", "min_len", "max_len",
                  "learning_rate", "batch_size", "steps", "seed")


def test_lengths(max_len: int) -> list[int]:
    """Lengths a trial trained up to ``max_len`` is scored at: 1 .. 2 * max_len (capped)."""
    return list(range(1, min(2 * max_len, MAX_INPUT_LEN) + 1))


def evaluate_lengths(model: Seq2Seq, max_len: int, n_per_length: int = 200,
                     seed: int = 0) -> list[dict]:
    """Exact match and char accuracy on ``n_per_length`` fresh strings at each test length.

    Each length gets its own strings (seed ``seed + length``), apart from the training batches
    (drawn from the trial's own generator) and the held-out set (``eval_seed``).
    """
    rows = []
    for length in test_lengths(max_len):
        report = evaluate_fresh(model, n_per_length, length, length, seed + 7919 * length,
                                max_failures=0)
        rows.append({"test_length": length, "n": report.n,
                     "exact_match": round(report.exact_match, 6),
                     "char_accuracy": round(report.char_accuracy, 6)})
    return rows


def trial_rows(sweep_id: str, run_id: str, settings: dict, lengths: list[dict],
               steps_done: int, train_seconds: float) -> list[dict]:
    """The long-form rows (COLUMNS) of one trial's evaluation by length."""
    base = {"sweep_id": sweep_id, "run_id": run_id, "steps_done": steps_done,
            "train_seconds": round(train_seconds, 3)}
    base.update({name: settings.get(name) for name in TRIAL_SETTINGS})
    return [{**base, **row} for row in lengths]


def load_results(path: Path | str = SHIPPED_RESULTS) -> pd.DataFrame:
    """A results CSV as a DataFrame; ValueError (one line, in the current language) if it is
    missing or malformed."""
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(_("cannot read sweep results {file}: {reason}").format(
            file=Path(path).name, reason=reason)) from None  # the reason as pandas or the OS says
    missing = [c for c in ("kind", "hidden_dim", "max_len", "test_length", "exact_match")
               if c not in frame.columns]
    if missing:
        raise ValueError(_("sweep results {file} lack columns {columns}").format(
            file=Path(path).name, columns=", ".join(missing)))
    return frame


def save_results(frame: pd.DataFrame, path: Path | str) -> Path:
    """Write ``frame`` (COLUMNS, sorted) as CSV; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = frame[[c for c in COLUMNS if c in frame.columns]].sort_values(
        ["kind", "max_len", "hidden_dim", "seed", "test_length"])
    ordered.to_csv(path, index=False, float_format="%.6g")
    return path


def aggregate(frame: pd.DataFrame, max_len: int | None = None,
              within_training: bool = False) -> pd.DataFrame:
    """Exact match by (kind, hidden_dim, test_length): mean over seeds, best over other settings.

    ``max_len`` keeps only trials trained up to that length; ``within_training`` keeps only
    test lengths inside each trial's training range (capacity, not generalisation).
    """
    rows = frame
    if max_len is not None:
        rows = rows[rows["max_len"] == max_len]
    if within_training:
        rows = rows[rows["test_length"] <= rows["max_len"]]
    if rows.empty:
        return pd.DataFrame(columns=["kind", "hidden_dim", "test_length", "exact_match",
                                     "char_accuracy", "trials"])
    settings = [c for c in TRIAL_SETTINGS if c in rows.columns and c != "seed"]
    keys = settings + ["test_length"]
    has_char = "char_accuracy" in rows.columns
    per_setting = rows.groupby(keys, dropna=False).agg(
        exact_match=("exact_match", "mean"),
        char_accuracy=("char_accuracy" if has_char else "exact_match", "mean"),
        trials=("exact_match", "size"),
    ).reset_index()
    best = per_setting.sort_values("exact_match").groupby(
        ["kind", "hidden_dim", "test_length"]).tail(1)
    return best[["kind", "hidden_dim", "test_length", "exact_match", "char_accuracy",
                 "trials"]].sort_values(["kind", "hidden_dim", "test_length"]).reset_index(
        drop=True)


def capacity_curve(frame: pd.DataFrame, threshold: float = THRESHOLD,
                   within_training: bool = True) -> pd.DataFrame:
    """For each model and test length N, the smallest hidden size that reaches ``threshold`` at
    every length 1..N: the same reading as ``longest_reached``, so curve and table agree.

    Columns: kind, test_length, hidden_dim (NaN where no hidden size in the sweep reaches it).
    With ``within_training`` a trial counts at N only if N is inside its training range.
    """
    table = aggregate(frame, within_training=within_training)
    longest = longest_reached(frame, threshold, within_training)
    out = []
    for (kind, length), _rows in table.groupby(["kind", "test_length"]):
        mine = longest[longest["kind"] == kind]
        reached = mine.loc[mine["longest"] >= length, "hidden_dim"]
        out.append({"kind": kind, "test_length": int(length),
                    "hidden_dim": float(reached.min()) if len(reached) else float("nan")})
    return pd.DataFrame(out, columns=["kind", "test_length", "hidden_dim"])


def longest_reached(frame: pd.DataFrame, threshold: float = THRESHOLD,
                    within_training: bool = True) -> pd.DataFrame:
    """Per model and hidden size, the longest N such that every length 1..N reaches ``threshold``.

    Columns: kind, hidden_dim, longest, hidden_per_letter (hidden_dim / longest), tested_up_to.
    """
    table = aggregate(frame, within_training=within_training)
    out = []
    for (kind, hidden), group in table.groupby(["kind", "hidden_dim"]):
        group = group.sort_values("test_length")
        longest = 0
        for length, exact in zip(group["test_length"], group["exact_match"], strict=True):
            if length != longest + 1 or exact < threshold:
                break
            longest = int(length)
        out.append({"kind": kind, "hidden_dim": int(hidden), "longest": longest,
                    "hidden_per_letter": hidden / longest if longest else float("nan"),
                    "tested_up_to": int(group["test_length"].max())})
    return pd.DataFrame(out, columns=["kind", "hidden_dim", "longest", "hidden_per_letter",
                                      "tested_up_to"])


def longest_by_seed(frame: pd.DataFrame, threshold: float = THRESHOLD,
                    within_training: bool = True) -> pd.DataFrame:
    """``longest_reached`` of each seed on its own, to show how much one seed can be trusted.

    Columns: kind, hidden_dim, seed, longest. Results without a seed column count as seed 0.
    """
    seeds = frame["seed"] if "seed" in frame.columns else pd.Series(0, index=frame.index)
    parts = [longest_reached(frame[seeds == seed], threshold, within_training)
             .assign(seed=int(seed))[["kind", "hidden_dim", "seed", "longest"]]
             for seed in sorted(seeds.dropna().unique())]
    if not parts:
        return pd.DataFrame(columns=["kind", "hidden_dim", "seed", "longest"])
    return pd.concat(parts, ignore_index=True).sort_values(
        ["kind", "hidden_dim", "seed"]).reset_index(drop=True)


def seed_spread(by_seed: pd.DataFrame) -> pd.DataFrame:
    """Per model and hidden size, the lowest, median and highest longest N over seeds.

    Columns: kind, hidden_dim, seeds, lowest, median, highest, per_seed (the values in seed
    order, as a list).
    """
    out = []
    for (kind, hidden), group in by_seed.groupby(["kind", "hidden_dim"]):
        values = group.sort_values("seed")["longest"].astype(int).tolist()
        out.append({"kind": kind, "hidden_dim": int(hidden), "seeds": len(values),
                    "lowest": min(values), "median": float(pd.Series(values).median()),
                    "highest": max(values), "per_seed": values})
    return pd.DataFrame(out, columns=["kind", "hidden_dim", "seeds", "lowest", "median",
                                      "highest", "per_seed"])
