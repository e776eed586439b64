"""The worker: trains one run, or a race of two, in its own process, recording into the store.

``python -m seqrev train --run ID [--run ID2]`` calls :func:`execute`; so does the CLI's own
``train``. Metrics reach the store at least twice a second and the resumable state every
few seconds, so a kill -9 loses at most about a second of metrics. A heartbeat thread marks
the run alive every half second and watches for a stop request: the loop stops after its
current step, and if that step takes longer than a second the worker records the stop
itself and exits, leaving the last saved state to resume from.

A write the disk refuses (metrics, state) ends the run ``failed`` with a one-line cause
("disk full while saving the resumable state"). If the store can't take that either, the cause
goes to stderr (the worker's log) and into the run folder's reserved cause file, and the
reaper records it once the worker is gone (``RunStore.reap``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch

from seqrev.disk import DiskWriteError, as_disk_error, reserve_cause_file, write_cause
from seqrev.i18n import N_, _
from seqrev.runs.state import load_state, remove_temp_files, save_state, saved_step
from seqrev.runs.store import RunRecord, RunStore, RunStoreError
from seqrev.training.trainer import EvalEvent, StepEvent, Trainer

RECORDING = "recording the metrics"
NOT_RECORDED = N_("could not record metrics: {error}")
OUTCOME_NOT_RECORDED = N_("the worker could not record that the run {outcome}")
OUTCOMES = {"finished": N_("finished"), "stopped": N_("stopped"), "failed": N_("failed")}

FLUSH_SECONDS = 0.5  # metrics reach the store at least this often
STATE_SECONDS = 5.0  # the resumable state is saved at least this often
HEARTBEAT_SECONDS = 0.5
STOP_GRACE_SECONDS = 1.0  # a stop that the current step would delay longer is forced


class _Recorder:
    """Buffers one run's training events between flushes."""

    def __init__(self, run: RunRecord, trainer: Trainer, wall_before: float) -> None:
        self.run, self.trainer = run, trainer
        self.steps: list[StepEvent] = []
        self.evals: list[EvalEvent] = []
        self.wall_before = wall_before

    def flush(self, store: RunStore, wall_seconds: float) -> None:
        try:
            store.record_progress(self.run.id, self.steps, self.evals,
                                  steps_done=self.trainer.step, wall_seconds=wall_seconds)
        except RunStoreError as error:
            raise disk_error(error, RECORDING) or error from None
        self.steps, self.evals = [], []


def disk_error(error: RunStoreError, what: str) -> DiskWriteError | None:
    """``error`` as a DiskWriteError if the database's own error behind it was a storage one
    (its text is the database's English, whatever language the store's message is in)."""
    return as_disk_error(error, what) or (as_disk_error(error.cause, what)
                                          if getattr(error, "cause", None) else None)


