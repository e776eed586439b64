"""Numbers about attention and about where the plain model goes wrong.

Per trace: how spread out each attention row is (entropy, in nats), how much weight lands on
the source letters the step should read (the task's alignment, its outline: for reversal, output
position ``t < S`` reads source ``S-1-t``; the ``<eos>`` step reads none), and which output
positions a trace got wrong.
Per batch: both models greedy-decode the same fresh strings, scored by
``seqrev.decoding.evaluation``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from seqrev.decoding.evaluation import exact_rows, greedy_by_length, score_outputs
from seqrev.decoding.search import DecodeTrace
from seqrev.i18n import N_, _
from seqrev.models.kinds import KIND_NAMES
from seqrev.models.seq2seq import Seq2Seq
from seqrev.tasks.data import Batch, batch_from_target
from seqrev.tasks.registry import DEFAULT_TASK, make_task
from seqrev.tasks.vocab import PAD, decode, token_label

Alignment = list[frozenset[int]] | None  # per output step, the source positions to read

MODELS = KIND_NAMES[:2]  # the kinds a comparison lines up: the lab's plain and attention


def attention_entropy(matrix: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of each row of ``matrix`` (steps, S); ``0 log 0`` counts as 0. (steps,)"""
    p = matrix.double()  # (steps, S)
    logs = torch.where(p > 0, p.log(), torch.zeros_like(p))  # (steps, S)
    return -(p * logs).sum(dim=1)  # (steps,)


def outline_at(alignment: Alignment, step: int) -> frozenset[int]:
    """The source positions step ``step`` should read; empty past the letters or when unknown."""
    if alignment is None or step >= len(alignment):
        return frozenset()
    return alignment[step]


def correct_mass(matrix: torch.Tensor, alignment: Alignment) -> list[float | None]:
    """Attention weight on the outline's positions per step; None where the step has none."""
    mass = []
    for t in range(matrix.shape[0]):
        cells = sorted(outline_at(alignment, t))
        mass.append(float(matrix[t, cells].sum()) if cells else None)
    return mass


def wrong_steps(trace: DecodeTrace) -> list[int]:
    """Decode steps whose emitted token differs from the expected one.

    A step past the expected ``<eos>`` is wrong by being there; if the trace stopped early,
    every expected position it never reached is listed too.
    """
    want = trace.expected_ids
    chosen = [step.chosen_token for step in trace.steps]
    wrong = [t for t, token in enumerate(chosen) if t >= len(want) or token != want[t]]
    return wrong + list(range(len(chosen), len(want)))


def letters_right(produced: str, expected: str) -> int:
    """How many positions of ``expected`` hold the same letter in ``produced``."""
    return sum(a == b for a, b in zip(produced, expected, strict=False))


def diagonal_mass(matrix: torch.Tensor, alignment: Alignment, offset: int = 0) -> float | None:
    """Mean weight on the outline shifted ``offset`` columns, over the steps that have it.

    ``offset = 0`` is the outline itself (reversal's anti-diagonal); ``+1`` is the state just
    after the needed letter, which a left-to-right encoder's state also remembers.
    """
    source_len = matrix.shape[1]
    values = []
    for t in range(matrix.shape[0]):
        cells = sorted({j + offset for j in outline_at(alignment, t)
                        if 0 <= j + offset < source_len})
        if cells:
            values.append(float(matrix[t, cells].sum()))
    return sum(values) / len(values) if values else None


@dataclass
class TraceNumbers:
    """Attention summary of one trace of the attention model."""

    entropy: list[float]  # nats, per decode step; log(S) is a uniform row
    mean_entropy: float
    max_entropy: float  # log(S): the entropy of a uniform row over the source
    correct_mass: list[float | None]  # weight on the outline per step; None where it has none
    mean_correct_mass: float | None  # over the steps that have an outline; None if unknown
    offset_mass: dict[int, float]  # outline shift -> diagonal_mass, for shifts -2..2 that exist
    best_offset: int  # the shift holding the most weight (0 on a tie or with no outline)


