"""The fused GRU recurrences of ``seqrev.models.fused_recurrence``, over a pack of models.

Every tensor has a leading pack dimension P: trial p's inputs meet only trial p's weights, so
each matrix product of the single-model version becomes one ``bmm`` over the pack. The math,
the step order and the hand-written backward are those of ``fused_recurrence``; a pack of one
computes the same numbers as one model, up to the rounding of ``bmm`` against ``addmm``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.autograd.function import FunctionCtx, once_differentiable


class _Step(NamedTuple):
    """What one forward step keeps for backward, each (P, batch, ...)."""

    reset_update: torch.Tensor  # (P, batch, 2H): sigmoid gates r | z
    reset: torch.Tensor  # (P, batch, H)
    update: torch.Tensor  # (P, batch, H)
    hidden_n: torch.Tensor  # (P, batch, H): W_hn h + b_hn
    candidate: torch.Tensor  # (P, batch, H)
    gap: torch.Tensor  # (P, batch, H): h - n


def _gru_step(input_rz, input_n, hidden, weight_hh_t, bias_hh, out) -> _Step:
    """One GRU update of every trial, the new state written into ``out`` (P, batch, H)."""
    size = hidden.shape[2]
    gates_h = torch.baddbmm(bias_hh, hidden, weight_hh_t)  # (P, batch, 3H)
    hidden_rz, hidden_n = gates_h.split((2 * size, size), dim=2)
    reset_update = torch.add(input_rz, hidden_rz).sigmoid_()  # (P, batch, 2H)
    reset, update = reset_update.chunk(2, dim=2)  # (P, batch, H) each
    candidate = torch.addcmul(input_n, reset, hidden_n).tanh_()  # (P, batch, H)
    gap = hidden - candidate  # (P, batch, H)
    torch.addcmul(candidate, update, gap, out=out)  # (P, batch, H)
    return _Step(reset_update, reset, update, hidden_n, candidate, gap)


class _GRUBackward:
    """Backward through the steps, last to first; the weight gradients come after the loop.

    Each step's gradient of ``W_hh h + b_hh`` is kept in one (P, batch, T, 3H) buffer, and
    ``finish`` turns it into dW_hh with one ``bmm`` over all steps: per-step products of a
    pack's small matrices were slower than one large one.
    """

    def __init__(self, weight_hh: torch.Tensor, batch: int, steps: int) -> None:
        pack, gate_dim, size = weight_hh.shape
        self.size = size
        self.weight_hh = weight_hh  # (P, 3H, H)
        self.d_gates_h = weight_hh.new_empty(pack, batch, steps, gate_dim)  # (P, batch, T, 3H)
        self.d_reset_update = weight_hh.new_empty(pack, batch, 2 * size)  # (P, batch, 2H)
        self.d_reset, self.d_update = self.d_reset_update.chunk(2, dim=2)

    def step(self, t: int, saved: _Step, grad, grad_below, d_input_rz, d_input_n):
        """Input-gate gradients into ``d_input_rz`` | ``d_input_n``; returns dL/d(h_t-1)."""
        d_gates_h = self.d_gates_h[:, :, t]  # (P, batch, 3H)
        d_hidden_rz, d_hidden_n = d_gates_h.split((2 * self.size, self.size), 2)
        d_candidate = torch.addcmul(grad, grad, saved.update, value=-1)  # (P, batch, H)
        d_candidate_n = d_candidate * saved.candidate  # (P, batch, H)
        torch.addcmul(d_candidate, d_candidate_n, saved.candidate, value=-1, out=d_input_n)
        torch.mul(d_input_n, saved.hidden_n, out=self.d_reset)
        torch.mul(grad, saved.gap, out=self.d_update)
        torch.mul(self.d_reset_update, saved.reset_update, out=d_hidden_rz)
        d_hidden_rz.addcmul_(d_hidden_rz, saved.reset_update, value=-1)
        torch.mul(d_input_n, saved.reset, out=d_hidden_n)
        d_input_rz.copy_(d_hidden_rz)
        if grad_below is None:
            grad_hidden = grad * saved.update  # (P, batch, H)
        else:
            grad_hidden = torch.addcmul(grad_below, grad, saved.update)  # (P, batch, H)
        return grad_hidden.baddbmm_(d_gates_h, self.weight_hh)  # (P, batch, H)

    def finish(self, h0: torch.Tensor, states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """dW_hh (P, 3H, H) and db_hh (P, 3H), from every step's state before it."""
        pack, batch, steps, gate_dim = self.d_gates_h.shape
        before = torch.cat([h0.unsqueeze(2), states[:, :, :-1]], dim=2)  # (P, batch, T, H)
        flat_d = self.d_gates_h.view(pack, batch * steps, gate_dim)  # (P, batch*T, 3H)
        d_weight = torch.bmm(flat_d.transpose(1, 2), before.view(pack, batch * steps, -1))
        return d_weight, flat_d.sum(1)


