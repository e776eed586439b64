"""A write that the disk refused, named for the user: "disk full while saving the resumable state".

Every write point of a run (its metrics, its resumable state, a checkpoint, a sweep's results)
turns an ``OSError`` (or SQLite's "database or disk is full") into :class:`DiskWriteError`, whose
``str()`` is that one line. A run that hits one ends ``failed`` with the line as its error.

When even the store cannot take the line, the worker writes it into a small file it reserved
in its run folder when it started (:func:`reserve_cause_file`): overwriting reserved bytes
needs no free space. The reaper reads it back (:func:`read_cause`) once the worker is gone.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from pathlib import Path

CAUSE_FILE = "failure-cause.json"
CAUSE_BYTES = 4096  # reserved up front; a cause line is far shorter

_PROBLEMS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EIO: "disk input/output error",
    errno.EFBIG: "file too large",
}
_SQLITE_PROBLEMS = (("disk is full", "disk full"), ("readonly", "read-only file system"),
                    ("read-only", "read-only file system"), ("disk i/o", "disk input/output error"))


class DiskWriteError(Exception):
    """A write point failed; ``str()`` is "PROBLEM while WHAT", one line, no path."""

    def __init__(self, problem: str, what: str) -> None:
        super().__init__(f"{problem} while {what}")
        self.problem, self.what = problem, what


def problem_of(error: BaseException) -> str | None:
    """"disk full" and the like for a write error, or None if it is not a storage problem."""
    if isinstance(error, OSError):
        return _PROBLEMS.get(error.errno or 0) or (error.strerror or type(error).__name__)
    text = str(error).lower()
    if isinstance(error, sqlite3.Error) or "run store" in text:
        for needle, problem in _SQLITE_PROBLEMS:
            if needle in text:
                return problem
    return None


def as_disk_error(error: BaseException, what: str) -> DiskWriteError | None:
    """``error`` as a DiskWriteError while doing ``what``, if it is a storage problem."""
    if isinstance(error, DiskWriteError):
        return error
    problem = problem_of(error)
    return DiskWriteError(problem, what) if problem else None


def reserve_cause_file(folder: Path) -> None:
    """Make ``folder/CAUSE_FILE`` hold CAUSE_BYTES of blanks (no cause), so it can be
    written later on a full disk. Best effort: a folder that can't take it has no reserve."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / CAUSE_FILE, "wb") as handle:
            handle.write(b" " * CAUSE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        pass


def write_cause(folder: Path, cause: str) -> bool:
    """Put ``cause`` into the reserved bytes (no new space needed); True if it was written."""
    data = json.dumps({"cause": cause[:1000]}).encode()
    data = data[:CAUSE_BYTES].ljust(CAUSE_BYTES, b" ")
    try:
        with open(folder / CAUSE_FILE, "r+b") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return True
    except OSError:
        return False


def read_cause(folder: Path) -> str | None:
    """The cause a dead worker left in ``folder``, or None (no file, blank or malformed)."""
    try:
        text = (folder / CAUSE_FILE).read_bytes()[:CAUSE_BYTES].decode("utf-8").strip()
        cause = json.loads(text)["cause"] if text else None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    return " ".join(cause.split())[:1000] if isinstance(cause, str) and cause.strip() else None