def trace_numbers(trace: DecodeTrace) -> TraceNumbers | None:
    """Entropy and correct-position mass of an attention trace; None for a plain model's."""
    matrix = trace.attention_matrix()  # (steps, S) or None
    if matrix is None:
        return None
    entropy = attention_entropy(matrix).tolist()
    alignment = trace.alignment
    mass = correct_mass(matrix, alignment)
    present = [m for m in mass if m is not None]
    offsets = {k: m for k in range(-2, 3)
               if (m := diagonal_mass(matrix, alignment, k)) is not None}
    return TraceNumbers(
        entropy=entropy,
        mean_entropy=sum(entropy) / len(entropy),
        max_entropy=float(torch.log(torch.tensor(float(len(trace.source))))),
        correct_mass=mass,
        mean_correct_mass=sum(present) / len(present) if present else None,
        offset_mass=offsets,
        best_offset=max(offsets, key=lambda k: (offsets[k], k == 0, -abs(k))) if offsets else 0,
    )


def heatmap_reading(numbers: TraceNumbers, letters_right: int, n_letters: int) -> str:
    """One sentence, in the current language, saying how to read an attention heatmap: which
    diagonal holds the weight, how much sits on the textbook outline, and whether the output
    came out right."""
    best = numbers.best_offset
    values = {"best": best, "own": numbers.offset_mass.get(best),
              "outline": numbers.mean_correct_mass or 0.0, "right": letters_right,
              "n": n_letters}
    if letters_right == n_letters:
        verdict = _("and all {n} letters come out right")
    else:
        verdict = _("and {right} of {n} letters come out right")
    if not numbers.offset_mass:
        where = _("This task has no outline to compare with, {verdict}.")
    elif best == 0:
        where = _("Most weight sits on the textbook outline ({outline:.0%} on average), "
                  "{verdict}.")
    else:
        where = _("Most weight sits on the model's own diagonal, {best:+d} column(s) from the "
                  "textbook outline ({own:.0%} there, {outline:.0%} on the outline), {verdict}.")
    return where.format(verdict=verdict.format(**values), **values)


@dataclass
class StepSummary:
    """One decode step of an attention trace, in words a caption can use."""

    step: int
    emitted: str  # token label, e.g. "K" or "<eos>"
    expected: str | None  # what the step should emit; None past the expected <eos>
    correct_position: int | None  # the outline's first position; None where it has none
    correct_weight: float | None  # weight on all the outline's positions at this step
    entropy: float  # nats
    top_position: int  # the source position with the most weight
    top_weight: float


def step_summary(trace: DecodeTrace, step: int) -> StepSummary:
    """What attention step ``step`` of ``trace`` did, against what it should have done."""
    matrix = trace.attention_matrix()  # (steps, S)
    if matrix is None:
        raise ValueError("a plain model's trace has no attention")
    row = matrix[step]  # (S,)
    want = trace.expected_ids
    cells = sorted(outline_at(trace.alignment, step))
    return StepSummary(
        step=step,
        emitted=token_label(trace.steps[step].chosen_token),
        expected=token_label(want[step]) if step < len(want) else None,
        correct_position=cells[0] if cells else None,
        correct_weight=float(row[cells].sum()) if cells else None,
        entropy=float(attention_entropy(row.unsqueeze(0))[0]),
        top_position=int(row.argmax()),
        top_weight=float(row.max()),
    )


def attention_frame(trace: DecodeTrace) -> pd.DataFrame:
    """The attention matrix as a table: a row per step ("0: J"), a column per letter ("9: J")."""
    matrix = trace.attention_matrix()
    if matrix is None:
        raise ValueError("a plain model's trace has no attention")
    return pd.DataFrame(matrix.double().numpy(), index=step_labels(trace),
                        columns=source_labels(trace.source))


def step_labels(trace: DecodeTrace) -> list[str]:
    """Row labels: step index and the token emitted there, e.g. ``"0: J"``."""
    return [f"{step.position}: {token_label(step.chosen_token)}" for step in trace.steps]


def source_labels(source: str) -> list[str]:
    """Column labels: source position and letter, e.g. ``"0: A"``."""
    return [f"{i}: {letter}" for i, letter in enumerate(source)]


