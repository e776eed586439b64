"""The decoder's recurrences as two autograd Functions with hand-written backward passes.

Autograd records about fifteen ops per GRU step and replays twice as many in backward. Here the
forward loop runs without autograd and keeps only what backward needs, and backward walks the
steps with a dozen fused, in-place ops each. The math is ``seqrev.models.seq2seq.gru_update``
(nn.GRU's gate order r, z, n) and ``Seq2Seq.advance``. ``bench/fused_speed.py`` measures the
gain; what remains is mostly matmul arithmetic, which neither version can skip.

Everything is per step on (batch, ...) tensors, on purpose. Derivatives vectorized over all
steps need temporaries of several hundred KB, and on this CPU fresh allocations that size were
served by new pages whose faults cost more than the ops saved. Weight gradients are accumulated
step by step: at these sizes a matmul is bound by its arithmetic, and one big matmul over all
steps measured no faster.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.autograd.function import FunctionCtx, once_differentiable


class _Step(NamedTuple):
    """What one forward GRU step keeps for backward."""

    reset_update: torch.Tensor  # (batch, 2H): sigmoid gates r | z
    reset: torch.Tensor  # (batch, H): view of reset_update
    update: torch.Tensor  # (batch, H): view of reset_update
    hidden_n: torch.Tensor  # (batch, H): W_hn h + b_hn, the part the reset gate scales
    candidate: torch.Tensor  # (batch, H): n
    gap: torch.Tensor  # (batch, H): h - n


def _gru_step(
    input_rz: torch.Tensor,
    input_n: torch.Tensor,
    hidden: torch.Tensor,
    weight_hh_t: torch.Tensor,
    bias_hh: torch.Tensor,
    out: torch.Tensor,
) -> _Step:
    """``gru_update`` with the new state written into ``out`` (batch, H)."""
    size = hidden.shape[1]
    gates_h = torch.addmm(bias_hh, hidden, weight_hh_t)  # (batch, 3H)
    hidden_rz, hidden_n = gates_h.split((2 * size, size), dim=1)  # (batch, 2H), (batch, H)
    reset_update = torch.add(input_rz, hidden_rz).sigmoid_()  # (batch, 2H)
    reset, update = reset_update.chunk(2, dim=1)  # (batch, H) each
    candidate = torch.addcmul(input_n, reset, hidden_n).tanh_()  # (batch, H)
    gap = hidden - candidate  # (batch, H)
    torch.addcmul(candidate, update, gap, out=out)  # (batch, H): n + z (h - n)
    return _Step(reset_update, reset, update, hidden_n, candidate, gap)


class _GRUBackward:
    """Backward through GRU steps, last to first, accumulating the hidden weights' gradients.

    One (batch, 3H) buffer holds a step's gradient of ``W_hh h + b_hh`` and is reused by every
    step, since both matmuls that read it run before the next step.
    """

    def __init__(self, weight_hh: torch.Tensor, batch: int) -> None:
        size = weight_hh.shape[1]
        self.weight_hh = weight_hh  # (3H, H)
        self.d_weight_hh = torch.zeros_like(weight_hh)  # (3H, H)
        self.d_bias_hh = weight_hh.new_zeros(batch, 3 * size)  # summed over the batch at the end
        self.d_gates_h = weight_hh.new_empty(batch, 3 * size)  # (batch, 3H)
        self.d_gates_h_t = self.d_gates_h.t()  # (3H, batch)
        self.d_hidden_rz, self.d_hidden_n = self.d_gates_h.split((2 * size, size), 1)
        self.d_reset_update = weight_hh.new_empty(batch, 2 * size)  # dL/d(r | z), (batch, 2H)
        self.d_reset, self.d_update = self.d_reset_update.chunk(2, dim=1)  # (batch, H) each

    def step(
        self,
        saved: _Step,
        hidden: torch.Tensor,
        grad: torch.Tensor,
        grad_below: torch.Tensor | None,
        d_input_rz: torch.Tensor,
        d_input_n: torch.Tensor,
    ) -> torch.Tensor:
        """Write the step's input-gate gradients into ``d_input_rz`` | ``d_input_n``.

        ``grad`` is dL/d(new state) and ``grad_below`` the loss's own gradient at ``hidden``,
        the state the step started from (None for h0); returns dL/d``hidden`` (batch, H).
        """
        d_candidate = torch.addcmul(grad, grad, saved.update, value=-1)  # (batch, H): g (1 - z)
        d_candidate_n = d_candidate * saved.candidate  # (batch, H); next, times tanh' = 1 - n^2
        torch.addcmul(d_candidate, d_candidate_n, saved.candidate, value=-1, out=d_input_n)
        torch.mul(d_input_n, saved.hidden_n, out=self.d_reset)  # (batch, H): dL/dr
        torch.mul(grad, saved.gap, out=self.d_update)  # (batch, H): dL/dz = g (h - n)
        torch.mul(self.d_reset_update, saved.reset_update, out=self.d_hidden_rz)  # (batch, 2H)
        self.d_hidden_rz.addcmul_(self.d_hidden_rz, saved.reset_update, value=-1)  # sigmoid'
        torch.mul(d_input_n, saved.reset, out=self.d_hidden_n)  # (batch, H)
        d_input_rz.copy_(self.d_hidden_rz)
        self.d_weight_hh.addmm_(self.d_gates_h_t, hidden)
        self.d_bias_hh.add_(self.d_gates_h)
        if grad_below is None:
            grad_hidden = grad * saved.update  # (batch, H)
        else:
            grad_hidden = torch.addcmul(grad_below, grad, saved.update)  # (batch, H)
        return grad_hidden.addmm_(self.d_gates_h, self.weight_hh)  # (batch, H)


def _split_steps(gates: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], ...]:
    """(batch, T, 3H) -> the r|z parts (batch, 2H) and the n parts (batch, H), per step."""
    size = gates.shape[2] // 3
    return tuple(part.unbind(1) for part in gates.split((2 * size, size), dim=2))


def _previous_states(h0: torch.Tensor, states: torch.Tensor) -> list[torch.Tensor]:
    """The state each step started from: h0, then all but the last of ``states``."""
    return [h0, *states.unbind(1)[:-1]]


class _GRUSequence(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: FunctionCtx,
        input_gates: torch.Tensor,
        h0: torch.Tensor,
        weight_hh: torch.Tensor,
        bias_hh: torch.Tensor,
    ) -> torch.Tensor:
        batch, steps, _ = input_gates.shape
        states = h0.new_empty(batch, steps, h0.shape[1])  # (batch, T, H)
        outs, weight_hh_t, hidden, ctx.steps = states.unbind(1), weight_hh.t(), h0, []
        for input_rz, input_n, out in zip(*_split_steps(input_gates), outs, strict=True):
            ctx.steps.append(_gru_step(input_rz, input_n, hidden, weight_hh_t, bias_hh, out))
            hidden = out
        ctx.save_for_backward(h0, weight_hh, states)
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_states: torch.Tensor) -> tuple:
        h0, weight_hh, states = ctx.saved_tensors
        hidden = _previous_states(h0, states)
        d_input_gates = states.new_empty(*states.shape[:2], weight_hh.shape[0])  # (batch, T, 3H)
        d_input_rz, d_input_n = _split_steps(d_input_gates)
        grads = grad_states.unbind(1)  # T x (batch, H)
        gru, grad = _GRUBackward(weight_hh, h0.shape[0]), grads[-1]
        for t in reversed(range(len(ctx.steps))):
            below = grads[t - 1] if t else None
            grad = gru.step(ctx.steps[t], hidden[t], grad, below, d_input_rz[t], d_input_n[t])
        return d_input_gates, grad, gru.d_weight_hh, gru.d_bias_hh.sum(0)


class _AttentionGRUSequence(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: FunctionCtx,
        input_gates: torch.Tensor,
        h0: torch.Tensor,
        memory_states: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor,
        weight_context: torch.Tensor,
        weight_hh: torch.Tensor,
        bias_hh: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        (batch, steps, _), size = input_gates.shape, h0.shape[1]
        states = h0.new_empty(batch, steps, size)  # (batch, T, H)
        padding = h0.new_zeros(batch, 1, keys.shape[1])  # (batch, 1, S): 0, or -inf on padding
        padding.masked_fill_(~mask.unsqueeze(1), -torch.inf)
        keys_t = keys.transpose(1, 2)  # (batch, H, S)
        weight_context_t, weight_hh_t = weight_context.t(), weight_hh.t()
        hidden, ctx.steps, ctx.weights, ctx.contexts = h0, [], [], []
        for gates, out in zip(input_gates.unbind(1), states.unbind(1), strict=True):
            scores = torch.baddbmm(padding, hidden.unsqueeze(1), keys_t)  # (batch, 1, S)
            weights = torch.softmax(scores, dim=2)  # (batch, 1, S)
            context = torch.bmm(weights, memory_states).squeeze(1)  # (batch, D)
            gates = torch.addmm(gates, context, weight_context_t)  # (batch, 3H)
            input_rz, input_n = gates.split((2 * size, size), dim=1)
            ctx.steps.append(_gru_step(input_rz, input_n, hidden, weight_hh_t, bias_hh, out))
            ctx.weights.append(weights)
            ctx.contexts.append(context)
            hidden = out
        attention = torch.cat(ctx.weights, dim=1)  # (batch, T, S)
        ctx.mark_non_differentiable(attention)
        ctx.save_for_backward(h0, memory_states, keys, weight_context, weight_hh, states, attention)
        return states, attention

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_states: torch.Tensor, _: torch.Tensor) -> tuple:
        h0, memory_states, keys, weight_context, weight_hh, states, attention = ctx.saved_tensors
        (batch, steps, size), hidden = states.shape, _previous_states(h0, states)
        d_input_gates = states.new_empty(batch, steps, 3 * size)  # (batch, T, 3H)
        d_input_rz, d_input_n = _split_steps(d_input_gates)
        d_inputs = d_input_gates.unbind(1)  # T x (batch, 3H)
        d_weight_context = torch.zeros_like(weight_context)  # (3H, H)
        d_contexts = states.new_empty(steps, batch, memory_states.shape[2])  # (T, batch, D)
        d_scores = [None] * steps  # T x (batch, 1, S)
        memory_t = memory_states.transpose(1, 2)  # (batch, H, S)
        grads = grad_states.unbind(1)  # T x (batch, H)
        gru, grad = _GRUBackward(weight_hh, batch), grads[-1]
        for t in reversed(range(steps)):
            below = grads[t - 1] if t else None
            grad = gru.step(ctx.steps[t], hidden[t], grad, below, d_input_rz[t], d_input_n[t])
            weights = ctx.weights[t]  # (batch, 1, S)
            d_weight_context.addmm_(d_inputs[t].t(), ctx.contexts[t])
            d_context = torch.mm(d_inputs[t], weight_context, out=d_contexts[t])  # (batch, H)
            d_weights = torch.bmm(d_context.unsqueeze(1), memory_t).mul_(weights)  # (b, 1, S)
            d_scores[t] = d_weights.addcmul_(weights, d_weights.sum(2, keepdim=True), value=-1)
            grad.unsqueeze(1).baddbmm_(d_scores[t], keys)  # (batch, 1, H): the query's share
        d_scores = torch.cat(d_scores, dim=1).transpose(1, 2)  # (batch, S, T)
        d_keys = torch.bmm(d_scores[:, :, 1:], states[:, :-1])  # (batch, S, H)
        d_keys.baddbmm_(d_scores[:, :, :1], h0.unsqueeze(1))  # step 0 queried with h0
        d_memory = torch.bmm(attention.transpose(1, 2), d_contexts.transpose(0, 1))  # (b, S, H)
        return (
            d_input_gates,
            grad,
            d_memory,
            d_keys,
            None,
            d_weight_context,
            gru.d_weight_hh,
            gru.d_bias_hh.sum(0),
        )


def gru_sequence(
    input_gates: torch.Tensor, h0: torch.Tensor, weight_hh: torch.Tensor, bias_hh: torch.Tensor
) -> torch.Tensor:
    """All states (batch, T, H) of a GRU run over precomputed ``W_ih x_t + b_ih`` (batch, T, 3H).

    Step t computes ``gru_update(input_gates[:, t], F.linear(h, weight_hh, bias_hh), h)`` from
    ``h0`` (batch, H); ``weight_hh`` is (3H, H) and ``bias_hh`` (3H,), in nn.GRU's layout.
    """
    return _GRUSequence.apply(input_gates, h0, weight_hh, bias_hh)


def attention_gru_sequence(
    input_gates: torch.Tensor,
    h0: torch.Tensor,
    memory_states: torch.Tensor,
    keys: torch.Tensor,
    mask: torch.Tensor,
    weight_context: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_hh: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """States (batch, T, H) and attention weights (batch, T, S) of the attention decoder.

    At each step the previous state queries ``keys`` (batch, S, H) with a dot product, padding
    (``mask`` False) gets weight 0, the weighted sum of ``memory_states`` (batch, S, D; D = 2H
    for a bidirectional encoder) adds
    ``context @ weight_context.T`` to the step's input gates, and the GRU updates as in
    ``gru_sequence``. The attention weights carry no gradient.
    """
    return _AttentionGRUSequence.apply(
        input_gates, h0, memory_states, keys, mask, weight_context, weight_hh, bias_hh
    )
