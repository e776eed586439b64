"""Decoding one string with a full trace: greedy, beam search, forced prefixes and forced attention.

A trace keeps what the Attention page explains: per step the query (the decoder's previous
state), the raw scores, the model's own softmax weights, the weights actually used (they differ
only where an :class:`AttentionOverride` forced them) and the context; per string the encoder
states and the keys the score prepared from them.

A Transformer decodes through the same functions: its step takes and returns a cache where a
GRU's takes a hidden state, each step records every layer's and head's cross-attention, and an
override pushes one head (its ``layer`` and ``head``; the last layer's first by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from seqrev.decoding.overrides import (  # noqa: F401 (the decoders' what-if, re-exported)
    AttentionOverride,
    OverrideError,
    check_blend,
    check_overrides,
    head_override,
    override_steps,
    parse_override,
    parse_overrides,
)
from seqrev.models.seq2seq import Memory, Seq2Seq, StepOutput, gru_update
from seqrev.tasks.base import LetterTask
from seqrev.tasks.data import batch_from_strings
from seqrev.tasks.registry import DEFAULT_TASK, make_task
from seqrev.tasks.vocab import EOS, SOS, decode, encode, normalize


def default_max_steps(length: int) -> int:
    """The hard cap on output symbols for an input of ``length`` letters."""
    return 2 * length + 2


@dataclass
class DecodeStep:
    """What happened at one decoder step."""

    position: int  # 0-based output position
    fed_token: int  # token fed into the decoder at this step
    probabilities: torch.Tensor  # (vocab,) softmax of the logits
    chosen_token: int  # token emitted (argmax for greedy; the path's token for beam)
    attention: torch.Tensor | None  # (S,) weights used over the source letters; None for plain
    hidden: torch.Tensor | None  # (hidden,) a GRU decoder's state after the step
    query: torch.Tensor | None = None  # (hidden,) decoder state before the step; None for plain
    scores: torch.Tensor | None = None  # (S,) raw scores s(h_i, q); None for plain
    model_attention: torch.Tensor | None = None  # (S,) softmax(scores): the model's own weights
    context: torch.Tensor | None = None  # (hidden,) sum_i attention_i h_i, fed to the GRU
    forced_position: int | None = None  # source position an override pushed weight onto
    blend: float = 0.0  # share of the forced one-hot in ``attention`` (0 = the model's own)
    heads: torch.Tensor | None = None  # (layers, heads, S) a Transformer's cross-attention

    @property
    def overridden(self) -> bool:
        return self.forced_position is not None


@dataclass
class BeamCandidate:
    """One hypothesis kept at a beam step; ``parent`` indexes the previous step's list."""

    token: int
    log_prob: float  # cumulative log-probability of the hypothesis
    parent: int  # -1 at the first step
    finished: bool  # this candidate emitted <eos>


@dataclass
class DecodeTrace:
    """A decoded string with everything the pages show about it."""

    source: str
    output: str  # letters before <eos>
    log_prob: float  # sum of the chosen tokens' log-probabilities
    steps: list[DecodeStep]
    method: str = "greedy"
    beam_steps: list[list[BeamCandidate]] = field(default_factory=list)  # beam only
    best_path: list[int] = field(default_factory=list)  # candidate index per beam step
    encoder_states: torch.Tensor | None = None  # (S, hidden) h_i, one per source letter
    keys: torch.Tensor | None = None  # (S, hidden) the score's prepared keys; None for plain
    overrides: tuple[AttentionOverride, ...] = ()  # what greedy_trace was asked to force
    task: LetterTask | None = None  # what the model was trained to do; None reads as reversal

    @property
    def task_or_default(self) -> LetterTask:
        return self.task if self.task is not None else make_task(DEFAULT_TASK)

    @property
    def expected(self) -> str:
        """The output the trace's task wants for its source."""
        return self.task_or_default.target(self.source)

    @property
    def expected_ids(self) -> list[int]:
        """The token ids a perfect decoder emits: the expected letters, then ``<eos>``."""
        return encode(self.expected) + [EOS]

    @property
    def alignment(self) -> list[frozenset[int]] | None:
        """Per output step the source positions the task says it should read (the outline);
        None where the task cannot say."""
        return self.task_or_default.alignment(self.source)

    def outline_at(self, step: int) -> frozenset[int]:
        """The positions step ``step`` should read; empty at ``<eos>``, after, or if unknown."""
        alignment = self.alignment
        if alignment is None or not 0 <= step < len(alignment):
            return frozenset()
        return alignment[step]

    @property
    def correct(self) -> bool:
        return self.output == self.expected

    def attention_matrix(self) -> torch.Tensor | None:
        """(steps, S) attention weights, one row per decoder step; None for a plain model."""
        if not self.steps or self.steps[0].attention is None:
            return None
        return torch.stack([s.attention for s in self.steps])


