"""A pairs model on its file's held-out rows: scored, row by row, in the file's own symbols.

The held-out rows are the ones the checkpoint keeps (never trained on), so these numbers are
the honest ones; the export neutralises every cell a spreadsheet would run as a formula.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd

from seqrev.decoding.evaluation import EvalReport, greedy_by_length, score_outputs
from seqrev.models.seq2seq import Seq2Seq
from seqrev.tasks.pairs import PairsTask, write_csv
from seqrev.tasks.vocab import decode

COLUMNS = ("input", "expected", "produced", "correct")


@dataclass
class HeldOut:
    """The held-out rows' score and each row: input, expected, produced (file symbols)."""

    report: EvalReport
    rows: pd.DataFrame  # COLUMNS, in the split's order


def score_held_out(model: Seq2Seq, task: PairsTask) -> HeldOut:
    """Greedy-decode every held-out row of ``task`` and score it against the file's output."""
    batch = task.eval_set()
    outputs = greedy_by_length(model, batch)  # (rows, steps)
    report = score_outputs(batch, outputs, max_failures=0)
    produced = [task.to_symbols(decode(row)) for row in outputs]
    rows = pd.DataFrame(
        [(source, expected, made, made == expected)
         for (source, expected), made in zip(task.held_out, produced, strict=True)],
        columns=list(COLUMNS))
    return HeldOut(report, rows)


def held_out_csv(result: HeldOut) -> str:
    """The rows as CSV text, each cell safe to open in a spreadsheet."""
    buffer = io.StringIO()
    write_csv(result.rows.itertuples(index=False), buffer, header=COLUMNS)
    return buffer.getvalue()
