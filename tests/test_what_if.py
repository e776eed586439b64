"""The what-if helpers (inspection.what_if): labels, the starting choice, and the suggestion."""

import pytest

from seqrev.checkpoints.store import load_checkpoint
from seqrev.decoding.search import AttentionOverride, greedy_trace
from seqrev.inspection.what_if import (
    OWN,
    TEXTBOOK,
    default_force,
    position_label,
    suggest_override,
    textbook_position,
)
from seqrev.tasks.registry import make_task


@pytest.fixture(scope="module")
def attention():
    return load_checkpoint("attention").model


def reversal(length: int):
    return make_task("reverse").alignment("A" * length)


def test_textbook_position_is_the_anti_diagonal_then_none():
    assert [textbook_position(reversal(4), t) for t in range(5)] == [3, 2, 1, 0, None]
    assert textbook_position(None, 0) is None


def test_textbook_position_follows_the_task():
    assert [textbook_position(make_task("copy").alignment("ABCD"), t) for t in range(5)] == [
        0, 1, 2, 3, None]
    sort = make_task("sort").alignment("DBCA")
    assert [textbook_position(sort, t) for t in range(4)] == [3, 1, 2, 0]


def test_position_labels_mark_both_diagonals():
    outline = reversal(5)
    assert position_label("ABCDE", 1, 3, alignment=outline) == "1: B (textbook outline)"
    assert position_label("ABCDE", 2, 3, model_offset=1, alignment=outline) == (
        "2: C (the model's own diagonal)")
    assert position_label("ABCDE", 0, 3, model_offset=1, alignment=outline) == "0: A"
    assert position_label("ABCDE", 4, 5, model_offset=1, alignment=outline) == "4: E"
    assert position_label("ABCDE", 1, 3) == "1: B"  # no outline known
    assert position_label("ABCDE", 3, 3, alignment=make_task("copy").alignment("ABCDE")) == (
        "3: D (textbook outline)")


@pytest.mark.parametrize("length, step, expected", [
    (21, None, (3, 17)), (2, None, (1, 0)), (1, None, (0, 0)),
    (21, 7, (7, 13)), (21, 21, (21, 20)), (21, 22, (3, 17)), (5, -1, (3, 1)),
])
def test_default_force_starts_on_step_three_of_the_outline(length, step, expected):
    assert default_force(length, step, reversal(length)) == expected


def test_default_force_reads_the_tasks_outline_or_the_last_letter():
    assert default_force(6, None, make_task("copy").alignment("ABCDEF")) == (3, 3)
    assert default_force(6, None, None) == (3, 5)


def test_default_force_refuses_an_empty_source():
    with pytest.raises(ValueError):
        default_force(0)


def test_suggestion_on_the_shipped_model_does_what_it_says(attention):
    source = "ATTENTIONISALLYOUNEED"
    suggestion = suggest_override(attention, greedy_trace(attention, source))
    assert suggestion.kind == TEXTBOOK and suggestion.skips_one
    assert suggestion.position == textbook_position(reversal(len(source)), suggestion.step)
    forced = greedy_trace(attention, source,
                          overrides=[AttentionOverride(suggestion.step, suggestion.position)])
    assert forced.output == suggestion.output
    assert forced.output[suggestion.step] == suggestion.written != suggestion.expected
    assert len(forced.output) == len(source) - 1  # one letter short, the rest right
    sentence = suggestion.sentence(source)
    assert f"write {suggestion.written} instead of {suggestion.expected}" in sentence
    assert "i−1" in sentence


def test_no_suggestion_for_a_string_too_short(attention):
    assert suggest_override(attention, greedy_trace(attention, "AB")) is None


def test_a_harmless_textbook_cell_is_offered_as_such(attention):
    suggestion = suggest_override(attention, greedy_trace(attention, "ABC"))
    if suggestion.kind == OWN:
        assert suggestion.written == suggestion.expected
        assert "changes nothing" in suggestion.sentence("ABC")
    else:
        assert suggestion.written != suggestion.expected