def is_transformer(model: Seq2Seq) -> bool:
    return model.config.kind == "transformer"


def _encode_text(model: Seq2Seq, text: str) -> tuple[Memory, torch.Tensor]:
    device = next(model.parameters()).device
    batch = batch_from_strings([text]).to(device)
    return model.encode(batch.source, batch.lengths)


def _memory_fields(model: Seq2Seq, memory: Memory) -> dict:
    """The trace's per-string tensors, batch row 0, on the CPU (a Transformer keeps no keys
    of one score: each head has its own, in ``memory.keys``)."""
    keys = memory.keys[0].cpu() if memory.keys is not None and not is_transformer(model) else None
    return {"encoder_states": memory.states[0].cpu(), "keys": keys}


def _select_rows(state, rows: torch.Tensor):
    """The decoder state of batch rows ``rows``: a GRU's hidden rows or a Transformer's cache."""
    return state.index_select(0, rows) if torch.is_tensor(state) else state.select(rows)


def _overridden_step(model: Seq2Seq, fed: torch.Tensor, hidden: torch.Tensor, memory: Memory,
                     override: AttentionOverride) -> tuple[StepOutput, torch.Tensor]:
    """``model.step`` with the attention weights blended towards a one-hot; also the own weights.

    The same arithmetic as ``Seq2Seq.attend`` + ``advance``, with the weights replaced between
    the softmax and the context.
    """
    _, own = model.attend(memory, hidden)  # (1, S)
    forced = F.one_hot(torch.tensor([override.position], device=own.device),
                       own.shape[1]).to(own.dtype)  # (1, S)
    weights = (1.0 - override.blend) * own + override.blend * forced  # (1, S)
    context = (weights.unsqueeze(2) * memory.states).sum(dim=1)  # (1, hidden)
    cell = model.decoder
    input_gates = torch.addmm(model.embed_gates(fed), context, cell.weight_ih_context.t())
    hidden_gates = F.linear(hidden, cell.weight_hh, cell.bias_hh)  # (1, 3H)
    new_hidden = gru_update(input_gates, hidden_gates, hidden)  # (1, hidden)
    return StepOutput(model.output(new_hidden), new_hidden, weights), own


def _traced_step(model: Seq2Seq, fed: int, hidden: torch.Tensor, memory: Memory,
                 override: AttentionOverride | None) -> tuple[StepOutput, dict]:
    """One decoder step, and the override details a DecodeStep records (empty for plain)."""
    tokens = torch.tensor([fed], device=memory.states.device)  # (1,)
    if is_transformer(model):
        pushed = None if override is None else head_override(model, override)
        out = model.step(tokens, hidden, memory, pushed)
        extra = {"heads": out.cross[:, 0].cpu()}  # (layers, heads, S)
        if pushed is not None:
            extra |= {"model_attention": out.model_attention[0].cpu(),
                      "forced_position": override.position, "blend": override.blend}
        return out, extra
    if override is None:
        out = model.step(tokens, hidden, memory)
        return out, ({} if out.attention is None else {"query": hidden[0]})
    out, own = _overridden_step(model, tokens, hidden, memory, override)
    return out, {"query": hidden[0], "model_attention": own[0].cpu(),
                 "forced_position": override.position, "blend": override.blend}


