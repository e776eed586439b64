"""Copy a string: ``ABC -> ABC``; output step t reads letter t, the diagonal."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqrev.i18n import N_
from seqrev.tasks.base import LetterTask, register


@register
@dataclass(frozen=True)
class CopyTask(LetterTask):
    """Write the string out unchanged."""

    name = "copy"
    description = N_("write the string out unchanged: ABC stays ABC")
    outline_rule = N_("step t reads input t")

    def target(self, source: str) -> str:
        return source

    def alignment(self, source: str) -> list[frozenset[int]]:
        return [frozenset({t}) for t in range(len(source))] + [frozenset()]

    def target_letters(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return letters.clone()  # (batch, S)
