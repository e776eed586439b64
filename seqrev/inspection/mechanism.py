"""Inside one attention step, and what forcing the attention did.

``step_mechanism`` lays out decode step t of a greedy trace in the order the model computes it:
the query ``q`` (the decoder's previous state), the keys (what the score function prepared from
each encoder state ``h_i``), the scores ``s_i``, the softmax weights ``a_i``, the context
``c = sum_i a_i h_i`` that enters the decoder GRU beside the fed letter's embedding, and the
dimensions that contribute most to the winning score. Every number is read from the trace (and,
for the additive score, the model's own score parameters), so it matches the heatmap exactly.

``override_outcome`` compares a run with forced attention against the model's own run;
``forcing_sweep`` repeats that over many strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from seqrev.decoding.search import AttentionOverride, DecodeTrace, greedy_trace
from seqrev.i18n import pgettext
from seqrev.models.seq2seq import Seq2Seq
from seqrev.tasks.base import LetterTask
from seqrev.tasks.registry import DEFAULT_TASK, make_task
from seqrev.tasks.vocab import token_label

FORMULAS = {  # score function: (formula in LaTeX, what the page calls a key)
    "bilinear": (r"s_i = (W h_i)\cdot q = \sum_d (W h_i)_d\, q_d", "W h_i"),
    "dot": (r"s_i = h_i\cdot q = \sum_d h_{i,d}\, q_d", "h_i"),
    "scaled_dot": (r"s_i = \frac{h_i\cdot q}{\sqrt{H}} = \sum_d \frac{h_{i,d}}{\sqrt{H}}\, q_d",
                   "h_i / √H"),
    "additive": (r"s_i = v\cdot\tanh(W_k h_i + W_q q + b) = \sum_d v_d \tanh((W_k h_i)_d + "
                 r"(W_q q + b)_d)", "W_k h_i"),
}


@dataclass
class DimContribution:
    """One dimension's term in the winning score: ``term = f(query_value, key_value)``."""

    dim: int
    query_value: float  # q_d (additive: (W_q q + b)_d)
    key_value: float  # the key's d-th entry
    term: float  # q_d * k_d (additive: v_d * tanh(k_d + query_value))


@dataclass
class StepMechanism:
    """Decode step ``step`` of an attention trace, from query to context."""

    step: int
    source: str
    score_name: str  # one of seqrev.models.attention_scores.SCORE_FUNCTIONS
    fed_token: int
    written_token: int
    query: torch.Tensor  # (H,) q: the decoder state before this step
    keys: torch.Tensor  # (S, H) the score's keys, one row per input letter
    states: torch.Tensor  # (S, H) encoder states h_i
    scores: torch.Tensor  # (S,) s_i as the model computed them
    weights: torch.Tensor  # (S,) softmax(s): the model's own weights
    used: torch.Tensor  # (S,) weights that built the context (differ only when forced)
    context: torch.Tensor  # (H,) c = sum_i used_i h_i
    winner: int  # input position with the highest score
    contributions: torch.Tensor  # (H,) the winning score's per-dimension terms
    top_dims: list[DimContribution]
    forced_position: int | None = None
    blend: float = 0.0
    query_term: torch.Tensor | None = None  # (H,) W_q q + b, additive only
    v: torch.Tensor | None = None  # (H,) additive only
    embedding_dim: int = 0
    formula: str = ""  # LaTeX
    key_name: str = ""
    outline: frozenset[int] = frozenset()  # the positions the task says this step reads

    @property
    def correct_position(self) -> int | None:
        """The letter this step should read (reversal: ``S-1-t``), the first if the outline
        names several; None at the ``<eos>`` step, after it, or when the task cannot say."""
        return min(self.outline) if self.outline else None

    @property
    def overridden(self) -> bool:
        return self.forced_position is not None

    def recompute_scores(self) -> torch.Tensor:
        """The scores from the shown query and keys alone. (S,)"""
        keys, query = self.keys.double(), self.query.double()
        if self.score_name == "additive":
            return torch.tanh(keys + self.query_term.double()) @ self.v.double()  # (S,)
        return keys @ query  # (S,)

    def worked_score(self, n_terms: int = 3) -> str:
        """LaTeX: the winning score as its largest terms plus the rest, with this step's numbers
        (its one word, "more", in the current language)."""
        i = self.winner
        terms = self.top_dims[:n_terms]
        if self.score_name == "additive":
            parts = [rf"{float(self.v[t.dim]):.3f}\tanh({t.key_value:.3f}{t.query_value:+.3f})"
                     for t in terms]
        else:
            parts = [rf"({t.key_value:.3f})({t.query_value:.3f})" for t in terms]
        rest = float(self.contributions.sum()) - sum(t.term for t in terms)
        n_rest = self.contributions.numel() - len(terms)
        shown = " + ".join(parts)
        values = " + ".join(f"({t.term:.3f})" for t in terms)
        more = pgettext("the worked score's terms not shown", "more")
        return (rf"\begin{{aligned}} s_{{{i}}} &= {shown} + \underbrace{{\dots}}_{{{n_rest}"
                rf"\ \text{{{more}}}}} \\ &= {values} + ({rest:.3f}) = "
                rf"{float(self.scores[i]):.3f} \end{{aligned}}")

    def worked_softmax(self) -> str:
        """LaTeX: the winner's weight as ``1 / sum_j exp(s_j - s_winner)``."""
        i = self.winner
        shifted = torch.exp(self.scores.double() - self.scores[i].double())  # (S,)
        return (rf"a_{{{i}}} = \frac{{e^{{s_{{{i}}}}}}}{{\sum_j e^{{s_j}}}} = "
                rf"\frac{{1}}{{\sum_j e^{{s_j - {float(self.scores[i]):.3f}}}}} = "
                rf"\frac{{1}}{{{float(shifted.sum()):.4f}}} = {float(self.weights[i]):.4f}")


