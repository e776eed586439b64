"""Launching queued runs as worker processes, at most ``max_running()`` at a time.

The server calls :func:`launch_pending` when a run is queued, on every poll and once at
start; a worker calls it as it ends, so the queue drains with no page open. Claiming is one
SQLite transaction, so two callers never start the same run.

:func:`spawn_detached` is the one way seqrev starts a process that outlives the page that
asked for it: a run's worker here, a sweep's driver in ``seqrev.sweeps.driver``.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
import threading
from pathlib import Path

from seqrev.i18n import _
from seqrev.runs.store import QueueLimits, RunStore, RunStoreError, StartRefusedError

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_THREADS = 1  # each worker's torch threads: the server keeps a core for the pages
_children: list[subprocess.Popen] = []


def max_running() -> int:
    """``$SEQREV_MAX_RUNNING``, else one worker per core minus one for the server (>= 1)."""
    configured = os.environ.get("SEQREV_MAX_RUNNING", "").strip()
    if configured.isdigit() and int(configured) >= 1:
        return int(configured)
    return max(1, (os.cpu_count() or 1) - 1)


def reap_children() -> None:
    """Collect finished worker processes so none lingers as a zombie."""
    _children[:] = [child for child in _children if child.poll() is None]


def spawn_detached(command: list[str], log_path: Path | None = None,
                   env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``command`` in the repository root, in its own session (a Ctrl-C or a closed
    server does not reach it), with no stdin and its output appended to ``log_path`` (or
    dropped). A daemon thread waits for it, so it never lingers as a zombie. OSError if it
    cannot start."""
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        child = subprocess.Popen(command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True, env=env)
    finally:
        if log_path:
            log.close()
    _children.append(child)
    threading.Thread(target=child.wait, name="seqrev-reaper", daemon=True).start()
    return child


def worker_command(run_ids: list[str], threads: int = WORKER_THREADS) -> list[str]:
    command = [sys.executable, "-m", "seqrev", "train", "--quiet", "--threads", str(threads)]
    for run_id in run_ids:
        command += ["--run", run_id]
    return command


def launch_pending(store: RunStore, limit: int | None = None) -> list[list[str]]:
    """Mark dead workers' runs interrupted, then start queued runs up to the limit.

    Returns the groups of run ids started.
    """
    reap_children()
    store.reap()
    started = []
    for run_ids in store.claim_next(limit or max_running()):
        folder = store.run_folder(run_ids[0])
        try:
            folder.mkdir(parents=True, exist_ok=True)
            child = spawn_detached(worker_command(run_ids), folder / "worker.log",
                                   env={**os.environ, "SEQREV_RUNS_DIR": str(store.root)})
        except OSError as error:
            for run_id in run_ids:
                store.set_status(run_id, "failed", error=_(
                    "could not start a worker: {reason}").format(reason=error))
            continue
        store.attach_worker(run_ids[0], child.pid)
        for run_id in run_ids[1:]:
            store.attach_worker(run_id, child.pid)
        started.append(run_ids)
    return started


def try_launch_pending(store: RunStore) -> str | None:
    """:func:`launch_pending`, returning a one-line problem instead of raising."""
    try:
        launch_pending(store)
    except RunStoreError as error:
        return str(error)
    return None


RESUMABLE = ("stopped", "interrupted", "failed")


class RunTooLongError(StartRefusedError):
    """On a shared server, settings whose estimated run time is over the limit."""


def max_run_minutes() -> float:
    """``$SEQREV_MAX_RUN_MINUTES`` (default 30): the longest estimated run a shared server takes."""
    text = os.environ.get("SEQREV_MAX_RUN_MINUTES", "").strip()
    try:
        value = float(text)
    except ValueError:
        return 30.0
    return value if value > 0 else 30.0


def shared_server() -> bool:
    """``$SEQREV_SHARED`` is set (and not 0): the server answers other machines' browsers."""
    return os.environ.get("SEQREV_SHARED", "").strip() not in ("", "0")


def local_owner() -> str:
    """The owner of runs started by this machine's user (the CLI, a local browser)."""
    try:
        return "user:" + getpass.getuser()
    except (KeyError, OSError):
        return f"user:{os.getuid()}"


def check_run_time(model_configs, train_config) -> None:
    """On a shared server, RunTooLongError if the estimated run time is over the limit."""
    from seqrev.runs.history import format_duration
    from seqrev.training.cost import estimated_seconds

    if not shared_server():
        return
    seconds = estimated_seconds(model_configs, train_config)
    limit = max_run_minutes()
    if seconds > limit * 60:
        raise RunTooLongError(_(
            "Start refused: these settings would train for about {time} here, over the {limit} "
            "minutes a run may take on this shared server (SEQREV_MAX_RUN_MINUTES). Use fewer "
            "steps, a smaller model or shorter strings.").format(
                time=format_duration(seconds), limit=f"{limit:g}"))


def submit(store: RunStore, model_configs, train_config, *, token: str | None = None,
           source: str = "app", owner: str | None = None,
           limits: QueueLimits | None = None) -> list:
    """Queue one run per model config (two share a group id: a race) and start what fits.

    ``owner`` (a browser's key, default this machine's user) may have at most
    ``limits.per_owner`` workers queued or running, and the server ``limits.queued`` queued
    (default: ``QueueLimits.from_environment()``); on a shared server a run estimated over
    ``max_run_minutes()`` is refused. Refusals raise a StartRefusedError whose text says
    which limit and how many runs are ahead. Returns the new runs, re-read after launching,
    plain first.
    """
    from seqrev.runs.store import new_token

    check_run_time(model_configs, train_config)
    store.reap()  # a dead worker's run no longer counts against its owner
    group_id = "g" + new_token()[:9] if len(model_configs) > 1 else None
    runs = store.create_queued(sorted(model_configs, key=lambda c: c.kind != "plain"),
                               train_config, owner=owner or local_owner(),
                               limits=limits or QueueLimits.from_environment(),
                               group_id=group_id, source=source, token=token)
    launch_pending(store)
    return [store.get(run.id) for run in runs]


def can_resume(run) -> bool:
    """A stopped, interrupted or failed run that is not a sweep's trial (its sweep resumes it)."""
    return run.status in RESUMABLE and run.sweep_id is None


def resume(store: RunStore, run) -> None:
    """Queue ``run`` (and the runs racing it) again from their last saved state."""
    for member in store.group(run):
        store.set_status(member.id, "queued", only_from=RESUMABLE)
    launch_pending(store)
