"""Where a model's attention sits against the task's outline, over many fresh strings.

The shipped attention model reads one column right of reversal's textbook outline (its
left-to-right encoder's state at i still remembers letter i-1). :func:`offset_masses` measures
that on fresh strings: the mean weight on the outline shifted by each offset, so models can be
compared by one table (a bidirectional encoder's states at i know letter i from both sides).
"""

from __future__ import annotations

from collections.abc import Sequence

from seqrev.decoding.search import greedy_trace
from seqrev.inspection.analysis import diagonal_mass
from seqrev.tasks.base import LetterTask
from seqrev.tasks.vocab import decode


def fresh_strings(task: LetterTask, n: int, seed: int) -> list[str]:
    """``n`` strings drawn by ``task`` (its lengths), the same for the same seed."""
    batch = task.eval_set(n, seed)
    return [decode(row[:length]) for row, length in zip(batch.source, batch.lengths.tolist(),
                                                        strict=True)]


def offset_masses(model, task: LetterTask, strings: Sequence[str],
                  offsets: Sequence[int] = (-1, 0, 1)) -> dict[int, float]:
    """Mean over ``strings`` (greedy decodes) of the attention weight on the outline shifted by
    each offset (0: the outline itself); a string where a shift leaves the row is skipped for it.
    """
    totals = {offset: [] for offset in offsets}
    for text in strings:
        trace = greedy_trace(model, text, task=task)
        matrix = trace.attention_matrix()  # (steps, S)
        if matrix is None:
            raise ValueError("a plain model has no attention to place")
        for offset in offsets:
            mass = diagonal_mass(matrix, trace.alignment, offset)
            if mass is not None:
                totals[offset].append(mass)
    return {offset: sum(values) / len(values) for offset, values in totals.items() if values}