def step_mechanism(model: Seq2Seq, trace: DecodeTrace, step: int, top_k: int = 5
                   ) -> StepMechanism:
    """Step ``step`` of ``trace`` (decoded by ``model``), laid out from query to context.

    Raises ValueError for a plain model's trace or a step outside it.
    """
    if trace.keys is None or not trace.steps or trace.steps[0].query is None:
        raise ValueError("a plain model's trace has no attention to take apart")
    if not 0 <= step < len(trace.steps):
        raise ValueError(f"step {step} is outside the trace's steps 0-{len(trace.steps) - 1}")
    record = trace.steps[step]
    score_name = model.config.score
    keys, query = trace.keys, record.query  # (S, H), (H,)
    winner = int(record.scores.argmax())
    query_term = v = None
    if score_name == "additive":
        with torch.no_grad():
            query_term = model.score.query_proj(query.unsqueeze(0)).squeeze(0).cpu()  # (H,)
            v = model.score.v.weight[0].detach().cpu()  # (H,)
        terms = v * torch.tanh(keys[winner] + query_term)  # (H,)
        shown_query = query_term
    else:
        terms = keys[winner] * query  # (H,)
        shown_query = query
    order = terms.abs().argsort(descending=True)[:top_k].tolist()
    top = [DimContribution(d, float(shown_query[d]), float(keys[winner, d]), float(terms[d]))
           for d in order]
    formula, key_name = FORMULAS[score_name]
    alignment = trace.alignment
    return StepMechanism(
        step=step, source=trace.source, score_name=score_name, fed_token=record.fed_token,
        written_token=record.chosen_token, query=query, keys=keys, states=trace.encoder_states,
        scores=record.scores, weights=record.model_attention, used=record.attention,
        context=record.context, winner=winner, contributions=terms, top_dims=top,
        forced_position=record.forced_position, blend=record.blend, query_term=query_term, v=v,
        embedding_dim=model.config.embedding_dim, formula=formula, key_name=key_name,
        outline=alignment[step] if alignment is not None and step < len(alignment)
        else frozenset(),
    )


@dataclass
class ForcedStep:
    """What the model wrote at one step whose attention was forced."""

    step: int
    position: int
    blend: float
    written: str  # token label
    expected: str | None  # None past the expected <eos>
    probability: float  # of the written token
    expected_probability: float | None  # of the expected token
    original: str | None  # what the model's own run wrote there; None if it had stopped

    @property
    def right(self) -> bool:
        return self.written == self.expected


