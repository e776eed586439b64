"""A sweep's own row in the run store, its trials' runs, and who drives it.

A sweep lives in the table ``sweeps`` of the run store's SQLite file; its trials are runs with
``source="sweep"`` and ``sweep_id`` set, their settings in ``extra["params"]``.

One driver at a time: a driver claims its sweep (``driver_pid`` and a heartbeat,
compare-and-set in one transaction: :func:`claim_driver`) before Ray starts, and beats while
Ray starts and the trials run. A second driver is refused with SweepBusyError naming the
first. A sweep whose driver pid is dead on this machine reads ``interrupted`` at once.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from seqrev.sweeps.spec import SweepError, SweepSpec, validate

if TYPE_CHECKING:  # capacity and pandas are imported where used: the CLI's start-up skips them
    import pandas as pd

SWEEP_STATUSES = ("created", "starting", "running", "stopping", "stopped", "finished",
                  "interrupted")
DRIVEN = ("starting", "running", "stopping")  # a driver holds the sweep (if it is alive)
DRIVER_BEAT_SECONDS = 2.0  # a driver's heartbeat, from its claim (Ray's start included) on


class SweepNotFound(SweepError):  # noqa: N818 (named like runs.RunNotFound)
    """No sweep has this id."""


class SweepBusyError(SweepError):
    """Another live driver holds this sweep."""


@dataclass(frozen=True)
class SweepRecord:
    id: str
    spec: SweepSpec
    status: str  # SWEEP_STATUSES; "running" with a stale heartbeat reads "interrupted"
    address: str | None
    n_trials: int
    created: float
    started: float | None
    updated: float
    finished: float | None
    heartbeat: float | None
    driver_pid: int | None
    stop_requested: bool
    wall_seconds: float
    note: str | None


def resolve_store(store=None):
    """``store``, or the default RunStore (``SEQREV_RUNS_DIR``) when it is None."""
    from seqrev.runs.store import RunStore

    return store if store is not None else RunStore()


@contextmanager
def _connect(store) -> Iterator[sqlite3.Connection]:
    """A store transaction; the sweeps table is the run store's (its schema has one owner)."""
    with store.transaction() as connection:
        yield connection


def _driver_alive(data: dict) -> bool:
    """The sweep's driver pid is alive here and has beaten recently (the runs' one rule)."""
    from seqrev.runs.store import beat_is_fresh, pid_alive

    return beat_is_fresh(data["heartbeat"]) and pid_alive(data["driver_pid"])


def _row_to_record(row: sqlite3.Row | tuple, names: list[str]) -> SweepRecord:
    data = dict(zip(names, row, strict=True))
    status = data["status"]
    if status in DRIVEN and not _driver_alive(data):
        status = "interrupted"
    return SweepRecord(
        id=data["id"], spec=SweepSpec.from_json(data["spec"]), status=status,
        address=data["address"], n_trials=data["n_trials"], created=data["created"],
        started=data["started"], updated=data["updated"], finished=data["finished"],
        heartbeat=data["heartbeat"], driver_pid=data["driver_pid"],
        stop_requested=bool(data["stop_requested"]), wall_seconds=data["wall_seconds"],
        note=data["note"])


def get_sweep(sweep_id: str, store=None) -> SweepRecord:
    """The sweep ``sweep_id``; SweepNotFound if there is none."""
    store = resolve_store(store)
    with _connect(store) as connection:
        cursor = connection.execute("SELECT * FROM sweeps WHERE id = ?", (str(sweep_id),))
        row = cursor.fetchone()
        names = [d[0] for d in cursor.description]
    if row is None:
        shown = str(sweep_id)[:40]
        raise SweepNotFound(f"no sweep with id {shown!r} (python -m seqrev sweep list)")
    return _row_to_record(row, names)


