"""Sweeps: a grid of training settings x seeds, each trial a run in the store, trained on Ray.

The driver (this process) alone writes to the run store. Trials train inside Ray workers with
seqrev's Trainer and send their history and evaluation back as plain data, so the same sweep
runs on a local Ray (the default, started here) or on a cluster (``--address`` or
``RAY_ADDRESS``) whose machines cannot reach the local database. Ray is imported lazily.

A sweep's own rows live in the table ``sweeps`` of the run store's SQLite file; its trials are
runs with ``source="sweep"`` and ``sweep_id`` set, their settings in ``extra["params"]``.

One driver at a time: a driver claims its sweep (``driver_pid`` and a heartbeat,
compare-and-set in one transaction: :func:`claim_driver`) before Ray starts, and beats while
Ray starts and the trials run. A second driver is refused with SweepBusyError naming the
first. A sweep whose driver pid is dead on this machine reads ``interrupted`` at once.

Longer than one screen because it still holds seven ideas (spec, store, trial, Ray driver,
benchmark, CLI); splitting it along those seams is open in issue 18.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqrev.models.seq2seq import ModelConfig
from seqrev.sweeps.coordinator import Coordinator
from seqrev.training.trainer import TrainConfig

if TYPE_CHECKING:  # capacity and pandas are imported where used: the CLI's start-up skips them
    import pandas as pd

GRID_LIMIT = 10_000  # more trials than this need --yes
TOTAL_STEPS_LIMIT = 5_000_000  # more training steps in all (trials x steps) need --yes too
SWEEP_STATUSES = ("created", "starting", "running", "stopping", "stopped", "finished",
                  "interrupted")
DRIVEN = ("starting", "running", "stopping")  # a driver holds the sweep (if it is alive)
HEARTBEAT_STALE = 20.0  # seconds without a driver heartbeat: the driver is gone
DRIVER_BEAT_SECONDS = 2.0  # a driver's heartbeat, from its claim (Ray's start included) on
ALIASES = {"model": "kind", "lr": "learning_rate", "hidden": "hidden_dim",
           "embedding": "embedding_dim"}
_SCHEMA = """
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
)
"""


class SweepError(ValueError):
    """Bad sweep input or an unusable cluster; ``str()`` is one line for the CLI and the page."""


class SweepNotFound(SweepError):  # noqa: N818 (named like runs.RunNotFound)
    """No sweep has this id."""


class SweepBusyError(SweepError):
    """Another live driver holds this sweep."""


# -- settings and grids -------------------------------------------------------------------


@dataclass(frozen=True)
class _Knob:
    name: str
    owner: str  # "model" or "train"
    parse: Callable[[str], Any]
    check: Callable[[Any], Any]


def _knobs() -> dict[str, _Knob]:
    """Every sweepable setting: seqrev.settings' ranges where declared, else the field's type."""
    try:
        import seqrev.training.settings as settings

        declared = settings.by_name()
    except (ImportError, AttributeError, TypeError):
        declared = {}
    knobs = {}
    for owner, config_class in (("model", ModelConfig), ("train", TrainConfig)):
        for config_field in fields(config_class):
            if config_field.name in ("vocab_size", "device", "eval_size", "eval_seed"):
                continue
            if config_field.name in declared:
                item = declared[config_field.name]
                knobs[item.name] = _Knob(item.name, owner, item.parse, item.check)
                continue
            kind = str(config_field.type).split("|")[0].strip()
            knobs[config_field.name] = _Knob(config_field.name, owner, _parser_for(kind),
                                             lambda value: value)
    return knobs


def _parser_for(kind: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        text = text.strip()
        if kind == "int":
            number = float(text)
            if not number.is_integer():
                raise ValueError(f"expected a whole number, got {text!r}")
            return int(number)
        if kind == "float":
            return float(text)
        return text
    return parse


def _canonical(name: str) -> str:
    name = name.strip().lstrip("-").replace("-", "_").lower()
    return ALIASES.get(name, name)


def parse_value(name: str, text: str) -> Any:
    """One grid value of setting ``name`` from text, range-checked; SweepError if not."""
    knobs = _knobs()
    if name not in knobs:
        raise SweepError(f"unknown setting {name!r}; sweepable: {', '.join(sorted(knobs))}")
    try:
        return knobs[name].parse(text)
    except (ValueError, TypeError) as error:
        raise SweepError(f"{name}: {error}") from None


def parse_grid(items: Iterable[str]) -> dict[str, tuple]:
    """``["hidden_dim=16,32", "kind=plain,attention"]`` -> ``{name: values}``, checked.

    Names may be field names or flag spellings (``hidden-dim``); ``a:b:step`` is a range
    (inclusive) for whole numbers. Raises SweepError on an unknown name or a bad value.
    """
    grid: dict[str, tuple] = {}
    for item in items:
        if "=" not in item:
            raise SweepError(f"grid item {item!r} is not NAME=VALUES")
        raw_name, raw_values = item.split("=", 1)
        name = _canonical(raw_name)
        texts = [t for t in (part.strip() for part in raw_values.split(",")) if t]
        if not texts:
            raise SweepError(f"{name}: no values given")
        values: list[Any] = []
        for text in texts:
            if text.count(":") == 2:
                values.extend(_expand_range(name, text))
            else:
                values.append(parse_value(name, text))
        grid[name] = tuple(dict.fromkeys(values))  # dedupe, keep order
    return grid


def _expand_range(name: str, text: str) -> list[Any]:
    try:
        start, stop, step = (int(part) for part in text.split(":"))
    except ValueError:
        raise SweepError(f"{name}: range {text!r} must be START:STOP:STEP whole numbers") from None
    if step < 1 or stop < start:
        raise SweepError(f"{name}: range {text!r} needs STEP >= 1 and STOP >= START")
    if (stop - start) // step > GRID_LIMIT:
        raise SweepError(f"{name}: range {text!r} has more than {GRID_LIMIT} values")
    return [parse_value(name, str(v)) for v in range(start, stop + 1, step)]


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: a grid of settings (seeds included), fixed settings, and a budget."""

    grid: dict[str, tuple]  # setting name -> values; "seed" is an axis like any other
    base: dict[str, Any] = field(default_factory=dict)  # fixed settings over the defaults
    steps: int = 300  # optimizer steps per trial at most
    target: float | None = None  # stop a trial early once held-out exact match >= target
    eval_every: int = 100  # held-out evaluations (drive the early stop)
    eval_per_length: int = 200  # fresh strings per test length in the final evaluation
    threads: int = 1  # torch threads inside each trial
    pack: int = 32  # trials of one shape trained together in one task at most (1: each alone)

    @property
    def size(self) -> int:
        size = 1
        for values in self.grid.values():
            size *= len(values)
        return size

    def trials(self) -> list[dict[str, Any]]:
        """Each trial's settings (grid values over ``base``), in grid order."""
        names = list(self.grid)
        return [{**self.base, **dict(zip(names, combo, strict=True))}
                for combo in itertools.product(*(self.grid[n] for n in names))]

    def to_json(self) -> str:
        data = asdict(self)
        data["grid"] = {k: list(v) for k, v in self.grid.items()}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> SweepSpec:
        data = json.loads(text)
        data["grid"] = {k: tuple(v) for k, v in data["grid"].items()}
        return cls(**data)


