"""Rotate a string left by k: ``rotate:2`` makes ``ABCDE -> CDEAB``; a shifted diagonal."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqrev.i18n import N_, _
from seqrev.tasks.base import LetterTask, positions, register
from seqrev.tasks.vocab import PAD

MAX_SHIFT = 5
RULE = N_("step t reads input (t+{k}) mod S")  # rotate:k's outline rule


@register
@dataclass(frozen=True)
class RotateTask(LetterTask):
    """Move the first k letters to the end (k taken modulo the length)."""

    shift: int = 1

    name = "rotate"
    description = N_("move the first k letters to the end: rotate:2 makes ABCDE into CDEAB")
    option_range = (1, MAX_SHIFT)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.shift <= MAX_SHIFT:
            raise ValueError(_("rotate's k must be 1 to {limit}, got {k}").format(
                limit=MAX_SHIFT, k=self.shift))

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.shift}"

    @property
    def outline_rule(self) -> str:  # type: ignore[override]
        """The rule with this task's k, in the current language (built when asked)."""
        return _(RULE).format(k=self.shift)

    def target(self, source: str) -> str:
        k = self.shift % len(source) if source else 0
        return source[k:] + source[:k]

    def alignment(self, source: str) -> list[frozenset[int]]:
        n = len(source)
        return [frozenset({(t + self.shift) % n}) for t in range(n)] + [frozenset()]

    def target_letters(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        index, is_letter = positions(lengths, letters.shape[1])  # (batch, S)
        source_index = (index + self.shift) % lengths.clamp(min=1).unsqueeze(1)  # (batch, S)
        return letters.gather(1, source_index).masked_fill(~is_letter, PAD)
