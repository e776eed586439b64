"""What the Attention page's what-if controls offer: labels, a starting choice, a suggestion.

The textbook outline is the task's alignment: for reversal step ``t`` reads input ``S-1-t``.
A trained left-to-right model often reads one column right (``S-t``, the "+1" diagonal): the
encoder's state at ``i`` has read letter ``i`` last and still remembers letter ``i-1``, the one
to write. Forcing such a model
onto the textbook cell therefore makes it write the letter *after* the right one in the
answer: it skips a letter. :func:`suggest_override` finds a step where that shows cleanly,
by running the forced decode, so the page can say what will happen before the user clicks.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqrev.decoding.search import AttentionOverride, DecodeTrace, greedy_trace, override_steps
from seqrev.i18n import _
from seqrev.inspection.alignment import align_letters, summarize
from seqrev.models.seq2seq import Seq2Seq

TEXTBOOK, OWN = "textbook", "own"
MAX_CANDIDATES = 8  # forced decodes tried when looking for a suggestion


Alignment = list[frozenset[int]] | None  # the task's outline: per step, positions to read


def textbook_position(alignment: Alignment, step: int) -> int | None:
    """The input letter the textbook outline reads at ``step`` (the first, if it names
    several); None at ``<eos>`` or when the task cannot say."""
    if alignment is None or not 0 <= step < len(alignment) or not alignment[step]:
        return None
    return min(alignment[step])


def position_label(source: str, position: int, step: int, model_offset: int = 0,
                   alignment: Alignment = None) -> str:
    """``"17: N (textbook outline)"``: a what-if choice, marked where a diagonal crosses it."""
    outline = alignment[step] if alignment is not None and 0 <= step < len(alignment) else ()
    marks = []
    if position in outline:
        marks.append(_("textbook outline"))
    if model_offset and position - model_offset in outline:
        marks.append(_("the model's own diagonal"))
    suffix = _(" ({marks})").format(marks=_(", ").join(marks)) if marks else ""
    return f"{position}: {source[position]}{suffix}"


def default_force(source_len: int, step: int | None = None, alignment: Alignment = None
                  ) -> tuple[int, int]:
    """The (step, position) the what-if controls start on: step 3 (or the last letter's step)
    and the letter the textbook outline reads there (the last letter where it names none);
    kept when ``step`` is still valid."""
    if source_len < 1:
        raise ValueError(_("an empty source has no step to force"))
    if step is None or not 0 <= step < override_steps(source_len):
        step = min(3, source_len - 1)
    position = textbook_position(alignment, step)
    return step, source_len - 1 if position is None else position


@dataclass(frozen=True)
class Suggestion:
    """One override worth trying, with what it does, found by running it."""

    step: int
    position: int
    kind: str  # TEXTBOOK: force the textbook cell of a model that reads elsewhere; OWN: its own
    written: str  # what the forced step writes
    expected: str  # what it should write
    skips_one: bool  # the forced output is the right answer with exactly one letter left out
    changed_letters: int  # letters that differ from the model's own output, lined up by letter
    output: str

    def sentence(self, source: str) -> str:
        """What to expect, said before the user forces it, in the current language."""
        values = {"step": self.step, "position": self.position,
                  "letter": source[self.position], "written": self.written,
                  "expected": self.expected, "changed": self.changed_letters}
        if self.kind == OWN:
            return _("Force step {step} onto the textbook outline, input {position} ({letter}). "
                     "Here that changes nothing: expect it to keep writing {expected}. Force a "
                     "letter far from the outline to see the output break.").format(**values)
        if self.skips_one:
            return _("Force step {step} onto the textbook outline, input {position} ({letter}). "
                     "Expect it to write {written} instead of {expected}: it skips one letter "
                     "and then carries on right, one letter short. This model reads the state "
                     "just right of the outline, because a left-to-right encoder's state at "
                     "input i still remembers letter i−1.").format(**values)
        return _("Force step {step} onto the textbook outline, input {position} ({letter}). "
                 "Expect it to write {written} instead of {expected}, and {changed} letter(s) "
                 "of the output to change: this model reads the state just right of the "
                 "outline, because a left-to-right encoder's state at input i still remembers "
                 "letter i−1.").format(**values)


def _one_letter_short(produced: str, expected: str) -> bool:
    if len(produced) != len(expected) - 1:
        return False
    return any(expected[:i] + expected[i + 1:] == produced for i in range(len(expected)))


def suggest_override(model: Seq2Seq, trace: DecodeTrace) -> Suggestion | None:
    """A forced textbook cell that shows how the model really reads, or None (too short).

    Tries the textbook cell of steps 1, 2, ... (up to :data:`MAX_CANDIDATES` forced decodes)
    and prefers, in order: a step whose forced output skips exactly one letter; one that
    writes a wrong letter with the fewest changed steps. A model for which every textbook
    cell is harmless gets that cell back as an OWN suggestion.
    """
    source = trace.source
    expected = trace.expected
    alignment = trace.alignment
    candidates = []
    for step in range(1, min(len(source) - 1, MAX_CANDIDATES + 1)):
        position = textbook_position(alignment, step)
        if position is None or step >= len(trace.steps):
            continue
        forced = greedy_trace(model, source, overrides=[AttentionOverride(step, position)],
                              task=trace.task)
        changed = summarize(align_letters(trace.output, forced.output)).differing
        written = forced.output[step] if step < len(forced.output) else "<eos>"
        candidates.append(Suggestion(
            step, position, TEXTBOOK, written, expected[step],
            _one_letter_short(forced.output, expected), changed, forced.output))
    if not candidates:
        return None
    breaking = [c for c in candidates if c.written != c.expected]
    skipping = [c for c in breaking if c.skips_one]
    if skipping:  # a letter unlike its neighbours in the answer makes the skip easy to see
        return min(skipping, key=lambda c: (not _stands_out(expected, c.step), c.step))
    if breaking:
        return min(breaking, key=lambda c: (c.changed_letters, c.step))
    first = candidates[0]
    return Suggestion(first.step, first.position, OWN, first.written, first.expected,
                      first.skips_one, first.changed_letters, first.output)


def _stands_out(text: str, index: int) -> bool:
    return all(text[index] != text[j] for j in (index - 1, index + 1) if 0 <= j < len(text))