def build_configs(spec: SweepSpec, settings: dict[str, Any]) -> tuple[ModelConfig, TrainConfig]:
    """The configs of one trial; ValueError if the configs reject the combination."""
    knobs = _knobs()
    model_values = {n: v for n, v in settings.items() if knobs[n].owner == "model"}
    train_values = {n: v for n, v in settings.items() if knobs[n].owner == "train"}
    train_values.setdefault("steps", spec.steps)
    train_values.setdefault("eval_every", spec.eval_every)
    train_values.setdefault("min_len", 1)  # capacity: every length up to max_len
    return ModelConfig(**model_values), TrainConfig(**train_values)


def size_problem(spec: SweepSpec) -> str | None:
    """Why the sweep is too big to start without a confirmation (``--yes``, the page's tick),
    or None: more than GRID_LIMIT trials, or more than TOTAL_STEPS_LIMIT steps in all."""
    if spec.size > GRID_LIMIT:
        return f"the grid has {spec.size:,} trials, over {GRID_LIMIT:,}"
    total = spec.size * spec.steps
    if total > TOTAL_STEPS_LIMIT:
        return (f"the sweep trains {total:,} steps in all ({spec.size:,} trials x "
                f"{spec.steps:,} steps), over {TOTAL_STEPS_LIMIT:,}")
    return None


def validate(spec: SweepSpec, *, yes: bool = False) -> list[tuple[ModelConfig, TrainConfig]]:
    """Every trial's configs, or SweepError before anything is made.

    Rejects an empty grid or axis, unknown settings, values out of range, impossible
    combinations (e.g. min_len > max_len) and more than GRID_LIMIT trials without ``yes``.
    """
    if not spec.grid:
        raise SweepError("the grid is empty: give at least one NAME=VALUES")
    knobs = _knobs()
    for name, values in {**spec.grid, **{k: (v,) for k, v in spec.base.items()}}.items():
        if name not in knobs:
            raise SweepError(f"unknown setting {name!r}; sweepable: {', '.join(sorted(knobs))}")
        if not values:
            raise SweepError(f"{name}: no values given")
        for value in values:
            try:
                knobs[name].check(value)
            except (ValueError, TypeError) as error:
                raise SweepError(str(error)) from None
    if spec.steps < 1 or spec.eval_every < 0 or spec.eval_per_length < 1 or spec.threads < 1:
        raise SweepError("steps, eval_per_length and threads must be at least 1")
    if spec.target is not None and not 0 < spec.target <= 1:
        raise SweepError(f"target must be in (0, 1], got {spec.target}")
    if spec.pack < 1:
        raise SweepError(f"pack must be at least 1 (1 trains each trial alone), got {spec.pack}")
    problem = size_problem(spec)
    if problem and not yes:
        raise SweepError(f"{problem}; pass --yes to run it anyway")
    configs = []
    for settings in spec.trials():
        try:
            configs.append(build_configs(spec, settings))
        except (ValueError, TypeError) as error:
            shown = ", ".join(f"{k}={v}" for k, v in settings.items() if k in spec.grid)
            raise SweepError(f"trial ({shown}): {error}") from None
    return configs


# -- the store's sweep table ----------------------------------------------------------------


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


def _store(store=None):
    from seqrev.runs.store import RunStore

    return store if store is not None else RunStore()


@contextmanager
def _connect(store) -> Iterator[sqlite3.Connection]:
    """A store transaction with the sweeps table in place."""
    with store.transaction() as connection:
        connection.execute(_SCHEMA)
        yield connection


