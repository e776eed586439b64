"""The fused recurrences against autograd's: gradcheck, and equality with a plain loop."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqrev.models.fused_recurrence import attention_gru_sequence, gru_sequence
from seqrev.models.seq2seq import gru_update

BATCH, STEPS, SOURCES, HIDDEN = 3, 4, 5, 6
LENGTHS = (5, 3, 1)  # letters per source row; the rest is padding


def reference_gru(input_gates, h0, weight_hh, bias_hh):
    """``gru_sequence`` as an autograd loop over ``gru_update``."""
    hidden, states = h0, []
    for t in range(input_gates.shape[1]):
        hidden = gru_update(input_gates[:, t], F.linear(hidden, weight_hh, bias_hh), hidden)
        states.append(hidden)
    return torch.stack(states, dim=1)  # (batch, T, H)


def reference_attention_gru(
    input_gates, h0, memory_states, keys, mask, weight_context, weight_hh, bias_hh
):
    """``attention_gru_sequence`` as an autograd loop, attention as ``Seq2Seq.attend``."""
    hidden, states, attention = h0, [], []
    for t in range(input_gates.shape[1]):
        scores = (keys * hidden.unsqueeze(1)).sum(dim=2)  # (batch, S)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)  # (batch, S)
        context = (weights.unsqueeze(2) * memory_states).sum(dim=1)  # (batch, H)
        gates = input_gates[:, t] + context @ weight_context.t()  # (batch, 3H)
        hidden = gru_update(gates, F.linear(hidden, weight_hh, bias_hh), hidden)
        states.append(hidden)
        attention.append(weights)
    return torch.stack(states, dim=1), torch.stack(attention, dim=1)  # (b, T, H), (b, T, S)


def make_inputs(dtype: torch.dtype, seed: int = 0) -> dict[str, torch.Tensor]:
    """Leaf tensors for both functions, every float one requiring grad, plus the mask."""
    generator = torch.Generator().manual_seed(seed)
    shapes = {
        "input_gates": (BATCH, STEPS, 3 * HIDDEN),
        "h0": (BATCH, HIDDEN),
        "memory_states": (BATCH, SOURCES, HIDDEN),
        "keys": (BATCH, SOURCES, HIDDEN),
        "weight_context": (3 * HIDDEN, HIDDEN),
        "weight_hh": (3 * HIDDEN, HIDDEN),
        "bias_hh": (3 * HIDDEN,),
    }
    inputs = {
        name: torch.randn(shape, generator=generator, dtype=dtype).requires_grad_()
        for name, shape in shapes.items()
    }
    inputs["mask"] = torch.arange(SOURCES) < torch.tensor(LENGTHS).unsqueeze(1)  # (batch, S)
    return inputs


def plain_args(inputs):
    return [inputs[name] for name in ("input_gates", "h0", "weight_hh", "bias_hh")]


def attention_args(inputs):
    names = (
        "input_gates",
        "h0",
        "memory_states",
        "keys",
        "mask",
        "weight_context",
        "weight_hh",
        "bias_hh",
    )
    return [inputs[name] for name in names]


def grads_of(outputs: torch.Tensor, leaves: list[torch.Tensor], seed: int = 1):
    """Gradients of a random weighting of ``outputs``, so every state's gradient matters."""
    weights = torch.randn(outputs.shape, generator=torch.Generator().manual_seed(seed))
    return torch.autograd.grad((outputs * weights.to(outputs.dtype)).sum(), leaves)


def test_gru_sequence_gradcheck():
    args = plain_args(make_inputs(torch.float64))
    assert torch.autograd.gradcheck(gru_sequence, args)


def test_attention_gru_sequence_gradcheck():
    inputs = make_inputs(torch.float64)
    args = attention_args(inputs)

    def states_only(input_gates, h0, memory_states, keys, weight_context, weight_hh, bias_hh):
        return attention_gru_sequence(
            input_gates,
            h0,
            memory_states,
            keys,
            inputs["mask"],
            weight_context,
            weight_hh,
            bias_hh,
        )[0]

    assert torch.autograd.gradcheck(states_only, [a for a in args if a.dtype != torch.bool])


def test_gru_sequence_matches_autograd_loop():
    args = plain_args(make_inputs(torch.float32))
    expected, states = reference_gru(*args), gru_sequence(*args)
    torch.testing.assert_close(states, expected, atol=1e-5, rtol=1e-5)
    for got, want in zip(grads_of(states, args), grads_of(expected, args), strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_attention_gru_sequence_matches_autograd_loop():
    args = attention_args(make_inputs(torch.float32))
    leaves = [a for a in args if a.requires_grad]
    expected, expected_attention = reference_attention_gru(*args)
    states, attention = attention_gru_sequence(*args)
    torch.testing.assert_close(states, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attention, expected_attention, atol=1e-5, rtol=1e-5)
    for got, want in zip(grads_of(states, leaves), grads_of(expected, leaves), strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_attention_is_zero_on_padding_and_sums_to_one():
    inputs = make_inputs(torch.float32)
    _, attention = attention_gru_sequence(*attention_args(inputs))  # (batch, T, S)
    padding = ~inputs["mask"].unsqueeze(1).expand_as(attention)  # (batch, T, S)
    assert torch.all(attention[padding] == 0)
    torch.testing.assert_close(attention.sum(2), torch.ones(BATCH, STEPS))
    assert not attention.requires_grad


def test_padded_memory_gets_no_gradient():
    inputs = make_inputs(torch.float32)
    args = attention_args(inputs)
    d_memory, d_keys = grads_of(attention_gru_sequence(*args)[0], [args[2], args[3]])
    padding = ~inputs["mask"]  # (batch, S)
    assert torch.all(d_memory[padding] == 0) and torch.all(d_keys[padding] == 0)


@pytest.mark.parametrize("frozen", ["h0", "weight_hh", "input_gates"])
def test_inputs_without_grad(frozen):
    """Only some inputs require grad; the others still get theirs, as autograd's loop gives."""
    inputs = make_inputs(torch.float32)
    inputs[frozen] = inputs[frozen].detach()
    args = attention_args(inputs)
    leaves = [a for a in args if a.requires_grad]
    got = grads_of(attention_gru_sequence(*args)[0], leaves)
    want = grads_of(reference_attention_gru(*args)[0], leaves)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-5)


def test_shared_keys_and_memory():
    """The dot score passes the encoder states as both keys and memory."""
    inputs = make_inputs(torch.float64)
    inputs["keys"] = inputs["memory_states"]
    args = attention_args(inputs)
    leaves = [inputs["memory_states"], inputs["h0"]]
    got = grads_of(attention_gru_sequence(*args)[0], leaves)
    want = grads_of(reference_attention_gru(*args)[0], leaves)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w)


def test_forward_under_no_grad():
    inputs = make_inputs(torch.float32)
    with torch.no_grad():
        states = gru_sequence(*plain_args(inputs))
        attention_states, _ = attention_gru_sequence(*attention_args(inputs))
        expected = reference_gru(*plain_args(inputs))
        expected_attention_states, _ = reference_attention_gru(*attention_args(inputs))
    assert not states.requires_grad and not attention_states.requires_grad
    torch.testing.assert_close(states, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attention_states, expected_attention_states, atol=1e-5, rtol=1e-5)