def list_sweeps(store=None) -> list[SweepRecord]:
    """All sweeps, newest first."""
    store = resolve_store(store)
    with _connect(store) as connection:
        cursor = connection.execute("SELECT * FROM sweeps ORDER BY created DESC")
        names = [d[0] for d in cursor.description]
        return [_row_to_record(row, names) for row in cursor.fetchall()]


def update_sweep(store, sweep_id: str, **values) -> None:
    """Set columns of the sweep's row (and ``updated``)."""
    values["updated"] = time.time()
    assignments = ", ".join(f"{k} = ?" for k in values)
    with _connect(store) as connection:
        connection.execute(f"UPDATE sweeps SET {assignments} WHERE id = ?",
                           (*values.values(), sweep_id))


def claim_driver(sweep_id: str, store=None, pid: int | None = None) -> SweepRecord:
    """Make ``pid`` (default: this process) the sweep's one driver; status ``starting``.

    Compare-and-set in one transaction: refused with SweepBusyError, naming the driver, while
    another live driver holds the sweep. Claiming again with the holder's own pid is allowed
    (``launch_driver`` claims for the process it starts, which then claims for itself), and
    keeps a stop asked for meanwhile.
    """
    store = resolve_store(store)
    pid = pid or os.getpid()
    with _connect(store) as connection:
        cursor = connection.execute("SELECT * FROM sweeps WHERE id = ?", (str(sweep_id),))
        row = cursor.fetchone()
        if row is None:
            raise SweepNotFound(f"no sweep with id {str(sweep_id)[:40]!r} "
                                "(python -m seqrev sweep list)")
        data = dict(zip([d[0] for d in cursor.description], row, strict=True))
        own = data["driver_pid"] == pid
        if data["status"] in DRIVEN and not own and _driver_alive(data):
            raise SweepBusyError(
                f"sweep {data['id']} is already being driven by pid {data['driver_pid']} "
                f"(heartbeat {time.time() - data['heartbeat']:.0f} s ago); stop it with "
                f"python -m seqrev sweep stop {data['id']}")
        now = time.time()
        connection.execute(
            "UPDATE sweeps SET status = 'starting', driver_pid = ?, heartbeat = ?, updated = ?, "
            "stop_requested = CASE WHEN ? THEN stop_requested ELSE 0 END, note = NULL "
            "WHERE id = ?", (pid, now, now, int(own and data["status"] in DRIVEN), data["id"]))
    return get_sweep(sweep_id, store)


def release_driver(sweep_id: str, store=None, note: str | None = None) -> None:
    """This process gives up a sweep it claimed but never ran (Ray did not start...)."""
    store = resolve_store(store)
    with _connect(store) as connection:
        connection.execute(
            "UPDATE sweeps SET status = 'interrupted', driver_pid = NULL, heartbeat = NULL, "
            "note = ?, updated = ? WHERE id = ? AND driver_pid = ? AND status = 'starting'",
            (note, time.time(), sweep_id, os.getpid()))


@contextmanager
def driving(sweep_id: str, store=None) -> Iterator[SweepRecord]:
    """Claim the sweep for this process and beat its heartbeat until the block ends.

    If the block fails before the sweep ran (e.g. Ray did not start), the claim is released
    and the sweep reads ``interrupted`` with the cause as its note.
    """
    store = resolve_store(store)
    record = claim_driver(sweep_id, store)
    done = threading.Event()

    def beat() -> None:
        while not done.wait(DRIVER_BEAT_SECONDS):
            with suppress(Exception), _connect(store) as connection:  # next beat retries
                connection.execute("UPDATE sweeps SET heartbeat = ? WHERE id = ? AND "
                                   "driver_pid = ?", (time.time(), record.id, os.getpid()))

    threading.Thread(target=beat, name="seqrev-sweep-driver", daemon=True).start()
    try:
        yield record
    except BaseException as error:
        with suppress(Exception):
            release_driver(record.id, store, note=str(error).splitlines()[0][:300]
                           if str(error) else type(error).__name__)
        raise
    finally:
        done.set()


