"""The run store: every training run, its configs, status and full history, in SQLite.

One database file, ``runs.sqlite3`` in the runs folder (``$SEQREV_RUNS_DIR``, else ``runs/``
beside ``checkpoints/``), in WAL mode so the server reads while workers write. Each run has
exactly one writer of its metrics: the worker process training it. The server only creates
runs, asks them to stop, and reads. A run's resumable state lives beside the database in
``RUN_ID/state.safetensors`` (see ``seqrev.runs.worker``).

A running run whose recorded worker pid is dead on this machine is interrupted by the next
reader that reaps (``train --resume``, ``runs``, the pages), at once; one whose worker is on
another machine, or not yet attached, after STALE_SECONDS without a heartbeat.

Longer than one screen because the store's schema (the sweeps' table included), queue caps and
liveness rules are kept in one transaction-owning class: the one owner of a run's lifecycle,
whether a worker, a sweep trial or the CLI made it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqrev.i18n import N_, _
from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.smoothing import LossSmoother
from seqrev.training.trainer import SAVED_BEFORE, EvalEvent, StepEvent, TrainConfig

if TYPE_CHECKING:
    import pandas as pd

RUN_STATUSES = ("queued", "running", "stopped", "finished", "interrupted", "failed")
ACTIVE = ("queued", "running")
STALE_SECONDS = 10.0  # a running run with no local worker pid is interrupted after this
GONE_SILENTLY = N_("the worker stopped answering (killed, out of memory or power loss); resume "
                    "it from its last saved state")
_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
HOST = socket.gethostname()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    model_config TEXT NOT NULL,
    train_config TEXT NOT NULL,
    group_id TEXT,
    sweep_id TEXT,
    source TEXT NOT NULL,
    token_hash TEXT,
    steps_done INTEGER NOT NULL DEFAULT 0,
    steps_total INTEGER NOT NULL,
    exact_match REAL,
    best_exact_match REAL,
    wall_seconds REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    started REAL,
    updated REAL NOT NULL,
    finished REAL,
    heartbeat REAL,
    pid INTEGER,
    host TEXT,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    checkpoint TEXT,
    error TEXT,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    loss REAL NOT NULL,
    smoothed_loss REAL NOT NULL,
    learning_rate REAL NOT NULL,
    step_seconds REAL NOT NULL,
    wall_seconds REAL NOT NULL,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS evals (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    exact_match REAL NOT NULL,
    char_accuracy REAL NOT NULL,
    fine_accuracy REAL NOT NULL,
    wall_seconds REAL NOT NULL,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    address TEXT,
    n_trials INTEGER NOT NULL,
    created REAL NOT NULL,
    started REAL,
    updated REAL NOT NULL,
    finished REAL,
    heartbeat REAL,
    driver_pid INTEGER,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    wall_seconds REAL NOT NULL DEFAULT 0,
    note TEXT
);
"""  # the one schema of the store: runs, their history, and sweeps (seqrev.sweeps.store)
STEP_COLUMNS = ["step", "loss", "smoothed_loss", "learning_rate", "step_seconds", "wall_seconds"]
EVAL_COLUMNS = ["step", "exact_match", "char_accuracy", "fine_accuracy", "wall_seconds"]


