"""A write that the disk refused, named for the user: "disk full while saving the resumable state".

Every write point of a run (its metrics, its resumable state, a checkpoint, a sweep's results)
turns an ``OSError`` (or SQLite's "database or disk is full") into :class:`DiskWriteError`, whose
``str()`` is that one line. A run that hits one ends ``failed`` with the line as its error.

:func:`write_atomically` is the one way a file is replaced whole: a temp file beside it,
fsynced, renamed over it, so a reader sees the old file or the new one, never half.

When even the store cannot take the line, the worker writes it into a small file it reserved
in its run folder when it started (:func:`reserve_cause_file`): overwriting reserved bytes
needs no free space. The reaper reads it back (:func:`read_cause`) once the worker is gone.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from seqrev.i18n import N_, _

CAUSE_FILE = "failure-cause.json"
CAUSE_BYTES = 4096  # reserved up front; a cause line is far shorter

_PROBLEMS = {
    errno.ENOSPC: N_("disk full"),
    errno.EDQUOT: N_("disk quota exceeded"),
    errno.EROFS: N_("read-only file system"),
    errno.EIO: N_("disk input/output error"),
    errno.EFBIG: N_("file too large"),
}
_SQLITE_PROBLEMS = (("disk is full", N_("disk full")), ("readonly", N_("read-only file system")),
                    ("read-only", N_("read-only file system")),
                    ("disk i/o", N_("disk input/output error")))
# what the write points were doing (a caller's ``what``); a {name} is filled from ``values``
WRITE_POINTS = (N_("saving the resumable state"), N_("recording the metrics"),
                N_("starting the run"), N_("saving the sweep's results"),
                N_("saving checkpoint {name}"))


class DiskWriteError(Exception):
    """A write point failed; ``str()`` is "PROBLEM while WHAT" in the current language, one
    line, no path. ``problem`` and ``what`` keep the English words (the OS's own reason as it
    gives it), for code that asks which problem it was."""

    def __init__(self, problem: str, what: str, **values: object) -> None:
        super().__init__(_("{problem} while {what}").format(
            problem=_(problem), what=_(what).format(**values) if values else _(what)))
        self.problem, self.what = problem, what.format(**values) if values else what


def problem_of(error: BaseException) -> str | None:
    """"disk full" and the like (English, the catalogue's key) for a write error, or None if it
    is not a storage problem."""
    if isinstance(error, OSError):
        return _PROBLEMS.get(error.errno or 0) or (error.strerror or type(error).__name__)
    text = str(error).lower()
    if isinstance(error, sqlite3.Error) or "run store" in text:
        for needle, problem in _SQLITE_PROBLEMS:
            if needle in text:
                return problem
    return None


def as_disk_error(error: BaseException, what: str, **values: object) -> DiskWriteError | None:
    """``error`` as a DiskWriteError while doing ``what`` (one of WRITE_POINTS, its {name}
    filled from ``values``), if it is a storage problem."""
    if isinstance(error, DiskWriteError):
        return error
    problem = problem_of(error)
    return DiskWriteError(problem, what, **values) if problem else None


def _write_all(handle: BinaryIO, data: bytes) -> None:
    handle.write(data)


def fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` survive a power cut."""
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def write_atomically(target: Path, data: bytes, prefix: str | None = None,
                     suffix: str = ".tmp", sync_folder: bool = True,
                     write: Callable[[BinaryIO, bytes], None] = _write_all) -> Path:
    """Replace ``target`` with ``data``: a temp file in its folder (``prefix`` + random +
    ``suffix``; ``.NAME.`` by default), fsynced, made world-readable, renamed over ``target``.

    A failure removes the temp file and raises; ``target`` keeps its old content. ``write``
    is the one call that puts the bytes in (a fault test replaces it).
    """
    handle, temp_name = tempfile.mkstemp(prefix=prefix or f".{target.name}.", suffix=suffix,
                                         dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as temp_file:
            write(temp_file, data)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.chmod(temp_name, 0o644)  # mkstemp makes it owner-only
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    if sync_folder:
        fsync_folder(target.parent)
    return target


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