class Worker:
    """Trains ``runs`` (one, or a race sharing one TrainConfig) and records them in ``store``."""

    def __init__(self, store: RunStore, runs: Sequence[RunRecord]) -> None:
        if not runs:
            raise ValueError("a worker needs at least one run")
        if len({r.train_config for r in runs}) != 1:
            raise ValueError("runs raced by one worker must share their training settings")
        self.store = store
        self.runs = list(runs)
        self.stop_event = threading.Event()
        self._done = threading.Event()
        self._segment_start = time.perf_counter()
        self._last_state_save = time.perf_counter()
        self.recorders: dict[str, _Recorder] = {}
        self.trainers: dict[str, Trainer] = {}
        self.failure: str | None = None  # the one-line cause, once the run has failed
        for run in self.runs:
            trainer = Trainer(run.model_config, run.train_config)
            folder = store.run_folder(run.id)
            remove_temp_files(folder)  # a killed writer's; this worker is the folder's writer
            reserve_cause_file(folder)
            wall_before = 0.0
            if saved_step(folder) is not None:
                wall_before = load_state(trainer, folder)
            store.truncate_history(run.id, trainer.step)
            self.trainers[run.id] = trainer
            self.recorders[run.id] = _Recorder(run, trainer, wall_before)
            trainer.add_callback("step", lambda e, rid=run.id: self._on_step(rid, e))
            trainer.add_callback("eval", lambda e, rid=run.id: self._on_eval(rid, e))
        self.wall_before = max(r.wall_before for r in self.recorders.values())

    def wall_seconds(self) -> float:
        """Real seconds this run has trained, over every segment."""
        return self.wall_before + time.perf_counter() - self._segment_start

    def _on_step(self, run_id: str, event: StepEvent) -> None:
        self.recorders[run_id].steps.append(replace(event, elapsed=self.wall_seconds()))

    def _on_eval(self, run_id: str, event: EvalEvent) -> None:
        self.recorders[run_id].evals.append(replace(event, elapsed=self.wall_seconds()))

    def flush(self) -> None:
        wall = self.wall_seconds()
        for recorder in self.recorders.values():
            recorder.flush(self.store, wall)

    def save_states(self) -> None:
        """Metrics first, then the state: a resume never finds a gap in the stored history."""
        self.flush()
        wall = self.wall_seconds()
        for run_id, trainer in self.trainers.items():
            save_state(trainer, self.store.run_folder(run_id), wall)
        self._last_state_save = time.perf_counter()

    def _heartbeat(self) -> None:
        ids = [r.id for r in self.runs]
        stop_seen: float | None = None
        while not self._done.wait(HEARTBEAT_SECONDS):
            try:
                if self.store.heartbeat(ids):
                    self.stop_event.set()
            except RunStoreError:
                continue
            if self.stop_event.is_set():
                stop_seen = stop_seen or time.perf_counter()
                if time.perf_counter() - stop_seen > STOP_GRACE_SECONDS and not self._done.is_set():
                    self._force_stop()

    def _force_stop(self) -> None:
        """The current step is too slow to wait for: record the stop and leave now."""
        for run in self.runs:
            with contextlib.suppress(RunStoreError):
                self.store.set_status(run.id, "stopped", only_from=["running"])
        os._exit(0)

    def _next(self) -> Trainer | None:
        pending = [t for t in self.trainers.values() if not t.finished]
        return min(pending, key=lambda t: t.step) if pending else None

    def run(self, on_trainer: Callable[[str, Trainer], None] | None = None) -> str:
        """Train to the end or to a stop; returns "finished", "stopped" or "failed"."""
        outcome, error = "failed", None
        try:
            for run in self.runs:
                self.store.attach_worker(run.id, os.getpid())
                if on_trainer:
                    on_trainer(run.id, self.trainers[run.id])
        except RunStoreError as refused:
            return self._end("failed", str(disk_error(refused, "starting the run") or refused))
        beat = threading.Thread(target=self._heartbeat, name="seqrev-heartbeat", daemon=True)
        beat.start()
        last_flush = time.perf_counter()
        try:
            while (trainer := self._next()) is not None:
                if self.stop_event.is_set():
                    break
                trainer.run(self.stop_event, max_steps=1)
                now = time.perf_counter()
                if now - last_flush >= FLUSH_SECONDS:
                    self.flush()
                    last_flush = now
                if now - self._last_state_save >= STATE_SECONDS:
                    self.save_states()
            self.save_states()
            outcome = "finished" if self._next() is None else "stopped"
        except DiskWriteError as refused:
            error = str(refused)
        except RunStoreError as refused:
            error = _(NOT_RECORDED).format(error=refused)
        except (RuntimeError, ValueError, OSError) as refused:  # e.g. out of memory
            error = f"{type(refused).__name__}: {str(refused).splitlines()[0][:300]}"
        finally:
            self._done.set()
        return self._end(outcome, error)

    def _end(self, outcome: str, error: str | None) -> str:
        """Record the outcome; a failure the store can't take goes to stderr and the cause file."""
        self._done.set()
        self.failure = error if outcome == "failed" else None
        unrecorded = []
        for run in self.runs:
            try:
                self.store.set_status(run.id, outcome, error=error)
            except RunStoreError as refused:
                unrecorded.append((run.id, refused))
        for run_id, refused in unrecorded:
            cause = error or _(OUTCOME_NOT_RECORDED).format(
                outcome=_(OUTCOMES.get(outcome, outcome)))
            kept = write_cause(self.store.run_folder(run_id), cause)
            print(f"seqrev worker: run {run_id} {outcome}: {cause}; the store refused it "
                  f"({refused}); " + ("the cause is kept in the run folder and recorded when "
                                      "the store can be written" if kept else
                                      "the cause could not be kept either"),
                  file=sys.stderr, flush=True)
        return outcome


def install_stop_signals(worker: Worker) -> None:
    """SIGTERM and SIGINT stop ``worker`` after its current step, like the Stop button."""
    def handler(signum, frame) -> None:
        worker.stop_event.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def set_threads(threads: int | None) -> None:
    """Torch CPU threads for this process (None keeps torch's default)."""
    if threads:
        torch.set_num_threads(threads)


def trainer_from_run(store: RunStore, run: RunRecord) -> Trainer:
    """A Trainer holding ``run``'s last saved state (its weights, history and counters)."""
    trainer = Trainer(run.model_config, run.train_config)
    load_state(trainer, store.run_folder(run.id))
    return trainer


def save_run_checkpoint(store: RunStore, run: RunRecord, name: str,
                        overwrite: bool = False, trainer: Trainer | None = None) -> dict:
    """Evaluate ``run``'s model and save it as checkpoint ``name``; returns the record saved.

    The checkpoint's sidecar names its run, and the run names its checkpoint.
    """
    import seqrev.checkpoints.store as checkpoints
    from seqrev.training.settings import command_line

    trainer = trainer or trainer_from_run(store, run)
    record = checkpoints.training_record(
        trainer, command=command_line(run.model_config, run.train_config, name))
    record["run_id"] = run.id
    checkpoints.save_checkpoint(name, trainer.model, run.train_config, record,
                                overwrite=overwrite)
    store.set_checkpoint(run.id, name)
    return record