class RunStoreError(Exception):
    """The store is corrupt, locked or unwritable; ``str()`` is one line for the user, in the
    current language. ``cause`` is the database's own error, when there is one: its English
    text names the problem (disk full, read-only) for ``seqrev.disk``."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class RunNotFound(RunStoreError):  # noqa: N818  (the name the API promised)
    """No run has that id."""


class StartRefusedError(Exception):
    """Start was refused (a queue limit, a run too long); ``str()`` is one line for the user."""


class QueueLimitError(StartRefusedError):
    """An owner, or the whole server, already has as many runs waiting as allowed."""


@dataclass(frozen=True)
class QueueLimits:
    """How many workers (a race is one) may be queued or running: per owner, and queued in all."""

    per_owner: int = 3
    queued: int = 20

    @classmethod
    def from_environment(cls) -> QueueLimits:
        """``$SEQREV_MAX_QUEUED_PER_OWNER`` and ``$SEQREV_MAX_QUEUED`` over the defaults."""
        def read(name: str, default: int) -> int:
            text = os.environ.get(name, "").strip()
            return int(text) if text.isdigit() and int(text) >= 1 else default
        return cls(read("SEQREV_MAX_QUEUED_PER_OWNER", cls.per_owner),
                   read("SEQREV_MAX_QUEUED", cls.queued))


def runs_dir() -> Path:
    """``$SEQREV_RUNS_DIR``, else ``runs/`` beside ``checkpoints/``."""
    configured = os.environ.get("SEQREV_RUNS_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "runs"


def new_token() -> str:
    """A control token: whoever holds it may stop, resume or delete the run."""
    return secrets.token_urlsafe(16)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_id() -> str:
    return "r" + "".join(secrets.choice(_ID_ALPHABET) for _letter in range(9))


def valid_run_id(text: str) -> bool:
    """True for text shaped like a run id (no lookup)."""
    return (isinstance(text, str) and len(text) == 10 and text[0] == "r"
            and all(c in _ID_ALPHABET for c in text[1:]))


def pid_alive(pid: int | None) -> bool:
    """True if ``pid`` is a live process on this host (a zombie counts as dead)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def beat_is_fresh(beat: float | None, now: float | None = None,
                  stale_after: float = STALE_SECONDS) -> bool:
    """Whether a heartbeat at ``beat`` (unix time) is recent enough that its process counts as
    alive: the one staleness rule of run workers and sweep drivers."""
    return beat is not None and (time.time() if now is None else now) - beat <= stale_after


@dataclass(frozen=True)
class RunRecord:
    """One run as stored."""

    id: str
    status: str
    kind: str
    model_config: ModelConfig
    train_config: TrainConfig
    group_id: str | None
    sweep_id: str | None
    source: str  # "app", "cli" or "sweep"
    steps_done: int
    steps_total: int
    exact_match: float | None  # last held-out evaluation
    best_exact_match: float | None
    wall_seconds: float  # real wall time trained, over every segment
    created: float  # unix time
    started: float | None
    updated: float
    finished: float | None
    checkpoint: str | None
    error: str | None
    extra: dict = field(default_factory=dict)
    heartbeat: float | None = None
    pid: int | None = None
    host: str | None = None
    stop_requested: bool = False

    @property
    def silent(self) -> bool:
        """Running, but its worker is dead on this machine or has not beaten for STALE_SECONDS."""
        if self.status != "running":
            return False
        if self.worker_dead:
            return True
        return not beat_is_fresh(self.heartbeat or self.updated)

    @property
    def worker_dead(self) -> bool:
        """Running, with a recorded worker pid on this machine that is no longer alive."""
        return (self.status == "running" and self.host == HOST and bool(self.pid)
                and not pid_alive(self.pid))

    @property
    def steps_per_second(self) -> float | None:
        """Real progress per wall second of this run."""
        return self.steps_done / self.wall_seconds if self.wall_seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the ``runs --json`` object)."""
        return {
            "id": self.id, "status": self.status, "model": self.kind,
            "steps_done": self.steps_done, "steps_total": self.steps_total,
            "exact_match": self.exact_match, "best_exact_match": self.best_exact_match,
            "wall_seconds": round(self.wall_seconds, 3), "steps_per_second":
                None if self.steps_per_second is None else round(self.steps_per_second, 3),
            "group_id": self.group_id, "sweep_id": self.sweep_id, "source": self.source,
            "started": self.started, "updated": self.updated, "created": self.created,
            "finished": self.finished, "checkpoint": self.checkpoint, "error": self.error,
            "model_config": self.model_config.to_dict(),
            "train_config": self.train_config.to_dict(), "extra": self.extra,
        }


@dataclass(frozen=True)
class RunHistory:
    """A run's metrics: one row per step and one per held-out evaluation."""

    steps: pd.DataFrame  # STEP_COLUMNS
    evals: pd.DataFrame  # EVAL_COLUMNS


