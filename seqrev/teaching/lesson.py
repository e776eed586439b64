"""The Lesson: the lab's story in short chapters, and the small computations each one shows.

The page (``pages/lesson.py``) draws one chapter at a time: its sentences (whole sentences with
named placeholders, filled from live numbers), one figure, one or two controls, and a link to
the page and section that shows more. Everything a chapter computes is here, on the models it
is given, so it can be tested without Streamlit.

Longer than one screen because each of the seven chapters' computations is short and they read
best in chapter order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd
import torch

from seqrev.decoding.evaluation import evaluate_by_length, greedy_batch
from seqrev.decoding.search import AttentionOverride, DecodeTrace, greedy_trace
from seqrev.i18n import N_, _, ngettext, percent
from seqrev.inspection.analysis import letters_right, trace_numbers
from seqrev.inspection.capacity import longest_reached
from seqrev.inspection.mechanism import OverrideOutcome, override_outcome
from seqrev.inspection.scaling import ScoreStats
from seqrev.models.seq2seq import ModelConfig, Seq2Seq
from seqrev.runs.history import format_duration
from seqrev.tasks.data import batch_from_source, lab_line
from seqrev.tasks.vocab import MAX_INPUT_LEN, PAD, decode, encode, normalize
from seqrev.training.trainer import TrainConfig, preset

LAB_SAMPLE = "ZUPEIDWNVG"  # the lab's own sample input
# the first string a newcomer sees: 21 letters, wrong for the shipped plain model and right for
# the attention model, so the contrast shows with no click
PRINTOUT_TEXT = "ATTENTIONISALLYOUNEED"
# 41 letters: the shipped plain model is right on its first 13 and wrong from 14 on; the
# attention model is right on every prefix but the 38-letter one
LONG_TEXT = "ATTENTIONISALLYOUNEEDTOREVERSEALONGSTRING"
LONG_DEFAULT = 21  # ATTENTIONISALLYOUNEED: plain wrong, attention right, with no click
SURPRISE_TEXT, SURPRISE_STEP = "ATTENTIONISALLYOUNEED", 3
RACE_STEPS = 300
RACE_LENGTHS_PER_MAX = 2  # by-length accuracy up to twice the race's longest training string
RACE_N_PER_LENGTH = 50
RACE_SEED = 4242  # fresh strings, used by nothing else


@dataclass(frozen=True)
class Chapter:
    """One chapter: its title, its sentences (named placeholders) and its go-deeper label."""

    number: int
    key: str
    title: str
    sentences: tuple[str, ...]
    deeper: str


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(1, "task", N_("The task and the lab's printout"), (
        N_("A model reads a string of capital letters and must write it backwards."),
        N_("The course lab prints one line per test string, and so does this app: here each "
        "model answers for a {length}-letter string, and {verdict}"),
        N_("Type any string, such as the lab's own sample {sample}, to try another."),
    ), N_("Step through the decoding of {text} on the Decode page.")),
    Chapter(2, "one-vector", N_("One vector is not enough"), (
        N_("The plain model squeezes the whole input into one vector of {hidden} numbers "
        "before it writes a letter."),
        N_("On this string it is right up to {plain_holds} letters and wrong from "
        "{plain_breaks} on, while the attention model is right on {attention_right} of "
        "the {n_lengths} lengths."),
        N_("Move the slider to make the string shorter or longer."),
    ), N_("See where the plain model goes wrong on {text} on the Attention page.")),
    Chapter(3, "looks-back", N_("Attention looks back"), (
        N_("At every step the attention model scores each input letter against its own state "
        "and reads the letters through those weights."),
        N_("Each row of the heatmap is one output step and each column one input letter; the "
        "outlined cells are the letters a step has to write."),
        N_("Move the step slider to follow the dotted frame down the rows, and see where the "
        "dark cells sit against the outline: the next chapter says why."),
    ), N_("Open the heatmap of {text} on the Attention page.")),
    Chapter(4, "surprise", N_("The surprise: one column to the right"), (
        N_("The attention model puts only {outline_mass} of its weight on the outlined cells and "
        "{plus_one_mass} one column to their right, on the letter it has just written."),
        N_("That works because the encoder reads left to right: its state at letter i still "
        "remembers letter i−1, the very letter to write next."),
        N_("Force step {step} to read a letter and watch what it writes."),
    ), N_("Try your own what-if on {text} on the Attention page.")),
    Chapter(5, "race", N_("Race them yourself"), (
        N_("Both models train on the very same batches, one step each in turn, for "
        "{steps} steps in a worker process of their own."),
        N_("Watch which exact match climbs first; at the end both are scored on fresh strings "
        "of every length."),
    ), N_("Open this race on the Train page.")),
    Chapter(6, "scaling", N_("Why scale the dot product"), (
        N_("A score between two vectors of size D is a sum of D products, so its spread grows "
        "like √D: {spread_low:.1f} at D = {dim_low} and {spread_high:.1f} at D = {dim_high} "
        "for random vectors."),
        N_("Then the softmax puts nearly all its weight on one key (entropy "
        "{entropy_high:.2f} of at most {max_entropy:.2f} nats) and almost no gradient "
        "reaches the scores; dividing by √D keeps the spread near 1 at every size."),
    ), N_("Take one attention step apart on the Attention page.")),
    Chapter(7, "capacity", N_("How big must the vector be"), (
        "{summary}",
    ), N_("Explore the whole capacity sweep on the Sweep page.")),
)


TITLE = N_("Lesson: why attention helps")
TEXT_LABEL = N_("A string to reverse (letters A-Z, up to {n})")
HEAT_TEXT_LABEL = N_("A string (letters A-Z, up to {n})")
LENGTH_LABEL, STEP_LABEL = N_("Letters of the string"), N_("Decode step")
VECTORS_LABEL = N_("Vectors")
HEATMAP_TITLE = N_("Attention of the model reversing {text}")
VECTOR_CHOICES = {"random": N_("Random vectors"),
                  "model": N_("The trained model's queries and keys")}
CHAPTER_OF = N_("Chapter {number} of {last}: {title}")
PREVIOUS, NEXT = N_("Previous chapter"), N_("Next chapter")
ALL_CHAPTERS = N_("All chapters (each link opens one: share it with a class)")
CHAPTER_LINK = N_("{number}. {title}")
PLAIN_NEVER_BREAKS = (N_("The selected plain model reverses every prefix of this string, up to "
                      "{n_lengths} letters: pick the shipped plain model in the sidebar to see "
                      "it break."))
FORCE_QUESTION = N_("At step {step}, read")
OUTLINE_CHOICE = N_("input {position} ({letter}): the textbook outline")
PLUS_ONE_CHOICE = N_("input {position} ({letter}): its own column, one to the right")
RACE_BUTTON = N_("Start a race of {steps} steps")
RACE_WHAT = (N_("The race trains both models at the app's default settings on strings of "
             "{low} to {high} letters, for {steps} steps each."))
RACE_WHAT_ONE_LENGTH = (N_("The race trains both models at the app's default settings on "
                        "strings of {high} letters, for {steps} steps each."))
MODEL_LABELS = {"plain": N_("**Plain model**"), "attention": N_("**Attention model**"),
                "transformer": N_("**Transformer**")}
OWN_RUN, FORCED_RUN = N_("**Its own run**"), N_("**Forced**")
OUTPUT_RIGHT, OUTPUT_WRONG = N_("{label}: right"), N_("{label}: wrong")
NO_VERDICT = N_("neither can answer until the string holds only the letters A to Z.")
VERDICTS = {  # (plain right, attention right): the end of chapter 1's second sentence
    (False, True): N_("only the attention model gets it right."),
    (True, False): N_("only the plain model gets it right."),
    (True, True): N_("both get it right."),
    (False, False): N_("both get it wrong."),
}
RACE_BY_LENGTH = (N_("Exact match of the two raced models on {n} fresh strings of every length, "
                  "up to twice the longest training string; shaded: lengths outside training."))
NO_RACE = N_("There is no race “{run}” in this app's run store: start a new one.")
RACE_READ_ERROR = N_("Could not read the race: {error}")
RACE_NO_SCORES = N_("Could not score the raced models by length: {error}.")
NO_MODEL_SCALING = N_("The selected attention model cannot be measured here: {error}.")
RUN_STATUSES = {"queued": N_("Queued"), "running": N_("Running"), "finished": N_("Finished"),
                "stopped": N_("Stopped"), "failed": N_("Failed"),
                "interrupted": N_("Interrupted")}
RACE_STATUS = N_("{status}: step {done} of {total} for each model.")
RACE_STATUS_ETA = N_("{status}: step {done} of {total} for each model, about {left} left.")
MODEL_SCALING = (
    N_("At its full {dim} dimensions the trained model's own scores spread by {spread:.1f}, its "
    "softmax is all but one-hot (entropy {entropy:.2f} nats) and its gradient norm is "
    "{grad:.3f}; divided by √{dim} they would spread by {scaled_spread:.1f}, with entropy "
    "{scaled_entropy:.2f} and gradient norm {scaled_grad:.3f}. Summing fewer of its "
    "dimensions shows the same growth as the random vectors."))
NO_CAPACITY = N_("The sweep's results lack one of the two models, so there is nothing to "
                 "compare.")


@dataclass(frozen=True)
class ChapterPick:
    """The chapter a URL asks for, and the problem with it (None when it was fine)."""

    number: int
    problem: str | None = None


def parse_chapter(raw: str | None) -> ChapterPick:
    """``?chapter=`` as a chapter number; chapter 1 and a problem naming the value if bad."""
    if raw is None or raw == "":
        return ChapterPick(1)
    text = raw.strip()
    if text.isascii() and text.isdigit() and 1 <= int(text) <= len(CHAPTERS):
        return ChapterPick(int(text))
    return ChapterPick(1, N_("There is no chapter “{value}”: the lesson has chapters 1 to "
                             "{last}, so it starts at chapter 1."))


def chapter(number: int) -> Chapter:
    """Chapter ``number`` (1-based); ValueError outside 1..len(CHAPTERS)."""
    if not 1 <= number <= len(CHAPTERS):
        raise ValueError(f"chapter {number} is outside 1 to {len(CHAPTERS)}")
    return CHAPTERS[number - 1]


# ---- chapter 1 --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Printout:
    """One model's greedy answer and the lab's line for it."""

    kind: str
    output: str
    expected: str
    correct: bool
    line: str


def printout(kind: str, model: Seq2Seq, text: str) -> Printout:
    """The lab's printout line for ``model`` reversing ``text`` (validated, upper-cased)."""
    trace = greedy_trace(model, text)
    return Printout(kind, trace.output, trace.expected, trace.correct,
                    lab_line(trace.source, trace.output))