def _driver_alive(data: dict) -> bool:
    """The sweep's driver pid is alive here and has beaten within HEARTBEAT_STALE."""
    from seqrev.runs.store import pid_alive

    beat = data["heartbeat"]
    return (beat is not None and time.time() - beat <= HEARTBEAT_STALE
            and pid_alive(data["driver_pid"]))


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
    store = _store(store)
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
    store = _store(store)
    with _connect(store) as connection:
        cursor = connection.execute("SELECT * FROM sweeps ORDER BY created DESC")
        names = [d[0] for d in cursor.description]
        return [_row_to_record(row, names) for row in cursor.fetchall()]


def _update(store, sweep_id: str, **values) -> None:
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
    store = _store(store)
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
    store = _store(store)
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
    store = _store(store)
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
    store = _store(store)
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
    store = _store(store)
    latest: dict[int, Any] = {}
    for run in store.list_runs(sweep_id=sweep_id):  # oldest first
        latest[int(run.extra.get("trial", -1))] = run
    return latest


def _jsonable(settings: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(settings))


def request_stop(sweep_id: str, store=None) -> SweepRecord:
    """Ask the sweep's driver to stop its running trials; returns the updated record."""
    store = _store(store)
    record = get_sweep(sweep_id, store)
    if record.status in DRIVEN:  # starting too: the driver sees it once Ray is up
        _update(store, record.id, stop_requested=1, status="stopping")
    return get_sweep(sweep_id, store)


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
    store = _store(store)
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
    store = _store(store)
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


# -- the trial, run inside a Ray worker (or inline) ---------------------------------------


def _start_trial(store, record: SweepRecord, index: int, settings: dict, old=None):
    """A fresh ``running`` run for trial ``index``, replacing an unfinished earlier one."""
    if old is not None:
        store.delete(old.id)
    model_config, train_config = build_configs(record.spec, settings)
    run = store.create_run(model_config, train_config, sweep_id=record.id, source="sweep",
                           status="running",
                           extra={"trial": index, "params": _jsonable(settings)})
    store.attach_worker(run.id, os.getpid())  # the driver answers for it while it runs
    return run


def trial_payload(run, spec: SweepSpec) -> dict:
    """Everything a worker needs for one trial, as plain JSON-able data."""
    return {"run_id": run.id, "model_config": run.model_config.to_dict(),
            "train_config": run.train_config.to_dict(), "target": spec.target,
            "eval_per_length": spec.eval_per_length, "threads": spec.threads}


def train_trial(payload: dict, coordinator=None) -> dict:
    """Train and evaluate one trial; returns history and evaluation as plain data.

    ``coordinator`` (a Ray actor handle, or None inline) receives a heartbeat about once a
    second and answers whether to stop; a stopped trial returns what it has, unevaluated.
    """
    import torch

    import seqrev.inspection.capacity as capacity
    from seqrev.training.trainer import Trainer

    torch.set_num_threads(payload.get("threads", 1))
    model_config = ModelConfig(**payload["model_config"])
    train_config = TrainConfig(**payload["train_config"])
    trainer = Trainer(model_config, train_config)
    stop = threading.Event()
    steps: list[tuple] = []
    evals: list[tuple] = []
    state = {"reached": None, "asked_stop": False, "last_beat": time.monotonic()}
    target = payload.get("target")

    def on_step(event) -> None:
        steps.append((event.step, event.loss, event.learning_rate, event.step_seconds,
                      event.elapsed))
        now = time.monotonic()
        if coordinator is not None and now - state["last_beat"] >= 1.0:
            state["last_beat"] = now
            if _ask(coordinator, payload["run_id"], event.step, event.elapsed):
                state["asked_stop"] = True
                stop.set()

    def on_eval(event) -> None:
        evals.append((event.step, event.exact_match, event.char_accuracy, event.fine_accuracy,
                      event.elapsed))
        if target is not None and event.exact_match >= target and state["reached"] is None:
            state["reached"] = event.step
            stop.set()

    trainer.add_callback("step", on_step)
    trainer.add_callback("eval", on_eval)
    started = time.perf_counter()
    trainer.run(stop=stop)
    train_seconds = trainer.elapsed
    lengths = None
    if not state["asked_stop"]:
        lengths = capacity.evaluate_lengths(trainer.model, train_config.max_len,
                                            payload.get("eval_per_length", 200))
    return {"run_id": payload["run_id"],
            "status": "stopped" if state["asked_stop"] else "finished",
            "steps": steps, "evals": evals, "steps_done": trainer.step,
            "train_seconds": train_seconds, "wall_seconds": time.perf_counter() - started,
            "reached_target_at": state["reached"], "lengths": lengths,
            "host": socket.gethostname(), "pid": os.getpid()}


def _ask(coordinator, run_id: str, step: int, elapsed: float) -> bool:
    import ray

    try:
        return bool(ray.get(coordinator.heartbeat.remote(run_id, step, elapsed), timeout=10))
    except Exception:  # a slow or lost coordinator must not kill a trial
        return False


# -- Ray ----------------------------------------------------------------------------------


def resolve_address(address: str | None) -> str | None:
    """``--address`` if given, else ``RAY_ADDRESS``, else None (a local Ray)."""
    return address or os.environ.get("RAY_ADDRESS") or None


