"""Decoding one string with a full trace: greedy, beam search, and forced prefixes."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from seqrev.data import batch_from_strings
from seqrev.models import Memory, Seq2Seq
from seqrev.vocab import EOS, SOS, decode, encode, normalize


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
    attention: torch.Tensor | None  # (S,) weights over the source letters; None for plain
    hidden: torch.Tensor  # (hidden,) decoder state after the step


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

    @property
    def expected(self) -> str:
        return self.source[::-1]

    @property
    def correct(self) -> bool:
        return self.output == self.expected

    def attention_matrix(self) -> torch.Tensor | None:
        """(steps, S) attention weights, one row per decoder step; None for a plain model."""
        if not self.steps or self.steps[0].attention is None:
            return None
        return torch.stack([s.attention for s in self.steps])


def _encode_text(model: Seq2Seq, text: str) -> tuple[Memory, torch.Tensor]:
    device = next(model.parameters()).device
    batch = batch_from_strings([text]).to(device)
    return model.encode(batch.source, batch.lengths)


def _step_record(position, fed, out, chosen) -> DecodeStep:
    attention = out.attention[0].cpu() if out.attention is not None else None
    return DecodeStep(position, fed, torch.softmax(out.logits[0], 0).cpu(), chosen,
                      attention, out.hidden[0].cpu())


@torch.inference_mode()
def forced_trace(model: Seq2Seq, text: str, tokens: list[int], method: str = "forced"
                 ) -> DecodeTrace:
    """Trace the model while it is fed ``tokens`` (what-if: force a decoder path)."""
    text = normalize(text)
    model.eval()
    memory, hidden = _encode_text(model, text)
    device = hidden.device
    fed, steps, log_prob = SOS, [], 0.0
    for position, chosen in enumerate(tokens):
        out = model.step(torch.tensor([fed], device=device), hidden, memory)
        hidden = out.hidden
        record = _step_record(position, fed, out, chosen)
        log_prob += float(torch.log(record.probabilities[chosen]))
        steps.append(record)
        fed = chosen
    return DecodeTrace(text, decode(tokens), log_prob, steps, method)


@torch.inference_mode()
def greedy_trace(model: Seq2Seq, text: str, max_steps: int | None = None, prefix: str = ""
                 ) -> DecodeTrace:
    """Greedy decoding of ``text`` (validated and upper-cased) with a per-step trace.

    ``prefix`` (letters) is a what-if: its letters are forced as the first outputs, whatever the
    model prefers, and greedy decoding continues from there. The trace still records what the
    model's distribution was at the forced steps.
    """
    text = normalize(text)
    forced = encode(normalize(prefix)) if prefix else []
    model.eval()
    memory, hidden = _encode_text(model, text)
    device = hidden.device
    fed, steps, log_prob = SOS, [], 0.0
    limit = max(max_steps or default_max_steps(len(text)), len(forced) + 1)
    for position in range(limit):
        out = model.step(torch.tensor([fed], device=device), hidden, memory)
        hidden = out.hidden
        log_probs = torch.log_softmax(out.logits[0], 0)  # (vocab,)
        chosen = forced[position] if position < len(forced) else int(log_probs.argmax())
        log_prob += float(log_probs[chosen])
        steps.append(_step_record(position, fed, out, chosen))
        if chosen == EOS:
            break
        fed = chosen
    method = "forced prefix" if forced else "greedy"
    return DecodeTrace(text, decode([s.chosen_token for s in steps]), log_prob, steps, method)


@torch.inference_mode()
def beam_search(model: Seq2Seq, text: str, width: int = 5, max_steps: int | None = None
                ) -> DecodeTrace:
    """Beam search of ``width`` hypotheses; the trace follows the best finished one.

    ``beam_steps[t]`` lists the candidates kept after step t, so a page can draw the tree.
    """
    if width < 1:
        raise ValueError("beam width must be at least 1")
    text = normalize(text)
    model.eval()
    memory, hidden = _encode_text(model, text)  # batch of 1
    device = hidden.device
    tokens = torch.tensor([SOS], device=device)  # (beams,)
    scores = torch.zeros(1, device=device)  # (beams,) cumulative log-probs of live beams
    live_index: list[int] = [-1]  # index into the previous step's candidate list
    beam_steps: list[list[BeamCandidate]] = []
    best: tuple[float, int, int] | None = None  # (log_prob, step, candidate index)
    for step in range(max_steps or default_max_steps(len(text))):
        beams = tokens.shape[0]
        expanded = Memory(*(None if t is None else t.expand(beams, *t.shape[1:])
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
        hidden = out.hidden.index_select(0, rows)  # (live, hidden)
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
    trace = forced_trace(model, text, tokens_out, method="beam")
    trace.beam_steps, trace.best_path = beam_steps, path
    return trace


def decode_text(model: Seq2Seq, text: str, beam: int = 1) -> DecodeTrace:
    """Greedy for ``beam <= 1``, else beam search of that width."""
    return greedy_trace(model, text) if beam <= 1 else beam_search(model, text, beam)