def printout_values(lines: Sequence[Printout], text: str) -> dict:
    """Chapter 1's sentence values for the printouts of ``text``."""
    right = {line.kind: line.correct for line in lines}
    return {"text": text, "length": len(text), "sample": LAB_SAMPLE,
            "verdict": _(VERDICTS[(right.get("plain", False), right.get("attention", False))])}


# ---- chapter 2 --------------------------------------------------------------------------------
def prefix_outcomes(models: dict[str, Seq2Seq], text: str) -> pd.DataFrame:
    """Every prefix of ``text`` (lengths 1..len) greedily reversed by each model, in one batch.

    One padded batch: a unidirectional encoder's states before the padding, the final state
    taken at each row's length and the attention mask make each row's tokens its own.

    Columns: length, model, output, expected, letters_right, correct.
    """
    text = normalize(text)
    lengths = list(range(1, len(text) + 1))
    tokens = encode(text)
    rows = [tokens[:n] + [PAD] * (len(text) - n) for n in lengths]
    batch = batch_from_source(torch.tensor(rows, dtype=torch.long),  # (len, len)
                              torch.tensor(lengths, dtype=torch.long))
    out = []
    for kind, model in models.items():
        produced = greedy_batch(model, batch, max_steps=len(text) + 1)  # (len, len + 1)
        for n, row in zip(lengths, produced, strict=True):
            output, expected = decode(row), text[:n][::-1]
            out.append({"length": n, "model": kind, "output": output, "expected": expected,
                        "letters_right": letters_right(output, expected),
                        "correct": output == expected})
    return pd.DataFrame(out, columns=["length", "model", "output", "expected", "letters_right",
                                      "correct"])


