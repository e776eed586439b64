"""Where the hidden states go: 2-D PCA maps of encoder and decoder states.

A :class:`StateMap` is fitted once per model on a fixed, seeded reference set of fresh strings
(so the picture stays put when the user's string changes) and then places any trace's states
on the same two axes. Encoder and decoder states get separate maps: they come from different
GRUs, and their coordinates mean different things.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqrev.decoding.search import DecodeTrace
from seqrev.models.seq2seq import Seq2Seq
from seqrev.tasks.registry import DEFAULT_TASK, make_task
from seqrev.tasks.vocab import token_label

REFERENCE_N, REFERENCE_SEED = 300, 20_241_121  # the fixed reference set
REFERENCE_LENGTHS = (4, 16)


@dataclass
class Pca:
    """A fitted 2-D principal-component projection."""

    mean: torch.Tensor  # (H,)
    components: torch.Tensor  # (2, H) unit rows, largest variance first
    explained: torch.Tensor  # (2,) share of the total variance each component holds

    def project(self, points: torch.Tensor) -> torch.Tensor:
        """(N, H) states -> (N, 2) coordinates."""
        return (points.float() - self.mean) @ self.components.t()  # (N, 2)


def fit_pca(points: torch.Tensor, k: int = 2) -> Pca:
    """PCA of ``points`` (N, H) by SVD; each component's sign makes its largest loading positive."""
    if points.ndim != 2 or points.shape[0] < 2:
        raise ValueError("PCA needs at least two points of shape (N, H)")
    data = points.double()  # (N, H)
    mean = data.mean(dim=0)  # (H,)
    _, singular, vh = torch.linalg.svd(data - mean, full_matrices=False)  # vh: (min(N,H), H)
    components = vh[:k]  # (k, H)
    signs = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))  # (k, 1)
    components = components * signs
    variance = singular**2  # (min(N, H),)
    return Pca(mean.float(), components.float(), (variance[:k] / variance.sum()).float())


@dataclass
class ReferenceStates:
    """Encoder and decoder states of the reference strings, flattened over positions."""

    encoder: torch.Tensor  # (N_e, H)
    encoder_position: torch.Tensor  # (N_e,) input position i
    encoder_length: torch.Tensor  # (N_e,) the string's length S
    decoder: torch.Tensor  # (N_d, H) state after each step
    decoder_step: torch.Tensor  # (N_d,) decode step t; step S is the <eos> step
    decoder_length: torch.Tensor  # (N_d,)

    @property
    def decoder_left(self) -> torch.Tensor:
        """Letters still to write after step t: ``S - 1 - t`` (-1 after <eos>). (N_d,)"""
        return self.decoder_length - 1 - self.decoder_step


@torch.inference_mode()
def reference_states(model: Seq2Seq, n: int = REFERENCE_N, seed: int = REFERENCE_SEED,
                     lengths: tuple[int, int] = REFERENCE_LENGTHS, task: str = DEFAULT_TASK
                     ) -> ReferenceStates:
    """States of ``n`` seeded fresh strings (lengths uniform in ``lengths``).

    The decoder is fed the right answer of ``task`` (teacher forcing), so every string
    contributes its S + 1 states on the path a correct decoding takes.
    """
    model.eval()
    device = next(model.parameters()).device
    batch = make_task(task, *lengths).eval_set(n, seed).to(device)
    memory, hidden = model.encode(batch.source, batch.lengths)
    steps = []
    for tokens in batch.decoder_input.unbind(1):  # T x (n,)
        hidden = model.step(tokens, hidden, memory).hidden  # (n, H)
        steps.append(hidden)
    decoder = torch.stack(steps, dim=1)  # (n, T, H)
    s_len, t_len = memory.states.shape[1], decoder.shape[1]
    lengths_col = batch.lengths.unsqueeze(1)  # (n, 1)
    enc_pos = torch.arange(s_len, device=device).expand(n, -1)  # (n, S)
    dec_pos = torch.arange(t_len, device=device).expand(n, -1)  # (n, T)
    enc_keep, dec_keep = enc_pos < lengths_col, dec_pos <= lengths_col  # (n, S), (n, T)
    return ReferenceStates(
        encoder=memory.states[enc_keep].cpu(), encoder_position=enc_pos[enc_keep].cpu(),
        encoder_length=lengths_col.expand(-1, s_len)[enc_keep].cpu(),
        decoder=decoder[dec_keep].cpu(), decoder_step=dec_pos[dec_keep].cpu(),
        decoder_length=lengths_col.expand(-1, t_len)[dec_keep].cpu(),
    )


@dataclass
class StateMap:
    """One model's two fitted planes and its reference states placed on them."""

    encoder_pca: Pca
    decoder_pca: Pca
    reference: ReferenceStates
    encoder_xy: torch.Tensor  # (N_e, 2)
    decoder_xy: torch.Tensor  # (N_d, 2)
    n_strings: int
    seed: int
    lengths: tuple[int, int]


def fit_state_map(model: Seq2Seq, n: int = REFERENCE_N, seed: int = REFERENCE_SEED,
                  lengths: tuple[int, int] = REFERENCE_LENGTHS, task: str = DEFAULT_TASK
                  ) -> StateMap:
    """Fit both planes on the reference set (deterministic for a model, n, seed, lengths and
    task)."""
    reference = reference_states(model, n, seed, lengths, task)
    encoder_pca, decoder_pca = fit_pca(reference.encoder), fit_pca(reference.decoder)
    return StateMap(encoder_pca, decoder_pca, reference, encoder_pca.project(reference.encoder),
                    decoder_pca.project(reference.decoder), n, seed, lengths)


@dataclass
class TracePath:
    """One string's states on a model's planes, with a label per point."""

    encoder_xy: torch.Tensor  # (S, 2)
    encoder_labels: list[str]  # "i: letter"
    decoder_xy: torch.Tensor  # (T, 2)
    decoder_labels: list[str]  # "t: written token"


def trace_path(state_map: StateMap, trace: DecodeTrace) -> TracePath:
    """Place ``trace``'s encoder states and decoder states (after each step) on the map."""
    if trace.encoder_states is None:
        raise ValueError("the trace has no encoder states (decode it with seqrev.decoding.search)")
    decoder = torch.stack([s.hidden for s in trace.steps])  # (T, H)
    return TracePath(
        state_map.encoder_pca.project(trace.encoder_states),
        [f"{i}: {letter}" for i, letter in enumerate(trace.source)],
        state_map.decoder_pca.project(decoder),
        [f"{s.position}: {token_label(s.chosen_token)}" for s in trace.steps],
    )


def progress_correlation(state_map: StateMap) -> tuple[float, float]:
    """How well the decoder plane's PC1 tracks the letters still to write.

    Returns (|correlation of PC1 with letters left|, PC1's share of the variance), over the
    reference states.
    """
    values = torch.stack([state_map.decoder_xy[:, 0],
                          state_map.reference.decoder_left.float()])  # (2, N_d)
    return abs(float(torch.corrcoef(values)[0, 1])), float(state_map.decoder_pca.explained[0])