def check_address(address: str, timeout: float = 3.0) -> None:
    """SweepError naming ``address`` unless a TCP connection to it opens within ``timeout``."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1].rstrip("/")
    host, _, port_text = target.rpartition(":")
    if not host or not port_text.isdigit():
        raise SweepError(f"cannot reach Ray at {address!r}: expected HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout=timeout):
            pass
    except (OSError, ValueError) as error:
        raise SweepError(f"cannot reach Ray at {address!r}: "
                         f"{error.strerror or type(error).__name__}") from None


_WHERE = "Ray"


def start_ray(address: str | None = None, num_cpus: int | None = None) -> str:
    """Connect to the cluster at ``address`` or start a local Ray; returns a description."""
    import ray

    global _WHERE
    if ray.is_initialized():
        return _WHERE
    quiet = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address:
        check_address(address)
        package = str(Path(__file__).resolve().parents[1])  # the seqrev package
        try:
            ray.init(address=address, runtime_env={"py_modules": [package]},
                     log_to_driver=False, configure_logging=False)
        except Exception as error:  # ConnectionError, RuntimeError, grpc errors
            raise SweepError(f"cannot reach Ray at {address!r}: "
                             f"{str(error).splitlines()[0] if str(error) else error!r}") from None
        _WHERE = f"the Ray cluster at {address}"
    else:
        try:
            ray.init(num_cpus=num_cpus or 1, **quiet)
        except Exception as error:  # RuntimeError, ConnectionError, a full /tmp...
            with suppress(Exception):
                ray.shutdown()
            first_line = str(error).splitlines()[0] if str(error) else repr(error)
            raise SweepError(f"Ray did not start: {first_line}") from None
        _WHERE = f"a local Ray with {num_cpus or 1} CPU(s)"
    return _WHERE


def _default_trial_task(payload: dict, coordinator) -> dict:
    return train_trial(payload, coordinator)


def _default_pack_task(payloads: list[dict], coordinator) -> tuple[dict, ...]:
    """One Ray task for a pack (seqrev.sweeps.packed_sweep); one return value per trial."""
    from seqrev.sweeps.packed_sweep import train_pack

    def ask(run_id: str, step: int, elapsed: float) -> bool:
        return coordinator is not None and _ask(coordinator, run_id, step, elapsed)

    return tuple(train_pack(payloads, ask))


def plan_trial_packs(spec: SweepSpec, todo: list[tuple[int, dict]]) -> list[list[tuple]]:
    """``todo``'s (index, settings) grouped into packs that train as one task each."""
    if spec.pack <= 1:
        return [[item] for item in todo]
    from seqrev.sweeps.packed_sweep import plan_packs

    configs = [build_configs(spec, settings) for _, settings in todo]
    return [[todo[i] for i in pack] for pack in plan_packs(configs, max_pack=spec.pack)]


def _submit_pack(pack: list[tuple], start_run, spec: SweepSpec, task, coordinator) -> dict:
    """Start the pack's runs and its task; ``{ref: (run, 1)}``, one ref per trial."""
    runs = [start_run(index, settings) for index, settings in pack]
    payloads = [trial_payload(run, spec) for run in runs]
    if len(runs) == 1:
        return {task.remote(payloads[0], coordinator): (runs[0], 1)}
    import ray

    pack_task = ray.remote(num_cpus=1, max_retries=0)(_default_pack_task)
    refs = pack_task.options(num_returns=len(runs)).remote(payloads, coordinator)
    return {ref: (run, 1) for ref, run in zip(refs, runs, strict=True)}


DriverEvent = Callable[[str, dict], None]


