"""Reverse a string: ``ABC -> CBA``, the course lab's task; output step t reads letter S-1-t."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqrev.i18n import N_
from seqrev.tasks.base import LetterTask, register
from seqrev.tasks.data import reversed_letters


@register
@dataclass(frozen=True)
class ReversalTask(LetterTask):
    """Reverse a string of capital letters: ``ABC -> CBA``.

    Encoding: the source is the letters' ids (3..28), right-padded with ``<pad>`` (0).
    The target is the reversed letters followed by ``<eos>`` (2); the decoder's input is
    ``<sos>`` (1) followed by the target without its last symbol (teacher forcing). The lab
    is ``min_len = max_len = 10``, lengths uniform.
    """

    name = "reverse"
    description = N_("write the string backwards: ABC becomes CBA (the lab's task)")
    outline_rule = N_("step t reads input S−1−t")

    def target(self, source: str) -> str:
        return source[::-1]

    def alignment(self, source: str) -> list[frozenset[int]]:
        return [frozenset({len(source) - 1 - t}) for t in range(len(source))] + [frozenset()]

    def target_letters(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return reversed_letters(letters, lengths)  # (batch, S)
