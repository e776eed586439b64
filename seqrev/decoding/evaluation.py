"""Accuracy of greedy decoding on fresh strings: exact, per character, per position, by length."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from seqrev.models.seq2seq import Seq2Seq
from seqrev.tasks.data import Batch
from seqrev.tasks.registry import DEFAULT_TASK, make_task
from seqrev.tasks.vocab import EOS, PAD, decode


@torch.inference_mode()
def greedy_batch(model: Seq2Seq, batch: Batch, max_steps: int | None = None) -> torch.Tensor:
    """Greedy output tokens (batch, steps) for every row; PAD after a row's ``<eos>``.

    ``max_steps`` defaults to the longest source + 1, which is all that exact match needs.
    """
    device = next(model.parameters()).device
    source, lengths = batch.source.to(device), batch.lengths.to(device)
    steps = max_steps or source.shape[1] + 1
    memory, hidden = model.encode(source, lengths)
    tokens = batch.decoder_input[:, 0].to(device)  # (batch,) all <sos>
    finished = torch.zeros_like(tokens, dtype=torch.bool)
    outputs = torch.full((source.shape[0], steps), PAD, dtype=torch.long, device=device)
    for t in range(steps):
        out = model.step(tokens, hidden, memory)
        hidden, tokens = out.state, out.logits.argmax(dim=1)  # a GRU's (batch, hidden); (batch,)
        outputs[:, t] = tokens.masked_fill(finished, PAD)
        finished |= tokens == EOS
        if bool(finished.all()):
            break
    return outputs.cpu()


def greedy_by_length(model: Seq2Seq, batch: Batch) -> torch.Tensor:
    """Greedy outputs (batch, longest + 1), decoding each length apart so none pays for padding.

    Same tokens as ``greedy_batch`` on each row's first steps, as many as the longest target
    of its length (L + 1 where the output is as long as the input; a task of pairs has outputs
    of their own lengths); with many lengths in one batch, a padded decode was measured up to
    17x slower.
    """
    target_steps = (batch.target != PAD).sum(1)  # (batch,) letters and the <eos>
    width = max(int(batch.lengths.max()) + 1, int(target_steps.max()))
    outputs = torch.full((batch.source.shape[0], width), PAD, dtype=torch.long)
    for length in sorted(set(batch.lengths.tolist())):
        rows = torch.nonzero(batch.lengths == length).flatten()  # (n,)
        steps = int(target_steps[rows].max())
        part = Batch(batch.source[rows, :length], batch.lengths[rows],
                     batch.decoder_input[rows, :steps], batch.target[rows, :steps])
        produced = greedy_batch(model, part, max_steps=steps)  # (n, <= steps)
        outputs[rows, : produced.shape[1]] = produced
    return outputs


def _aligned(batch: Batch, outputs: torch.Tensor) -> torch.Tensor:
    """``outputs`` cut or PAD-filled to the target's width. (batch, T)"""
    produced = torch.full_like(batch.target, PAD)
    steps = min(outputs.shape[1], batch.target.shape[1])
    produced[:, :steps] = outputs[:, :steps]
    return produced


def exact_rows(batch: Batch, outputs: torch.Tensor) -> torch.Tensor:
    """True for each row whose ``outputs`` match the target through ``<eos>``. (batch,)"""
    return ((_aligned(batch, outputs) == batch.target) | (batch.target == PAD)).all(dim=1)


@dataclass
class EvalReport:
    """Greedy-decoding accuracy on one evaluation set."""

    n: int
    exact_match: float  # whole output right, <eos> in place ("coarse" in Grefenstette et al.)
    char_accuracy: float  # share of expected letters produced at their position
    fine_accuracy: float  # mean share of each target correct before its first error
    per_position: list[float]  # accuracy of output position i over strings long enough to have it
    by_length: dict[int, dict[str, float]]  # length -> n, exact_match, char_accuracy, fine
    failures: list[dict[str, str]] = field(default_factory=list)  # input, expected, produced

    def to_dict(self) -> dict:
        data = asdict(self)
        data["by_length"] = {str(k): v for k, v in self.by_length.items()}
        return data


def score_outputs(batch: Batch, outputs: torch.Tensor, max_failures: int = 50) -> EvalReport:
    """Compare greedy ``outputs`` (batch, steps) with ``batch.target``; see EvalReport."""
    target = batch.target  # (batch, T) letters, <eos>, PAD
    scored = target != PAD  # (batch, T) letters and the <eos>
    letters = scored & (target != EOS)  # (batch, T)
    correct = _aligned(batch, outputs) == target  # (batch, T)
    exact = exact_rows(batch, outputs)  # (batch,)
    # fine: letters right before the first wrong symbol, over the letters expected
    wrong_so_far = torch.cumsum((~correct & scored).int(), dim=1) > 0  # (batch, T)
    expected = letters.sum(1)  # (batch,) letters per target: the lengths, or a pair's own
    fine = ((~wrong_so_far & letters).sum(1) / expected).double()  # (batch,)
    letter_hits = (correct & letters).double()  # (batch, T)
    per_position = (letter_hits.sum(0) / letters.sum(0).clamp(min=1))[: int(expected.max())]

    by_length = {}
    for length in sorted(set(batch.lengths.tolist())):
        rows = batch.lengths == length
        by_length[length] = {
            "n": int(rows.sum()),
            "exact_match": float(exact[rows].double().mean()),
            "char_accuracy": float(letter_hits[rows].sum() / letters[rows].sum()),
            "fine_accuracy": float(fine[rows].mean()),
        }
    failures = []
    for row in torch.nonzero(~exact).flatten().tolist()[:max_failures]:
        source = decode(batch.source[row])
        failures.append({"input": source, "expected": decode(batch.target[row]),
                         "produced": decode(outputs[row])})
    return EvalReport(
        n=len(exact),
        exact_match=float(exact.double().mean()),
        char_accuracy=float(letter_hits.sum() / letters.sum()),
        fine_accuracy=float(fine.mean()),
        per_position=[round(float(v), 6) for v in per_position],
        by_length=by_length,
        failures=failures,
    )


def evaluate(model: Seq2Seq, batch: Batch, max_failures: int = 50) -> EvalReport:
    """Greedy-decode every string of ``batch`` and score it."""
    was_training = model.training
    model.eval()
    try:
        return score_outputs(batch, greedy_by_length(model, batch), max_failures)
    finally:
        model.train(was_training)


def evaluate_fresh(
    model: Seq2Seq, n: int = 1000, min_len: int = 10, max_len: int = 10, seed: int = 0,
    max_failures: int = 50, task: str = DEFAULT_TASK,
) -> EvalReport:
    """Evaluate on ``n`` fresh strings of ``task``, lengths uniform in [min_len, max_len]."""
    return evaluate(model, make_task(task, min_len, max_len).eval_set(n, seed), max_failures)


def evaluate_by_length(
    model: Seq2Seq, lengths: list[int], n_per_length: int = 1000, seed: int = 0,
    task: str = DEFAULT_TASK,
) -> dict[int, EvalReport]:
    """One report per length, each on its own ``n_per_length`` fresh strings."""
    return {
        length: evaluate_fresh(model, n_per_length, length, length, seed + length, max_failures=0,
                               task=task)
        for length in lengths
    }