def run_sweep(sweep_id: str, *, store=None, address: str | None = None,
              num_cpus: int | None = None, trial_fn: Callable | None = None,
              on_event: DriverEvent | None = None, stop: threading.Event | None = None,
              retries: int = 1) -> SweepRecord:
    """Drive the sweep to the end: run every unfinished trial on Ray, writing each result.

    Finished trials are never redone. A trial whose worker dies is run once more, then marked
    failed; the sweep goes on. ``stop`` (or ``request_stop`` from another process) stops the
    running trials cleanly, marks them ``stopped`` and leaves the rest queued for a resume.
    """
    import ray

    store = _store(store)
    record = claim_driver(sweep_id, store)  # SweepBusyError while another driver lives
    address = resolve_address(address) if address is not None else record.address
    emit = on_event or (lambda kind, data: None)
    started_ray = not ray.is_initialized()
    try:
        where = start_ray(address, num_cpus)
    except BaseException as error:
        release_driver(record.id, store, note=str(error).splitlines()[0][:300])
        raise
    now = time.time()
    _update(store, record.id, status="running", driver_pid=os.getpid(),
            heartbeat=now, started=record.started or now, address=address)
    emit("start", {"where": where, "sweep": record.id})
    task = ray.remote(num_cpus=1, max_retries=0)(trial_fn or _default_trial_task)
    coordinator = ray.remote(num_cpus=0)(Coordinator).remote()
    spec = record.spec
    existing = trial_runs(record.id, store)
    todo = [(index, settings) for index, settings in enumerate(spec.trials())
            if index not in existing or existing[index].status != "finished"]
    slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
    in_flight: dict[Any, tuple[Any, int]] = {}  # ref -> (run, attempts)
    packs = plan_trial_packs(spec, todo) if trial_fn is None else [[item] for item in todo]
    task_of: dict[Any, int] = {}  # ref -> the task (pack) it comes from
    stopping = False
    drive_started = time.perf_counter()
    last_beat = 0.0
    report = False
    try:
        while todo or in_flight:
            if not stopping and (
                    (stop is not None and stop.is_set()) or _stop_requested(store, record.id)):
                stopping = True
                ray.get(coordinator.request_stop.remote())
                _update(store, record.id, status="stopping")
                emit("stopping", {"running": len(in_flight)})
            while packs and not stopping and len({task_of[r] for r in in_flight}) < slots:
                pack = packs.pop(0)
                taken = {index for index, _ in pack}
                todo = [item for item in todo if item[0] not in taken]
                started = _submit_pack(pack, lambda index, settings: _start_trial(
                    store, record, index, settings, existing.get(index)), spec, task, coordinator)
                in_flight.update(started)
                task_of.update(dict.fromkeys(started, len(task_of)))
            if report:  # after the freed slots are filled again
                emit("progress", {"running": len(in_flight), "queued": len(todo)})
                report = False
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
            for ref in ready:
                run, attempts = in_flight.pop(ref)
                retry = _collect(store, ref, run, attempts, retries, emit)
                if retry and not stopping:
                    again = task.remote(trial_payload(run, spec), coordinator)  # alone
                    in_flight[again] = (run, attempts + 1)
                    task_of[again] = len(task_of)
                elif retry:
                    store.set_status(run.id, "stopped")
            report = report or bool(ready)
            if time.monotonic() - last_beat >= 1.0:
                last_beat = time.monotonic()
                _heartbeats(store, coordinator, in_flight)
                _update(store, record.id, heartbeat=time.time())
            if stopping and not in_flight:
                break
    except BaseException as error:
        with suppress(Exception):  # a full store must not hide the error that ended the drive
            for run, _ in in_flight.values():
                store.set_status(run.id, "interrupted", error="the sweep's driver stopped")
        with suppress(Exception):
            _finish(store, record, "interrupted", drive_started,
                    note=str(error).splitlines()[0][:300] if str(error) else None)
        raise
    finally:
        if started_ray:
            ray.shutdown()
    status = "stopped" if stopping else "finished"
    _finish(store, record, status, drive_started)
    emit("end", {"status": status})
    return get_sweep(record.id, store)


def _stop_requested(store, sweep_id: str) -> bool:
    with _connect(store) as connection:
        row = connection.execute("SELECT stop_requested FROM sweeps WHERE id = ?",
                                 (sweep_id,)).fetchone()
    return bool(row and row[0])


def _finish(store, record: SweepRecord, status: str, drive_started: float,
            note: str | None = None) -> None:
    current = get_sweep(record.id, store)
    _update(store, record.id, status=status, heartbeat=None, driver_pid=None, note=note,
            finished=time.time() if status == "finished" else None,
            wall_seconds=current.wall_seconds + time.perf_counter() - drive_started)


def _heartbeats(store, coordinator, in_flight) -> None:
    """Trials' steps into the store (their heartbeat); per-run stops from the store to Ray."""
    import ray

    running = [run.id for run, _ in in_flight.values()]
    if not running:
        return
    wanted = store.heartbeat(running)  # stop asked on a single trial (e.g. the Runs page)
    try:
        if wanted:
            coordinator.stop_runs.remote(wanted)
        beats = ray.get(coordinator.progress.remote(), timeout=5)
    except Exception:
        return
    for run_id, (step, elapsed) in beats.items():
        if run_id in running:
            store.record_progress(run_id, [], [], steps_done=step, wall_seconds=elapsed)


def _write_result(store, run, result: dict, attempts: int) -> None:
    """One trial's result into the store; a full disk fails the trial with its cause and
    raises DiskWriteError (the drive stops; finished trials stay, a resume reruns this one)."""
    from seqrev.disk import as_disk_error
    from seqrev.runs.store import RunStoreError

    try:
        store.record_progress(run.id, result["steps"], result["evals"],
                              steps_done=result["steps_done"],
                              wall_seconds=result["train_seconds"])
        store.update_extra(run.id, attempts=attempts, lengths=result["lengths"],
                           reached_target_at=result["reached_target_at"],
                           trial_seconds=round(result["wall_seconds"], 3), host=result["host"],
                           worker_pid=result["pid"])
        store.set_status(run.id, result["status"], error=result.get("error"))
    except RunStoreError as error:
        refused = as_disk_error(error, "saving the sweep's results")
        if refused is None:
            raise
        with suppress(RunStoreError):
            store.set_status(run.id, "failed", error=str(refused))
        raise refused from None


def _collect(store, ref, run, attempts: int, retries: int, emit: DriverEvent) -> bool:
    """Write one returned trial to the store; True if it should be run again."""
    import ray
    from ray.exceptions import (
        NodeDiedError,
        ObjectLostError,
        OwnerDiedError,
        RayTaskError,
        WorkerCrashedError,
    )

    try:
        result = ray.get(ref)
    except (WorkerCrashedError, NodeDiedError, ObjectLostError, OwnerDiedError) as error:
        name = type(error).__name__
        store.update_extra(run.id, attempts=attempts, last_error=name)
        if attempts <= retries:
            emit("retry", {"run": run.id, "error": name})
            return True
        store.set_status(run.id, "failed",
                         error=f"worker died ({name}) on {attempts} attempts")
        emit("failed", {"run": run.id, "error": name})
        return False
    except RayTaskError as error:
        cause = error.cause if getattr(error, "cause", None) is not None else error
        message = f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"
        store.set_status(run.id, "failed", error=message[:300])
        emit("failed", {"run": run.id, "error": message})
        return False
    _write_result(store, run, result, attempts)
    emit(result["status"], {"run": run.id, "steps": result["steps_done"],
                            "seconds": result["wall_seconds"], "error": result.get("error")})
    return False


