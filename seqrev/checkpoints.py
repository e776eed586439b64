"""Checkpoints: weights in safetensors, everything else in a JSON sidecar; never unpickled.

``NAME.safetensors`` holds the weights; ``NAME.json`` holds the configs, the metrics history,
the evaluation summary, timing, library versions, the producing command and the weights'
SHA-256, so a sidecar that does not belong to its weights is caught on load.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import safetensors
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_to_bytes

from seqrev.evaluation import evaluate_by_length, evaluate_fresh
from seqrev.models import ModelConfig, Seq2Seq, build_model
from seqrev.training import TrainConfig, Trainer

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
# SEQREV_CHECKPOINT_DIR moves where checkpoints are read and written (the tests use a temp dir)
CHECKPOINT_DIR = Path(os.environ.get("SEQREV_CHECKPOINT_DIR", SHIPPED_DIR))
SHIPPED_PLAIN, SHIPPED_ATTENTION = "plain", "attention"
FORMAT_VERSION = 1
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class CheckpointError(Exception):
    """A checkpoint that is missing, unreadable, corrupted or does not match its config."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"checkpoint {path}: {problem}")
        self.path, self.problem = str(path), problem


@dataclass
class Checkpoint:
    """A loaded model with its sidecar."""

    name: str
    model: Seq2Seq
    model_config: ModelConfig
    train_config: TrainConfig | None
    meta: dict[str, Any]


def sanitize_name(raw: str) -> str:
    """A safe checkpoint name from user text: letters, digits, ``_ . -``; no paths.

    Spaces become ``-`` and other characters are dropped; raises ValueError if nothing is left.
    """
    cleaned = re.sub(r"\s+", "-", str(raw).strip())
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "", cleaned).lstrip("._-")[:64]
    cleaned = cleaned.removesuffix(".safetensors").removesuffix(".json")
    if not cleaned or not _NAME_PATTERN.match(cleaned):
        raise ValueError(f"{raw!r} is not a usable checkpoint name: use letters, digits, _ . -")
    return cleaned


def _paths(name: str, directory: Path | None) -> tuple[Path, Path]:
    if not _NAME_PATTERN.match(name or "") or ".." in name:
        raise CheckpointError(name, "invalid name (letters, digits, _ . - only; no paths)")
    root = (directory or CHECKPOINT_DIR).resolve()
    return root / f"{name}.safetensors", root / f"{name}.json"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as temp_file:
            temp_file.write(data)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.chmod(temp_name, 0o644)  # mkstemp makes it owner-only
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def exists(name: str, directory: Path | None = None) -> bool:
    weights, sidecar = _paths(name, directory)
    return weights.exists() or sidecar.exists()


def save_checkpoint(
    name: str, model: Seq2Seq, train_config: TrainConfig | None = None,
    meta: dict[str, Any] | None = None, directory: Path | None = None, overwrite: bool = False,
) -> Path:
    """Write ``name``'s weights and sidecar atomically; returns the weights' path."""
    weights_path, sidecar_path = _paths(name, directory)
    if not overwrite and (weights_path.exists() or sidecar_path.exists()):
        raise FileExistsError(f"checkpoint {name!r} exists; pass overwrite=True to replace it")
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    blob = save_to_bytes(tensors, metadata={"format": "seqrev", "version": str(FORMAT_VERSION)})
    sidecar = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "model_config": model.config.to_dict(),
        "train_config": train_config.to_dict() if train_config else None,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
        "versions": {"torch": torch.__version__, "safetensors": safetensors.__version__,
                     "python": platform.python_version(), "seqrev_format": FORMAT_VERSION},
        **(meta or {}),
    }
    _atomic_write(weights_path, blob)
    _atomic_write(sidecar_path, json.dumps(sidecar, indent=1).encode())
    return weights_path


