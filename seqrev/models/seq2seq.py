"""The lab's two GRU encoder-decoders, sharing one decoder step, and the config of every kind.

``plain`` is ``seq2seq.py``: the encoder's final state starts the decoder. ``attention`` is
``seq2seq_attention.py``: at step t the previous decoder state queries all encoder states,
and the context is concatenated with the input embedding. The GRU parameters keep
``nn.GRU``'s layout (gates r, z, n), so the lab's weights load unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from seqrev.i18n import _
from seqrev.models.attention_scores import SCORE_FUNCTIONS, UNPROJECTED_SCORES, make_score
from seqrev.models.fused_recurrence import attention_gru_sequence, gru_sequence
from seqrev.models.kinds import KIND_NAMES, KINDS, builder_of
from seqrev.settings import range_problems, setting
from seqrev.tasks.vocab import MAX_INPUT_LEN, PAD, VOCAB_SIZE

MODEL_KINDS = KIND_NAMES  # declared in seqrev.models.kinds
GRU_KINDS = ("plain", "attention")  # the settings that shape a GRU say so
POSITIONAL = ("sinusoidal", "learned")  # the Transformer's positions (seqrev.models.transformer)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; saved in every checkpoint."""

    # the lab's seq2seq.py ("plain") or seq2seq_attention.py ("attention"): seqrev.models.kinds
    kind: str = field(default="attention", metadata=setting(
        "--model", "Model", "; ".join(f"{k.name}: {k.summary}" for k in KINDS.values()) + ".",
        group="model", widget="segmented", choices=MODEL_KINDS))
    # lab: 64, shared by encoder and decoder; 16 learned faster (docs/speed.md)
    embedding_dim: int = field(default=16, metadata=setting(
        "--embedding-dim", "Embedding size", "Length of each letter's learned vector.",
        group="model", widget="slider", minimum=1, maximum=256, step=1, kinds=GRU_KINDS))
    # lab: 100, both GRUs
    hidden_dim: int = field(default=100, metadata=setting(
        "--hidden-dim", "Hidden size (GRU)", "Length of the encoder's and decoder's state "
        "vector: all the plain model has to remember the string.",
        group="model", widget="slider", minimum=1, maximum=512, step=1, kinds=GRU_KINDS))
    # attention score function; unused by the plain model
    score: str = field(default="bilinear", metadata=setting(
        "--score", "Attention score function", "bilinear is the lab's (W h_i)·q.",
        group="model", widget="select", choices=SCORE_FUNCTIONS, kinds=GRU_KINDS))
    # off in the lab and every checkpoint saved before it existed; on: bentrevett notebook 3
    bidirectional: bool = field(default=False, metadata=setting(
        "--bidirectional", "Bidirectional encoder", "The encoder also reads the string right "
        "to left; the decoder starts from both final states and attends over both directions' "
        "states (keys of twice the hidden size).", group="model", widget="select",
        choices=(False, True), kinds=GRU_KINDS))
    # The Transformer's shape (seqrev.models.transformer); the GRUs ignore these.
    # width of every token vector; split evenly across the heads
    d_model: int = field(default=64, metadata=setting(
        "--d-model", "Model width (Transformer)", "Length of each position's vector.",
        group="model", widget="slider", minimum=4, maximum=512, step=4, kinds=("transformer",)))
    n_heads: int = field(default=4, metadata=setting(
        "--heads", "Attention heads", "Heads per attention layer; must divide the width.",
        group="model", widget="slider", minimum=1, maximum=16, step=1, kinds=("transformer",)))
    # in the encoder, and again in the decoder
    n_layers: int = field(default=2, metadata=setting(
        "--layers", "Layers", "Encoder layers, and as many decoder layers.",
        group="model", widget="slider", minimum=1, maximum=8, step=1, kinds=("transformer",)))
    # hidden size of each position-wise feed-forward block (Vaswani: 4 x width)
    ff_dim: int = field(default=128, metadata=setting(
        "--ff-dim", "Feed-forward size", "Hidden size of each layer's feed-forward block.",
        group="model", widget="slider", minimum=4, maximum=2048, step=4,
        kinds=("transformer",)))
    # on each sublayer's output before the residual sum; 0 keeps training deterministic
    dropout: float = field(default=0.0, metadata=setting(
        "--dropout", "Dropout", "Share of each sublayer's outputs zeroed while training.",
        group="model", widget="slider", minimum=0.0, maximum=0.5, step=0.05,
        kinds=("transformer",)))
    positional: str = field(default="sinusoidal", metadata=setting(
        "--positional", "Positions", "sinusoidal: fixed waves, defined at every position; "
        "learned: one trained vector per position.",
        group="model", widget="segmented", choices=POSITIONAL, kinds=("transformer",)))
    # positions a Transformer can number: the longest input and its longest greedy decode
    max_positions: int = 2 * MAX_INPUT_LEN + 2
    vocab_size: int = VOCAB_SIZE  # <pad>, <sos>, <eos>, A..Z

    def __post_init__(self) -> None:
        problems = range_problems(self, "model")
        if self.bidirectional and self.score in UNPROJECTED_SCORES:
            problems.append(_("score: {score} compares keys and queries of one size; a "
                              "bidirectional encoder's keys are twice the hidden size, so use "
                              "bilinear or additive").format(score=self.score))
        if self.kind == "transformer" and not problems and self.d_model % self.n_heads:
            problems.append(_("heads: {heads} heads do not divide the width {width}; choose a "
                              "number of heads that does").format(heads=self.n_heads,
                                                                  width=self.d_model))
        if not isinstance(self.max_positions, int) or not 1 <= self.max_positions <= 1024:
            problems.append(_("max_positions must be 1 to 1024, got {value}").format(
                value=repr(self.max_positions)))
        if self.vocab_size != VOCAB_SIZE:
            problems.append(_("vocab_size must be {size}").format(size=VOCAB_SIZE))
        if problems:
            raise ValueError(_("; ").join(problems))

    @property
    def d_head(self) -> int:
        """Width of one Transformer head."""
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


