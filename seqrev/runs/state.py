"""A Trainer's resumable state in one safetensors file: weights, Adam, generators, counters.

Nothing is pickled: tensors go in the file's tensors, everything else in its metadata as
JSON. Writes go to a temp file in the same folder and are renamed into place, so a kill at
any moment leaves either the previous state or the new one. The temp file a killed writer
leaves behind is never read, and the next writer (or the reaper) deletes it. A write the disk
refuses raises :class:`~seqrev.disk.DiskWriteError`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as state_bytes

from seqrev.disk import DiskWriteError, as_disk_error, write_atomically
from seqrev.training.trainer import EvalEvent, Trainer

STATE_FILE = "state.safetensors"
STATE_VERSION = 1
TEMP_PREFIX, TEMP_SUFFIX = ".state.", ".tmp"
SAVING = "saving the resumable state"


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
    blob = state_bytes(tensors, metadata={"seqrev_state": json.dumps(meta)})
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_temp_files(folder)  # one writer per run folder: any temp file is a dead one's
        return write_atomically(folder / STATE_FILE, blob, TEMP_PREFIX, TEMP_SUFFIX,
                                write=write_bytes)
    except OSError as error:
        raise (as_disk_error(error, SAVING) or DiskWriteError(str(error), SAVING)) from None


def write_bytes(handle, blob: bytes) -> None:
    """The state's one write call (the fault suite injects a full disk here)."""
    handle.write(blob)


def remove_temp_files(folder: Path) -> int:
    """Delete temp state files a killed writer left in ``folder``; returns how many.

    Only while no writer is saving into ``folder``: the run's own worker, before it writes,
    or the reaper, for a run it has just found dead.
    """
    removed = 0
    try:
        names = [p for p in folder.iterdir()
                 if p.name.startswith(TEMP_PREFIX) and p.name.endswith(TEMP_SUFFIX)]
    except OSError:
        return 0
    for path in names:
        try:
            path.unlink()
            removed += 1
        except OSError:
            continue
    return removed


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
