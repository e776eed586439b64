"""Batches: padded source, decoder input and target tensors, and the lab's printout line."""

from __future__ import annotations

from typing import NamedTuple

import torch

from seqrev.tasks.vocab import EOS, PAD, SOS, encode


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


def reversed_letters(source: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's letters in reverse order, right-padded like ``source`` (batch, S)."""
    positions = torch.arange(source.shape[1], device=source.device)  # (S,)
    mask = positions < lengths.unsqueeze(1)  # (batch, S)
    flip_index = (lengths.unsqueeze(1) - 1 - positions).clamp(min=0)  # (batch, S)
    return source.gather(1, flip_index).masked_fill(~mask, PAD)  # (batch, S)


def batch_from_source(source: torch.Tensor, lengths: torch.Tensor) -> Batch:
    """The reversal batch for right-padded ``source`` (batch, S) with ``lengths``."""
    return batch_from_target(source, lengths, reversed_letters(source, lengths))


def batch_from_target(source: torch.Tensor, lengths: torch.Tensor, target_letters: torch.Tensor
                      ) -> Batch:
    """A batch whose target is ``target_letters`` (batch, S), one letter per source letter."""
    batch_size = source.shape[0]
    pad_column = torch.full((batch_size, 1), PAD, dtype=source.dtype, device=source.device)
    target = torch.cat([target_letters, pad_column], dim=1)  # (batch, T)
    target.scatter_(1, lengths.unsqueeze(1), EOS)
    sos_column = torch.full_like(pad_column, SOS)
    decoder_input = torch.cat([sos_column, target_letters], dim=1)  # (batch, T)
    return Batch(source, lengths, decoder_input, target)


def lab_line(source: str, produced: str, expected: str | None = None) -> str:
    """The lab's printout for one string (a fixed format, the same in every language).

    ``expected`` defaults to the lab's task, the reversed string."""
    expected = source[::-1] if expected is None else expected
    return (f"Input: ['{source}'], Should get: {expected}, Model generate: {produced} "
            f"| The result is {produced == expected}")


def batch_from_strings(texts: list[str]) -> Batch:
    """A batch holding exactly ``texts`` (normalized A–Z strings), right-padded."""
    lengths = torch.tensor([len(t) for t in texts], dtype=torch.long)
    source = torch.full((len(texts), int(lengths.max())), PAD, dtype=torch.long)
    for row, text in enumerate(texts):
        source[row, : len(text)] = torch.tensor(encode(text), dtype=torch.long)
    return batch_from_source(source, lengths)