class Memory(NamedTuple):
    """What the decoder may look at: the encoder's states, prepared keys and source mask."""

    states: torch.Tensor  # (batch, S, D): D = hidden, or 2 * hidden when bidirectional
    keys: torch.Tensor | None  # (batch, S, hidden) prepared by the score; None for plain
    mask: torch.Tensor  # (batch, S) True on letters, False on padding


class StepOutput(NamedTuple):
    logits: torch.Tensor  # (batch, vocab)
    hidden: torch.Tensor  # (batch, hidden)
    attention: torch.Tensor | None  # (batch, S) weights over the source; None for plain

    @property
    def state(self) -> torch.Tensor:
        """What the next step takes: the hidden state (a Transformer's step gives its cache)."""
        return self.hidden


def gru_update(
    input_gates: torch.Tensor, hidden_gates: torch.Tensor, hidden: torch.Tensor
) -> torch.Tensor:
    """One GRU state update from precomputed ``W_i x + b_i`` and ``W_h h + b_h`` (batch, 3H)."""
    size = hidden.shape[1]
    reset_update = torch.sigmoid(input_gates[:, : 2 * size] + hidden_gates[:, : 2 * size])
    reset, update = reset_update.chunk(2, dim=1)  # (batch, H) each
    candidate = torch.tanh(input_gates[:, 2 * size :] + reset * hidden_gates[:, 2 * size :])
    return candidate + update * (hidden - candidate)  # (batch, H)


class DecoderCell(nn.Module):
    """The decoder GRU's parameters, with the input weight split by what it multiplies.

    ``nn.GRU(E + C, H)``'s ``weight_ih`` is ``[weight_ih_embedding | weight_ih_context]``
    along its columns; keeping the halves apart lets training project all embeddings at once.
    """

    def __init__(self, embedding_dim: int, context_dim: int, hidden_dim: int) -> None:
        super().__init__()
        gate_dim = 3 * hidden_dim
        bound = hidden_dim**-0.5  # nn.GRU's initialization
        self.weight_ih_embedding = nn.Parameter(torch.empty(gate_dim, embedding_dim))
        self.weight_ih_context = (
            nn.Parameter(torch.empty(gate_dim, context_dim)) if context_dim else None
        )
        self.weight_hh = nn.Parameter(torch.empty(gate_dim, hidden_dim))
        self.bias_ih = nn.Parameter(torch.empty(gate_dim))
        self.bias_hh = nn.Parameter(torch.empty(gate_dim))
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)