def input_line(text: str, length: int) -> str:
    """"Input **`ABC`** (3 letters)", in the current language."""
    return ngettext("Input **`{text}`** ({length} letter)", "Input **`{text}`** ({length} letters)",
                    length).format(text=text, length=length)


@dataclass(frozen=True)
class PrefixSummary:
    """How far along ``text`` a model stays right."""

    holds: int  # longest N such that every prefix 1..N is right (0 if the first is wrong)
    breaks: int | None  # the first wrong length, None if all are right
    right: int  # prefixes reversed right


def prefix_summary(outcomes: pd.DataFrame, kind: str) -> PrefixSummary:
    """Summary of one model's rows of :func:`prefix_outcomes`."""
    rows = outcomes[outcomes["model"] == kind].sort_values("length")
    wrong = rows.loc[~rows["correct"], "length"]
    breaks = int(wrong.iloc[0]) if len(wrong) else None
    holds = (breaks - 1) if breaks is not None else int(rows["length"].max())
    return PrefixSummary(holds, breaks, int(rows["correct"].sum()))


# ---- chapter 3 --------------------------------------------------------------------------------
def step_sentence(summary, source: str) -> str:
    """One sentence on one decode step (an ``analysis.StepSummary``) of reversing ``source``."""
    top = {"top": summary.top_position, "top_letter": source[summary.top_position],
           "top_weight": percent(summary.top_weight), "step": summary.step,
           "emitted": summary.emitted}
    if summary.correct_position is None:
        return _("Step {step} wrote {emitted}, where the string ends; it looks most at input "
                 "{top} ({top_letter}, {top_weight}).").format(**top)
    return _("Step {step} wrote {emitted} and should copy input {want} ({expected}), which gets "
             "{want_weight} of its attention; it looks most at input {top} ({top_letter}, "
             "{top_weight}).").format(want=summary.correct_position, expected=summary.expected,
                                      want_weight=percent(summary.correct_weight), **top)


