"""Line two outputs up letter by letter, so a letter dropped early does not make the rest differ.

Two outputs compared step by step (output position t against output position t) disagree at
every step after one of them skips a letter. Aligned instead on a longest common subsequence,
``DLROWOLLEH`` and ``DLROWLLEH`` differ by one letter missing from the second, not by six
changed steps. A longest common subsequence (not difflib's greedy matching blocks) never
agrees on fewer letters than the step-by-step comparison does.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqrev.i18n import N_, _

SAME, CHANGED, ONLY_FIRST, ONLY_SECOND = "same", "changed", "only first", "only second"


@dataclass(frozen=True)
class AlignedColumn:
    """One column of the alignment: a letter of each output (None where one has a gap)."""

    first: str | None
    second: str | None
    first_index: int | None  # position in the first output (its decode step), or None
    second_index: int | None
    status: str  # SAME, CHANGED, ONLY_FIRST or ONLY_SECOND


def _common_letters(first: str, second: str) -> list[tuple[int, int]]:
    """Index pairs of one longest common subsequence of the two strings, in order."""
    # longest[i][j]: the longest common subsequence of first[i:] and second[j:]
    longest = [[0] * (len(second) + 1) for _row in range(len(first) + 1)]
    for i in range(len(first) - 1, -1, -1):
        for j in range(len(second) - 1, -1, -1):
            longest[i][j] = (longest[i + 1][j + 1] + 1 if first[i] == second[j]
                             else max(longest[i + 1][j], longest[i][j + 1]))
    pairs, i, j = [], 0, 0
    while i < len(first) and j < len(second):
        if first[i] == second[j] and longest[i][j] == longest[i + 1][j + 1] + 1:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif longest[i + 1][j] >= longest[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def align_letters(first: str, second: str) -> list[AlignedColumn]:
    """The two strings lined up: common letters matched, the rest paired as changes or gaps."""
    columns: list[AlignedColumn] = []
    a0 = b0 = 0
    for a1, b1 in [*_common_letters(first, second), (len(first), len(second))]:
        paired = min(a1 - a0, b1 - b0)  # letters between two matches: changes, then gaps
        columns += [AlignedColumn(first[a0 + k], second[b0 + k], a0 + k, b0 + k, CHANGED)
                    for k in range(paired)]
        columns += [AlignedColumn(first[i], None, i, None, ONLY_FIRST)
                    for i in range(a0 + paired, a1)]
        columns += [AlignedColumn(None, second[j], None, j, ONLY_SECOND)
                    for j in range(b0 + paired, b1)]
        if a1 < len(first) and b1 < len(second):
            columns.append(AlignedColumn(first[a1], second[b1], a1, b1, SAME))
        a0, b0 = a1 + 1, b1 + 1
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


FIRST_OUTPUT, SECOND_OUTPUT = N_("the first output"), N_("the second output")


def describe(summary: AlignmentSummary, first: str = FIRST_OUTPUT,
             second: str = SECOND_OUTPUT) -> str:
    """One sentence for a page, in the current language: what differs once the outputs are
    lined up by letter. ``first`` and ``second`` name the outputs (in English, marked with
    ``N_``: they are translated here too)."""
    if not summary.differing:
        return _("Lined up letter by letter, the two outputs are the same.")
    parts = []
    if summary.changed:
        parts.append(_("{n} letter(s) changed").format(n=summary.changed))
    if summary.only_first:
        parts.append(_("{n} letter(s) only in {output}").format(n=summary.only_first,
                                                                output=_(first)))
    if summary.only_second:
        parts.append(_("{n} letter(s) only in {output}").format(n=summary.only_second,
                                                                output=_(second)))
    return _("Lined up letter by letter: {parts}; {same} letter(s) agree.").format(
        parts=_(", ").join(parts), same=summary.same)
