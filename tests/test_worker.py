"""Worker processes: recording, stop, bit-identical resume, kill -9, and a store that fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import seqrev.runs.scheduler as scheduler
from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.state import STATE_FILE
from seqrev.runs.store import RunStore, RunStoreError
from seqrev.runs.worker import Worker, trainer_from_run
from seqrev.training.trainer import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
TINY_MODEL = ModelConfig(kind="attention", embedding_dim=8, hidden_dim=16)
TINY_TRAIN = TrainConfig(steps=40, batch_size=8, min_len=1, max_len=5, eval_every=10,
                         eval_size=20, seed=3)


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(tmp_path / "runs"))
    return RunStore(tmp_path / "runs")


def _weights(store: RunStore, run_id: str) -> dict[str, torch.Tensor]:
    return trainer_from_run(store, store.get(run_id)).model.state_dict()


def test_a_worker_records_every_step_and_evaluation(store):
    run = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    assert Worker(store, [run]).run() == "finished"
    run = store.get(run.id)
    assert (run.status, run.steps_done) == ("finished", 40) and run.finished is not None
    history = store.history(run.id)
    assert history.steps["step"].tolist() == list(range(1, 41))
    assert history.evals["step"].tolist() == [10, 20, 30, 40]
    assert history.steps["wall_seconds"].is_monotonic_increasing
    assert run.wall_seconds >= history.steps["wall_seconds"].iloc[-1]
    assert (store.run_folder(run.id) / STATE_FILE).is_file()


def test_a_race_trains_both_runs_on_the_same_batches(store):
    plain = store.create_run(ModelConfig(kind="plain", embedding_dim=8, hidden_dim=16),
                             TINY_TRAIN, group_id="g", status="running")
    attention = store.create_run(TINY_MODEL, TINY_TRAIN, group_id="g", status="running")
    worker = Worker(store, [plain, attention])
    assert worker.run() == "finished"
    assert [store.get(r.id).steps_done for r in (plain, attention)] == [40, 40]
    generators = [t.batch_generator.get_state() for t in worker.trainers.values()]
    assert torch.equal(*generators)


def test_stop_then_resume_gives_bit_identical_weights(store):
    straight = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    Worker(store, [straight]).run()
    broken = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    first = Worker(store, [broken])

    def stop_at_17(event) -> None:
        if event.step == 17:
            first.stop_event.set()

    first.trainers[broken.id].add_callback("step", stop_at_17)
    assert first.run() == "stopped"
    assert store.get(broken.id).steps_done == 17
    store.set_status(broken.id, "running")
    assert Worker(store, [store.get(broken.id)]).run() == "finished"
    expected, resumed = _weights(store, straight.id), _weights(store, broken.id)
    assert all(torch.equal(expected[k], resumed[k]) for k in expected)
    assert (store.history(straight.id).steps["loss"].tolist()
            == store.history(broken.id).steps["loss"].tolist())


def test_a_store_that_fails_mid_run_marks_the_run_failed(store, monkeypatch):
    run = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    original = store.record_progress
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise RunStoreError("run store (runs.sqlite3): database or disk is full")
        return original(*args, **kwargs)

    monkeypatch.setattr(store, "record_progress", failing)
    monkeypatch.setattr("seqrev.runs.worker.FLUSH_SECONDS", 0.0)
    assert Worker(store, [run]).run() == "failed"
    failed = store.get(run.id)
    assert failed.status == "failed" and failed.error == "disk full while recording the metrics"
    assert len(store.history(run.id).steps) >= 1  # what was stored before stays


def _start_cli_run(store: RunStore, steps: int) -> tuple[subprocess.Popen, str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "seqrev", "train", "--model", "plain", "--embedding-dim", "8",
         "--hidden-dim", "16", "--batch-size", "8", "--min-len", "1", "--max-len", "5",
         "--steps", str(steps), "--eval-every", "200", "--eval-size", "20", "--threads", "1",
         "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SEQREV_RUNS_DIR": str(store.root)})
    first_line = child.stdout.readline().strip()
    assert first_line.startswith("run "), first_line
    return child, first_line.split()[1]


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_worker_is_interrupted_keeps_its_metrics_and_resumes(store):
    child, run_id = _start_cli_run(store, steps=3000)
    state = store.run_folder(run_id) / STATE_FILE
    _wait_for(lambda: store.get(run_id).steps_done > 50)
    time.sleep(0.6)
    os.kill(child.pid, signal.SIGKILL)
    killed_at = time.time()
    child.wait()
    before = store.get(run_id)
    assert before.status == "running"  # nobody has noticed yet
    assert killed_at - before.heartbeat <= 1.5  # at most about a second of metrics lost
    assert store.reap(stale_after=0.0) == [run_id]
    after = store.get(run_id)
    assert after.status == "interrupted" and after.steps_done == before.steps_done
    assert len(store.history(run_id).steps) == before.steps_done
    if not state.is_file():  # killed before the first save: resumes from the start
        assert before.steps_done < 3000
    store.set_status(run_id, "running")
    assert Worker(store, [store.get(run_id)]).run() == "finished"
    steps = store.history(run_id).steps["step"].tolist()
    assert steps == list(range(1, 3001))


def test_stop_reaches_a_worker_process_and_resume_from_the_cli_finishes(store):
    child, run_id = _start_cli_run(store, steps=100_000)
    _wait_for(lambda: store.get(run_id).steps_done > 5)
    store.request_stop(run_id)
    _wait_for(lambda: store.get(run_id).status == "stopped", timeout=10)
    assert child.wait(timeout=30) == 0
    run = store.get(run_id)
    assert 5 < run.steps_done < 100_000


def test_the_launcher_runs_queued_runs_in_worker_processes(store, monkeypatch):
    monkeypatch.setenv("SEQREV_MAX_RUNNING", "1")
    runs = [store.create_run(ModelConfig(kind="plain", embedding_dim=8, hidden_dim=16),
                             TrainConfig(steps=20, batch_size=8, min_len=1, max_len=3,
                                         eval_every=0, seed=seed)) for seed in (1, 2)]
    assert scheduler.launch_pending(store) == [[runs[0].id]]
    assert store.get(runs[1].id).status == "queued"
    # the first worker hands its slot to the second as it ends
    _wait_for(lambda: all(store.get(r.id).status == "finished" for r in runs), timeout=120)
    scheduler.reap_children()


def test_an_app_worker_trains_below_the_servers_priority(store, monkeypatch):
    from seqrev.cli.main import main
    from seqrev.cli.runs import WORKER_NICENESS

    asked = []
    monkeypatch.setattr(os, "nice", asked.append)
    run = store.create_run(ModelConfig(kind="plain", embedding_dim=8, hidden_dim=16),
                           TrainConfig(steps=5, batch_size=8, min_len=1, max_len=3,
                                       eval_every=0, seed=1))
    assert main(["train", "--run", run.id]) == 0
    assert asked == [WORKER_NICENESS] and WORKER_NICENESS > 0
    assert store.get(run.id).status == "finished"


def test_a_cli_train_keeps_the_users_priority(store, monkeypatch, tmp_path):
    from seqrev.cli.main import main

    asked = []
    monkeypatch.setattr(os, "nice", asked.append)
    monkeypatch.setenv("SEQREV_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    assert main(["train", "--model", "plain", "--embedding-dim", "8", "--hidden-dim", "16",
                 "--steps", "3", "--batch-size", "8", "--max-len", "3", "--eval-every", "0",
                 "--quiet"]) == 0
    assert asked == []