def _add_scores(model: Seq2Seq, steps: list[DecodeStep], memory: Memory) -> None:
    """Fill each attention step's scores, own weights and context, all steps in one batch."""
    if not steps or steps[0].query is None:
        return
    queries = torch.stack([s.query for s in steps])  # (T, hidden)
    n = queries.shape[0]
    keys = memory.keys.expand(n, -1, -1)  # (T, S, hidden)
    scores = model.score.score(keys, queries)  # (T, S)
    own = torch.softmax(scores.masked_fill(~memory.mask.expand(n, -1), float("-inf")), dim=1)
    used = torch.stack([s.attention for s in steps]).to(queries.device)  # (T, S)
    contexts = (used.unsqueeze(2) * memory.states).sum(dim=1)  # (T, hidden)
    for step, row, weights, context in zip(steps, scores.cpu(), own.cpu(), contexts.cpu(),
                                           strict=True):
        step.query = step.query.cpu()
        step.scores, step.context = row, context
        if step.model_attention is None:
            step.model_attention = weights


def _step_record(position, fed, out, chosen, extra: dict | None = None) -> DecodeStep:
    attention = out.attention[0].cpu() if out.attention is not None else None
    hidden = out.hidden[0].cpu() if isinstance(out, StepOutput) else None
    return DecodeStep(position, fed, torch.softmax(out.logits[0], 0).cpu(), chosen,
                      attention, hidden, **(extra or {}))


@torch.inference_mode()
def forced_trace(model: Seq2Seq, text: str, tokens: list[int], method: str = "forced",
                 task: LetterTask | None = None) -> DecodeTrace:
    """Trace the model while it is fed ``tokens`` (what-if: force a decoder path)."""
    text = normalize(text)
    model.eval()
    memory, hidden = _encode_text(model, text)
    fed, steps, log_prob = SOS, [], 0.0
    for position, chosen in enumerate(tokens):
        out, extra = _traced_step(model, fed, hidden, memory, None)
        hidden = out.state
        record = _step_record(position, fed, out, chosen, extra)
        log_prob += float(torch.log(record.probabilities[chosen]))
        steps.append(record)
        fed = chosen
    _add_scores(model, steps, memory)
    return DecodeTrace(text, decode(tokens), log_prob, steps, method, task=task,
                       **_memory_fields(model, memory))


@torch.inference_mode()
def greedy_trace(model: Seq2Seq, text: str, max_steps: int | None = None, prefix: str = "",
                 overrides: Sequence[AttentionOverride] = (), task: LetterTask | None = None
                 ) -> DecodeTrace:
    """Greedy decoding of ``text`` (validated and upper-cased) with a per-step trace.

    ``prefix`` (letters) is a what-if: its letters are forced as the first outputs, whatever the
    model prefers, and greedy decoding continues from there. The trace still records what the
    model's distribution was at the forced steps.

    ``overrides`` is the other what-if (Seq2Seq-Vis's forced attention): at each listed step the
    attention weights are replaced (see :class:`AttentionOverride`) before the context is read,
    and decoding goes on from the state that produces. Bad overrides raise OverrideError; an
    override at a step the run never reaches (it wrote ``<eos>`` before) does nothing.

    ``task`` is what the model was trained on (the trace's expected output and outline).
    """
    text = normalize(text)
    by_step = {o.step: o for o in check_overrides(overrides, len(text), model.has_attention)}
    if is_transformer(model):
        for override in by_step.values():
            try:
                model.check_override(head_override(model, override), len(text))
            except ValueError as error:
                raise OverrideError(str(error)) from None
    forced = encode(normalize(prefix)) if prefix else []
    model.eval()
    memory, hidden = _encode_text(model, text)
    fed, steps, log_prob = SOS, [], 0.0
    limit = max(max_steps or default_max_steps(len(text)), len(forced) + 1)
    for position in range(limit):
        out, extra = _traced_step(model, fed, hidden, memory, by_step.get(position))
        hidden = out.state
        log_probs = torch.log_softmax(out.logits[0], 0)  # (vocab,)
        chosen = forced[position] if position < len(forced) else int(log_probs.argmax())
        log_prob += float(log_probs[chosen])
        steps.append(_step_record(position, fed, out, chosen, extra))
        if chosen == EOS:
            break
        fed = chosen
    _add_scores(model, steps, memory)
    method = "forced prefix" if forced else "greedy"
    if by_step:
        method += " + forced attention"
    return DecodeTrace(text, decode([s.chosen_token for s in steps]), log_prob, steps, method,
                       overrides=tuple(by_step.values()), task=task,
                       **_memory_fields(model, memory))