def _token_text(trace: DecodeTrace | None, t: int) -> str:
    if trace is None or t >= len(trace.steps):
        return ""
    return token_label(trace.steps[t].chosen_token)


def step_table(attention: DecodeTrace, plain: DecodeTrace | None = None) -> pd.DataFrame:
    """One row per output position: expected token, each model's token, and attention numbers."""
    want = attention.expected_ids
    numbers = trace_numbers(attention)
    n_rows = max(len(want), len(attention.steps), len(plain.steps) if plain else 0)
    rows = []
    for t in range(n_rows):
        row = {
            "step": t,
            "expected": token_label(want[t]) if t < len(want) else "(stop)",
            "attention": _token_text(attention, t),
        }
        if plain is not None:
            row["plain"] = _token_text(plain, t)
        if numbers is not None:
            has_step = t < len(numbers.entropy)
            row["entropy (nats)"] = numbers.entropy[t] if has_step else None
            row["weight on correct letter"] = numbers.correct_mass[t] if has_step else None
        rows.append(row)
    return pd.DataFrame(rows)


def length_sweep(lengths: Sequence[int], n_per_length: int, seed: int = 0,
                 task: str = DEFAULT_TASK) -> Batch:
    """``n_per_length`` fresh strings of each length, from the task over (L, L)'s
    ``eval_set(n, seed+L)``, with the task's targets.

    The same strings as ``seqrev.decoding.evaluation.evaluate_by_length`` draws for that seed.
    """
    if n_per_length < 1 or not lengths:
        raise ValueError("need at least one length and one string per length")
    longest = max(lengths)
    sources, counts = [], []
    for length in lengths:
        part = make_task(task, length, length).eval_set(n_per_length, seed + length)
        padding = torch.full((n_per_length, longest - length), PAD, dtype=torch.long)
        sources.append(torch.cat([part.source, padding], dim=1))  # (n, longest)
        counts.append(part.lengths)
    source, source_lengths = torch.cat(sources), torch.cat(counts)  # (n * lengths, longest)
    target_letters = make_task(task).target_letters(source, source_lengths)  # (rows, longest)
    return batch_from_target(source, source_lengths, target_letters)


@dataclass
class Comparison:
    """Both models greedy-decoding the same strings.

    ``per_position``: columns position, model, n, error_rate (share of wrong letters at that
    output position, over the strings long enough to have it). ``by_length``: columns length,
    model, n, exact_match, char_accuracy, fine_accuracy. ``examples``: the strings the plain model
    gets wrong and the attention model right (input, length, expected, plain, attention,
    first_error), at most ``max_examples`` of ``n_plain_only`` in all.
    """

    lengths: list[int]
    n_per_length: int
    seed: int
    per_position: pd.DataFrame
    by_length: pd.DataFrame
    examples: pd.DataFrame
    outcomes: dict[str, int]  # both right, plain only, attention only, both wrong
    n_plain_only: int
    seconds: float  # wall time of decoding and scoring both models
    stored: bool = False  # read back from the checkpoint's stored analysis (analysis_cache)


def _first_error(produced: str, expected: str) -> int:
    for i, (a, b) in enumerate(zip(produced, expected, strict=False)):
        if a != b:
            return i
    return min(len(produced), len(expected))