def training_record(trainer: Trainer, command: str, max_points: int = 2000) -> dict[str, Any]:
    """Sidecar fields for a trained model: history, evaluation summary, time and command."""
    config = trainer.config
    stride = max(1, len(trainer.losses) // max_points)
    lengths = list(range(1, 2 * config.max_len + 1))
    by_length = evaluate_by_length(trainer.model, lengths, n_per_length=300, seed=424242)
    on_ten = evaluate_fresh(trainer.model, 1000, 10, 10, seed=2024, max_failures=0)
    on_range = evaluate_fresh(trainer.model, 1000, config.min_len, config.max_len, seed=2025,
                              max_failures=0)
    return {
        "command": command,
        "steps_done": trainer.step,
        "training_seconds": round(trainer.elapsed, 3),
        "history": {
            "loss_stride": stride,
            "loss": [round(v, 5) for v in trainer.losses[::stride]],
            "eval": [asdict(e) for e in trainer.eval_history],
        },
        "evaluation": {
            "length_10": {"n": 1000, "exact_match": on_ten.exact_match,
                          "char_accuracy": on_ten.char_accuracy},
            "training_range": {"n": 1000, "min_len": config.min_len, "max_len": config.max_len,
                               "exact_match": on_range.exact_match,
                               "char_accuracy": on_range.char_accuracy},
            "by_length": {str(k): {"n": r.n, "exact_match": r.exact_match,
                                   "char_accuracy": r.char_accuracy}
                          for k, r in by_length.items()},
        },
    }


def _dataclass_from(cls, data: Any, path: Path):
    if not isinstance(data, dict):
        raise CheckpointError(path, f"{cls.__name__} is missing or not an object")
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise CheckpointError(path, f"{cls.__name__} has unknown fields {sorted(unknown)}")
    try:
        return cls(**data)
    except (TypeError, ValueError) as error:
        raise CheckpointError(path, f"{cls.__name__} is invalid: {error}") from None


def read_sidecar(name: str, directory: Path | None = None) -> dict[str, Any]:
    """The parsed JSON sidecar of ``name`` (no weights read)."""
    _, sidecar_path = _paths(name, directory)
    if not sidecar_path.is_file():
        raise CheckpointError(sidecar_path, "not found")
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(sidecar_path, f"sidecar is not valid JSON ({error})") from None
    if not isinstance(sidecar, dict):
        raise CheckpointError(sidecar_path, "sidecar is not a JSON object")
    return sidecar


def load_checkpoint(
    name: str, directory: Path | None = None, device: torch.device | str = "cpu"
) -> Checkpoint:
    """Load ``name``; every failure is a CheckpointError that names the file and the problem."""
    weights_path, sidecar_path = _paths(name, directory)
    sidecar = read_sidecar(name, directory)
    if sidecar.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(sidecar_path, f"unsupported format {sidecar.get('format_version')}")
    model_config = _dataclass_from(ModelConfig, sidecar.get("model_config"), sidecar_path)
    train_data = sidecar.get("train_config")
    train_config = None if train_data is None else _dataclass_from(
        TrainConfig, train_data, sidecar_path)
    if not weights_path.is_file():
        raise CheckpointError(weights_path, "not found")
    blob = weights_path.read_bytes()
    if sidecar.get("weights_sha256") != hashlib.sha256(blob).hexdigest():
        raise CheckpointError(weights_path, "weights do not match the sidecar's SHA-256 "
                                            "(corrupted, truncated or from another checkpoint)")
    try:
        tensors = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(weights_path, f"unreadable safetensors ({error})") from None
    model = build_model(model_config)
    expected = model.state_dict()
    missing, unexpected = expected.keys() - tensors.keys(), tensors.keys() - expected.keys()
    if missing or unexpected:
        raise CheckpointError(weights_path, f"weights do not fit the config: missing "
                                            f"{sorted(missing)}, unexpected {sorted(unexpected)}")
    for key, tensor in tensors.items():
        if tensor.shape != expected[key].shape:
            raise CheckpointError(weights_path, f"{key} has shape {tuple(tensor.shape)}, "
                                                f"config needs {tuple(expected[key].shape)}")
        if not torch.isfinite(tensor).all():
            raise CheckpointError(weights_path, f"{key} holds NaN or infinite values")
    model.load_state_dict(tensors)
    model.to(device).eval()
    return Checkpoint(name, model, model_config, train_config, sidecar)


def list_checkpoints(directory: Path | None = None) -> list[str]:
    """Names of the checkpoints in ``directory`` that have both weights and a sidecar."""
    root = directory or CHECKPOINT_DIR
    if not root.is_dir():
        return []
    return sorted(p.stem for p in root.glob("*.safetensors")
                  if (root / f"{p.stem}.json").is_file() and _NAME_PATTERN.match(p.stem))
