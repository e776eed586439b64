"""The capacity sweep's final evaluation for a pack of trials at once.

``capacity.evaluate_lengths`` greedy-decodes fresh strings at every test length, one model at
a time; a decode is a few hundred small calls whatever the number of strings. The strings at a
length depend only on the length (seed ``seed + 7919 * length``), so every trial of a pack
decodes the same batch, and here one decode serves the whole pack: ``greedy_batch`` with a
pack dimension, scored by ``evaluation.score_outputs`` for each trial.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seqrev.decoding.evaluation import score_outputs
from seqrev.inspection.capacity import test_lengths
from seqrev.models.seq2seq import Seq2Seq
from seqrev.sweeps.packed_recurrence import packed_gru_sequence
from seqrev.sweeps.packed_training import PackedSeq2Seq
from seqrev.tasks.data import Batch
from seqrev.tasks.reverse import ReversalTask
from seqrev.tasks.vocab import EOS, PAD


def _gru_update(input_gates, hidden_gates, hidden):
    """``models.gru_update`` over (P, batch, 3H) gates."""
    size = hidden.shape[-1]
    reset_update = torch.sigmoid(input_gates[..., : 2 * size] + hidden_gates[..., : 2 * size])
    reset, update = reset_update.chunk(2, dim=-1)  # (P, batch, H) each
    candidate = torch.tanh(input_gates[..., 2 * size:] + reset * hidden_gates[..., 2 * size:])
    return candidate + update * (hidden - candidate)  # (P, batch, H)


@torch.inference_mode()
def greedy_packed(model: PackedSeq2Seq, batch: Batch) -> torch.Tensor:
    """Greedy tokens (P, batch, S + 1) of every trial of ``model`` on the same ``batch``."""
    p = model.parameters
    pack, size = model.size, model.config.hidden_dim
    source = batch.source.unsqueeze(0).expand(pack, -1, -1)  # (P, batch, S)
    encoder_gates = model.input_gates(source, "encoder.weight_ih_l0", "encoder.bias_ih_l0")
    start = encoder_gates.new_zeros(pack, source.shape[1], size)  # (P, batch, H)
    states = packed_gru_sequence(encoder_gates, start, p["encoder.weight_hh_l0"],
                                 p["encoder.bias_hh_l0"])  # (P, batch, S, H)
    last = (batch.lengths - 1).view(1, -1, 1, 1).expand(pack, -1, 1, size)
    hidden = states.gather(2, last).squeeze(2)  # (P, batch, H)
    attention = model.config.kind == "attention"
    keys = model.keys(states) if attention else None  # (P, batch, S, H)
    padding = source == PAD  # (P, batch, S)
    steps = source.shape[2] + 1
    tokens = batch.decoder_input[:, :1].unsqueeze(0).expand(pack, -1, -1)  # (P, batch, 1)
    finished = torch.zeros(pack, source.shape[1], dtype=torch.bool)
    outputs = torch.full((pack, source.shape[1], steps), PAD, dtype=torch.long)
    hidden_weight_t = p["decoder.weight_hh"].transpose(1, 2)  # (P, H, 3H)
    hidden_bias = p["decoder.bias_hh"].unsqueeze(1)  # (P, 1, 3H)
    for t in range(steps):
        gates = model.input_gates(tokens, "decoder.weight_ih_embedding",
                                   "decoder.bias_ih").squeeze(2)  # (P, batch, 3H)
        if attention:
            scores = (keys * hidden.unsqueeze(2)).sum(3)  # (P, batch, S)
            weights = torch.softmax(scores.masked_fill(padding, float("-inf")), dim=2)
            context = (weights.unsqueeze(3) * states).sum(2)  # (P, batch, H)
            gates = torch.baddbmm(gates, context, p["decoder.weight_ih_context"].transpose(1, 2))
        hidden = _gru_update(gates, torch.baddbmm(hidden_bias, hidden, hidden_weight_t), hidden)
        logits = torch.baddbmm(p["output.bias"].unsqueeze(1), hidden,
                               p["output.weight"].transpose(1, 2))  # (P, batch, V)
        chosen = logits.argmax(dim=2)  # (P, batch)
        outputs[:, :, t] = chosen.masked_fill(finished, PAD)
        finished |= chosen == EOS
        if bool(finished.all()):
            break
        tokens = chosen.unsqueeze(2)  # (P, batch, 1)
    return outputs


def evaluate_lengths_packed(models: Sequence[Seq2Seq], max_lens: Sequence[int],
                            n_per_length: int = 200, seed: int = 0) -> list[list[dict]]:
    """``capacity.evaluate_lengths(models[i], max_lens[i], ...)`` for every i, decoded together.

    The models must share one config (one pack). Trials are decoded longest range first, so
    at each length the ones that test it are a prefix of the stack.
    """
    order = sorted(range(len(models)), key=lambda i: -max_lens[i])
    packed = PackedSeq2Seq.stack([models[i] for i in order])
    rows: list[list[dict]] = [[] for _ in models]
    for length in test_lengths(max(max_lens)):
        testing = [i for i in order if length in test_lengths(max_lens[i])]
        batch = ReversalTask(length, length).eval_set(n_per_length, seed + 7919 * length)
        prefix = PackedSeq2Seq(packed.config, {name: value[: len(testing)] for name, value
                                               in packed.parameters.items()})
        outputs = greedy_packed(prefix, batch)  # (P, n, length + 1)
        for position, index in enumerate(testing):
            report = score_outputs(batch, outputs[position], max_failures=0)
            rows[index].append({"test_length": length, "n": report.n,
                                "exact_match": round(report.exact_match, 6),
                                "char_accuracy": round(report.char_accuracy, 6)})
    return rows
