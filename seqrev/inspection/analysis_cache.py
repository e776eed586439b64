"""Work that depends only on a checkpoint, done once and kept beside it on disk.

The 300-string PCA reference (:func:`stored_state_map`) and the fresh-string comparison with
its by-length tables (:func:`stored_comparison`) never change for given weights, so they are
written to ``<checkpoint folder>/analysis/<name>.json`` keyed by the checkpoint's content hash
(``weights_sha256``, checked against the weights when the checkpoint loads). A restart or a
second server reads them instead of recomputing. A stored file that is missing, unreadable,
malformed, or written for other weights (another hash) is never trusted: the analysis is
recomputed and the file rewritten. The shipped checkpoints ship with theirs.

``SEQREV_ANALYSIS_CACHE=off`` turns the store off (the page benchmark uses it to time the
pages without it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import torch

import seqrev.checkpoints.store as checkpoints
from seqrev.checkpoints.task import task_of
from seqrev.disk import write_atomically
from seqrev.inspection.analysis import Comparison, compare_models
from seqrev.inspection.projection import (
    REFERENCE_LENGTHS,
    REFERENCE_N,
    REFERENCE_SEED,
    Pca,
    ReferenceStates,
    StateMap,
    fit_state_map,
)
from seqrev.tasks.registry import DEFAULT_TASK

FORMAT = 1
FOLDER = "analysis"
MAX_ENTRIES = 12  # per checkpoint; the oldest entry goes first
T = TypeVar("T")


class StoredAnalysisError(ValueError):
    """A stored analysis that cannot be used (malformed, or for other weights)."""


def enabled() -> bool:
    return os.environ.get("SEQREV_ANALYSIS_CACHE", "on").lower() not in ("off", "0", "no")


def store_path(name: str, directory: Path | None = None) -> Path:
    """Where ``name``'s stored analysis lives: ``<folder>/analysis/<name>.json``."""
    return Path(directory or checkpoints.CHECKPOINT_DIR) / FOLDER / f"{name}.json"


def content_hash(checkpoint: checkpoints.Checkpoint) -> str:
    digest = checkpoint.meta.get("weights_sha256")
    if not isinstance(digest, str) or not digest:
        raise StoredAnalysisError(f"checkpoint {checkpoint.name} has no content hash")
    return digest


def _read_entries(path: Path, digest: str) -> dict[str, Any]:
    """The file's entries if it is well formed and written for ``digest``; else {}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    if (not isinstance(data, dict) or data.get("format") != FORMAT
            or data.get("weights_sha256") != digest or not isinstance(data.get("entries"), dict)):
        return {}
    return data["entries"]


def _write_entries(path: Path, name: str, digest: str, entries: dict[str, Any]) -> None:
    """Replace the file atomically; a folder that cannot be written only costs the speed-up."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"format": FORMAT, "checkpoint": name, "weights_sha256": digest,
                           "entries": entries}, separators=(",", ":"))
        write_atomically(path, data.encode("utf-8"), prefix=f".{name}.", sync_folder=False)
    except OSError:
        return


def cached(checkpoint: checkpoints.Checkpoint, key: str, compute: Callable[[], T],
           encode: Callable[[T], Any], decode: Callable[[Any], T],
           directory: Path | None = None) -> T:
    """``decode(stored)`` if ``key`` is stored for these weights, else ``compute()``, stored.

    ``decode`` raises (KeyError, TypeError, ValueError, StoredAnalysisError) on anything it
    cannot trust; that entry is then recomputed and replaced.
    """
    if not enabled():
        return compute()
    digest = content_hash(checkpoint)
    path = store_path(checkpoint.name, directory)
    entries = _read_entries(path, digest)
    if key in entries:
        try:
            return decode(entries[key])
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError):
            pass
    value = compute()
    entries.pop(key, None)
    entries[key] = encode(value)
    while len(entries) > MAX_ENTRIES:
        entries.pop(next(iter(entries)))
    _write_entries(path, checkpoint.name, digest, entries)
    return value


def _floats(values: torch.Tensor) -> list:
    return torch.round(values.float(), decimals=6).tolist()


