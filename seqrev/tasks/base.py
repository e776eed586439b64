"""What a task is: an alphabet, a target for every source, and which letters each step reads.

A task is a frozen dataclass over the training lengths (``min_len``, ``max_len``, and
``length_power`` p: length L is drawn with probability proportional to L**p, uniformly when
p = 0). :class:`LetterTask` draws random strings of A–Z; a subclass says only what the output
is, as text (``target``), as tensors (``target_letters``), and which source positions output
step t should read (``alignment``). Everything else (training, held-out sets, the heatmap's
outline, the what-if suggestion) asks the task. ``register`` adds a task to ``TASKS``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from seqrev.i18n import N_, _
from seqrev.tasks.data import Batch, batch_from_target
from seqrev.tasks.vocab import FIRST_LETTER, PAD, VOCAB_SIZE

TASKS: dict[str, type[LetterTask]] = {}


def register(task_class: type[LetterTask]) -> type[LetterTask]:
    """Class decorator: make ``task_class`` known by its ``name``."""
    if task_class.name in TASKS and TASKS[task_class.name] is not task_class:
        raise ValueError(f"a task named {task_class.name!r} is already registered")
    TASKS[task_class.name] = task_class
    return task_class


@dataclass(frozen=True)
class LetterTask(ABC):
    """A task on random strings of the letters A–Z, one output letter per input letter."""

    min_len: int = 1
    max_len: int = 10
    length_power: float = 0.0

    name: ClassVar[str]
    # one line, shown beside the task's name: marked N_() where declared, shown with _()
    description: ClassVar[str]
    option_range: ClassVar[tuple[int, int] | None] = None  # e.g. rotate's k: "rotate:3"
    # in words, marked N_() and shown with _() like the description
    outline_rule: ClassVar[str] = N_("step t reads the input letters the task names")

    def __post_init__(self) -> None:
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(_("need 1 <= min_len <= max_len, got {low}..{high}").format(
                low=self.min_len, high=self.max_len))

    @property
    def spec(self) -> str:
        """How the task is spelled as a setting (``reverse``, ``rotate:3``)."""
        return self.name

    @abstractmethod
    def target(self, source: str) -> str:
        """The output the task expects for ``source``."""

    @abstractmethod
    def alignment(self, source: str) -> list[frozenset[int]]:
        """Per output step, the source positions it should read; the ``<eos>`` step reads none."""

    @abstractmethod
    def target_letters(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The target's letter ids (batch, S) for right-padded ``letters`` (batch, S)."""

    def batch(self, source: torch.Tensor, lengths: torch.Tensor) -> Batch:
        """The training batch for right-padded ``source`` (batch, S)."""
        return batch_from_target(source, lengths, self.target_letters(source, lengths))

    def sample(self, batch_size: int, generator: torch.Generator,
               device: torch.device | str = "cpu") -> Batch:
        """A batch of fresh random strings drawn with ``generator`` (on the CPU, then moved)."""
        if self.length_power:
            choices = torch.arange(self.min_len, self.max_len + 1)  # (n_lengths,)
            weights = choices.double() ** self.length_power  # (n_lengths,)
            picked = torch.multinomial(weights, batch_size, replacement=True,
                                       generator=generator)  # (batch,)
            lengths = choices[picked]  # (batch,)
        else:
            lengths = torch.randint(self.min_len, self.max_len + 1, (batch_size,),
                                    generator=generator)  # (batch,)
        longest = int(lengths.max())
        letters = torch.randint(FIRST_LETTER, VOCAB_SIZE, (batch_size, longest),
                                generator=generator)  # (batch, S)
        keep = torch.arange(longest) < lengths.unsqueeze(1)  # (batch, S)
        batch = self.batch(letters.masked_fill(~keep, PAD), lengths)
        return batch.to(device) if str(device) != "cpu" else batch

    def eval_set(self, n: int, seed: int) -> Batch:
        """``n`` strings that depend only on (task, n, seed): the same set on every call."""
        return self.sample(n, torch.Generator().manual_seed(seed))


def positions(lengths: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's positions (batch, S) and where they hold a letter (batch, S)."""
    index = torch.arange(width, device=lengths.device).expand(len(lengths), width)  # (batch, S)
    return index, index < lengths.unsqueeze(1)