@dataclass
class OverrideOutcome:
    """A forced-attention run against the model's own run of the same string."""

    original_output: str
    new_output: str
    expected: str
    changed_steps: list[int]  # steps where the two runs wrote different tokens (or one stopped)
    forced: list[ForcedStep]  # the overrides the run reached, in step order
    unreached: list[AttentionOverride] = field(default_factory=list)  # after the run's <eos>
    later_right: bool | None = None  # every step after the last forced one wrote its letter

    @property
    def exact(self) -> bool:
        return self.new_output == self.expected

    @property
    def recovered(self) -> bool | None:
        """A forced step wrote a wrong letter, and every later step was right again."""
        if not self.forced or self.later_right is None:
            return None
        return self.later_right and not all(f.right for f in self.forced)


def override_outcome(original: DecodeTrace, forced: DecodeTrace) -> OverrideOutcome:
    """Compare ``forced`` (a greedy trace with ``overrides``) with the model's own ``original``."""
    want = forced.expected_ids
    own = [s.chosen_token for s in original.steps]
    new = [s.chosen_token for s in forced.steps]
    changed = [t for t in range(max(len(own), len(new)))
               if t >= len(own) or t >= len(new) or own[t] != new[t]]
    reached, unreached = [], []
    for override in forced.overrides:
        if override.step >= len(forced.steps):
            unreached.append(override)
            continue
        record = forced.steps[override.step]
        expected = want[override.step] if override.step < len(want) else None
        reached.append(ForcedStep(
            step=override.step, position=override.position, blend=override.blend,
            written=token_label(record.chosen_token),
            expected=None if expected is None else token_label(expected),
            probability=float(record.probabilities[record.chosen_token]),
            expected_probability=None if expected is None
            else float(record.probabilities[expected]),
            original=token_label(own[override.step]) if override.step < len(own) else None,
        ))
    later_right = None
    if reached:
        after = reached[-1].step + 1
        later_right = new[after:] == want[after:] if after <= len(want) else False
    return OverrideOutcome(original.output, forced.output, forced.expected, changed, reached,
                           unreached, later_right)


@dataclass
class SweepResult:
    """Forcing one step at a time onto the outline shifted by ``offset`` over many strings."""

    offset: int
    n_strings: int
    n_runs: int  # one run per (string, step) whose forced position exists
    letter_right: int  # runs whose forced step still wrote the expected letter
    exact: int  # runs whose whole output was right
    own_exact: int  # strings the model gets right unforced
    by_step: dict[int, tuple[int, int, int]]  # step -> (runs, letter right, exact)

    def to_dict(self) -> dict:
        return {"offset": self.offset, "n_strings": self.n_strings, "n_runs": self.n_runs,
                "letter_right": self.letter_right, "exact": self.exact,
                "own_exact": self.own_exact,
                "by_step": {str(k): list(v) for k, v in self.by_step.items()}}


def forcing_sweep(model: Seq2Seq, strings: Sequence[str], offset: int = 0, blend: float = 1.0,
                  task: LetterTask | None = None) -> SweepResult:
    """For every string and every letter step t, force the attention (that step alone, with
    ``blend``; 1 = one-hot) onto the task's outline shifted by ``offset`` (its first cell, for a
    step that may read several) and record whether step t and the whole output are still
    right.

    ``offset = 0`` is the ideal alignment (reversal: source ``S-1-t``); ``+1`` is the letter
    just written.
    """
    task = task if task is not None else make_task(DEFAULT_TASK)
    by_step: dict[int, list[int]] = {}
    own_exact = 0
    for text in strings:
        own = greedy_trace(model, text, task=task)
        own_exact += own.correct
        n = len(text)
        want, alignment = own.expected_ids, own.alignment or []
        for t in range(min(n, len(alignment))):
            shifted = sorted(j + offset for j in alignment[t] if 0 <= j + offset < n)
            if not shifted:
                continue
            trace = greedy_trace(model, text, task=task,
                                 overrides=[AttentionOverride(t, shifted[0], blend)])
            right = t < len(trace.steps) and trace.steps[t].chosen_token == want[t]
            counts = by_step.setdefault(t, [0, 0, 0])
            counts[0] += 1
            counts[1] += right
            counts[2] += trace.correct
    totals = [sum(c[i] for c in by_step.values()) for i in range(3)]
    return SweepResult(offset, len(strings), totals[0], totals[1], totals[2], own_exact,
                       {k: tuple(v) for k, v in sorted(by_step.items())})