def _split_steps(gates: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], ...]:
    """(P, batch, T, 3H) -> per step, the r|z parts (P, batch, 2H) and n parts (P, batch, H)."""
    size = gates.shape[3] // 3
    return tuple(part.unbind(2) for part in gates.split((2 * size, size), dim=3))


class _PackedGRUSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, input_gates, h0, weight_hh, bias_hh):
        pack, batch, steps, _ = input_gates.shape
        states = h0.new_empty(pack, batch, steps, h0.shape[2])  # (P, batch, T, H)
        weight_hh_t, bias = weight_hh.transpose(1, 2), bias_hh.unsqueeze(1)  # (P,H,3H), (P,1,3H)
        hidden, ctx.steps = h0, []
        for input_rz, input_n, out in zip(*_split_steps(input_gates), states.unbind(2),
                                          strict=True):
            ctx.steps.append(_gru_step(input_rz, input_n, hidden, weight_hh_t, bias, out))
            hidden = out
        ctx.save_for_backward(h0, weight_hh, states)
        return states

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_states):
        h0, weight_hh, states = ctx.saved_tensors
        pack, batch, steps, _ = states.shape
        d_input_gates = states.new_empty(pack, batch, steps, weight_hh.shape[1])  # (P,b,T,3H)
        d_input_rz, d_input_n = _split_steps(d_input_gates)
        grads = grad_states.unbind(2)  # T x (P, batch, H)
        gru, grad = _GRUBackward(weight_hh, batch, steps), grads[-1]
        for t in reversed(range(steps)):
            below = grads[t - 1] if t else None
            grad = gru.step(t, ctx.steps[t], grad, below, d_input_rz[t], d_input_n[t])
        return d_input_gates, grad, *gru.finish(h0, states)