# ---- chapter 4 --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Surprise:
    """The model's own run, one forced run, and where its weight sits."""

    own: DecodeTrace
    forced: DecodeTrace
    outcome: OverrideOutcome
    step: int
    position: int  # the letter the forced run read at ``step``
    outline_position: int  # S-1-step: the textbook's letter
    plus_one_position: int  # S-step: the letter written just before
    outline_mass: float  # mean weight on the outline over the letter steps
    plus_one_mass: float  # mean weight one column to its right


def surprise_positions(text: str, step: int) -> tuple[int, int]:
    """The outline's letter and the one to its right at decode ``step`` of ``text``."""
    return len(text) - 1 - step, len(text) - step


def surprise(model: Seq2Seq, text: str, step: int, position: int) -> Surprise:
    """Force ``step`` of ``text`` onto input ``position`` and compare with the model's own run."""
    text = normalize(text)
    own = greedy_trace(model, text)
    forced = greedy_trace(model, text, overrides=[AttentionOverride(step, position)])
    numbers = trace_numbers(own)
    if numbers is None:
        raise ValueError("a plain model has no attention to force")
    outline, plus_one = surprise_positions(text, step)
    return Surprise(own, forced, override_outcome(own, forced), step, position, outline,
                    plus_one, numbers.mean_correct_mass or 0.0, numbers.offset_mass.get(1, 0.0))


def surprise_sentence(result: Surprise) -> str:
    """What forcing did, in one sentence."""
    forced = result.outcome.forced[0] if result.outcome.forced else None
    values = {"step": result.step, "position": result.position,
              "letter": result.own.source[result.position],
              "written": forced.written if forced else _("nothing"),
              "expected": forced.expected if forced else _("nothing"),
              "right": letters_right(result.forced.output, result.forced.expected),
              "total": len(result.forced.expected)}
    if result.outcome.exact:
        return _("Forced to read input {position} ({letter}), step {step} still writes "
                 "{written}, and the whole output is right: that column is the one the model "
                 "reads anyway.").format(**values)
    return ngettext("Forced to read input {position} ({letter}), step {step} writes {written} "
                    "instead of {expected}, and the model never finds its place again: {right} "
                    "of {total} letter ends up in place.",
                    "Forced to read input {position} ({letter}), step {step} writes {written} "
                    "instead of {expected}, and the model never finds its place again: {right} "
                    "of {total} letters end up in place.", values["total"]).format(**values)


# ---- chapter 5 --------------------------------------------------------------------------------
def race_configs(steps: int = RACE_STEPS) -> tuple[list[ModelConfig], TrainConfig]:
    """The short race: the app's race defaults, both models, ``steps`` steps."""
    model_config, train_config = preset("default")
    return ([replace(model_config, kind=kind) for kind in ("plain", "attention")],
            replace(train_config, steps=steps))


def race_what(train_config: TrainConfig) -> str:
    """What the race button will train, in one sentence."""
    template = RACE_WHAT_ONE_LENGTH if train_config.min_len == train_config.max_len else RACE_WHAT
    return _(template).format(low=train_config.min_len, high=train_config.max_len,
                           steps=train_config.steps)


