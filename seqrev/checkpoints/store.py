"""Checkpoints: one safetensors file per checkpoint, its metadata inside; never unpickled.

``NAME.safetensors`` holds the weights and, in its header's metadata map, the JSON metadata:
the configs, the metrics history, the evaluation summary, timing, library versions, the
producing command and the SHA-256 of the tensor bytes. One file written by one rename cannot
pair one save's weights with another's metadata, whatever crashes or races. ``NAME.json`` is a
readable copy written after it, which loading ignores. Checkpoints from before (format 1: the
weights plus an authoritative ``NAME.json`` holding the whole file's SHA-256) still load.

Everything read from disk is checked before anything is allocated: the JSON's size and nesting,
the metadata against the pydantic schema in :mod:`seqrev.checkpoints.schema`, and every
tensor's shape in the header against the config. Errors name the checkpoint, never a path.

Longer than one screen because reading a checkpoint safely is one idea with many refusals
(regular file, size, header, schema, shapes), each named; the schema itself is apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import platform
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import safetensors
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_from_bytes
from safetensors.torch import save as save_to_bytes

from seqrev.checkpoints.schema import (
    MAX_HEADER_BYTES,
    MAX_METADATA_BYTES,
    SchemaError,
    TensorEntry,
    check_header,
    check_metadata,
    parse_json,
)
from seqrev.decoding.evaluation import evaluate, evaluate_by_length, evaluate_fresh
from seqrev.disk import as_disk_error, write_atomically
from seqrev.i18n import N_, _, current_language
from seqrev.models.kinds import KINDS
from seqrev.models.seq2seq import ModelConfig, Seq2Seq, build_model
from seqrev.tasks.pairs import PAIRS_TASK, PairsError, PairsTask
from seqrev.training.trainer import SAVED_BEFORE, TrainConfig, Trainer

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "checkpoints"
# SEQREV_CHECKPOINT_DIR moves where checkpoints are read and written (the tests use a temp dir)
CHECKPOINT_DIR = Path(os.environ.get("SEQREV_CHECKPOINT_DIR", SHIPPED_DIR))
SHIPPED_PLAIN, SHIPPED_ATTENTION = KINDS["plain"].shipped, KINDS["attention"].shipped
SHIPPED_TRANSFORMER = KINDS["transformer"].shipped
# one small attention model per built-in task, for the task gallery and the task-aware pages
SHIPPED_BY_TASK = {"reverse": SHIPPED_ATTENTION, "copy": "attention-copy",
                   "sort": "attention-sort", "rotate:3": "attention-rotate3"}
SHIPPED_BIDIRECTIONAL = "attention-bidirectional"  # reads the textbook outline (issue 20)
SHIPPED_NAMES = frozenset({*(kind.shipped for kind in KINDS.values()), *SHIPPED_BY_TASK.values(),
                           SHIPPED_BIDIRECTIONAL})
FORMAT_VERSION = 2  # 2: metadata in the safetensors header; 1: separate JSON sidecar
LEGACY_FORMAT_VERSION = 1
METADATA_KEY = "seqrev_metadata"  # the header metadata entry that holds the JSON
LOCK_TIMEOUT_S = 30.0
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# a save's temp file (this format's and format 1's): swept by the next save, ignored by list
_TEMP_PATTERN = re.compile(r"^\.[A-Za-z0-9][A-Za-z0-9_.-]*\.(safetensors|json)\..+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


THE_HEADER = N_("the safetensors header")  # what parse_json names in its errors
THE_METADATA = N_("the metadata")
CANNOT_READ = N_("cannot read: {problem}")


class CheckpointError(Exception):
    """A checkpoint that is missing, unreadable, corrupted or does not match its config.

    The message names the checkpoint (``checkpoint 'NAME': problem``), never a server path,
    and is one line.
    """

    def __init__(self, name: str, problem: str) -> None:
        problem = _CONTROL.sub(" ", str(problem))
        super().__init__(_("checkpoint {name}: {problem}").format(name=repr(str(name)),
                                                                  problem=problem))
        self.name = self.path = str(name)
        self.problem = problem
        self.disk_error = None  # a DiskWriteError when a save failed for lack of space etc.


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
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "", cleaned)
    cleaned = re.sub(r"\.{2,}", ".", cleaned).lstrip("._-")[:64]  # ".." never reaches a path
    cleaned = cleaned.removesuffix(".safetensors").removesuffix(".json")
    if not cleaned or not _NAME_PATTERN.match(cleaned):
        raise ValueError(_("{name} is not a usable checkpoint name: use letters, digits, _ . -"
                           ).format(name=repr(raw)))
    return cleaned


def _valid_name(name: str) -> bool:
    return bool(_NAME_PATTERN.match(name or "")) and ".." not in name


def _paths(name: str, directory: Path | None) -> tuple[Path, Path]:
    if not isinstance(name, str) or not _valid_name(name):
        raise CheckpointError(name, _("invalid name (letters, digits, _ . - only; no paths)"))
    root = Path(directory or CHECKPOINT_DIR).resolve()
    return root / f"{name}.safetensors", root / f"{name}.json"


def exists(name: str, directory: Path | None = None) -> bool:
    """Whether a file holds ``name``'s weights (healthy or not: saving over it needs overwrite)."""
    weights, _sidecar = _paths(name, directory)
    return weights.exists()