def compare_models(
    plain: Seq2Seq, attention: Seq2Seq, lengths: Sequence[int], n_per_length: int = 100,
    seed: int = 0, max_examples: int = 500, task: str = DEFAULT_TASK,
) -> Comparison:
    """Decode ``n_per_length`` fresh strings of each length with both models (trained on the
    same ``task``) and compare."""
    start = time.perf_counter()
    lengths = sorted(set(int(n) for n in lengths))
    batch = length_sweep(lengths, n_per_length, seed, task)
    target_of = make_task(task).target
    outputs = {"plain": greedy_by_length(plain, batch),
               "attention": greedy_by_length(attention, batch)}
    reports = {name: score_outputs(batch, out, max_failures=0) for name, out in outputs.items()}
    exact = {name: exact_rows(batch, out) for name, out in outputs.items()}  # (batch,) each

    per_position, by_length = [], []
    for name, report in reports.items():
        have = (batch.lengths.unsqueeze(1) > torch.arange(len(report.per_position)))  # (batch, P)
        for position, accuracy in enumerate(report.per_position):
            per_position.append({"position": position, "model": name,
                                 "n": int(have[:, position].sum()), "error_rate": 1 - accuracy})
        for length, row in report.by_length.items():
            by_length.append({"length": length, "model": name, **row})

    plain_only = ~exact["plain"] & exact["attention"]  # (batch,)
    examples = []
    for row in torch.nonzero(plain_only).flatten().tolist()[:max_examples]:
        source = decode(batch.source[row])
        plain_text, expected = decode(outputs["plain"][row]), target_of(source)
        examples.append({"input": source, "length": len(source), "expected": expected,
                         "plain": plain_text, "attention": decode(outputs["attention"][row]),
                         "first_error": _first_error(plain_text, expected)})
    outcomes = {
        "both right": int((exact["plain"] & exact["attention"]).sum()),
        "only attention right": int(plain_only.sum()),
        "only plain right": int((exact["plain"] & ~exact["attention"]).sum()),
        "both wrong": int((~exact["plain"] & ~exact["attention"]).sum()),
    }
    return Comparison(
        lengths=lengths, n_per_length=n_per_length, seed=seed,
        per_position=pd.DataFrame(per_position, columns=["position", "model", "n", "error_rate"]),
        by_length=pd.DataFrame(by_length, columns=["length", "model", "n", "exact_match",
                                                   "char_accuracy", "fine_accuracy"]),
        examples=pd.DataFrame(examples, columns=["input", "length", "expected", "plain",
                                                 "attention", "first_error"]),
        outcomes=outcomes,
        n_plain_only=int(plain_only.sum()),
        seconds=time.perf_counter() - start,
    )


def training_length_warning(length: int, ranges: dict[str, tuple[int, int] | None]) -> str | None:
    """A sentence when ``length`` lies outside a model's training lengths, else None.

    ``ranges`` maps a model's name (e.g. "plain") to its ``(min_len, max_len)``, or None when
    its checkpoint does not say.
    """
    outside = {name: span for name, span in ranges.items()
               if span is not None and not span[0] <= length <= span[1]}
    if not outside:
        return None
    spans = set(outside.values())
    if len(spans) == 1:
        low, high = next(iter(spans))
        models = _joined([_(THE_MODEL).format(kind=_(name)) for name in outside], AND, COMMA)
        sentence = OUTSIDE_ONE if len(outside) == 1 else OUTSIDE_SOME
        return _(sentence).format(length=length, models=models, low=low, high=high)
    each = _joined([_(THE_MODEL_ON).format(kind=_(name), low=low, high=high)
                    for name, (low, high) in outside.items()], SEMICOLON)
    return _(OUTSIDE_EACH).format(length=length, each=each)


OUTSIDE_ONE = N_("This input has {length} letters, outside the lengths {models} was trained on "
                 "({low} to {high}): expect more mistakes than the training scores suggest.")
OUTSIDE_SOME = N_("This input has {length} letters, outside the lengths {models} were trained "
                  "on ({low} to {high}): expect more mistakes than the training scores "
                  "suggest.")
OUTSIDE_EACH = N_("This input has {length} letters, outside the lengths these models were "
                  "trained on ({each}): expect more mistakes than the training scores suggest.")
THE_MODEL, THE_MODEL_ON = N_("the {kind} model"), N_("the {kind} model on {low} to {high}")
AND, SEMICOLON = N_("{first} and {rest}"), N_("{first}; {rest}")  # lists, one join at a time
COMMA = N_("{first}, {rest}")


def _joined(parts: list[str], join: str, before: str | None = None) -> str:
    """``parts`` joined from the right by the ``{first}``/``{rest}`` template ``join``, or by
    ``before`` for every pair but the last ("a, b and c")."""
    text = parts[-1]
    for index, part in enumerate(reversed(parts[:-1])):
        template = join if index == 0 or before is None else before
        text = _(template).format(first=part, rest=text)
    return text
