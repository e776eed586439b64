"""A small Transformer encoder-decoder (Vaswani et al. 2017), in plain PyTorch, beside the GRUs.

Every attention is :func:`scaled_dot_product`, written out here so that each call returns its
weights (per layer and per head) instead of leaving them in a module attribute:

- the encoder's self-attention, with padded source positions masked out as keys;
- the decoder's causal self-attention: position t reads positions 0..t only;
- the decoder's cross-attention over the encoder's output, padding masked.

Scores are ``q·k / √d_head`` (seed 003, exercise 1): the dot product of two random vectors of
size d has a variance that grows with d, so unscaled scores push the softmax towards one-hot,
where its gradient vanishes; dividing by √d_head keeps the scores near unit variance and the
softmax gradients alive. Layers are pre-norm (LayerNorm before each sublayer), which trains
with Adam at 1e-3 without a warm-up.

Positions are absolute. ``sinusoidal`` is the default: it has no parameters and is defined at
every position, whereas a ``learned`` table's rows past the training lengths are never trained
and stay at their random start. Neither generalizes well past the training lengths: absolute
positions are known to (the model learns "read position 7", not "read the letter before"),
so expect reversal to break on strings longer than those it trained on.

The interface is the GRU model's (``seqrev.models.seq2seq``), so decoding can drive both:

- ``encode(source, lengths) -> (TransformerMemory, DecoderCache)``: the encoder's output, its
  mask, each decoder layer's cross-attention keys and values (once per string), an empty cache;
- ``step(tokens, cache, memory, override=None) -> TransformerStep``: the next logits, the cache
  grown by one position (every decoder layer's self-attention keys and values of the tokens
  fed so far: a step costs one position, not the whole prefix) and this step's attention.
  ``TransformerStep.attention`` fills the (S,) slot the GRU fills: the last layer's
  cross-attention averaged over its heads. Memory and cache are batch-first (beam search
  ``expand``s one and ``DecoderCache.select``s the other); weights are layers-first;
- ``forward(source, lengths, decoder_input)``: teacher-forced logits, and on request every
  attention weight, from the same code as ``step`` over all positions at once.

A :class:`HeadOverride` passed to ``step`` replaces one (layer, head)'s cross-attention weights
by ``(1 - blend) * own + blend * one_hot(position)`` before the values are read; the cache keeps
what follows from that, as a GRU's hidden state does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from seqrev.models.seq2seq import POSITIONAL, ModelConfig
from seqrev.tasks.vocab import PAD

__all__ = ["POSITIONAL", "HeadOverride", "Transformer", "build_transformer"]

@dataclass(frozen=True)
class HeadOverride:
    """Push one cross-attention head towards source ``position`` at the step it is given to."""

    layer: int
    head: int
    position: int
    blend: float = 1.0  # 1 forces the one letter, 0 leaves the model alone


class TransformerMemory(NamedTuple):
    """What the decoder may look at, batch-first so beam search can ``expand`` it."""

    states: torch.Tensor  # (batch, S, d_model) the encoder's output
    keys: torch.Tensor  # (batch, layers, heads, S, d_head) cross-attention keys per layer
    values: torch.Tensor  # (batch, layers, heads, S, d_head)
    mask: torch.Tensor  # (batch, S) True on letters, False on padding


class DecoderCache(NamedTuple):
    """Self-attention keys and values of the decoder tokens fed so far, every layer."""

    keys: torch.Tensor  # (batch, layers, heads, t, d_head)
    values: torch.Tensor  # (batch, layers, heads, t, d_head)

    @property
    def length(self) -> int:
        return self.keys.shape[3]

    def select(self, rows: torch.Tensor) -> DecoderCache:
        """The cache of the batch rows ``rows`` (beam search's reordering)."""
        return DecoderCache(self.keys.index_select(0, rows), self.values.index_select(0, rows))


class TransformerStep(NamedTuple):
    """One decoder step; the first three fields are the GRU's StepOutput's."""

    logits: torch.Tensor  # (batch, vocab)
    state: DecoderCache  # grown by this step's position
    attention: torch.Tensor  # (batch, S) last layer's cross-attention, mean over heads
    cross: torch.Tensor  # (layers, batch, heads, S) the cross-attention weights used
    self_attention: torch.Tensor  # (layers, batch, heads, t + 1) over the tokens so far
    queries: torch.Tensor  # (layers, batch, heads, d_head) this step's cross-attention queries
    model_attention: torch.Tensor | None  # (batch, S) overridden head's own weights, or None


class AttentionWeights(NamedTuple):
    """Every attention weight of a teacher-forced pass, layers first."""

    encoder: torch.Tensor  # (layers, batch, heads, S, S)
    decoder: torch.Tensor  # (layers, batch, heads, T, T)
    cross: torch.Tensor  # (layers, batch, heads, T, S)


def scaled_dot_product(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                       mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Context (b, h, q, d_head) and weights (b, h, q, k) of ``softmax(q·k / √d_head)``.

    ``mask`` (broadcast to (b, h, q, k)) is True where a query may read a key; every query must
    be allowed at least one key.
    """
    scores = query @ keys.transpose(-2, -1) / math.sqrt(query.shape[-1])  # (b, h, q, k)
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)  # (b, h, q, k)
    return weights @ values, weights


def sinusoids(length: int, width: int) -> torch.Tensor:
    """Vaswani's table: sin and cos of ``position / 10000^(2i/width)``. (length, width)"""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)  # (length, 1)
    rates = torch.exp(torch.arange(0, width, 2) * (-math.log(10000.0) / width))  # (ceil(w/2),)
    table = torch.zeros(length, width)
    table[:, 0::2] = torch.sin(position * rates)
    table[:, 1::2] = torch.cos(position * rates[: width // 2])
    return table


class MultiHeadAttention(nn.Module):
    """Query, key, value and output projections around :func:`scaled_dot_product`."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        return x.view(batch, length, self.n_heads, width // self.n_heads).transpose(1, 2)

    def keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split(self.key(x)), self.split(self.value(x))  # (b, h, L, d_head) each

    def forward(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor, override: HeadOverride | None = None):
        """Output (b, q, d), weights used (b, h, q, k), queries (b, h, q, d_head), own weights."""
        query = self.split(self.query(x))  # (b, h, q, d_head)
        context, weights = scaled_dot_product(query, keys, values, mask)
        own = None
        if override is not None:
            own = weights[:, override.head]  # (b, q, k)
            forced = F.one_hot(torch.tensor(override.position, device=x.device),
                               keys.shape[2]).to(weights.dtype)  # (k,)
            weights = weights.clone()
            weights[:, override.head] = (1.0 - override.blend) * own + override.blend * forced
            context = weights @ values  # (b, h, q, d_head)
        merged = context.transpose(1, 2).flatten(2)  # (b, q, d)
        return self.out(merged), weights, query, own


class Layer(nn.Module):
    """One pre-norm layer: self-attention, cross-attention (decoder layers only), feed-forward."""

    def __init__(self, config: ModelConfig, cross: bool) -> None:
        super().__init__()
        d_model, heads = config.d_model, config.n_heads
        self.norm_self = nn.LayerNorm(d_model)
        self.self_attention = MultiHeadAttention(d_model, heads)
        if cross:
            self.norm_cross = nn.LayerNorm(d_model)
            self.cross_attention = MultiHeadAttention(d_model, heads)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, config.ff_dim), nn.ReLU(),
                                nn.Linear(config.ff_dim, d_model))
        self.dropout = nn.Dropout(config.dropout)


def causal_mask(queries: int, keys: int, device: torch.device) -> torch.Tensor:
    """(queries, keys): True where a query (the last positions) may read a key (itself, before)."""
    key_index = torch.arange(keys, device=device)  # (k,)
    query_index = torch.arange(keys - queries, keys, device=device)  # (q,)
    return key_index.unsqueeze(0) <= query_index.unsqueeze(1)  # (q, k)


class Transformer(nn.Module):
    """The encoder-decoder ``config`` describes; see the module docstring for its interface."""

    has_attention = True  # there is cross-attention to look at and override

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.kind != "transformer":
            raise ValueError(f"a Transformer is built from kind 'transformer', not {config.kind!r}")
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        if config.positional == "learned":
            self.positions = nn.Parameter(torch.randn(config.max_positions, config.d_model))
        else:
            self.register_buffer("positions", sinusoids(config.max_positions, config.d_model),
                                 persistent=False)  # rebuilt from the config, never saved
        self.encoder_layers = nn.ModuleList(Layer(config, False) for _ in range(config.n_layers))
        self.encoder_norm = nn.LayerNorm(config.d_model)
        self.decoder_layers = nn.ModuleList(Layer(config, True) for _ in range(config.n_layers))
        self.decoder_norm = nn.LayerNorm(config.d_model)
        self.output = nn.Linear(config.d_model, config.vocab_size)
        self.dropout = nn.Dropout(config.dropout)

    def embed(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Token vectors plus the positions ``start..``. (batch, L, d_model)"""
        end = start + tokens.shape[1]
        if end > self.config.max_positions:
            raise ValueError(f"position {end - 1} is past the model's max_positions "
                             f"({self.config.max_positions})")
        return self.dropout(self.embedding(tokens) + self.positions[start:end])

    def encode_with_weights(self, source: torch.Tensor, lengths: torch.Tensor
                            ) -> tuple[TransformerMemory, DecoderCache, torch.Tensor]:
        """``encode``, and the encoder's self-attention weights (layers, batch, heads, S, S)."""
        mask = source != PAD  # (batch, S); lengths are implied by the right-padding
        x = self.embed(source)  # (batch, S, d)
        weights = []
        for layer in self.encoder_layers:
            normed = layer.norm_self(x)  # (batch, S, d)
            attended, layer_weights, _, _ = layer.self_attention(
                normed, *layer.self_attention.keys_values(normed), mask[:, None, None, :])
            x = x + layer.dropout(attended)
            x = x + layer.dropout(layer.ff(layer.norm_ff(x)))  # (batch, S, d)
            weights.append(layer_weights)  # (batch, heads, S, S)
        states = self.encoder_norm(x)  # (batch, S, d)
        keys, values = zip(*(layer.cross_attention.keys_values(states)
                             for layer in self.decoder_layers), strict=True)
        memory = TransformerMemory(states, torch.stack(keys, 1), torch.stack(values, 1), mask)
        shape = (source.shape[0], self.config.n_layers, self.config.n_heads, 0,
                 self.config.d_head)
        empty = DecoderCache(states.new_zeros(shape), states.new_zeros(shape))
        return memory, empty, torch.stack(weights)

    def encode(self, source: torch.Tensor, lengths: torch.Tensor
               ) -> tuple[TransformerMemory, DecoderCache]:
        """Encode right-padded ``source`` (batch, S); return the memory and an empty cache."""
        memory, empty, _ = self.encode_with_weights(source, lengths)
        return memory, empty

    def decode(self, tokens: torch.Tensor, cache: DecoderCache, memory: TransformerMemory,
               override: HeadOverride | None = None):
        """Feed ``tokens`` (batch, L) after the cached ones: logits (batch, L, vocab), the grown
        cache, and (layers-first) self-attention, cross-attention, queries and the own weights
        of an overridden head."""
        if override is not None:
            self.check_override(override, memory.mask.shape[1])
        x = self.embed(tokens, cache.length)  # (batch, L, d)
        self_mask = causal_mask(tokens.shape[1], cache.length + tokens.shape[1], x.device)
        cross_mask = memory.mask[:, None, None, :]  # (batch, 1, 1, S)
        new_keys, new_values, self_weights, cross_weights, queries = [], [], [], [], []
        own = None
        for index, layer in enumerate(self.decoder_layers):
            normed = layer.norm_self(x)  # (batch, L, d)
            keys, values = layer.self_attention.keys_values(normed)  # (b, h, L, d_head) each
            keys = torch.cat([cache.keys[:, index], keys], dim=2)  # (b, h, t + L, d_head)
            values = torch.cat([cache.values[:, index], values], dim=2)
            new_keys.append(keys)
            new_values.append(values)
            attended, weights, _, _ = layer.self_attention(normed, keys, values, self_mask)
            x = x + layer.dropout(attended)
            self_weights.append(weights)
            here = override if override is not None and override.layer == index else None
            attended, weights, query, layer_own = layer.cross_attention(
                layer.norm_cross(x), memory.keys[:, index], memory.values[:, index],
                cross_mask, here)
            own = layer_own if here is not None else own
            x = x + layer.dropout(attended)
            cross_weights.append(weights)
            queries.append(query)
            x = x + layer.dropout(layer.ff(layer.norm_ff(x)))
        logits = self.output(self.decoder_norm(x))  # (batch, L, vocab)
        grown = DecoderCache(torch.stack(new_keys, 1), torch.stack(new_values, 1))
        return (logits, grown, torch.stack(self_weights), torch.stack(cross_weights),
                torch.stack(queries), own)

    def step(self, tokens: torch.Tensor, state: DecoderCache, memory: TransformerMemory,
             override: HeadOverride | None = None) -> TransformerStep:
        """One decoder step: feed ``tokens`` (batch,), get the next logits, cache and attention."""
        logits, grown, self_weights, cross, queries, own = self.decode(
            tokens.unsqueeze(1), state, memory, override)
        cross = cross[:, :, :, 0]  # (layers, batch, heads, S)
        return TransformerStep(logits[:, 0], grown, cross[-1].mean(dim=1), cross,
                               self_weights[:, :, :, 0], queries[:, :, :, 0],
                               None if own is None else own[:, 0])

    def check_override(self, override: HeadOverride, source_len: int) -> None:
        """ValueError in one line unless ``override`` names a real layer, head and position."""
        config = self.config
        for name, value, limit in (("layer", override.layer, config.n_layers),
                                   ("head", override.head, config.n_heads),
                                   ("position", override.position, source_len)):
            if not 0 <= value < limit:
                raise ValueError(f"override {name} {value} is out of range 0-{limit - 1}")
        if not 0.0 <= override.blend <= 1.0:
            raise ValueError(f"override blend {override.blend!r} is outside [0, 1]")

    def forward(self, source: torch.Tensor, lengths: torch.Tensor, decoder_input: torch.Tensor,
                teacher_forcing: float = 1.0, generator: torch.Generator | None = None,
                return_attention: bool = False):
        """Logits (batch, T, vocab) for every decoder position; with ``return_attention``, also
        :class:`AttentionWeights`.

        With ``teacher_forcing < 1`` each row feeds back its own previous prediction instead of
        the true token with probability ``1 - teacher_forcing`` (drawn with ``generator``, as
        the GRU model draws them). The fed tokens are chosen step by step without gradients,
        then one pass over them gives the same logits the steps did, with their gradients.
        """
        memory, cache, encoder_weights = self.encode_with_weights(source, lengths)
        if teacher_forcing < 1.0:
            decoder_input = self.sampled_input(decoder_input, cache, memory, teacher_forcing,
                                               generator)
        logits, _, self_weights, cross, _, _ = self.decode(decoder_input, cache, memory)
        if return_attention:
            return logits, AttentionWeights(encoder_weights, self_weights, cross)
        return logits

    @torch.no_grad()
    def sampled_input(self, decoder_input: torch.Tensor, cache: DecoderCache,
                      memory: TransformerMemory, teacher_forcing: float,
                      generator: torch.Generator | None) -> torch.Tensor:
        """The tokens scheduled sampling feeds: per step the true one or the model's guess."""
        fed = [decoder_input[:, 0]]  # T x (batch,)
        for t in range(1, decoder_input.shape[1]):
            out = self.step(fed[-1], cache, memory)
            cache = out.state
            coin = torch.rand(fed[-1].shape, generator=generator).to(decoder_input.device)
            guess = out.logits.argmax(dim=1)  # (batch,)
            fed.append(torch.where(coin < teacher_forcing, decoder_input[:, t], guess))
        return torch.stack(fed, dim=1)  # (batch, T)


def build_transformer(config: ModelConfig) -> Transformer:
    """A freshly initialized Transformer for ``config``."""
    return Transformer(config)