def create_sweep(spec: SweepSpec, *, yes: bool = False, address: str | None = None,
                 store=None) -> SweepRecord:
    """Validate ``spec`` and record it; nothing is made if it is invalid.

    Trial runs are made when the driver starts each trial (status ``running``), never as
    ``queued``: the run store's own queue would otherwise claim them for a local worker.
    """
    validate(spec, yes=yes)
    store = resolve_store(store)
    sweep_id = "s" + secrets.token_hex(4)
    now = time.time()
    with _connect(store) as connection:
        connection.execute(
            "INSERT INTO sweeps (id, spec, status, address, n_trials, created, updated) "
            "VALUES (?, ?, 'created', ?, ?, ?, ?)",
            (sweep_id, spec.to_json(), address, spec.size, now, now))
    return get_sweep(sweep_id, store)


def trial_runs(sweep_id: str, store=None) -> dict[int, Any]:
    """The latest run of each trial index that has one (a rerun replaces a stopped run)."""
    store = resolve_store(store)
    latest: dict[int, Any] = {}
    for run in store.list_runs(sweep_id=sweep_id):  # oldest first
        latest[int(run.extra.get("trial", -1))] = run
    return latest


def request_stop(sweep_id: str, store=None) -> SweepRecord:
    """Ask the sweep's driver to stop its running trials; returns the updated record."""
    store = resolve_store(store)
    record = get_sweep(sweep_id, store)
    if record.status in DRIVEN:  # starting too: the driver sees it once Ray is up
        update_sweep(store, record.id, stop_requested=1, status="stopping")
    return get_sweep(sweep_id, store)


def stop_requested(store, sweep_id: str) -> bool:
    """Whether a stop was asked for the sweep (``request_stop``, from any process)."""
    with _connect(store) as connection:
        row = connection.execute("SELECT stop_requested FROM sweeps WHERE id = ?",
                                 (sweep_id,)).fetchone()
    return bool(row and row[0])


# -- progress and results -----------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    done: int  # finished trials
    running: int
    queued: int  # queued, stopped or interrupted: still to run
    failed: int
    total: int
    eta_seconds: float | None  # from the finished trials' mean wall time and the parallelism


def progress(sweep_id: str, store=None) -> Progress:
    """Counts of the sweep's trials by state, and a rough time to go."""
    store = resolve_store(store)
    record = get_sweep(sweep_id, store)
    runs = trial_runs(record.id, store)
    counts = {"finished": 0, "running": 0, "failed": 0}
    seconds = []
    for run in runs.values():
        if run.status in counts:
            counts[run.status] += 1
        if run.status == "finished":
            seconds.append(run.wall_seconds)
    queued = record.n_trials - sum(counts.values())
    eta = None
    if seconds and record.status in ("running", "stopping"):
        parallel = max(counts["running"], 1)
        eta = (queued + counts["running"] * 0.5) * (sum(seconds) / len(seconds)) / parallel
    return Progress(counts["finished"], counts["running"], queued, counts["failed"],
                    record.n_trials, eta)


def results(sweep_id: str, store=None) -> pd.DataFrame:
    """The finished trials' evaluation by length as capacity.COLUMNS rows."""
    import seqrev.inspection.capacity as capacity
    store = resolve_store(store)
    record = get_sweep(sweep_id, store)
    rows = []
    for run in store.list_runs(sweep_id=record.id, statuses=("finished",)):
        lengths = run.extra.get("lengths")
        if not lengths:
            continue
        settings = {**run.model_config.to_dict(), **run.train_config.to_dict()}
        rows.extend(capacity.trial_rows(record.id, run.id, settings, lengths,
                                        run.steps_done, run.wall_seconds))
    import pandas as pd  # the CLI imports this module for its parser alone

    return pd.DataFrame(rows, columns=list(capacity.COLUMNS))
