"""Choosing where tensors live."""

from __future__ import annotations

import torch

from seqrev.i18n import _

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(choice: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; ``cuda`` without a GPU is an error."""
    if choice not in DEVICE_CHOICES:
        raise ValueError(_("unknown device {device}; choose from {choices}").format(
            device=repr(choice), choices=", ".join(DEVICE_CHOICES)))
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError(_("device 'cuda' was asked for, but no CUDA GPU is available"))
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)