def _record(row: sqlite3.Row) -> RunRecord:
    model = json.loads(row["model_config"])
    train = json.loads(row["train_config"])
    return RunRecord(
        id=row["id"], status=row["status"], kind=row["kind"],
        model_config=ModelConfig(**model),
        train_config=TrainConfig(**{**SAVED_BEFORE, **train}),
        group_id=row["group_id"], sweep_id=row["sweep_id"], source=row["source"],
        steps_done=row["steps_done"], steps_total=row["steps_total"],
        exact_match=row["exact_match"], best_exact_match=row["best_exact_match"],
        wall_seconds=row["wall_seconds"], created=row["created"], started=row["started"],
        updated=row["updated"], finished=row["finished"], checkpoint=row["checkpoint"],
        error=row["error"], extra=json.loads(row["extra"] or "{}"),
        heartbeat=row["heartbeat"], pid=row["pid"], host=row["host"],
        stop_requested=bool(row["stop_requested"]),
    )


class RunStore:
    """Runs, their status and history; safe to use from many processes at once."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else runs_dir()
        self.db_path = self.root / "runs.sqlite3"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunStoreError(_("run store: cannot create the runs folder ({reason})").format(
                reason=error.strerror or error), error) from None
        connection = self.connect()
        try:
            connection.executescript(_SCHEMA)  # commits on its own
        except sqlite3.Error as error:
            raise RunStoreError(self._describe(error), error) from None
        finally:
            connection.close()

    # connections

    def connect(self) -> sqlite3.Connection:
        """A new connection in WAL mode with a busy timeout; rows read as ``sqlite3.Row``."""
        try:
            connection = sqlite3.connect(self.db_path, timeout=5.0, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA busy_timeout = 5000")
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise sqlite3.OperationalError(_("the journal mode is {mode}, not WAL").format(
                    mode=mode))
            connection.execute("PRAGMA synchronous = NORMAL")
            return connection
        except sqlite3.Error as error:
            raise RunStoreError(self._describe(error), error) from None

    def _describe(self, error: BaseException) -> str:
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        return _("run store ({file}): {error}").format(file=self.db_path.name, error=text)

    @contextmanager
    def transaction(self, immediate: bool = True):
        """One write transaction on a new connection, closed afterwards; other modules' own
        tables use it too. A database error becomes a one-line RunStoreError."""
        connection = self.connect()
        try:
            connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            yield connection
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise RunStoreError(self._describe(error), error) from None
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()

    def _read(self, sql: str, parameters: Iterable = ()) -> list[sqlite3.Row]:
        connection = self.connect()
        try:
            return connection.execute(sql, tuple(parameters)).fetchall()
        except sqlite3.Error as error:
            raise RunStoreError(self._describe(error), error) from None
        finally:
            connection.close()

    # writing

    def create_run(
        self, model_config: ModelConfig, train_config: TrainConfig, *,
        group_id: str | None = None, sweep_id: str | None = None, source: str = "cli",
        status: str = "queued", token: str | None = None, extra: dict | None = None,
    ) -> RunRecord:
        """A new run; ``token`` (if given) is the control token, stored only as a hash."""
        if status not in RUN_STATUSES:
            raise ValueError(_("unknown status {status}").format(status=repr(status)))
        with self.transaction() as connection:
            run_id = self._insert(connection, model_config, train_config, group_id=group_id,
                                  sweep_id=sweep_id, source=source, status=status,
                                  token=token, extra=extra)
        return self.get(run_id)

    def create_queued(
        self, model_configs: Sequence[ModelConfig], train_config: TrainConfig, *,
        owner: str, limits: QueueLimits, group_id: str | None = None, source: str = "app",
        token: str | None = None,
    ) -> list[RunRecord]:
        """Queue one run per config (one worker) for ``owner``, unless a limit is reached.

        The counts and the insert are one transaction, so quick repeated Starts can't slip
        past a limit. Raises QueueLimitError naming the limit and how many runs are ahead.
        """
        with self.transaction() as connection:
            rows = connection.execute(
                "SELECT status, COALESCE(group_id, id) AS worker, "
                "json_extract(extra, '$.owner') AS owner FROM runs "
                "WHERE status IN ('queued', 'running')").fetchall()
            queued = {r["worker"] for r in rows if r["status"] == "queued"}
            mine = {r["worker"] for r in rows if r["owner"] == owner}
            if len(mine) >= limits.per_owner:
                raise QueueLimitError(_(
                    "Start refused: you already have {n} runs queued or running, the limit per "
                    "person ({limit}, SEQREV_MAX_QUEUED_PER_OWNER). Stop one or wait for one to "
                    "finish; {ahead} runs are ahead in the queue.").format(
                        n=len(mine), limit=limits.per_owner, ahead=len(queued)))
            if len(queued) >= limits.queued:
                raise QueueLimitError(_(
                    "Start refused: the queue is full with {n} runs waiting, the limit of this "
                    "server ({limit}, SEQREV_MAX_QUEUED). Try again once some have started; "
                    "{ahead} runs are ahead in the queue.").format(
                        n=len(queued), limit=limits.queued, ahead=len(queued)))
            ids = [self._insert(connection, config, train_config, group_id=group_id,
                                source=source, status="queued", token=token,
                                extra={"owner": owner})
                   for config in model_configs]
        return [self.get(run_id) for run_id in ids]

    @staticmethod
    def _insert(connection: sqlite3.Connection, model_config: ModelConfig,
                train_config: TrainConfig, *, group_id: str | None, sweep_id: str | None = None,
                source: str, status: str, token: str | None, extra: dict | None) -> str:
        now = time.time()
        run_id = _new_id()
        connection.execute(
            "INSERT INTO runs (id, status, kind, model_config, train_config, group_id, "
            "sweep_id, source, token_hash, steps_total, created, updated, started, "
            "heartbeat, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, status, model_config.kind, json.dumps(model_config.to_dict()),
             json.dumps(train_config.to_dict()), group_id, sweep_id, source,
             _hash_token(token) if token else None, train_config.steps, now, now,
             now if status == "running" else None, now if status == "running" else None,
             json.dumps(extra or {})))
        return run_id

    def set_status(self, run_id: str, status: str, *, error: str | None = None,
                   only_from: Iterable[str] | None = None) -> bool:
        """Move a run to ``status`` (from one of ``only_from`` if given); True if it moved."""
        if status not in RUN_STATUSES:
            raise ValueError(_("unknown status {status}").format(status=repr(status)))
        now = time.time()
        clauses, parameters = "", []
        if only_from is not None:
            allowed = list(only_from)
            clauses = f" AND status IN ({', '.join('?' * len(allowed))})"
            parameters = allowed
        with self.transaction() as connection:
            cursor = connection.execute(
                "UPDATE runs SET status = ?, error = ?, updated = ?, "
                "started = CASE WHEN ? = 'running' THEN COALESCE(started, ?) ELSE started END, "
                "heartbeat = CASE WHEN ? = 'running' THEN ? ELSE heartbeat END, "
                "pid = CASE WHEN ? = 'running' THEN NULL ELSE pid END, "
                "finished = CASE WHEN ? IN ('finished', 'failed', 'stopped', 'interrupted') "
                "THEN ? ELSE NULL END, "
                "stop_requested = CASE WHEN ? IN ('running', 'queued') THEN 0 "
                "ELSE stop_requested END "
                "WHERE id = ?" + clauses,
                (status, error, now, status, now, status, now, status, status, now, status,
                 run_id, *parameters))
            if cursor.rowcount == 0 and only_from is None:
                raise RunNotFound(_("no run {run}").format(run=repr(run_id)))
            return cursor.rowcount > 0

    def attach_worker(self, run_id: str, pid: int) -> None:
        """Record the worker process that now trains ``run_id``."""
        now = time.time()
        with self.transaction() as connection:
            connection.execute("UPDATE runs SET pid = ?, host = ?, heartbeat = ?, updated = ? "
                               "WHERE id = ?", (pid, HOST, now, now, run_id))

    def heartbeat(self, run_ids: Iterable[str]) -> list[str]:
        """Mark ``run_ids`` alive; returns the ids whose stop was asked for."""
        ids = list(run_ids)
        marks = ", ".join("?" * len(ids))
        with self.transaction() as connection:
            connection.execute(f"UPDATE runs SET heartbeat = ? WHERE id IN ({marks})",
                               (time.time(), *ids))
            rows = connection.execute(
                f"SELECT id FROM runs WHERE stop_requested = 1 AND id IN ({marks})", ids)
            return [row["id"] for row in rows]

    def record_progress(
        self, run_id: str, steps: Sequence[StepEvent], evals: Sequence[EvalEvent], *,
        steps_done: int, wall_seconds: float,
    ) -> None:
        """Append a run's training events and move its counters, in one transaction (also a
        heartbeat).

        Each event is stored as it is, its ``elapsed`` being the run's wall time at that event.
        The smoothed loss is the store's: it goes on from the run's last stored step, so a
        worker, a sweep trial and a resumed run all draw one curve by one rule.
        """
        eval_rows = [(run_id, e.step, e.exact_match, e.char_accuracy, e.fine_accuracy, e.elapsed)
                     for e in evals]
        now = time.time()
        with self.transaction() as connection:
            last = connection.execute("SELECT step, smoothed_loss FROM steps WHERE run_id = ? "
                                      "AND step < ? ORDER BY step DESC LIMIT 1",
                                      (run_id, steps[0].step if steps else 0)).fetchone()
            smoother = (LossSmoother.resumed(last["smoothed_loss"], last["step"]) if last
                        else LossSmoother())
            step_rows = [(run_id, e.step, e.loss, smoother.update(e.loss), e.learning_rate,
                          e.step_seconds, e.elapsed) for e in steps]
            connection.executemany(
                "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?, ?)", step_rows)
            connection.executemany(
                "INSERT OR REPLACE INTO evals VALUES (?, ?, ?, ?, ?, ?)", eval_rows)
            last_exact = eval_rows[-1][2] if eval_rows else None
            best = max((r[2] for r in eval_rows), default=None)
            connection.execute(
                "UPDATE runs SET steps_done = ?, wall_seconds = ?, updated = ?, heartbeat = ?, "
                "exact_match = COALESCE(?, exact_match), "
                "best_exact_match = CASE WHEN ? IS NULL THEN best_exact_match "
                "WHEN best_exact_match IS NULL OR ? > best_exact_match THEN ? "
                "ELSE best_exact_match END WHERE id = ?",
                (steps_done, wall_seconds, now, now, last_exact, best, best, best, run_id))

    def truncate_history(self, run_id: str, after_step: int) -> None:
        """Drop metrics past ``after_step`` (a resume goes on from its last saved state)."""
        with self.transaction() as connection:
            connection.execute("DELETE FROM steps WHERE run_id = ? AND step > ?",
                               (run_id, after_step))
            connection.execute("DELETE FROM evals WHERE run_id = ? AND step > ?",
                               (run_id, after_step))
            row = connection.execute(
                "SELECT MAX(exact_match) AS best, "
                "(SELECT exact_match FROM evals WHERE run_id = ? ORDER BY step DESC LIMIT 1) "
                "AS last FROM evals WHERE run_id = ?", (run_id, run_id)).fetchone()
            connection.execute(
                "UPDATE runs SET steps_done = MIN(steps_done, ?), exact_match = ?, "
                "best_exact_match = ? WHERE id = ?",
                (after_step, row["last"], row["best"], run_id))

    def request_stop(self, run_id: str) -> str:
        """Ask a run to stop: a queued run stops at once, a running one within a second.

        Returns the run's status afterwards.
        """
        with self.transaction() as connection:
            row = connection.execute("SELECT status FROM runs WHERE id = ?",
                                     (run_id,)).fetchone()
            if row is None:
                raise RunNotFound(_("no run {run}").format(run=repr(run_id)))
            now = time.time()
            if row["status"] == "queued":
                connection.execute("UPDATE runs SET status = 'stopped', updated = ?, "
                                   "finished = ? WHERE id = ?", (now, now, run_id))
                return "stopped"
            if row["status"] == "running":
                connection.execute("UPDATE runs SET stop_requested = 1, updated = ? "
                                   "WHERE id = ?", (now, run_id))
            return row["status"]

    def set_checkpoint(self, run_id: str, name: str) -> None:
        with self.transaction() as connection:
            connection.execute("UPDATE runs SET checkpoint = ?, updated = ? WHERE id = ?",
                               (name, time.time(), run_id))

    def update_extra(self, run_id: str, **values: Any) -> None:
        """Merge JSON-able ``values`` into the run's ``extra``."""
        with self.transaction() as connection:
            row = connection.execute("SELECT extra FROM runs WHERE id = ?",
                                     (run_id,)).fetchone()
            if row is None:
                raise RunNotFound(_("no run {run}").format(run=repr(run_id)))
            extra = {**json.loads(row["extra"] or "{}"), **values}
            connection.execute("UPDATE runs SET extra = ?, updated = ? WHERE id = ?",
                               (json.dumps(extra), time.time(), run_id))

    def delete(self, run_id: str) -> None:
        """Remove a run, its metrics and its saved state."""
        with self.transaction() as connection:
            for table, column in (("steps", "run_id"), ("evals", "run_id"), ("runs", "id")):
                connection.execute(f"DELETE FROM {table} WHERE {column} = ?", (run_id,))
        shutil.rmtree(self.run_folder(run_id), ignore_errors=True)

    # reading

    def get(self, run_id: str) -> RunRecord:
        """The run with that id; RunNotFound otherwise."""
        rows = self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise RunNotFound(_("no run {run}").format(run=repr(run_id)))
        return self._checked(rows[0])

    def _checked(self, row: sqlite3.Row) -> RunRecord:
        try:
            return _record(row)
        except (TypeError, ValueError, KeyError) as error:
            raise RunStoreError(_("run store: run {run} is malformed ({error})").format(
                run=repr(row["id"]), error=error)) from None

    def list_runs(self, *, sweep_id: str | None = None, group_id: str | None = None,
                  statuses: Iterable[str] | None = None) -> list[RunRecord]:
        """Runs, oldest first, optionally only one sweep's, one group's or some statuses."""
        sql, parameters = "SELECT * FROM runs WHERE 1 = 1", []
        if sweep_id is not None:
            sql, parameters = sql + " AND sweep_id = ?", [*parameters, sweep_id]
        if group_id is not None:
            sql, parameters = sql + " AND group_id = ?", [*parameters, group_id]
        if statuses is not None:
            wanted = list(statuses)
            sql += f" AND status IN ({', '.join('?' * len(wanted))})"
            parameters += wanted
        records = []
        for row in self._read(sql + " ORDER BY created, rowid", parameters):
            try:
                records.append(_record(row))
            except (TypeError, ValueError, KeyError):
                continue  # one malformed row must not hide the others
        return records

    def group(self, run: RunRecord) -> list[RunRecord]:
        """``run`` and the runs racing it (sharing its group id), plain first."""
        members = self.list_runs(group_id=run.group_id) if run.group_id else [run]
        return sorted(members, key=lambda r: (r.kind != "plain", r.created))

    def history(self, run_id: str, max_points: int | None = None) -> RunHistory:
        """The run's metrics; with ``max_points``, steps thinned evenly (last kept)."""
        where, parameters = "run_id = ?", [run_id]
        if max_points:
            count = self._read("SELECT COUNT(*) AS n, MAX(step) AS last FROM steps "
                               "WHERE run_id = ?", (run_id,))[0]
            stride = max(1, -(-(count["n"] or 0) // max_points))
            if stride > 1:
                where += " AND (step % ? = 0 OR step = ?)"
                parameters += [stride, count["last"]]
        steps = self._read(f"SELECT {', '.join(STEP_COLUMNS)} FROM steps WHERE {where} "
                           "ORDER BY step", parameters)
        evals = self._read(f"SELECT {', '.join(EVAL_COLUMNS)} FROM evals WHERE run_id = ? "
                           "ORDER BY step", (run_id,))
        import pandas as pd  # only history readers pay for pandas, not a worker's start

        return RunHistory(pd.DataFrame([tuple(r) for r in steps], columns=STEP_COLUMNS),
                          pd.DataFrame([tuple(r) for r in evals], columns=EVAL_COLUMNS))

    def latest_smoothed_loss(self, run_id: str) -> float | None:
        """The smoothed loss at the run's last recorded step (None before its first)."""
        rows = self._read("SELECT smoothed_loss FROM steps WHERE run_id = ? "
                          "ORDER BY step DESC LIMIT 1", (run_id,))
        return rows[0]["smoothed_loss"] if rows else None

    def first_reaching(self, target: float, run_ids: Sequence[str] | None = None
                       ) -> dict[str, tuple[int, float]]:
        """Each run's first held-out exact match at ``target`` or above, as (step, wall
        seconds), by run id; runs that never got there are left out. One query for all."""
        where, parameters = "", [target]
        if run_ids is not None and not run_ids:
            return {}
        if run_ids is not None:
            where = f" AND run_id IN ({', '.join('?' * len(run_ids))})"
            parameters += list(run_ids)
        rows = self._read(
            "SELECT e.run_id, e.step, e.wall_seconds FROM evals e JOIN (SELECT run_id, "
            f"MIN(step) AS step FROM evals WHERE exact_match >= ?{where} GROUP BY run_id) f "
            "ON e.run_id = f.run_id AND e.step = f.step", parameters)
        return {row["run_id"]: (row["step"], row["wall_seconds"]) for row in rows}

    def check_token(self, run_id: str, token: str | None) -> bool:
        """True if ``token`` controls ``run_id`` (constant-time comparison)."""
        if not token or len(token) > 200:
            return False
        rows = self._read("SELECT token_hash FROM runs WHERE id = ?", (run_id,))
        if not rows or not rows[0]["token_hash"]:
            return False
        return hmac.compare_digest(rows[0]["token_hash"], _hash_token(token))

    def run_folder(self, run_id: str) -> Path:
        """Where ``run_id`` keeps its resumable state and worker log."""
        if not valid_run_id(run_id):
            raise RunNotFound(_("no run {run}").format(run=repr(run_id)))
        return self.root / run_id

    # liveness

    def reap(self, stale_after: float = STALE_SECONDS) -> list[str]:
        """Mark running runs whose worker is gone; returns their ids.

        A run is gone at once when its recorded worker pid is dead on this host; a run with
        no local pid (a worker on another host, or one not attached yet) when its heartbeat
        is older than ``stale_after``. A live worker started by an earlier server stays
        running. A worker that left a cause (a full disk it could not record) makes the run
        ``failed`` with it; otherwise it is ``interrupted``. Temp files the dead writer left
        in the run folder are deleted.
        """
        now = time.time()
        gone = []
        for run in self.list_runs(statuses=["running"]):
            if run.host == HOST and run.pid:
                if pid_alive(run.pid):
                    continue
            elif beat_is_fresh(run.heartbeat or run.updated, now, stale_after):
                continue
            gone.append(run.id)
        if gone:
            from seqrev.disk import read_cause
            from seqrev.runs.state import remove_temp_files  # torch: only when one is gone
        for run_id in gone:
            folder = self.run_folder(run_id)
            cause = read_cause(folder)
            if cause:
                self.set_status(run_id, "failed", only_from=["running"], error=cause)
            else:
                self.set_status(run_id, "interrupted", only_from=["running"],
                                error=_(GONE_SILENTLY))
            remove_temp_files(folder)
        return gone

    def claim_next(self, limit: int) -> list[list[str]]:
        """Move the oldest queued runs to running while fewer than ``limit`` workers run.

        A race (runs sharing a group id) is one worker. Returns the claimed groups of run ids,
        each to be launched as one worker process.
        """
        claimed: list[list[str]] = []
        now = time.time()
        with self.transaction() as connection:
            rows = connection.execute(
                "SELECT id, status, group_id FROM runs WHERE status IN ('queued', 'running') "
                "ORDER BY created, rowid").fetchall()
            running = {r["group_id"] or r["id"] for r in rows if r["status"] == "running"}
            queued: dict[str, list[str]] = {}
            for r in rows:
                if r["status"] == "queued":
                    queued.setdefault(r["group_id"] or r["id"], []).append(r["id"])
            for key, ids in queued.items():
                if len(running) >= limit:
                    break
                running.add(key)
                marks = ", ".join("?" * len(ids))
                connection.execute(
                    f"UPDATE runs SET status = 'running', started = COALESCE(started, ?), "
                    f"heartbeat = ?, updated = ?, pid = NULL, host = ?, error = NULL, "
                    f"finished = NULL WHERE id IN ({marks})", (now, now, now, HOST, *ids))
                claimed.append(ids)
        return claimed

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start, 2 after it...; None if ``run_id`` is not queued.

        One query, no records built: waiting pages ask this on every poll.
        """
        rows = self._read(
            "SELECT COUNT(DISTINCT COALESCE(q.group_id, q.id)) AS ahead FROM runs AS me "
            "JOIN runs AS q ON q.status = 'queued' AND (q.created < me.created OR "
            "(q.created = me.created AND q.rowid <= me.rowid) OR "
            "(me.group_id IS NOT NULL AND q.group_id = me.group_id)) "
            "WHERE me.id = ? AND me.status = 'queued'", (run_id,))
        ahead = rows[0]["ahead"] if rows else 0
        return ahead or None
