"""Sort a string's letters: ``CAB -> ABC``; which letter a step reads depends on the letters."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqrev.i18n import N_
from seqrev.tasks.base import LetterTask, positions, register
from seqrev.tasks.vocab import PAD, VOCAB_SIZE


@register
@dataclass(frozen=True)
class SortTask(LetterTask):
    """Write the letters in alphabetical order; step t reads every copy of its letter."""

    name = "sort"
    description = N_("write the letters in alphabetical order: CAB becomes ABC")
    outline_rule = N_("step t reads where the t-th letter in alphabetical order sits")

    def target(self, source: str) -> str:
        return "".join(sorted(source))

    def alignment(self, source: str) -> list[frozenset[int]]:
        return ([frozenset(i for i, letter in enumerate(source) if letter == wanted)
                 for wanted in self.target(source)] + [frozenset()])

    def target_letters(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _, is_letter = positions(lengths, letters.shape[1])  # (batch, S)
        ordered = letters.masked_fill(~is_letter, VOCAB_SIZE).sort(dim=1).values  # (batch, S)
        return ordered.masked_fill(~is_letter, PAD)