def _tensor(values: Any, shape: tuple[int | None, ...], dtype=torch.float32) -> torch.Tensor:
    """``values`` as a tensor of ``shape`` (None: any size), else StoredAnalysisError."""
    tensor = torch.tensor(values, dtype=dtype)
    if tensor.ndim != len(shape) or any(want is not None and got != want
                                        for got, want in zip(tensor.shape, shape, strict=True)):
        raise StoredAnalysisError(f"stored shape {tuple(tensor.shape)}, wanted {shape}")
    if dtype.is_floating_point and not torch.isfinite(tensor).all():
        raise StoredAnalysisError("stored numbers are not finite")
    return tensor


def encode_state_map(state_map: StateMap) -> dict[str, Any]:
    """What the pages draw from a map: both PCAs, the reference points' 2-D places and labels.

    The reference states themselves (N x H) are not kept; a decoded map has them empty.
    """
    reference = state_map.reference
    return {
        **{f"{part}_{field}": _floats(getattr(getattr(state_map, f"{part}_pca"), field))
           for part in ("encoder", "decoder") for field in ("mean", "components", "explained")},
        "encoder_xy": _floats(state_map.encoder_xy), "decoder_xy": _floats(state_map.decoder_xy),
        "encoder_position": reference.encoder_position.tolist(),
        "encoder_length": reference.encoder_length.tolist(),
        "decoder_step": reference.decoder_step.tolist(),
        "decoder_length": reference.decoder_length.tolist(),
        "n_strings": state_map.n_strings, "seed": state_map.seed,
        "lengths": list(state_map.lengths),
    }


def decode_state_map(data: dict[str, Any], hidden: int, encoder_dim: int | None = None
                     ) -> StateMap:
    """A map from :func:`encode_state_map`'s output, every shape checked against ``hidden``
    (``encoder_dim`` for the encoder's states: 2 * hidden when bidirectional)."""
    pcas, sizes = {}, {"encoder": encoder_dim or hidden, "decoder": hidden}
    for part, size in sizes.items():
        pcas[part] = Pca(_tensor(data[f"{part}_mean"], (size,)),
                         _tensor(data[f"{part}_components"], (2, size)),
                         _tensor(data[f"{part}_explained"], (2,)))
    encoder_xy = _tensor(data["encoder_xy"], (None, 2))
    decoder_xy = _tensor(data["decoder_xy"], (None, 2))
    n_enc, n_dec = encoder_xy.shape[0], decoder_xy.shape[0]
    reference = ReferenceStates(
        encoder=torch.empty(0, sizes["encoder"]), decoder=torch.empty(0, hidden),
        encoder_position=_tensor(data["encoder_position"], (n_enc,), torch.long),
        encoder_length=_tensor(data["encoder_length"], (n_enc,), torch.long),
        decoder_step=_tensor(data["decoder_step"], (n_dec,), torch.long),
        decoder_length=_tensor(data["decoder_length"], (n_dec,), torch.long),
    )
    lengths = tuple(int(n) for n in data["lengths"])
    if len(lengths) != 2:
        raise StoredAnalysisError("stored lengths are not a pair")
    return StateMap(pcas["encoder"], pcas["decoder"], reference, encoder_xy, decoder_xy,
                    int(data["n_strings"]), int(data["seed"]), lengths)


def stored_state_map(checkpoint: checkpoints.Checkpoint, directory: Path | None = None
                     ) -> StateMap:
    """:func:`seqrev.inspection.projection.fit_state_map` on the fixed reference set, on disk."""
    task = task_of(checkpoint).spec
    key = (f"state_map n={REFERENCE_N} seed={REFERENCE_SEED} lengths={REFERENCE_LENGTHS}"
           + ("" if task == DEFAULT_TASK else f" task={task}"))
    hidden = checkpoint.model_config.hidden_dim
    encoder_dim = hidden * (2 if checkpoint.model_config.bidirectional else 1)
    return cached(checkpoint, key, lambda: fit_state_map(checkpoint.model, task=task),
                  encode_state_map,
                  lambda data: decode_state_map(data, hidden, encoder_dim), directory)