def run_inline(sweep_id: str, store=None) -> float:
    """Every unfinished trial one after another in this process, no Ray; returns wall seconds.

    The baseline for the Ray benchmark; results are written as the driver writes them.
    """
    store = _store(store)
    record = get_sweep(sweep_id, store)
    existing = trial_runs(record.id, store)
    started = time.perf_counter()
    for index, settings in enumerate(record.spec.trials()):
        if index in existing and existing[index].status == "finished":
            continue
        run = _start_trial(store, record, index, settings, existing.get(index))
        _write_result(store, run, train_trial(trial_payload(run, record.spec)), attempts=1)
    _update(store, record.id, status="finished", finished=time.time())
    return time.perf_counter() - started


def _descendants_rss_mb(root_pid: int) -> tuple[float, int]:
    """Resident memory (MB) of every process below ``root_pid``, and how many there are."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(entry.name)] = int(line.split()[1])
    seen, stack = [], list(children.get(root_pid, []))
    while stack:
        pid = stack.pop()
        seen.append(pid)
        stack.extend(children.get(pid, []))
    return sum(rss.get(pid, 0) for pid in seen) / 1024, len(seen)


def _own_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _nice_of(pid: int | None) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
    except (OSError, ValueError, IndexError, TypeError):
        return None


def benchmark(steps: int = 200, cpus: int = 1, eval_per_length: int = 100,
              match_nice: bool = False) -> dict:
    """The same small sweep inline (one process) and on a fresh local Ray, in one run.

    Four trials (hidden 16 and 32 x both models, lengths 1-8): on a new local Ray (its first
    worker must start and import torch), then in this process, then on Ray again with the
    worker up. Ray runs its workers at niceness 15; ``match_nice`` runs the inline pass at
    the same niceness. Returns wall times, their ratios, Ray's start time and overhead per
    trial, and the memory Ray's processes hold (idle, and at most while running).
    """
    import tempfile

    import ray

    from seqrev.runs.store import RunStore

    if ray.is_initialized():
        raise SweepError("the benchmark needs to start its own Ray; one is already running")
    spec = SweepSpec(grid={"hidden_dim": (16, 32), "kind": ("plain", "attention")},
                     base={"embedding_dim": 16, "max_len": 8}, steps=steps, eval_every=100,
                     eval_per_length=eval_per_length)
    peak = {"mb": 0.0, "processes": 0}

    def sample(kind: str, data: dict) -> None:
        mb, count = _descendants_rss_mb(os.getpid())
        if mb > peak["mb"]:
            peak.update(mb=mb, processes=count)

    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(folder)
        driver_before = _own_rss_mb()
        started = time.perf_counter()
        start_ray(None, cpus)
        start_seconds = time.perf_counter() - started
        idle_mb, idle_processes = _descendants_rss_mb(os.getpid())
        try:
            cold = create_sweep(spec, store=store)
            started = time.perf_counter()
            run_sweep(cold.id, store=store, on_event=sample)
            cold_seconds = time.perf_counter() - started
            worker_pid = store.list_runs(sweep_id=cold.id)[0].extra.get("worker_pid")
            worker_nice = _nice_of(worker_pid)
            inline = create_sweep(spec, store=store)
            own_nice = os.nice(0)
            if match_nice and worker_nice is not None and worker_nice > own_nice:
                os.nice(worker_nice - own_nice)  # only while the inline pass runs
            try:
                inline_seconds = run_inline(inline.id, store)
            finally:
                if os.nice(0) != own_nice:
                    with suppress(PermissionError):  # lowering niceness needs root
                        os.nice(own_nice - os.nice(0))
            warm = create_sweep(spec, store=store)
            started = time.perf_counter()
            run_sweep(warm.id, store=store, on_event=sample)
            warm_seconds = time.perf_counter() - started
            driver_after = _own_rss_mb()
        finally:
            ray.shutdown()
        finished = progress(cold.id, store).done + progress(warm.id, store).done
        in_trial = {name: round(sum(run.extra.get("trial_seconds", 0.0)
                                    for run in store.list_runs(sweep_id=sweep)), 2)
                    for name, sweep in (("inline", inline.id), ("cold", cold.id),
                                        ("warm", warm.id))}
    n = spec.size
    return {
        "trials": n, "steps_per_trial": steps, "ray_cpus": cpus, "finished_on_ray": finished,
        "ray_worker_nice": worker_nice, "inline_nice": worker_nice if match_nice else own_nice,
        "inline_seconds": round(inline_seconds, 2),
        "ray_start_seconds": round(start_seconds, 2),
        "ray_cold_sweep_seconds": round(cold_seconds, 2),
        "ray_warm_sweep_seconds": round(warm_seconds, 2),
        "ratio_ray_start_and_cold_over_inline": round(
            (start_seconds + cold_seconds) / inline_seconds, 3),
        "ratio_ray_warm_over_inline": round(warm_seconds / inline_seconds, 3),
        "ray_cold_overhead_per_trial_seconds": round((cold_seconds - inline_seconds) / n, 3),
        "ray_warm_overhead_per_trial_seconds": round((warm_seconds - inline_seconds) / n, 3),
        "inline_in_trial_seconds": in_trial["inline"],
        "ray_cold_in_trial_seconds": in_trial["cold"],
        "ray_warm_in_trial_seconds": in_trial["warm"],
        "ray_idle_mb": round(idle_mb, 1), "ray_idle_processes": idle_processes,
        "ray_peak_mb": round(peak["mb"], 1), "ray_peak_processes": peak["processes"],
        "driver_growth_mb": round(driver_after - driver_before, 1),
    }


def launch_driver(sweep_id: str, *, cpus: int = 1, log_path: Path | None = None,
                  store=None) -> int:
    """Start ``python -m seqrev sweep resume ID`` as a detached process; returns its pid.

    The sweep is claimed for the new process at once (status ``starting``), so a page shows
    it as driven while Ray starts; SweepBusyError if another live driver holds it.
    """
    import subprocess
    import sys

    store = _store(store)
    record = get_sweep(sweep_id, store)
    if record.status in DRIVEN:
        raise SweepBusyError(f"sweep {record.id} is already being driven by pid "
                             f"{record.driver_pid}")
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "seqrev", "sweep", "resume", sweep_id, "--cpus", str(cpus),
               "--quiet"]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(command, cwd=root, stdout=log, stderr=log,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        if log_path:
            log.close()
    threading.Thread(target=process.wait, daemon=True).start()  # reap it when it ends
    try:
        claim_driver(sweep_id, store, pid=process.pid)
    except SweepError:
        process.kill()  # another driver won the claim in between; ours never ran a trial
        raise
    return process.pid


# -- the command line -----------------------------------------------------------------------


def add_parser(commands, parser_class) -> None:
    """The ``sweep`` subcommand and its actions, on the CLI's subparsers."""
    sweep = commands.add_parser("sweep", help="capacity sweeps over a grid of settings, on Ray")
    actions = sweep.add_subparsers(dest="sweep_command", required=True,
                                   parser_class=parser_class)
    run = actions.add_parser("run", help="create a sweep and run it")
    run.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                     help="a setting and its values (repeat); A:B:STEP for a range")
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="a fixed setting for every trial (repeat)")
    run.add_argument("--seeds", default="0", help="seeds, e.g. 0,1 or 0:4:1 (default 0)")
    run.add_argument("--steps", type=int, default=300, help="steps per trial at most")
    run.add_argument("--target", type=float,
                     help="stop a trial once held-out exact match reaches this (e.g. 0.99)")
    run.add_argument("--eval-every", type=int, default=100)
    run.add_argument("--eval-per-length", type=int, default=200,
                     help="fresh strings per test length (1 .. 2x the training maximum)")
    run.add_argument("--yes", action="store_true",
                     help=f"allow over {GRID_LIMIT:,} trials or {TOTAL_STEPS_LIMIT:,} steps in all")
    run.add_argument("--export", help="write the results CSV here when the sweep ends")
    run.add_argument("--pack", type=int, default=32,
                     help="trials of one shape trained together as one task, at most "
                          "(default 32; 1 trains each trial alone)")
    _driver_flags(run)
    resume = actions.add_parser("resume", help="carry on a stopped or interrupted sweep")
    resume.add_argument("sweep_id")
    resume.add_argument("--export")
    _driver_flags(resume)
    stop = actions.add_parser("stop", help="stop a running sweep's trials cleanly")
    stop.add_argument("sweep_id")
    actions.add_parser("list", help="sweeps in the run store")
    show = actions.add_parser("show", help="a sweep's progress and capacity table")
    show.add_argument("sweep_id")
    export = actions.add_parser("export", help="sweeps' results as one CSV (metrics only)")
    export.add_argument("sweep_id", nargs="+")
    export.add_argument("--out", required=True)
    bench = actions.add_parser("bench", help="local Ray against the same trials in one process")
    bench.add_argument("--steps", type=int, default=200)
    bench.add_argument("--cpus", type=int, default=1, help="CPUs of the local Ray")
    bench.add_argument("--match-nice", action="store_true",
                       help="run the inline pass at the Ray workers' niceness (15)")
    bench.add_argument("--json", action="store_true")