def race_lengths(train_config: TrainConfig) -> list[int]:
    """The lengths a finished race is scored at: 1 to twice its longest training string."""
    return list(range(1, min(RACE_LENGTHS_PER_MAX * train_config.max_len, MAX_INPUT_LEN) + 1))


def by_length_table(models: dict[str, Seq2Seq], lengths: Sequence[int],
                    n_per_length: int = RACE_N_PER_LENGTH, seed: int = RACE_SEED
                    ) -> pd.DataFrame:
    """Exact match of each model on fresh strings of each length.

    Columns: length, model, n, exact_match (what ``charts.attention.exact_match_figure`` draws).
    """
    rows = []
    for kind, model in models.items():
        for length, report in evaluate_by_length(model, list(lengths), n_per_length,
                                                 seed).items():
            rows.append({"length": length, "model": kind, "n": report.n,
                         "exact_match": report.exact_match})
    return pd.DataFrame(rows, columns=["length", "model", "n", "exact_match"])


def race_progress(status: str, done: int, total: int, wall_seconds: float = 0.0) -> str:
    """The race's progress line; a running race says how long it has left at its pace."""
    if status == "queued":
        return _("Queued: the race starts when a worker is free.")
    if status == "running" and not done:
        return _("Starting a worker process…")
    if status == "running" and wall_seconds > 0:
        left = format_duration(wall_seconds * (total - done) / done)
        return _(RACE_STATUS_ETA).format(status=_(RUN_STATUSES.get(status, status)), done=done,
                                         total=total, left=left)
    return _(RACE_STATUS).format(status=_(RUN_STATUSES.get(status, status)), done=done,
                                 total=total)


# ---- chapter 6 --------------------------------------------------------------------------------
def scaling_values(stats: Sequence[ScoreStats]) -> dict:
    """The chapter's numbers from the random vectors' unscaled statistics."""
    unscaled = sorted((s for s in stats if s.source == "random" and not s.scaled),
                      key=lambda s: s.dim)
    low, high = unscaled[1] if len(unscaled) > 1 else unscaled[0], unscaled[-1]
    return {"dim_low": low.dim, "spread_low": low.spread, "dim_high": high.dim,
            "spread_high": high.spread, "entropy_high": high.entropy,
            "max_entropy": high.max_entropy}


def model_scaling_sentence(stats: Sequence[ScoreStats]) -> str:
    """One sentence on the trained model's own scores at its full size."""
    full = max(s.dim for s in stats)
    own = {s.scaled: s for s in stats if s.dim == full}
    return _(MODEL_SCALING).format(
        dim=full, spread=own[False].spread, entropy=own[False].entropy,
        grad=own[False].grad_norm, scaled_spread=own[True].spread,
        scaled_entropy=own[True].entropy, scaled_grad=own[True].grad_norm)


# ---- chapter 7 --------------------------------------------------------------------------------
CAPACITY_SENTENCE = (
    N_("To hold a string in its one vector the plain model needs about {plain_per_letter:.0f} "
    "numbers per letter (the median over the sweep's hidden sizes) and attention about "
    "{attention_per_letter:.0f}, since it can read the letters back: with {hidden} numbers "
    "the plain model reverses every length up to {plain_longest} letters, attention up to "
    "{attention_longest}."))


def capacity_numbers(frame: pd.DataFrame) -> dict | None:
    """The capacity sentence's numbers from a sweep's results: each model's median hidden size
    per letter, and the longest lengths at the largest hidden size both reach a length with;
    None when the sweep lacks one of the models."""
    table = longest_reached(frame)
    table = table[table["longest"] > 0]
    by_kind = {kind: rows.set_index("hidden_dim") for kind, rows in table.groupby("kind")}
    if set(by_kind) != {"plain", "attention"}:
        return None
    shared = sorted(set(by_kind["plain"].index) & set(by_kind["attention"].index))
    if not shared:
        return None
    hidden = shared[-1]
    return {"hidden": int(hidden),
            "plain_longest": int(by_kind["plain"].loc[hidden, "longest"]),
            "attention_longest": int(by_kind["attention"].loc[hidden, "longest"]),
            "plain_per_letter": float(by_kind["plain"]["hidden_per_letter"].median()),
            "attention_per_letter": float(by_kind["attention"]["hidden_per_letter"].median())}
