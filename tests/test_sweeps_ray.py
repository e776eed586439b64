"""Sweeps on a real local Ray (1 CPU): two tiny trials, resume, a killed worker, stop.

One Ray for the module (it takes a few seconds and a few hundred MB to start); every trial is
embedding 8, hidden 16, 20 steps. ``pytest -m "not ray"`` leaves these out.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from seqrev.runs.store import RunStore
from seqrev.sweeps.driver import run_sweep
from seqrev.sweeps.spec import SweepSpec
from seqrev.sweeps.store import create_sweep, progress, request_stop, results
from seqrev.sweeps.trial import train_trial, trial_payload

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray


@pytest.fixture
def store(tmp_path, local_ray):
    return RunStore(tmp_path / "runs")


def _spec(**grid) -> SweepSpec:
    return SweepSpec(grid=grid, base={"embedding_dim": 8, "hidden_dim": 16, "max_len": 4},
                     steps=20, eval_every=10, eval_per_length=20)


def test_two_tiny_trials_on_local_ray(store):
    record = create_sweep(_spec(kind=("plain", "attention")), store=store)
    events = []
    final = run_sweep(record.id, store=store, on_event=lambda k, d: events.append(k))
    assert final.status == "finished" and final.wall_seconds > 0
    runs = store.list_runs(sweep_id=record.id)
    assert sorted(r.kind for r in runs) == ["attention", "plain"]
    for run in runs:
        assert (run.status, run.source, run.steps_done) == ("finished", "sweep", 20)
        assert run.extra["attempts"] == 1 and len(run.extra["lengths"]) == 8
        history = store.history(run.id)
        assert list(history.steps["step"]) == list(range(1, 21))
        assert list(history.evals["step"]) == [10, 20]
    assert events.count("finished") == 2 and events[-1] == "end"
    frame = results(record.id, store)
    assert len(frame) == 16 and frame["n"].eq(20).all()


def test_resume_skips_finished_trials(store):
    record = create_sweep(_spec(seed=(0, 1, 2)), store=store)
    run_sweep(record.id, store=store)
    first = {r.extra["trial"]: r for r in store.list_runs(sweep_id=record.id)}
    store.set_status(first[1].id, "stopped")  # as if stopped mid-way
    run_sweep(record.id, store=store)
    second = {r.extra["trial"]: r for r in store.list_runs(sweep_id=record.id)}
    assert len(second) == 3 and all(r.status == "finished" for r in second.values())
    assert second[0].id == first[0].id and second[2].id == first[2].id  # not redone
    assert second[1].id != first[1].id  # the stopped trial ran again, as a fresh run
    assert second[0].finished == first[0].finished


def _die_once(payload, coordinator):
    marker = Path(payload["marker"])
    if not marker.exists():
        marker.write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)  # a dead worker, like kill -9
    return train_trial(payload, coordinator)


def _die_always(payload, coordinator):
    if payload["model_config"]["kind"] == "plain":
        os.kill(os.getpid(), signal.SIGKILL)
    return train_trial(payload, coordinator)


def test_a_killed_worker_is_retried_once(store, tmp_path, monkeypatch):
    real = trial_payload
    monkeypatch.setattr("seqrev.sweeps.trial.trial_payload",
                        lambda run, spec: {**real(run, spec), "marker": str(tmp_path / "m")})
    record = create_sweep(_spec(kind=("plain",)), store=store)
    events = []
    run_sweep(record.id, store=store, trial_fn=_die_once,
              on_event=lambda k, d: events.append(k))
    (run,) = store.list_runs(sweep_id=record.id)
    assert run.status == "finished" and run.extra["attempts"] == 2
    assert events.count("retry") == 1


def test_a_worker_that_dies_twice_fails_its_trial_and_the_sweep_goes_on(store):
    record = create_sweep(_spec(kind=("plain", "attention")), store=store)
    final = run_sweep(record.id, store=store, trial_fn=_die_always)
    runs = {r.kind: r for r in store.list_runs(sweep_id=record.id)}
    assert runs["plain"].status == "failed" and "worker died" in runs["plain"].error
    assert runs["attention"].status == "finished"
    assert final.status == "finished"
    counts = progress(record.id, store)
    assert (counts.done, counts.failed, counts.queued) == (1, 1, 0)


def test_stop_marks_running_trials_stopped_and_keeps_the_rest_queued(store):
    spec = SweepSpec(grid={"seed": (0, 1)},
                     base={"embedding_dim": 8, "hidden_dim": 16, "max_len": 4},
                     steps=100_000, eval_every=0, eval_per_length=20,
                     pack=1)  # one trial per task: the second waits in the queue
    record = create_sweep(spec, store=store)
    stop = threading.Event()

    def stop_when_training(kind, data):
        if kind == "start":
            threading.Timer(2.0, stop.set).start()

    started = time.perf_counter()
    final = run_sweep(record.id, store=store, stop=stop, on_event=stop_when_training)
    assert time.perf_counter() - started < 60
    assert final.status == "stopped"
    (run,) = store.list_runs(sweep_id=record.id)  # 1 CPU: the second trial never started
    assert run.status == "stopped" and 0 < run.steps_done < 100_000
    assert not store.history(run.id).steps.empty  # what it trained is kept
    counts = progress(record.id, store)
    assert (counts.done, counts.running, counts.queued) == (0, 0, 2)


def test_stop_requested_from_another_process_reaches_the_driver(store):
    spec = SweepSpec(grid={"seed": (0,)},
                     base={"embedding_dim": 8, "hidden_dim": 16, "max_len": 4},
                     steps=100_000, eval_every=0, eval_per_length=20)
    record = create_sweep(spec, store=store)

    def ask(kind, data):
        if kind == "start":
            threading.Timer(2.0, request_stop, (record.id, RunStore(store.root))).start()

    final = run_sweep(record.id, store=store, on_event=ask)
    assert final.status == "stopped"
    assert store.list_runs(sweep_id=record.id)[0].status == "stopped"


def test_cli_runs_a_sweep_on_its_own_local_ray_and_exports_it(tmp_path):
    import subprocess
    import sys

    import pandas as pd

    out = tmp_path / "results.csv"
    env = {**os.environ, "SEQREV_RUNS_DIR": str(tmp_path / "cli-runs")}
    done = subprocess.run(
        [sys.executable, "-m", "seqrev", "sweep", "run", "--grid", "kind=plain,attention",
         "--set", "embedding_dim=8", "--set", "hidden_dim=16", "--set", "max_len=3",
         "--steps", "20", "--eval-per-length", "20", "--export", str(out)],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 finished, 0 failed, 0 to go" in done.stdout
    frame = pd.read_csv(out)
    assert sorted(frame["kind"].unique()) == ["attention", "plain"]
    assert sorted(frame["test_length"].unique()) == [1, 2, 3, 4, 5, 6]
    store = RunStore(tmp_path / "cli-runs")
    assert [r.status for r in store.list_runs()] == ["finished", "finished"]
