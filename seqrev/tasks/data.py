"""The reversal task: random strings of A–Z, generated as tensors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from seqrev.tasks.vocab import EOS, FIRST_LETTER, PAD, SOS, VOCAB_SIZE, encode


class Batch(NamedTuple):
    """One padded batch. ``S`` is the longest source in it, ``T = S + 1``."""

    source: torch.Tensor  # (batch, S) letter ids, PAD after each string's end
    lengths: torch.Tensor  # (batch,) number of letters per row
    decoder_input: torch.Tensor  # (batch, T) <sos> then the reversed letters
    target: torch.Tensor  # (batch, T) the reversed letters then <eos>, PAD after

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(t.to(device) for t in self))

    @property
    def source_mask(self) -> torch.Tensor:
        """True where the source holds a letter. (batch, S)"""
        return self.source != PAD


def batch_from_source(source: torch.Tensor, lengths: torch.Tensor) -> Batch:
    """Build decoder input and target for right-padded ``source`` (batch, S) with ``lengths``."""
    batch_size, max_len = source.shape
    positions = torch.arange(max_len, device=source.device)  # (S,)
    mask = positions < lengths.unsqueeze(1)  # (batch, S)
    flip_index = (lengths.unsqueeze(1) - 1 - positions).clamp(min=0)  # (batch, S)
    reversed_letters = source.gather(1, flip_index).masked_fill(~mask, PAD)  # (batch, S)
    pad_column = torch.full((batch_size, 1), PAD, dtype=source.dtype, device=source.device)
    target = torch.cat([reversed_letters, pad_column], dim=1)  # (batch, T)
    target.scatter_(1, lengths.unsqueeze(1), EOS)
    sos_column = torch.full_like(pad_column, SOS)
    decoder_input = torch.cat([sos_column, reversed_letters], dim=1)  # (batch, T)
    return Batch(source, lengths, decoder_input, target)


def lab_line(source: str, produced: str) -> str:
    """The lab's printout for one string (a fixed format, the same in every language)."""
    expected = source[::-1]
    return (f"Input: ['{source}'], Should get: {expected}, Model generate: {produced} "
            f"| The result is {produced == expected}")


def batch_from_strings(texts: list[str]) -> Batch:
    """A batch holding exactly ``texts`` (normalized A–Z strings), right-padded."""
    lengths = torch.tensor([len(t) for t in texts], dtype=torch.long)
    source = torch.full((len(texts), int(lengths.max())), PAD, dtype=torch.long)
    for row, text in enumerate(texts):
        source[row, : len(text)] = torch.tensor(encode(text), dtype=torch.long)
    return batch_from_source(source, lengths)


@dataclass(frozen=True)
class ReversalTask:
    """Reverse a string of capital letters: ``ABC -> CBA``.

    Encoding: the source is the letters' ids (3..28), right-padded with ``<pad>`` (0).
    The target is the reversed letters followed by ``<eos>`` (2); the decoder's input is
    ``<sos>`` (1) followed by the target without its last symbol (teacher forcing).
    Lengths are drawn from ``[min_len, max_len]``, uniformly by default; the lab is
    ``min_len = max_len = 10``. With ``length_power`` p > 0 a length L is drawn with
    probability proportional to L**p, so long strings, the hard ones, come more often.
    """

    min_len: int = 1
    max_len: int = 10
    length_power: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"need 1 <= min_len <= max_len, got {self.min_len}..{self.max_len}")

    def sample(
        self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu"
    ) -> Batch:
        """A batch of fresh random strings drawn with ``generator`` (on the CPU, then moved)."""
        if self.length_power:
            choices = torch.arange(self.min_len, self.max_len + 1)  # (n_lengths,)
            weights = choices.double() ** self.length_power  # (n_lengths,)
            picked = torch.multinomial(weights, batch_size, replacement=True,
                                       generator=generator)  # (batch,)
            lengths = choices[picked]  # (batch,)
        else:
            lengths = torch.randint(
                self.min_len, self.max_len + 1, (batch_size,), generator=generator
            )  # (batch,)
        longest = int(lengths.max())
        letters = torch.randint(
            FIRST_LETTER, VOCAB_SIZE, (batch_size, longest), generator=generator
        )  # (batch, S)
        keep = torch.arange(longest) < lengths.unsqueeze(1)  # (batch, S)
        batch = batch_from_source(letters.masked_fill(~keep, PAD), lengths)
        return batch.to(device) if str(device) != "cpu" else batch

    def eval_set(self, n: int, seed: int) -> Batch:
        """``n`` strings that depend only on (task, n, seed): the same set on every call."""
        generator = torch.Generator().manual_seed(seed)
        return self.sample(n, generator)
