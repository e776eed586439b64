"""One trial: its run in the store, the plain data a worker gets, its training, its result.

:func:`train_trial` is what a Ray worker runs for a trial that trains alone (packs train in
seqrev.sweeps.packed_sweep); it needs nothing but its payload, so it runs the same on a
cluster whose machines cannot reach the store. Only the driver writes to the store
(:func:`start_trial`, :func:`write_result`). :func:`run_inline` runs a sweep's trials one
after another in this process, without Ray.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from contextlib import suppress
from typing import Any

from seqrev.models.seq2seq import ModelConfig
from seqrev.sweeps.spec import SweepSpec, build_configs
from seqrev.sweeps.store import SweepRecord, get_sweep, resolve_store, trial_runs, update_sweep
from seqrev.training.trainer import EvalEvent, StepEvent, TrainConfig


def start_trial(store, record: SweepRecord, index: int, settings: dict, old=None):
    """A fresh ``running`` run for trial ``index``, replacing an unfinished earlier one."""
    if old is not None:
        store.delete(old.id)
    model_config, train_config = build_configs(record.spec, settings)
    run = store.create_run(model_config, train_config, sweep_id=record.id, source="sweep",
                           status="running",
                           extra={"trial": index, "params": _jsonable(settings)})
    store.attach_worker(run.id, os.getpid())  # the driver answers for it while it runs
    return run


def _jsonable(settings: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(settings))


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
    steps: list[StepEvent] = []
    evals: list[EvalEvent] = []
    state = {"reached": None, "asked_stop": False, "last_beat": time.monotonic()}
    target = payload.get("target")

    def on_step(event) -> None:
        steps.append(event)
        now = time.monotonic()
        if coordinator is not None and now - state["last_beat"] >= 1.0:
            state["last_beat"] = now
            if ask_coordinator(coordinator, payload["run_id"], event.step, event.elapsed):
                state["asked_stop"] = True
                stop.set()

    def on_eval(event) -> None:
        evals.append(event)
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


def ask_coordinator(coordinator, run_id: str, step: int, elapsed: float) -> bool:
    """Report a trial's step to the sweep's Coordinator; True if the trial should stop."""
    import ray

    try:
        return bool(ray.get(coordinator.heartbeat.remote(run_id, step, elapsed), timeout=10))
    except Exception:  # a slow or lost coordinator must not kill a trial
        return False


def write_result(store, run, result: dict, attempts: int) -> None:
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


def run_inline(sweep_id: str, store=None) -> float:
    """Every unfinished trial one after another in this process, no Ray; returns wall seconds.

    The baseline for the Ray benchmark; results are written as the driver writes them.
    """
    store = resolve_store(store)
    record = get_sweep(sweep_id, store)
    existing = trial_runs(record.id, store)
    started = time.perf_counter()
    for index, settings in enumerate(record.spec.trials()):
        if index in existing and existing[index].status == "finished":
            continue
        run = start_trial(store, record, index, settings, existing.get(index))
        write_result(store, run, train_trial(trial_payload(run, record.spec)), attempts=1)
    update_sweep(store, record.id, status="finished", finished=time.time())
    return time.perf_counter() - started
