"""A Trainer's resumable state in one safetensors file: weights, Adam, generators, counters.

Nothing is pickled: tensors go in the file's tensors, everything else in its metadata as
JSON. Writes go to a temp file in the same folder and are renamed into place, so a kill at
any moment leaves either the previous state or the new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from seqrev.training import EvalEvent, Trainer

STATE_FILE = "state.safetensors"
STATE_VERSION = 1


class StateError(ValueError):
    """A run's saved state is missing or unreadable."""


def save_state(trainer: Trainer, folder: Path, wall_seconds: float) -> Path:
    """Write ``trainer``'s full state to ``folder/state.safetensors``, atomically."""
    tensors: dict[str, torch.Tensor] = {
        f"model.{k}": v.detach().cpu().contiguous() for k, v in trainer.model.state_dict().items()
    }
    optimizer = trainer.optimizer.state_dict()
    for index, state in optimizer["state"].items():
        for key, value in state.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.batch"] = trainer.batch_generator.get_state()
    tensors["rng.coin"] = trainer.coin_generator.get_state()
    tensors["losses"] = torch.tensor(trainer.losses, dtype=torch.float64)
    meta = {
        "version": STATE_VERSION, "step": trainer.step, "elapsed": trainer.elapsed,
        "wall_seconds": wall_seconds,
        "param_groups": optimizer["param_groups"],
        "eval_history": [asdict(e) for e in trainer.eval_history],
    }
    folder.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=".state.", suffix=".tmp", dir=folder)
    os.close(handle)
    try:
        save_file(tensors, temp_name, metadata={"seqrev_state": json.dumps(meta)})
        with open(temp_name, "rb") as written:
            os.fsync(written.fileno())
        target = folder / STATE_FILE
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target


def saved_step(folder: Path) -> int | None:
    """The step of the state saved in ``folder``, or None if there is none."""
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            return int(json.loads(handle.metadata()["seqrev_state"])["step"])
    except (SafetensorError, OSError, KeyError, ValueError, TypeError):
        return None


def load_state(trainer: Trainer, folder: Path) -> float:
    """Put the state saved in ``folder`` into ``trainer``; returns the wall seconds so far."""
    path = folder / STATE_FILE
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads(handle.metadata()["seqrev_state"])
    except (SafetensorError, OSError, KeyError, ValueError) as error:
        raise StateError(f"no usable saved state ({type(error).__name__})") from None
    if meta.get("version") != STATE_VERSION:
        raise StateError(f"saved state has version {meta.get('version')}")
    model_state = {k.removeprefix("model."): v for k, v in tensors.items()
                   if k.startswith("model.")}
    try:
        trainer.model.load_state_dict(model_state)
        optimizer_state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                optimizer_state.setdefault(int(index), {})[name] = value
        trainer.optimizer.load_state_dict(
            {"state": optimizer_state, "param_groups": meta["param_groups"]})
    except (RuntimeError, ValueError, KeyError) as error:
        raise StateError(f"saved state does not fit the run's model ({error})") from None
    trainer.batch_generator.set_state(tensors["rng.batch"])
    trainer.coin_generator.set_state(tensors["rng.coin"])
    trainer.step = int(meta["step"])
    trainer.elapsed = float(meta["elapsed"])
    trainer.losses = tensors["losses"].tolist()
    trainer.eval_history = [EvalEvent(**e) for e in meta["eval_history"]]
    return float(meta["wall_seconds"])
