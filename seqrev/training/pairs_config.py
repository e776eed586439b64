"""Training on a file of pairs: the settings the file decides, and an uploaded file kept where
a worker process can read it.

The file decides the task (``pairs``), the lengths (its training inputs') and the held-out set
(its split), so a run on pairs has no length curriculum and evaluates every held-out row.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

from seqrev.disk import write_atomically
from seqrev.tasks.pairs import PAIRS_TASK, PairsTask, parse_pairs, task_from_table
from seqrev.training.trainer import TrainConfig

KEPT_SUFFIXES = (".csv", ".tsv", ".tab")  # the parser reads the format from these
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def on_pairs(train_config: TrainConfig, path: Path, task: PairsTask) -> TrainConfig:
    """``train_config`` trained on the file at ``path`` (whose task is ``task``)."""
    return replace(train_config, task=PAIRS_TASK, pairs_file=str(path),
                   pairs_sha256=task.source_info["sha256"], min_len=task.min_len,
                   max_len=task.max_len, length_curriculum=0.0, length_weighting=0.0,
                   eval_size=len(task.held_out))


def keep_upload(data: bytes, name: str, folder: Path) -> tuple[Path, PairsTask]:
    """Check an uploaded file (PairsError, one line, if it can't be used), then keep it as
    ``folder/SHA/NAME`` so the run's worker reads exactly these bytes; returns the path and
    its task. Nothing is written for a refused file; the same upload twice is one file."""
    table = parse_pairs(data, name)  # refuses before anything is written
    stem = _UNSAFE.sub("-", Path(name).stem).strip(".-")[:60] or "pairs"
    suffix = Path(name).suffix.lower()
    safe_name = stem + (suffix if suffix in KEPT_SUFFIXES else ".txt")
    digest = hashlib.sha256(data).hexdigest()
    path = folder / digest[:16] / safe_name
    if not (path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)
    return path, task_from_table(table)
