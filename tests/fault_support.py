"""Faults on demand for the fault suite and bench/faults.py: a full disk at one write point,
a store SQLite itself refuses to grow or write, and a kill -9 in the middle of a write.

A full disk is injected as the OSError(ENOSPC) the write call would raise (a tmpfs needs
root); a full store is real SQLite, told by pragmas to refuse (``max_page_count``: it can't
grow; ``query_only``: it can't write at all).
"""

from __future__ import annotations

import errno
import io
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import seqrev.cli.main as cli

ROOT = Path(__file__).resolve().parent.parent
TINY_FLAGS = ["--steps", "30", "--batch-size", "8", "--hidden-dim", "16", "--embedding-dim",
              "8", "--min-len", "1", "--max-len", "5", "--eval-every", "10", "--eval-size", "20",
              "--quiet"]
WRITE_POINTS = ("metrics", "state", "checkpoint", "sweep results")
FILLER_STEP = 10**6  # FullStore.fill's rows start here


def disk_full() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FullStore:
    """Patches ``RunStore.connect`` so that, once ``mode`` is set, SQLite refuses writes.

    ``"grow"``: the database can't take a new page (SQLITE_FULL: "database or disk is full");
    ``"write"``: no write at all (the disk can't even take a status change).
    """

    def __init__(self, monkeypatch) -> None:
        from seqrev.runs.store import RunStore

        self.mode: str | None = None
        original = RunStore.connect

        def connect(store) -> sqlite3.Connection:
            connection = original(store)
            if self.mode == "grow":
                pages = connection.execute("PRAGMA page_count").fetchone()[0]
                connection.execute(f"PRAGMA max_page_count = {pages}")
            elif self.mode == "write":
                connection.execute("PRAGMA query_only = 1")
            return connection

        monkeypatch.setattr(RunStore, "connect", connect)

    def fill(self, store, run_id: str) -> int:
        """Grow-mode on, then insert filler steps far past ``run_id``'s end (the b-tree page
        its next rows go to) until SQLite says it is full; returns how many went in. A resume
        drops them with the rest of the history past its saved state."""
        self.mode = "grow"
        connection = store.connect()
        added = 0
        try:
            while True:
                connection.execute("INSERT INTO steps VALUES (?, ?, 1, 1, 0, 0, 0)",
                                   (run_id, FILLER_STEP + added))
                added += 1
        except sqlite3.OperationalError as error:
            assert "full" in str(error), error
        finally:
            connection.close()
        return added


def inject_at(monkeypatch, point: str, after: int = 1, error: OSError | None = None) -> dict:
    """Make the ``after``-th and later writes at ``point`` ("state", "checkpoint") fail with
    ENOSPC; returns a counter the test can read and switch off (``counter["on"] = False``)."""
    import seqrev.checkpoints.store as checkpoints
    import seqrev.runs.state as run_state

    counter = {"calls": 0, "on": True}
    module, name = {"state": (run_state, "write_bytes"),
                    "checkpoint": (checkpoints, "_write_atomically")}[point]
    original = getattr(module, name)

    def failing(*args, **kwargs):
        counter["calls"] += 1
        if counter["on"] and counter["calls"] >= after:
            raise error or disk_full()
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, failing)
    return counter


# -- kill -9 in the middle of a write, in a child process ----------------------------------

_KILL_PRELUDE = textwrap.dedent('''
    import os, signal, sys
    def die():
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
''')

KILL_PATCHES = {
    # half of the state's bytes are in the temp file when the writer dies
    "state": '''
import seqrev.runs.state as run_state
def write_bytes(handle, blob, calls=[0]):
    calls[0] += 1
    if calls[0] >= 2:
        handle.write(blob[: len(blob) // 2]); handle.flush(); die()
    handle.write(blob)
run_state.write_bytes = write_bytes
import seqrev.runs.worker as worker
worker.STATE_SECONDS = 0.0
''',
    # the metrics' rows are inserted, the transaction not committed
    "metrics": '''
import seqrev.runs.store as runs
import seqrev.runs.worker as worker
worker.FLUSH_SECONDS = 0.0
original = runs.RunStore.record_progress
def record_progress(self, run_id, steps, evals, *, steps_done, wall_seconds, calls=[0]):
    calls[0] += 1
    if calls[0] >= 5:
        connection = self.connect()
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany("INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?)",
                               [(run_id, e.step, e.loss, e.loss, e.learning_rate,
                                 e.step_seconds, e.elapsed) for e in steps])
        die()
    return original(self, run_id, steps, evals, steps_done=steps_done,
                    wall_seconds=wall_seconds)
runs.RunStore.record_progress = record_progress
''',
    # the checkpoint's temp file is written, not yet renamed into place
    "checkpoint": '''
import seqrev.checkpoints.store as checkpoints
real_fsync = os.fsync
def fsync(fd):
    real_fsync(fd)
    if any(p.name.endswith(".tmp") for p in checkpoints.CHECKPOINT_DIR.iterdir()):
        die()
checkpoints.os.fsync = fsync
''',
}


def kill_script(point: str, argv: list[str]) -> str:
    """Python source that runs ``python -m seqrev ARGV`` and kills itself mid-write at ``point``."""
    return (_KILL_PRELUDE + KILL_PATCHES[point]
            + f"\nfrom seqrev.cli.main import main\nsys.exit(main({argv!r}))\n")


def run_killed(point: str, argv: list[str], env: dict[str, str],
               timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``kill_script`` in a child; it ends by SIGKILL (returncode -9) at the write point."""
    return subprocess.run([sys.executable, "-c", kill_script(point, argv)], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout, check=False)


def killed(result: subprocess.CompletedProcess) -> bool:
    return result.returncode == -signal.SIGKILL


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``python -m seqrev ARGV`` in this process; an exception escaping it is a traceback."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()