def _driver_flags(parser) -> None:
    parser.add_argument("--address", help="an existing Ray cluster (default: $RAY_ADDRESS, "
                                          "else a local Ray started here)")
    parser.add_argument("--cpus", type=int, default=1,
                        help="CPUs of the local Ray = trials at once (default 1)")
    parser.add_argument("--quiet", action="store_true")


def spec_from_args(args) -> SweepSpec:
    grid = parse_grid(args.grid)
    seeds = parse_grid([f"seed={args.seeds}"])["seed"]
    if "seed" not in grid:
        grid["seed"] = seeds
    base = {}
    for item in args.set:
        if "=" not in item:
            raise SweepError(f"--set {item!r} is not NAME=VALUE")
        name, text = item.split("=", 1)
        base[_canonical(name)] = parse_value(_canonical(name), text)
    if not args.grid:
        raise SweepError("the grid is empty: give at least one --grid NAME=VALUES")
    return SweepSpec(grid=grid, base=base, steps=args.steps, target=args.target,
                     eval_every=args.eval_every, eval_per_length=args.eval_per_length,
                     pack=args.pack)


def _printer(quiet: bool, total: int, done_before: int = 0) -> DriverEvent:
    """Driver events as lines on stderr: each trial, then done / running / queued and an ETA."""
    import sys

    state = {"done": done_before, "started": time.perf_counter()}

    def emit(kind: str, data: dict) -> None:
        if kind in ("finished", "failed"):
            state["done"] += 1
        if quiet:
            return
        elapsed = time.perf_counter() - state["started"]
        if kind == "progress":
            per_trial = elapsed / max(state["done"] - done_before, 1)
            eta = per_trial * (data["queued"] + 0.5 * data["running"])
            line = (f"  {state['done']} done, {data['running']} running, {data['queued']} "
                    f"queued; eta {eta:.0f} s")
        elif kind == "start":
            line = f"sweep {data['sweep']} on {data['where']}"
        elif kind in ("finished", "stopped"):
            line = (f"[{state['done']}/{total}] {data['run']} {kind}: {data['steps']} steps, "
                    f"{data['seconds']:.1f} s ({elapsed:.0f} s elapsed)")
        elif kind in ("failed", "retry"):
            line = f"[{state['done']}/{total}] {data['run']} {kind}: {data['error']}"
        elif kind == "stopping":
            line = f"stopping {data['running']} running trial(s)..."
        else:
            line = f"sweep {data['status']} after {elapsed:.0f} s"
        print(line, file=sys.stderr, flush=True)

    return emit


