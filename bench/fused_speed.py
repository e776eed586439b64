"""Forward + backward time of the decoder recurrences: autograd's loop against the fused ones.

Run from the repository root: ``python -m bench.fused_speed``. Shapes are the lab's training
step (batch 64, 10 letters + <eos> decoder steps, 10 source positions, hidden 100).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from seqrev.models.fused_recurrence import attention_gru_sequence, gru_sequence
from seqrev.models.seq2seq import gru_update

BATCH, STEPS, SOURCES, HIDDEN = 64, 11, 10, 100
WARMUP, REPEATS = 10, 50


def autograd_gru(input_gates, h0, weight_hh, bias_hh):
    """The plain decoder's loop as the model writes it, one autograd op at a time."""
    hidden, states = h0, []
    for gates in input_gates.unbind(1):  # T x (batch, 3H)
        hidden = gru_update(gates, F.linear(hidden, weight_hh, bias_hh), hidden)
        states.append(hidden)
    return torch.stack(states, dim=1)  # (batch, T, H)


def autograd_attention_gru(input_gates, h0, memory, keys, mask, weight_context, weight_hh, bias_hh):
    """The attention decoder's loop as ``Seq2Seq.advance`` writes it."""
    hidden, states = h0, []
    for gates in input_gates.unbind(1):  # T x (batch, 3H)
        scores = (keys * hidden.unsqueeze(1)).sum(dim=2)  # (batch, S)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)  # (batch, S)
        context = (weights.unsqueeze(2) * memory).sum(dim=1)  # (batch, H)
        gates = torch.addmm(gates, context, weight_context.t())  # (batch, 3H)
        hidden = gru_update(gates, F.linear(hidden, weight_hh, bias_hh), hidden)
        states.append(hidden)
    return torch.stack(states, dim=1)  # (batch, T, H)


def forward_backward(
    run: Callable[[], torch.Tensor], leaves: list[torch.Tensor], grad_states: torch.Tensor
) -> Callable[[], None]:
    """One timed step: clear the gradients, run, backpropagate ``grad_states`` (batch, T, H)."""

    def step() -> None:
        for leaf in leaves:
            leaf.grad = None
        run().backward(grad_states)

    return step


def median_ms(steps: list[Callable[[], None]]) -> list[float]:
    """Median time of each step, the steps interleaved so that both see the same machine load."""
    for _ in range(WARMUP):
        for step in steps:
            step()
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(REPEATS):
        for step, samples in zip(steps, times, strict=True):
            start = time.perf_counter()
            step()
            samples.append(time.perf_counter() - start)
    return [1e3 * statistics.median(samples) for samples in times]


def main() -> None:
    torch.manual_seed(0)
    gate_dim = 3 * HIDDEN

    def leaf(*shape: int) -> torch.Tensor:
        return (0.1 * torch.randn(*shape)).requires_grad_()

    input_gates, h0 = leaf(BATCH, STEPS, gate_dim), leaf(BATCH, HIDDEN)
    memory, keys = leaf(BATCH, SOURCES, HIDDEN), leaf(BATCH, SOURCES, HIDDEN)
    weight_context, weight_hh = leaf(gate_dim, HIDDEN), leaf(gate_dim, HIDDEN)
    bias_hh = leaf(gate_dim)
    lengths = torch.randint(SOURCES // 2, SOURCES + 1, (BATCH,))  # (batch,)
    mask = torch.arange(SOURCES) < lengths.unsqueeze(1)  # (batch, S)
    plain = (input_gates, h0, weight_hh, bias_hh)
    attention = (input_gates, h0, memory, keys, mask, weight_context, weight_hh, bias_hh)
    leaves = [input_gates, h0, memory, keys, weight_context, weight_hh, bias_hh]
    grad_states = torch.randn(BATCH, STEPS, HIDDEN)  # dense, as from the output layer
    cases = {
        "plain": (
            lambda: autograd_gru(*plain),
            lambda: gru_sequence(*plain),
        ),
        "attention": (
            lambda: autograd_attention_gru(*attention),
            lambda: attention_gru_sequence(*attention)[0],
        ),
    }
    print(f"batch {BATCH}, T {STEPS}, S {SOURCES}, hidden {HIDDEN}; median of {REPEATS}, ms")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, (reference, fused) in cases.items():
            runs = (reference, fused)
            slow, fast = median_ms([forward_backward(run, leaves, grad_states) for run in runs])
            print(
                f"threads {threads}  {name:9s}  autograd {slow:6.2f}  fused {fast:6.2f}"
                f"  speedup {slow / fast:4.2f}x"
            )


if __name__ == "__main__":
    main()
