"""Line two outputs up letter by letter, so a letter dropped early does not make the rest differ.

Two outputs compared step by step (output position t against output position t) disagree at
every step after one of them skips a letter. Aligned instead (difflib's longest matching
blocks, no junk heuristic), ``DLROWOLLEH`` and ``DLROWLLEH`` differ by one letter missing from
the second, not by six changed steps.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

SAME, CHANGED, ONLY_FIRST, ONLY_SECOND = "same", "changed", "only first", "only second"


@dataclass(frozen=True)
class AlignedColumn:
    """One column of the alignment: a letter of each output (None where one has a gap)."""

    first: str | None
    second: str | None
    first_index: int | None  # position in the first output (its decode step), or None
    second_index: int | None
    status: str  # SAME, CHANGED, ONLY_FIRST or ONLY_SECOND


def align_letters(first: str, second: str) -> list[AlignedColumn]:
    """The two strings lined up: equal runs matched, the rest paired as changes or gaps."""
    columns: list[AlignedColumn] = []
    matcher = difflib.SequenceMatcher(a=first, b=second, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            columns += [AlignedColumn(first[i], second[j], i, j, SAME)
                        for i, j in zip(range(a0, a1), range(b0, b1), strict=True)]
            continue
        paired = min(a1 - a0, b1 - b0) if tag == "replace" else 0
        columns += [AlignedColumn(first[a0 + k], second[b0 + k], a0 + k, b0 + k, CHANGED)
                    for k in range(paired)]
        columns += [AlignedColumn(first[i], None, i, None, ONLY_FIRST)
                    for i in range(a0 + paired, a1)]
        columns += [AlignedColumn(None, second[j], None, j, ONLY_SECOND)
                    for j in range(b0 + paired, b1)]
    return columns


@dataclass(frozen=True)
class AlignmentSummary:
    """How many aligned columns are the same, changed, or a letter only one output has."""

    same: int
    changed: int
    only_first: int
    only_second: int

    @property
    def differing(self) -> int:
        return self.changed + self.only_first + self.only_second


def summarize(columns: list[AlignedColumn]) -> AlignmentSummary:
    """Counts of each status in ``columns``."""
    count = {status: 0 for status in (SAME, CHANGED, ONLY_FIRST, ONLY_SECOND)}
    for column in columns:
        count[column.status] += 1
    return AlignmentSummary(count[SAME], count[CHANGED], count[ONLY_FIRST], count[ONLY_SECOND])


def describe(summary: AlignmentSummary, first: str = "the first output",
             second: str = "the second output") -> str:
    """One sentence for a page: what differs once the outputs are lined up by letter."""
    if not summary.differing:
        return "Lined up letter by letter, the two outputs are the same."
    parts = []
    if summary.changed:
        parts.append(f"{summary.changed} letter(s) changed")
    if summary.only_first:
        parts.append(f"{summary.only_first} letter(s) only in {first}")
    if summary.only_second:
        parts.append(f"{summary.only_second} letter(s) only in {second}")
    return "Lined up letter by letter: {parts}; {same} letter(s) agree.".format(
        parts=", ".join(parts), same=summary.same)