def is_shipped(name: str, directory: Path | None = None) -> bool:
    """Whether ``name`` is a shipped model in the shipped folder (read-only from the app)."""
    root = Path(directory or CHECKPOINT_DIR).resolve()
    return name in SHIPPED_NAMES and root == SHIPPED_DIR.resolve()


# ---- saving -----------------------------------------------------------------------------
@contextlib.contextmanager
def _folder_lock(root: Path, name: str, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """An exclusive flock on the folder itself: saves into one folder run one at a time."""
    handle = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CheckpointError(name, _("another save to this folder has held it "
                                                  "for over {seconds} s; try again").format(
                                                      seconds=f"{timeout:.0f}")) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(handle)  # closing the descriptor releases the lock


def _sweep_temp_files(root: Path) -> None:
    """Delete temp files left by crashed saves; safe only while holding the folder lock."""
    for path in root.iterdir():
        if _TEMP_PATTERN.match(path.name):
            with contextlib.suppress(OSError):
                path.unlink()


def _write_atomically(path: Path, data: bytes) -> None:
    """The checkpoint's one write (the fault suite replaces it): disk.write_atomically."""
    write_atomically(path, data)


def _data_section(blob: bytes) -> bytes:
    header_len = int.from_bytes(blob[:8], "little")
    return blob[8 + header_len:]


def _finite_or_none(values: Any) -> Any:
    if not isinstance(values, list):
        return values
    return [v if not isinstance(v, float) or math.isfinite(v) else None for v in values]


def save_checkpoint(
    name: str, model: Seq2Seq, train_config: TrainConfig | None = None,
    meta: dict[str, Any] | None = None, directory: Path | None = None, overwrite: bool = False,
) -> Path:
    """Write ``name`` as one file, atomically; returns its path.

    Saves into one folder are serialized by a lock, so two saves to one name leave one of them
    whole. Raises FileExistsError if ``name`` exists and not ``overwrite``, and CheckpointError
    if the weights are not finite, the metadata does not fit the schema, or the folder cannot
    be written.
    """
    path, view_path = _paths(name, directory)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for key, tensor in tensors.items():
        if not torch.isfinite(tensor).all():
            raise CheckpointError(name, _("not saved: {key} holds NaN or infinite values"
                                          ).format(key=key))
    data_only = save_to_bytes(tensors)
    extra = dict(meta or {})
    if isinstance(extra.get("history"), dict):  # a diverged run's NaN losses become null
        extra["history"] = {**extra["history"],
                            "loss": _finite_or_none(extra["history"].get("loss"))}
    metadata = {
        **extra,
        "format_version": FORMAT_VERSION,
        "name": name,
        "model_config": model.config.to_dict(),
        "train_config": train_config.to_dict() if train_config else None,
        "weights_sha256": hashlib.sha256(_data_section(data_only)).hexdigest(),
        "versions": {"torch": torch.__version__, "safetensors": safetensors.__version__,
                     "python": platform.python_version(), "seqrev_format": FORMAT_VERSION},
    }
    try:
        text = json.dumps(metadata, allow_nan=False, separators=(",", ":"))
        check_metadata(parse_json(text, "the metadata"))
    except (TypeError, ValueError) as error:  # SchemaError is a ValueError
        raise CheckpointError(name, _("not saved: the metadata does not fit the schema "
                                      "({problem})").format(problem=error)) from None
    blob = save_to_bytes(tensors, metadata={"format": "seqrev", "version": str(FORMAT_VERSION),
                                            METADATA_KEY: text})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _folder_lock(path.parent, name):
            _sweep_temp_files(path.parent)
            if not overwrite and path.exists():
                raise FileExistsError(
                    f"checkpoint {name!r} exists; pass overwrite=True to replace it")
            _write_atomically(path, blob)
            # the readable copy: written after, never read back by the loader
            _write_atomically(view_path, json.dumps(metadata, indent=1).encode())
    except (FileExistsError, CheckpointError):
        raise
    except OSError as error:
        reason = error.strerror or type(error).__name__  # str(error) would show the path
        refused = CheckpointError(name, _("could not write: {problem}").format(problem=reason))
        refused.disk_error = as_disk_error(error, "saving checkpoint {name}", name=repr(name))
        raise refused from None
    _INSPECTED.clear()
    return path


def training_record(trainer: Trainer, command: str, max_points: int = 2000) -> dict[str, Any]:
    """Sidecar fields for a trained model: history, evaluation summary, time and command."""
    config = trainer.config
    stride = max(1, len(trainer.losses) // max_points)
    history = {
        "loss_stride": stride,
        "loss": [round(v, 5) for v in trainer.losses[::stride]],
        "eval": [asdict(e) for e in trainer.eval_history],
    }
    timing = {"command": command, "steps_done": trainer.step,
              "training_seconds": round(trainer.elapsed, 3)}
    if config.task == PAIRS_TASK:  # scored on the file's held-out rows, which it keeps
        held_out = evaluate(trainer.model, trainer.eval_set, max_failures=0)
        return {**timing, "history": history, "pairs": trainer.task.record(),
                "evaluation": {"held_out": {"n": held_out.n,
                                            "exact_match": held_out.exact_match,
                                            "char_accuracy": held_out.char_accuracy}}}
    lengths = list(range(1, 2 * config.max_len + 1))
    # 100 per length: the final save's evaluations count against time to accuracy (docs/speed.md)
    by_length = evaluate_by_length(trainer.model, lengths, n_per_length=100, seed=424242,
                                   task=config.task)
    on_ten = evaluate_fresh(trainer.model, 1000, 10, 10, seed=2024, max_failures=0,
                            task=config.task)
    on_range = on_ten if (config.min_len, config.max_len) == (10, 10) else evaluate_fresh(
        trainer.model, 1000, config.min_len, config.max_len, seed=2025, max_failures=0,
        task=config.task)
    return {
        **timing,
        "history": history,
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


# ---- reading ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Inspected:
    """What a checkpoint's file says about itself, checked; no tensor read."""

    meta: dict[str, Any]
    model_config: ModelConfig
    train_config: TrainConfig | None
    table: dict[str, TensorEntry]
    legacy: bool


def _open_regular(path: Path, name: str, what: str) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file (never block on a FIFO)."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise CheckpointError(name, _("not found ({file} is missing)").format(file=what)
                              ) from None
    except OSError as error:
        raise CheckpointError(name, _("cannot open {file}: {problem}").format(
            file=what, problem=error.strerror)) from None
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        raise CheckpointError(name, _("{file} is not a regular file").format(file=what))
    return os.fdopen(handle, "rb")


class _SkipMetaInit(torch.overrides.TorchFunctionMode):
    """Skips ``torch.nn.init`` calls on meta tensors: they have no values to fill, and a meta
    ``normal_`` imports torch._dynamo (1 to 10 s on the first checkpoint a server loads)."""

    _INIT = {"normal_", "uniform_", "zeros_", "ones_", "constant_", "xavier_uniform_",
             "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
             "trunc_normal_"}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensor = args[0] if args else kwargs.get("tensor")
        if (getattr(func, "__name__", "") in self._INIT and isinstance(tensor, torch.Tensor)
                and tensor.is_meta):
            return tensor
        return func(*args, **kwargs)


def _expected_shapes(model_config: ModelConfig) -> dict[str, tuple[int, ...]]:
    key = tuple(sorted(model_config.to_dict().items()))
    if key not in _SHAPES:
        with torch.device("meta"), _SkipMetaInit():  # shapes only: no memory is allocated
            model = build_model(model_config)
        _SHAPES[key] = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    return _SHAPES[key]


_SHAPES: dict[tuple, dict[str, tuple[int, ...]]] = {}


def _config(cls: type, data: dict[str, Any], name: str) -> Any:
    try:
        return cls(**data)
    except (TypeError, ValueError) as error:
        raise CheckpointError(name, _("{config} is invalid: {problem}").format(
            config=cls.__name__, problem=error)) from None


def _inspect(handle: BinaryIO, name: str, sidecar_path: Path) -> tuple[_Inspected, int]:
    """Check the header, the metadata and the shapes; returns them and the header's length."""
    weights = f"{name}.safetensors"
    size = os.fstat(handle.fileno()).st_size
    prefix = handle.read(8)
    if len(prefix) < 8:
        raise CheckpointError(name, _("{file} is truncated (no safetensors header)").format(
            file=weights))
    header_len = int.from_bytes(prefix, "little")
    if header_len > MAX_HEADER_BYTES:
        raise CheckpointError(name, _("{file} declares a {size}-byte header; the limit is "
                                      "{limit}").format(file=weights, size=f"{header_len:,}",
                                                        limit=f"{MAX_HEADER_BYTES:,}"))
    if 8 + header_len > size:
        raise CheckpointError(name, _("{file} is truncated (shorter than its header)").format(
            file=weights))
    try:
        header = parse_json(handle.read(header_len), _(THE_HEADER),
                            max_bytes=MAX_HEADER_BYTES, max_depth=4)
        table, header_metadata = check_header(header, size - 8 - header_len)
    except SchemaError as error:
        raise CheckpointError(name, _("unreadable safetensors in {file} ({problem})").format(
            file=weights, problem=error)) from None
    legacy = METADATA_KEY not in header_metadata
    try:
        if not legacy:
            meta = check_metadata(parse_json(header_metadata[METADATA_KEY], _(THE_METADATA)))
        else:
            with _open_regular(sidecar_path, name, _("{file} (its metadata)").format(
                    file=f"{name}.json")) as sidecar:
                if os.fstat(sidecar.fileno()).st_size > MAX_METADATA_BYTES:
                    raise SchemaError(_("{file} is over the {limit}-byte limit").format(
                        file=f"{name}.json", limit=f"{MAX_METADATA_BYTES:,}"))
                meta = check_metadata(parse_json(sidecar.read(MAX_METADATA_BYTES + 1),
                                                 f"{name}.json"))
    except SchemaError as error:
        raise CheckpointError(name, _("bad metadata: {problem}").format(problem=error)
                              ) from None
    expected_version = LEGACY_FORMAT_VERSION if legacy else FORMAT_VERSION
    if meta["format_version"] != expected_version:
        raise CheckpointError(name, _("format_version {found} does not match how the file is "
                                      "laid out (format {expected})").format(
                                          found=meta["format_version"],
                                          expected=expected_version))
    if legacy and not meta.get("weights_sha256"):
        raise CheckpointError(name, _("{file} has no weights_sha256 to tie it to the weights"
                                      ).format(file=f"{name}.json"))
    model_config = _config(ModelConfig, meta["model_config"], name)
    train_data = meta.get("train_config")
    train_config = None if train_data is None else _config(
        TrainConfig, {**SAVED_BEFORE, **train_data}, name)
    expected = _expected_shapes(model_config)
    missing, unexpected = expected.keys() - table.keys(), table.keys() - expected.keys()
    if missing or unexpected:
        raise CheckpointError(name, _("weights do not fit the config: missing {missing}, "
                                      "unexpected {unexpected}").format(
                                          missing=sorted(missing)[:5],
                                          unexpected=sorted(unexpected)[:5]))
    for key, entry in table.items():
        if tuple(entry.shape) != expected[key]:
            raise CheckpointError(name, _("{key} has shape {shape}, config needs {needed}"
                                          ).format(key=key, shape=tuple(entry.shape),
                                                   needed=expected[key]))
    return _Inspected(meta, model_config, train_config, table, legacy), header_len


def _check_digest(name: str, inspected: _Inspected, blob: bytes, header_len: int) -> None:
    """Format 1 hashes the whole weights file; format 2 the tensor bytes after the header."""
    digest = hashlib.sha256(blob if inspected.legacy else blob[8 + header_len:]).hexdigest()
    wanted = inspected.meta.get("weights_sha256")
    if wanted is not None and digest != wanted:
        raise CheckpointError(name, _("weights do not match the metadata's SHA-256 (corrupted, "
                                      "truncated or from another checkpoint)"))


def _signature(path: Path) -> tuple | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


_INSPECTED: dict[tuple, _Inspected | CheckpointError] = {}


def _inspect_cached(name: str, directory: Path | None) -> _Inspected:
    """:func:`_inspect` plus the hash check, remembered by the files' identity, size and time.

    ``list`` runs on every page rerun; a file is read in full once per version. A file that
    is refused is remembered per language, since its error says why in words.
    """
    weights_path, sidecar_path = _paths(name, directory)
    key = (str(weights_path), _signature(weights_path), _signature(sidecar_path))
    found = _INSPECTED.get(key) or _INSPECTED.get((*key, current_language()))
    if found is None:
        try:
            with _open_regular(weights_path, name, f"{name}.safetensors") as handle:
                found, header_len = _inspect(handle, name, sidecar_path)
                handle.seek(0)
                _check_digest(name, found, handle.read(), header_len)
        except CheckpointError as error:
            found = error
        except OSError as error:
            found = CheckpointError(name, _(CANNOT_READ).format(
                problem=error.strerror or _("I/O error")))
        if len(_INSPECTED) > 256:
            _INSPECTED.clear()
        _INSPECTED[(*key, current_language()) if isinstance(found, CheckpointError)
                   else key] = found
    if isinstance(found, CheckpointError):
        raise CheckpointError(found.name, found.problem)
    return found


def pairs_task(checkpoint: Checkpoint) -> PairsTask | None:
    """The task of a checkpoint trained on pairs, from its record (the held-out rows and the
    alphabet; no file needed); None for any other checkpoint."""
    record = checkpoint.meta.get("pairs")
    if record is None:
        return None
    try:
        return PairsTask.from_record(record)
    except PairsError as error:
        raise CheckpointError(checkpoint.name, _("bad pairs record: {problem}").format(
            problem=error)) from None


def read_sidecar(name: str, directory: Path | None = None) -> dict[str, Any]:
    """``name``'s checked metadata (the sidecar), read from the header; no weights read."""
    return dict(_inspect_cached(name, directory).meta)


def load_checkpoint(
    name: str, directory: Path | None = None, device: torch.device | str = "cpu"
) -> Checkpoint:
    """Load ``name``; every failure is a CheckpointError that names it and the problem.

    The header, metadata and shapes are checked before any tensor is read or model built,
    and everything is read through one open file, so a save that replaces it meanwhile
    cannot mix two versions.
    """
    weights_path, sidecar_path = _paths(name, directory)
    try:
        with _open_regular(weights_path, name, f"{name}.safetensors") as handle:
            inspected, header_len = _inspect(handle, name, sidecar_path)
            handle.seek(0)
            blob = handle.read()
    except OSError as error:
        raise CheckpointError(name, _(CANNOT_READ).format(
            problem=error.strerror or _("I/O error"))) from None
    _check_digest(name, inspected, blob, header_len)
    try:
        tensors = load_from_bytes(blob)
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(name, _("unreadable safetensors ({problem})").format(
            problem=error)) from None
    for key, tensor in tensors.items():
        if not torch.isfinite(tensor).all():
            raise CheckpointError(name, _("{key} holds NaN or infinite values").format(key=key))
    model = build_model(inspected.model_config)
    model.load_state_dict(tensors)
    model.to(device).eval()
    return Checkpoint(name, model, inspected.model_config, inspected.train_config,
                      dict(inspected.meta))


def _scan(directory: Path | None) -> tuple[list[str], list[tuple[str, str]]]:
    root = Path(directory or CHECKPOINT_DIR)
    if not root.is_dir():
        return [], []
    good, bad = [], []
    try:
        paths = sorted(root.iterdir())
    except OSError as error:
        return [], [(root.name, _("cannot read the folder: {problem}").format(
            problem=error.strerror or _("I/O error")))]
    for path in paths:
        if path.name.startswith("."):  # a save's temp file, swept by the next save
            continue
        if path.suffix == ".safetensors":
            if not _valid_name(path.stem):
                bad.append((path.name, _("not a valid checkpoint name (letters, digits, _ . -)")))
                continue
            try:
                _inspect_cached(path.stem, root)
                good.append(path.stem)
            except CheckpointError as error:
                bad.append((path.name, error.problem))
        elif path.suffix == ".json" and not (root / f"{path.stem}.safetensors").exists():
            bad.append((path.name, _("metadata with no weights beside it")))
    return good, bad


def list_checkpoints(directory: Path | None = None) -> list[str]:
    """Names of the healthy checkpoints in ``directory``; bad files are skipped."""
    return _scan(directory)[0]


def list_checkpoint_problems(directory: Path | None = None) -> list[tuple[str, str]]:
    """``(file name, one-line reason)`` for each file that :func:`list_checkpoints` skipped."""
    return _scan(directory)[1]
