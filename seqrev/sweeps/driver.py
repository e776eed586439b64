"""The sweep's driver: Ray started or reached, the trials dispatched, their results collected.

The driver (this process) alone writes to the run store. Trials train inside Ray workers and
send their history and evaluation back as plain data (seqrev.sweeps.trial), so the same sweep
runs on a local Ray (the default, started here) or on a cluster (``--address`` or
``RAY_ADDRESS``) whose machines cannot reach the local database. Ray is imported lazily, in
the functions that need it. :func:`launch_driver` starts a driver as a detached process
(``python -m seqrev sweep resume``), as the Sweep page does.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import seqrev.sweeps.trial as trial
from seqrev.i18n import N_, _, ngettext
from seqrev.sweeps.coordinator import Coordinator
from seqrev.sweeps.spec import SweepError, SweepSpec, build_configs
from seqrev.sweeps.store import (
    DRIVEN,
    SweepBusyError,
    SweepRecord,
    claim_driver,
    get_sweep,
    release_driver,
    resolve_store,
    stop_requested,
    trial_runs,
    update_sweep,
)

UNREACHABLE = N_("cannot reach Ray at {address}: {reason}")  # the reason as the OS or Ray says


def resolve_address(address: str | None) -> str | None:
    """``--address`` if given, else ``RAY_ADDRESS``, else None (a local Ray)."""
    return address or os.environ.get("RAY_ADDRESS") or None


def check_address(address: str, timeout: float = 3.0) -> None:
    """SweepError naming ``address`` unless a TCP connection to it opens within ``timeout``."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1].rstrip("/")
    host, _colon, port_text = target.rpartition(":")
    if not host or not port_text.isdigit():
        raise SweepError(_("cannot reach Ray at {address}: expected HOST:PORT").format(
            address=repr(address)))
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout=timeout):
            pass
    except (OSError, ValueError) as error:
        raise SweepError(_(UNREACHABLE).format(
            address=repr(address), reason=error.strerror or type(error).__name__)) from None


# where the last start_ray went: a description's words and its values, said when asked
_WHERE: tuple[str, dict[str, object]] = ("Ray", {})
CLUSTER = N_("the Ray cluster at {address}")
LOCAL_RAY = N_("a local Ray with {cpus} CPU(s)")


def start_ray(address: str | None = None, num_cpus: int | None = None) -> str:
    """Connect to the cluster at ``address`` or start a local Ray; returns a description (in
    the current language)."""
    import ray

    global _WHERE
    if ray.is_initialized():
        return _where()
    quiet = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address:
        check_address(address)
        package = str(Path(__file__).resolve().parents[1])  # the seqrev package
        try:
            ray.init(address=address, runtime_env={"py_modules": [package]},
                     log_to_driver=False, configure_logging=False)
        except Exception as error:  # ConnectionError, RuntimeError, grpc errors
            raise SweepError(_(UNREACHABLE).format(
                address=repr(address),
                reason=str(error).splitlines()[0] if str(error) else repr(error))) from None
        _WHERE = (CLUSTER, {"address": address})
    else:
        try:
            ray.init(num_cpus=num_cpus or 1, **quiet)
        except Exception as error:  # RuntimeError, ConnectionError, a full /tmp...
            with suppress(Exception):
                ray.shutdown()
            first_line = str(error).splitlines()[0] if str(error) else repr(error)
            raise SweepError(_("Ray did not start: {reason}").format(reason=first_line)
                             ) from None  # the reason as Ray says it
        _WHERE = (LOCAL_RAY, {"cpus": num_cpus or 1})
    return _where()


def _where() -> str:
    template, values = _WHERE
    return _(template).format(**values)


def _default_trial_task(payload: dict, coordinator) -> dict:
    return trial.train_trial(payload, coordinator)