def _shutdown_ray() -> None:
    import ray

    ray.shutdown()


def _drive(record: SweepRecord, args, store, address: str | None) -> int:
    import seqrev.inspection.capacity as capacity
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()

    previous = signal.signal(signal.SIGINT, on_signal)
    previous_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        final = run_sweep(record.id, store=store, address=address,
                          num_cpus=args.cpus, stop=stop,
                          on_event=_printer(args.quiet, record.n_trials,
                                            progress(record.id, store).done))
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
    counts = progress(final.id, store)
    print(f"{final.id}\t{final.status}\t{counts.done} finished, {counts.failed} failed, "
          f"{counts.queued} to go\t{final.wall_seconds:.1f} s")
    if getattr(args, "export", None):
        capacity.save_results(results(final.id, store), args.export)
    return 0


def main(args) -> int:
    """Run one ``sweep`` action; bad input prints one line and returns 2."""
    import sys

    from seqrev.disk import DiskWriteError

    try:
        return _dispatch(args)
    except SweepError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except DiskWriteError as error:
        print(f"error: the sweep stopped: {error}; finished trials are kept, resume it once "
              "there is space", file=sys.stderr)
        return 1


def _dispatch(args) -> int:
    import seqrev.inspection.capacity as capacity
    from seqrev.runs.store import RunStoreError

    try:
        store = _store()
        action = args.sweep_command
        if action == "run":
            spec = spec_from_args(args)
            validate(spec, yes=args.yes)
            address = resolve_address(args.address)
            start_ray(address, args.cpus)  # an unusable cluster fails here, before any record
            try:
                record = create_sweep(spec, yes=args.yes, address=address, store=store)
                print(f"sweep {record.id}: {record.n_trials} trials", flush=True)
                with driving(record.id, store):
                    return _drive(record, args, store, address)
            finally:
                _shutdown_ray()
        if action == "resume":
            record = get_sweep(args.sweep_id, store)
            address = resolve_address(args.address) or record.address
            with driving(record.id, store):  # SweepBusyError before Ray, if another drives it
                start_ray(address, args.cpus)
                try:
                    return _drive(record, args, store, address)
                finally:
                    _shutdown_ray()
        if action == "stop":
            record = request_stop(args.sweep_id, store)
            print(f"{record.id}\t{record.status}")
            return 0
        if action == "list":
            for record in list_sweeps(store):
                counts = progress(record.id, store)
                axes = " ".join(f"{k}={','.join(map(str, v))}" for k, v in record.spec.grid.items())
                print(f"{record.id}\t{record.status}\t{counts.done}/{counts.total} finished\t"
                      f"{axes}")
            return 0
        if action == "show":
            return _show(args.sweep_id, store)
        if action == "export":
            frames = [results(sweep_id, store) for sweep_id in args.sweep_id]
            import pandas as pd

            path = capacity.save_results(pd.concat(frames, ignore_index=True), args.out)
            print(f"wrote {path}")
            return 0
        if action == "bench":
            measured = benchmark(steps=args.steps, cpus=args.cpus, match_nice=args.match_nice)
            if args.json:
                print(json.dumps(measured))
            else:
                for key, value in measured.items():
                    print(f"{key}\t{value}")
            return 0
    except RunStoreError as error:
        raise SweepError(str(error)) from None
    raise SweepError(f"unknown sweep action {args.sweep_command!r}")


def _show(sweep_id: str, store) -> int:
    import seqrev.inspection.capacity as capacity
    record = get_sweep(sweep_id, store)
    counts = progress(record.id, store)
    print(f"{record.id}\t{record.status}\t{counts.done} finished, {counts.running} running, "
          f"{counts.queued} queued, {counts.failed} failed of {counts.total}")
    frame = results(record.id, store)
    if frame.empty:
        return 0
    table = capacity.longest_reached(frame)
    print("kind\thidden\tlongest length at >= 95% exact (within training)")
    for row in table.itertuples():
        print(f"{row.kind}\t{row.hidden_dim}\t{row.longest}")
    return 0