@torch.inference_mode()
def beam_search(model: Seq2Seq, text: str, width: int = 5, max_steps: int | None = None,
                task: LetterTask | None = None) -> DecodeTrace:
    """Beam search of ``width`` hypotheses; the trace follows the best finished one.

    ``beam_steps[t]`` lists the candidates kept after step t, so a page can draw the tree.
    """
    if width < 1:
        raise ValueError("beam width must be at least 1")
    text = normalize(text)
    model.eval()
    memory, hidden = _encode_text(model, text)  # batch of 1
    device = memory.states.device
    tokens = torch.tensor([SOS], device=device)  # (beams,)
    scores = torch.zeros(1, device=device)  # (beams,) cumulative log-probs of live beams
    live_index: list[int] = [-1]  # index into the previous step's candidate list
    beam_steps: list[list[BeamCandidate]] = []
    best: tuple[float, int, int] | None = None  # (log_prob, step, candidate index)
    for step in range(max_steps or default_max_steps(len(text))):
        beams = tokens.shape[0]
        expanded = type(memory)(*(None if t is None else t.expand(beams, *t.shape[1:])
                                  for t in memory))
        out = model.step(tokens, hidden, expanded)
        log_probs = torch.log_softmax(out.logits, dim=1) + scores.unsqueeze(1)  # (beams, vocab)
        flat_scores, flat_index = log_probs.flatten().topk(min(width, log_probs.numel()))
        vocab = log_probs.shape[1]
        parents, chosen = flat_index // vocab, flat_index % vocab  # (width,) each
        candidates, keep = [], []
        ranked = zip(flat_scores.tolist(), parents.tolist(), chosen.tolist(), strict=True)
        for score, parent, token in ranked:
            finished = token == EOS
            candidates.append(BeamCandidate(token, score, live_index[parent], finished))
            if finished:
                if best is None or score > best[0]:
                    best = (score, step, len(candidates) - 1)
            else:
                keep.append((len(candidates) - 1, parent, token, score))
        beam_steps.append(candidates)
        # stop when no live hypothesis can still beat the best finished one
        if not keep or (best is not None and keep[0][3] <= best[0]):
            break
        live_index = [k[0] for k in keep]
        rows = torch.tensor([k[1] for k in keep], device=device)
        tokens = torch.tensor([k[2] for k in keep], device=device)
        scores = torch.tensor([k[3] for k in keep], device=device)
        hidden = _select_rows(out.state, rows)  # a GRU's (live, hidden)
    if best is None:  # nothing finished within max_steps: take the best live hypothesis
        best = (beam_steps[-1][0].log_prob, len(beam_steps) - 1, 0)
    path, tokens_out = [], []
    step, index = best[1], best[2]
    while step >= 0:
        path.append(index)
        tokens_out.append(beam_steps[step][index].token)
        index = beam_steps[step][index].parent
        step -= 1
    path.reverse()
    tokens_out.reverse()
    trace = forced_trace(model, text, tokens_out, method="beam", task=task)
    trace.beam_steps, trace.best_path = beam_steps, path
    return trace


def decode_text(model: Seq2Seq, text: str, beam: int = 1, task: LetterTask | None = None
                ) -> DecodeTrace:
    """Greedy for ``beam <= 1``, else beam search of that width."""
    if beam <= 1:
        return greedy_trace(model, text, task=task)
    return beam_search(model, text, beam, task=task)