class Seq2Seq(nn.Module):
    """A GRU encoder-decoder, with or without attention, as ``config`` says."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        embedding_dim, hidden_dim = config.embedding_dim, config.hidden_dim
        self.embedding = nn.Embedding(config.vocab_size, embedding_dim)
        self.encoder = nn.GRU(embedding_dim, hidden_dim, num_layers=1, batch_first=True,
                              bidirectional=config.bidirectional)
        memory_dim = self.memory_dim
        if config.bidirectional:  # both final states -> the decoder's first state
            self.bridge = nn.Linear(memory_dim, hidden_dim)
        context_dim = memory_dim if self.has_attention else 0
        self.decoder = DecoderCell(embedding_dim, context_dim, hidden_dim)
        self.output = nn.Linear(hidden_dim, config.vocab_size)
        if self.has_attention:
            self.score = make_score(config.score, hidden_dim, memory_dim)

    @property
    def has_attention(self) -> bool:
        return KINDS[self.config.kind].has_attention

    @property
    def memory_dim(self) -> int:
        """The size of one encoder state: hidden, or 2 * hidden (forward | backward)."""
        return self.config.hidden_dim * (2 if self.config.bidirectional else 1)

    def encode(self, source: torch.Tensor, lengths: torch.Tensor) -> tuple[Memory, torch.Tensor]:
        """Encode right-padded ``source`` (batch, S); return the memory and first decoder state."""
        embedded = self.embedding(source)  # (batch, S, embedding)
        if self.config.bidirectional:
            return self._encode_both_ways(source, lengths, embedded)
        if torch.is_grad_enabled():
            # nn.GRU's CPU backward replays ~30 small autograd ops per step; the fused
            # recurrence does the same math with a hand-written backward
            encoder = self.encoder
            input_gates = F.linear(embedded, encoder.weight_ih_l0, encoder.bias_ih_l0)  # (b, S, 3H)
            start = embedded.new_zeros(source.shape[0], encoder.hidden_size)  # (batch, hidden)
            states = gru_sequence(input_gates, start, encoder.weight_hh_l0, encoder.bias_hh_l0)
        else:
            states, _ = self.encoder(embedded)  # (batch, S, hidden)
        last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, states.shape[2])  # (batch, 1, hidden)
        final = states.gather(1, last).squeeze(1)  # (batch, hidden)
        keys = self.score.prepare(states) if self.has_attention else None
        return Memory(states, keys, source != PAD), final

    def _encode_both_ways(
        self, source: torch.Tensor, lengths: torch.Tensor, embedded: torch.Tensor
    ) -> tuple[Memory, torch.Tensor]:
        """``encode`` for a bidirectional encoder; each direction reads only a row's letters.

        The backward GRU reads each row from its last letter to its first (padding after), so
        its state at i has read letters i..end; its final state is the one at position 0.
        """
        encoder, start = self.encoder, embedded.new_zeros(source.shape[0], self.encoder.hidden_size)
        forward = gru_sequence(F.linear(embedded, encoder.weight_ih_l0, encoder.bias_ih_l0),
                               start, encoder.weight_hh_l0, encoder.bias_hh_l0)  # (b, S, H)
        order = reversal_index(lengths, source.shape[1])  # (batch, S)
        flipped = embedded.gather(1, order.unsqueeze(2).expand_as(embedded))  # (b, S, E)
        backward = gru_sequence(
            F.linear(flipped, encoder.weight_ih_l0_reverse, encoder.bias_ih_l0_reverse),
            start, encoder.weight_hh_l0_reverse, encoder.bias_hh_l0_reverse)  # (b, S, H)
        backward = backward.gather(1, order.unsqueeze(2).expand_as(backward))  # (b, S, H)
        states = torch.cat([forward, backward], dim=2)  # (batch, S, 2H)
        last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, forward.shape[2])  # (batch, 1, H)
        finals = torch.cat([forward.gather(1, last).squeeze(1), backward[:, 0]], dim=1)  # (b, 2H)
        first = torch.tanh(self.bridge(finals))  # (batch, hidden)
        keys = self.score.prepare(states) if self.has_attention else None
        return Memory(states, keys, source != PAD), first

    def attend(self, memory: Memory, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Context (batch, D) and weights (batch, S) for ``query`` (batch, hidden)."""
        scores = self.score.score(memory.keys, query)  # (batch, S)
        weights = torch.softmax(scores.masked_fill(~memory.mask, float("-inf")), dim=1)
        context = (weights.unsqueeze(2) * memory.states).sum(dim=1)  # (batch, D)
        return context, weights

    def embed_gates(self, tokens: torch.Tensor) -> torch.Tensor:
        """The embedding's share of the decoder's input gates, ``W_ie e(y) + b_i``. (..., 3H)"""
        cell = self.decoder
        return F.linear(self.embedding(tokens), cell.weight_ih_embedding, cell.bias_ih)

    def advance(
        self, input_gates: torch.Tensor, hidden: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The decoder recurrence shared by training and decoding: new hidden and attention."""
        attention = None
        if self.has_attention:
            context, attention = self.attend(memory, hidden)  # query = previous state
            context_weight = self.decoder.weight_ih_context  # (3H, D)
            input_gates = torch.addmm(input_gates, context, context_weight.t())  # (batch, 3H)
        hidden_gates = F.linear(hidden, self.decoder.weight_hh, self.decoder.bias_hh)
        return gru_update(input_gates, hidden_gates, hidden), attention

    def step(self, tokens: torch.Tensor, hidden: torch.Tensor, memory: Memory) -> StepOutput:
        """One decoder step: feed ``tokens`` (batch,), get logits, new hidden and attention."""
        hidden, attention = self.advance(self.embed_gates(tokens), hidden, memory)
        return StepOutput(self.output(hidden), hidden, attention)

    def _teacher_forced_states(
        self, all_gates: torch.Tensor, hidden: torch.Tensor, memory: Memory
    ) -> torch.Tensor:
        """Decoder states (batch, T, hidden) for known inputs: ``advance`` over every step.

        Dot-product scores and the plain model take the fused recurrences (hand-written
        backward, same math; tests/test_models.py checks them against ``step``).
        """
        cell = self.decoder
        if not self.has_attention:
            return gru_sequence(all_gates, hidden, cell.weight_hh, cell.bias_hh)
        if self.config.score != "additive":
            states, _ = attention_gru_sequence(
                all_gates, hidden, memory.states, memory.keys, memory.mask,
                cell.weight_ih_context, cell.weight_hh, cell.bias_hh)
            return states
        states = []
        # unbind, not all_gates[:, t]: each slice's backward would zero-fill the whole tensor
        for gates in all_gates.unbind(1):  # T x (batch, 3H)
            hidden, _ = self.advance(gates, hidden, memory)
            states.append(hidden)
        return torch.stack(states, dim=1)  # (batch, T, hidden)

    def forward(
        self,
        source: torch.Tensor,
        lengths: torch.Tensor,
        decoder_input: torch.Tensor,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Logits (batch, T, vocab) for every decoder position.

        With ``teacher_forcing < 1`` each row feeds back its own previous prediction instead of
        the true token with probability ``1 - teacher_forcing`` (drawn with ``generator``).
        """
        memory, hidden = self.encode(source, lengths)
        if teacher_forcing >= 1.0:
            all_gates = self.embed_gates(decoder_input)  # (batch, T, 3H)
            return self.output(self._teacher_forced_states(all_gates, hidden, memory))
        steps = decoder_input.shape[1]
        logits, tokens = [], decoder_input[:, 0]
        for t in range(steps):
            out = self.step(tokens, hidden, memory)
            hidden = out.hidden
            logits.append(out.logits)
            if t + 1 < steps:
                coin = torch.rand(tokens.shape, generator=generator).to(tokens.device)
                guess = out.logits.argmax(dim=1)
                tokens = torch.where(coin < teacher_forcing, decoder_input[:, t + 1], guess)
        return torch.stack(logits, dim=1)  # (batch, T, vocab)


def reversal_index(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """Per row, positions ``length-1 .. 0`` then the padding in place. (batch, width)

    Gathering with it reverses each row's letters and leaves padding last; it is its own
    inverse, so gathering again puts a backward pass's states back in source order.
    """
    positions = torch.arange(width, device=lengths.device).expand(lengths.shape[0], -1)
    flipped = lengths.view(-1, 1) - 1 - positions  # (batch, width)
    return torch.where(positions < lengths.view(-1, 1), flipped, positions)


def build_model(config: ModelConfig) -> Seq2Seq:
    """A freshly initialized model for ``config``, built by its kind's builder."""
    return builder_of(config.kind)(config)


def scale_embedding(model: Seq2Seq) -> None:
    """Redraw the letter vectors from N(0, 1/size): length about 1 instead of about sqrt(size)."""
    with torch.no_grad():
        nn.init.normal_(model.embedding.weight, std=model.embedding.weight.shape[1]**-0.5)
