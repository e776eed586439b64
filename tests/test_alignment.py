"""Lining two outputs up letter by letter (seqrev.inspection.alignment)."""

from hypothesis import given
from hypothesis import strategies as st

from seqrev.inspection.alignment import (
    CHANGED,
    ONLY_FIRST,
    ONLY_SECOND,
    SAME,
    align_letters,
    describe,
    summarize,
)

LETTERS = st.text(alphabet="ABCDE", max_size=20)


def test_one_dropped_letter_is_one_column_not_every_later_step():
    columns = align_letters("DLROWOLLEH", "DLROWLLEH")
    summary = summarize(columns)
    assert (summary.same, summary.changed, summary.only_first, summary.only_second) == (9, 0, 1, 0)
    gap = next(c for c in columns if c.status == ONLY_FIRST)
    assert gap.first == "O" and gap.second is None and gap.second_index is None
    # step by step, a dropped letter makes every later position differ
    stepwise = [a != b for a, b in zip("ABCDEFGH", "ACDEFGH ", strict=True)]
    assert sum(stepwise) == 7
    assert summarize(align_letters("ABCDEFGH", "ACDEFGH")).differing == 1


def test_a_shift_by_one_letter_reads_as_one_gap_each_end():
    summary = summarize(align_letters("ABCDEFGHIJKLMNOPQRSTUVWXYZA", "BCDEFGHIJKLMNOPQRSTUVWXYZAB"))
    assert summary.differing == 2 and summary.only_first == 1 and summary.only_second == 1


def test_a_changed_letter_pairs_up():
    columns = align_letters("ABCD", "ABXD")
    assert [c.status for c in columns] == [SAME, SAME, CHANGED, SAME]
    assert (columns[2].first, columns[2].second) == ("C", "X")


def test_empty_and_equal_strings():
    assert align_letters("", "") == []
    assert [c.status for c in align_letters("", "AB")] == [ONLY_SECOND, ONLY_SECOND]
    assert describe(summarize(align_letters("ABC", "ABC"))) == (
        "Lined up letter by letter, the two outputs are the same.")


def test_describe_names_both_outputs():
    text = describe(summarize(align_letters("ABCD", "ABD")), "the own run", "the forced run")
    assert text == "Lined up letter by letter: 1 letter(s) only in the own run; 3 letter(s) agree."


@given(LETTERS, LETTERS)
def test_columns_rebuild_both_strings_in_order(first, second):
    columns = align_letters(first, second)
    assert "".join(c.first or "" for c in columns) == first
    assert "".join(c.second or "" for c in columns) == second
    assert [c.first_index for c in columns if c.first is not None] == list(range(len(first)))
    assert [c.second_index for c in columns if c.second is not None] == list(range(len(second)))
    for column in columns:
        assert (column.status == SAME) == (column.first == column.second)
    summary = summarize(columns)
    assert summary.same + summary.changed + summary.only_first == len(first)
    assert summary.same + summary.changed + summary.only_second == len(second)
    # never worse than comparing position by position
    stepwise = sum(a == b for a, b in zip(first, second, strict=False))
    assert summary.same >= stepwise