_FRAMES = ("per_position", "by_length", "examples")


def encode_comparison(result: Comparison) -> dict[str, Any]:
    return {"lengths": result.lengths, "n_per_length": result.n_per_length,
            "seed": result.seed, "outcomes": result.outcomes,
            "n_plain_only": result.n_plain_only, "seconds": result.seconds,
            **{name: getattr(result, name).to_dict(orient="split", index=False)
               for name in _FRAMES}}


def decode_comparison(data: dict[str, Any], lengths: list[int], n_per_length: int,
                      seed: int) -> Comparison:
    """A comparison from :func:`encode_comparison`'s output, checked against its settings."""
    if ([int(n) for n in data["lengths"]] != lengths or int(data["n_per_length"]) != n_per_length
            or int(data["seed"]) != seed):
        raise StoredAnalysisError("stored comparison is for other settings")
    frames = {}
    for name in _FRAMES:
        split = data[name]
        frames[name] = pd.DataFrame(split["data"], columns=split["columns"])
    want_rows = len(lengths) * 2
    if len(frames["by_length"]) != want_rows or set(frames["by_length"]["length"]) != set(lengths):
        raise StoredAnalysisError("stored by-length table does not cover the lengths")
    outcomes = {str(k): int(v) for k, v in data["outcomes"].items()}
    if sum(outcomes.values()) != len(lengths) * n_per_length:
        raise StoredAnalysisError("stored outcomes do not add up to the strings decoded")
    return Comparison(lengths=lengths, n_per_length=n_per_length, seed=seed,
                      per_position=frames["per_position"], by_length=frames["by_length"],
                      examples=frames["examples"], outcomes=outcomes,
                      n_plain_only=int(data["n_plain_only"]), seconds=float(data["seconds"]),
                      stored=True)


def stored_comparison(plain: checkpoints.Checkpoint, attention: checkpoints.Checkpoint,
                      lengths: list[int] | tuple[int, ...], n_per_length: int, seed: int,
                      directory: Path | None = None) -> Comparison:
    """:func:`seqrev.inspection.analysis.compare_models`, kept beside the attention checkpoint.

    The key names the plain checkpoint's hash too, so either model changing recomputes it.
    """
    lengths = sorted(set(int(n) for n in lengths))
    task = task_of(attention).spec
    key = (f"comparison plain={content_hash(plain)} lengths={lengths} n={n_per_length} "
           f"seed={seed}" + ("" if task == DEFAULT_TASK else f" task={task}"))
    return cached(attention, key,
                  lambda: compare_models(plain.model, attention.model, lengths, n_per_length,
                                         seed, task=task),
                  encode_comparison,
                  lambda data: decode_comparison(data, lengths, n_per_length, seed), directory)


DEFAULT_N_PER_LENGTH, DEFAULT_SEED = 100, 0


def default_lengths(plain: checkpoints.Checkpoint, attention: checkpoints.Checkpoint
                    ) -> tuple[int, int]:
    """The Attention page's first comparison: lengths 1 to twice the plain model's longest
    training string (at most 64), or 1 to 20 when the checkpoint does not say."""
    train = plain.train_config or attention.train_config
    return (1, min(2 * train.max_len, 64) if train else 20)


def precompute(plain: checkpoints.Checkpoint, attention: checkpoints.Checkpoint,
               directory: Path | None = None) -> None:
    """Store what the pages first show for this pair: both state maps, the default comparison."""
    stored_state_map(plain, directory)
    stored_state_map(attention, directory)
    low, high = default_lengths(plain, attention)
    stored_comparison(plain, attention, range(low, high + 1), DEFAULT_N_PER_LENGTH,
                      DEFAULT_SEED, directory)


if __name__ == "__main__":  # store the shipped pair's analysis
    torch.set_num_threads(1)
    precompute(checkpoints.load_checkpoint(checkpoints.SHIPPED_PLAIN),
               checkpoints.load_checkpoint(checkpoints.SHIPPED_ATTENTION))
    print(f"stored in {store_path(checkpoints.SHIPPED_ATTENTION).parent}")