def _default_pack_task(payloads: list[dict], coordinator) -> tuple[dict, ...]:
    """One Ray task for a pack (seqrev.sweeps.packed_sweep); one return value per trial."""
    from seqrev.sweeps.packed_sweep import train_pack

    def ask(run_id: str, step: int, elapsed: float) -> bool:
        return coordinator is not None and trial.ask_coordinator(coordinator, run_id, step, elapsed)

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
    payloads = [trial.trial_payload(run, spec) for run in runs]
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

    store = resolve_store(store)
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
    update_sweep(store, record.id, status="running", driver_pid=os.getpid(),
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
                    (stop is not None and stop.is_set()) or stop_requested(store, record.id)):
                stopping = True
                update_sweep(store, record.id, status="stopping")
                for run, _attempts in in_flight.values():  # by the one path every run's stop takes
                    store.request_stop(run.id)
                _heartbeats(store, coordinator, in_flight)
                emit("stopping", {"running": len(in_flight)})
            while packs and not stopping and len({task_of[r] for r in in_flight}) < slots:
                pack = packs.pop(0)
                taken = {index for index, _ in pack}
                todo = [item for item in todo if item[0] not in taken]
                started = _submit_pack(pack, lambda index, settings: trial.start_trial(
                    store, record, index, settings, existing.get(index)), spec, task, coordinator)
                in_flight.update(started)
                task_of.update(dict.fromkeys(started, len(task_of)))
            if report:  # after the freed slots are filled again
                emit("progress", {"running": len(in_flight), "queued": len(todo)})
                report = False
            ready, _waiting = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
            for ref in ready:
                run, attempts = in_flight.pop(ref)
                retry = _collect(store, ref, run, attempts, retries, emit)
                if retry and not stopping:
                    again = task.remote(trial.trial_payload(run, spec), coordinator)  # alone
                    in_flight[again] = (run, attempts + 1)
                    task_of[again] = len(task_of)
                elif retry:
                    store.set_status(run.id, "stopped")
            report = report or bool(ready)
            if time.monotonic() - last_beat >= 1.0:
                last_beat = time.monotonic()
                _heartbeats(store, coordinator, in_flight)
                update_sweep(store, record.id, heartbeat=time.time())
            if stopping and not in_flight:
                break
    except BaseException as error:
        with suppress(Exception):  # a full store must not hide the error that ended the drive
            for run, _attempts in in_flight.values():
                store.set_status(run.id, "interrupted", error=_("the sweep's driver stopped"))
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


def _finish(store, record: SweepRecord, status: str, drive_started: float,
            note: str | None = None) -> None:
    current = get_sweep(record.id, store)
    update_sweep(store, record.id, status=status, heartbeat=None, driver_pid=None, note=note,
            finished=time.time() if status == "finished" else None,
            wall_seconds=current.wall_seconds + time.perf_counter() - drive_started)


def _heartbeats(store, coordinator, in_flight) -> None:
    """Trials' steps into the store (their heartbeat); per-run stops from the store to Ray."""
    import ray

    running = [run.id for run, _ in in_flight.values()]
    if not running:
        return
    wanted = store.heartbeat(running)  # a trial's stop, from the Runs page or the sweep's own
    try:
        if wanted:
            ray.get(coordinator.stop_runs.remote(wanted), timeout=5)
        beats = ray.get(coordinator.progress.remote(), timeout=5)
    except Exception:
        return
    for run_id, (step, elapsed) in beats.items():
        if run_id in running:
            store.record_progress(run_id, [], [], steps_done=step, wall_seconds=elapsed)


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
        store.set_status(run.id, "failed", error=ngettext(
            "worker died ({name}) on {attempts} attempt",
            "worker died ({name}) on {attempts} attempts", attempts).format(
                name=name, attempts=attempts))
        emit("failed", {"run": run.id, "error": name})
        return False
    except RayTaskError as error:
        cause = error.cause if getattr(error, "cause", None) is not None else error
        message = f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"
        store.set_status(run.id, "failed", error=message[:300])
        emit("failed", {"run": run.id, "error": message})
        return False
    trial.write_result(store, run, result, attempts)
    emit(result["status"], {"run": run.id, "steps": result["steps_done"],
                            "seconds": result["wall_seconds"], "error": result.get("error")})
    return False


def launch_driver(sweep_id: str, *, cpus: int = 1, log_path: Path | None = None,
                  store=None) -> int:
    """Start ``python -m seqrev sweep resume ID`` as a detached process; returns its pid.

    The sweep is claimed for the new process at once (status ``starting``), so a page shows
    it as driven while Ray starts; SweepBusyError if another live driver holds it.
    """
    import sys

    from seqrev.runs.scheduler import spawn_detached

    store = resolve_store(store)
    record = get_sweep(sweep_id, store)
    if record.status in DRIVEN:
        raise SweepBusyError(_("sweep {sweep} is already being driven by pid {pid}").format(
            sweep=record.id, pid=record.driver_pid))
    command = [sys.executable, "-m", "seqrev", "sweep", "resume", sweep_id, "--cpus", str(cpus),
               "--quiet"]
    process = spawn_detached(command, log_path)
    try:
        claim_driver(sweep_id, store, pid=process.pid)
    except SweepError:
        process.kill()  # another driver won the claim in between; ours never ran a trial
        raise
    return process.pid