class _PackedAttentionGRUSequence(torch.autograd.Function):
    """The attention decoder; attention works on (P * batch) rows, the GRU on (P, batch)."""

    @staticmethod
    def forward(ctx: FunctionCtx, input_gates, h0, memory_states, keys, mask, weight_context,
                weight_hh, bias_hh):
        (pack, batch, steps, _), size = input_gates.shape, h0.shape[2]
        rows, source_len = pack * batch, keys.shape[2]
        states = h0.new_empty(pack, batch, steps, size)  # (P, batch, T, H)
        padding = h0.new_zeros(rows, 1, source_len)  # (P*batch, 1, S): 0, or -inf on padding
        padding.masked_fill_(~mask.reshape(rows, 1, source_len), -torch.inf)
        flat_memory = memory_states.reshape(rows, source_len, size)  # (P*batch, S, H)
        keys_t = keys.reshape(rows, source_len, size).transpose(1, 2)  # (P*batch, H, S)
        weight_context_t = weight_context.transpose(1, 2)  # (P, H, 3H)
        weight_hh_t, bias = weight_hh.transpose(1, 2), bias_hh.unsqueeze(1)
        hidden, ctx.steps, ctx.weights, ctx.contexts = h0, [], [], []
        for gates, out in zip(input_gates.unbind(2), states.unbind(2), strict=True):
            query = hidden.reshape(rows, 1, size)  # (P*batch, 1, H)
            weights = torch.softmax(torch.baddbmm(padding, query, keys_t), dim=2)  # (Pb, 1, S)
            context = torch.bmm(weights, flat_memory).view(pack, batch, size)  # (P, batch, H)
            gates = torch.baddbmm(gates, context, weight_context_t)  # (P, batch, 3H)
            input_rz, input_n = gates.split((2 * size, size), dim=2)
            ctx.steps.append(_gru_step(input_rz, input_n, hidden, weight_hh_t, bias, out))
            ctx.weights.append(weights)
            ctx.contexts.append(context)
            hidden = out
        attention = torch.cat(ctx.weights, dim=1)  # (P*batch, T, S)
        ctx.mark_non_differentiable(attention)
        ctx.save_for_backward(h0, flat_memory, keys, weight_context, weight_hh, states, attention)
        return states, attention.view(pack, batch, steps, source_len)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_states, _):
        h0, flat_memory, keys, weight_context, weight_hh, states, attention = ctx.saved_tensors
        pack, batch, steps, size = states.shape
        rows, source_len = pack * batch, keys.shape[2]
        flat_keys = keys.reshape(rows, source_len, size)  # (P*batch, S, H)
        d_input_gates = states.new_empty(pack, batch, steps, 3 * size)  # (P, batch, T, 3H)
        d_input_rz, d_input_n = _split_steps(d_input_gates)
        d_inputs = d_input_gates.unbind(2)  # T x (P, batch, 3H)
        d_contexts = states.new_empty(steps, pack, batch, size)  # (T, P, batch, H)
        d_scores = [None] * steps  # T x (P*batch, 1, S)
        memory_t = flat_memory.transpose(1, 2)  # (P*batch, H, S)
        grads = grad_states.unbind(2)  # T x (P, batch, H)
        gru, grad = _GRUBackward(weight_hh, batch, steps), grads[-1]
        for t in reversed(range(steps)):
            below = grads[t - 1] if t else None
            grad = gru.step(t, ctx.steps[t], grad, below, d_input_rz[t], d_input_n[t])
            weights = ctx.weights[t]  # (P*batch, 1, S)
            d_context = torch.bmm(d_inputs[t], weight_context, out=d_contexts[t])  # (P, b, H)
            d_weights = torch.bmm(d_context.view(rows, 1, size), memory_t).mul_(weights)
            d_scores[t] = d_weights.addcmul_(weights, d_weights.sum(2, keepdim=True), value=-1)
            grad.view(rows, 1, size).baddbmm_(d_scores[t], flat_keys)  # the query's share
        d_scores = torch.cat(d_scores, dim=1).transpose(1, 2)  # (P*batch, S, T)
        flat_states = states.reshape(rows, steps, size)  # (P*batch, T, H)
        d_keys = torch.bmm(d_scores[:, :, 1:], flat_states[:, :-1])  # (P*batch, S, H)
        d_keys.baddbmm_(d_scores[:, :, :1], h0.reshape(rows, 1, size))  # step 0 queried h0
        d_memory = torch.bmm(attention.transpose(1, 2),
                             d_contexts.permute(1, 2, 0, 3).reshape(rows, steps, size))
        contexts = torch.stack(ctx.contexts, dim=2).view(pack, batch * steps, size)
        d_weight_context = torch.bmm(d_input_gates.view(pack, batch * steps, 3 * size)
                                     .transpose(1, 2), contexts)  # (P, 3H, H)
        return (d_input_gates, grad, d_memory.view(pack, batch, source_len, size),
                d_keys.view(pack, batch, source_len, size), None, d_weight_context,
                *gru.finish(h0, states))


def packed_gru_sequence(input_gates, h0, weight_hh, bias_hh) -> torch.Tensor:
    """States (P, batch, T, H) of P GRUs over their input gates (P, batch, T, 3H).

    ``h0`` is (P, batch, H), ``weight_hh`` (P, 3H, H) and ``bias_hh`` (P, 3H): trial p runs
    ``fused_recurrence.gru_sequence`` with slice p of each.
    """
    return _PackedGRUSequence.apply(input_gates, h0, weight_hh, bias_hh)


def packed_attention_gru_sequence(input_gates, h0, memory_states, keys, mask, weight_context,
                                  weight_hh, bias_hh) -> tuple[torch.Tensor, torch.Tensor]:
    """States (P, batch, T, H) and weights (P, batch, T, S) of P attention decoders.

    Slice p of every argument is one call of ``fused_recurrence.attention_gru_sequence``:
    ``memory_states``/``keys`` (P, batch, S, H), ``mask`` (P, batch, S), ``weight_context``
    and ``weight_hh`` (P, 3H, H), ``bias_hh`` (P, 3H).
    """
    return _PackedAttentionGRUSequence.apply(input_gates, h0, memory_states, keys, mask,
                                             weight_context, weight_hh, bias_hh)
