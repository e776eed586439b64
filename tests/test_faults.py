"""Fault suite (issue 17): a full disk and a kill -9 at each write point of a run, a greedy
owner against the queue caps, and a killed worker seen at once. Small enough for 2 cores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

import seqrev.checkpoints.store as checkpoints
import seqrev.cli.runs as cli_runs
import seqrev.runs.scheduler as scheduler
import seqrev.runs.state as run_state
from seqrev.disk import CAUSE_FILE, read_cause
from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.state import STATE_FILE, saved_step
from seqrev.runs.store import HOST, QueueLimitError, QueueLimits, RunStore
from seqrev.runs.worker import Worker
from seqrev.training.trainer import TrainConfig
from tests.events_support import step_event
from tests.fault_support import (
    FILLER_STEP,
    TINY_FLAGS,
    FullStore,
    disk_full,
    inject_at,
    killed,
    run_cli,
    run_killed,
)

TINY_MODEL = ModelConfig(kind="attention", embedding_dim=8, hidden_dim=16)
TINY_TRAIN = TrainConfig(steps=30, batch_size=8, min_len=1, max_len=5, eval_every=10,
                         eval_size=20, seed=3)


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr("seqrev.runs.worker.STATE_SECONDS", 0.0)  # a state write at every step
    monkeypatch.setattr("seqrev.runs.worker.FLUSH_SECONDS", 0.0)
    return RunStore(tmp_path / "runs")


def only_run(store: RunStore):
    (run,) = store.list_runs()
    return run


def temp_files(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.tmp"))


# -- a full disk at each write point -----------------------------------------------------


def test_full_disk_while_saving_the_state_fails_the_run_with_its_cause(store, monkeypatch):
    counter = inject_at(monkeypatch, "state", after=15)
    code, out, err = run_cli(["train", *TINY_FLAGS])
    run = only_run(store)
    assert code == cli_runs.EXIT_RUN_FAILED and "Traceback" not in err
    assert run.status == "failed" and run.error == "disk full while saving the resumable state"
    assert out.splitlines()[-1].startswith("failed: ") and run.error in out.splitlines()[-1]
    stored = store.history(run.id).steps["step"].tolist()
    assert saved_step(store.run_folder(run.id)) == 14 and len(stored) >= 14
    assert temp_files(store.root) == []
    counter["on"] = False  # space is back
    code, out, _ = run_cli(["train", "--resume", run.id, "--quiet"])
    assert code == 0 and store.get(run.id).status == "finished"
    assert store.history(run.id).steps["step"].tolist() == list(range(1, 31))


def test_full_store_while_recording_metrics_fails_the_run_and_keeps_its_rows(store, monkeypatch):
    full = FullStore(monkeypatch)
    other = store.create_run(TINY_MODEL, TINY_TRAIN, status="finished")
    store.record_progress(other.id, [step_event(step, 1.0, 0.1) for step in range(1, 50)], [],
                          steps_done=49, wall_seconds=1.0)
    run = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    worker = Worker(store, [run])
    worker.trainers[run.id].add_callback(  # after step 5 is stored, the database is full
        "step", lambda event: full.fill(store, run.id) if event.step == 6 else None)
    assert worker.run() == "failed"
    full.mode = None
    failed = store.get(run.id)
    assert failed.status == "failed" and failed.error == "disk full while recording the metrics"
    kept = [s for s in store.history(run.id).steps["step"] if s < FILLER_STEP]
    assert kept == [1, 2, 3, 4, 5]  # everything stored before the disk filled stays
    assert len(store.history(other.id).steps) == 49
    cli_runs._resumable(store, run.id)
    assert Worker(store, [store.get(run.id)]).run() == "finished"
    assert store.history(run.id).steps["step"].tolist() == list(range(1, 31))


def test_a_store_that_cannot_be_written_at_all_leaves_the_cause_for_the_reaper(
        store, monkeypatch, capsys):
    full = FullStore(monkeypatch)
    calls = {"n": 0}

    def disk_fills(handle, blob) -> None:  # the 10th state write fills the disk for good
        calls["n"] += 1
        if calls["n"] >= 10:
            full.mode = "write"
            raise disk_full()
        handle.write(blob)

    monkeypatch.setattr(run_state, "write_bytes", disk_fills)
    run = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    assert Worker(store, [run]).run() == "failed"
    assert "disk full while saving the resumable state" in capsys.readouterr().err
    assert store.get(run.id).status == "running"  # the store could not take it
    assert read_cause(store.run_folder(run.id)) == "disk full while saving the resumable state"
    code, out, err = run_cli(["runs", "--json"])  # listing works while the disk is full
    assert code == 0 and json.loads(out)[0]["id"] == run.id and "warning" in err
    full.mode = None  # space is back; this process is the dead worker's stand-in
    store.attach_worker(run.id, _dead_pid())
    assert store.reap() == [run.id]
    reaped = store.get(run.id)
    assert reaped.status == "failed"
    assert reaped.error == "disk full while saving the resumable state"


def test_full_disk_while_saving_the_checkpoint_fails_the_run_and_resume_saves_it(
        store, monkeypatch, checkpoint_dir):
    counter = inject_at(monkeypatch, "checkpoint")
    code, out, err = run_cli(["train", *TINY_FLAGS, "--out", "tiny"])
    run = only_run(store)
    assert code == 1 and "Traceback" not in err
    assert run.status == "failed" and run.error == "disk full while saving checkpoint 'tiny'"
    assert "train --resume" in out.splitlines()[-1]
    assert not checkpoints.exists("tiny")
    counter["on"] = False
    code, out, _ = run_cli(["train", "--resume", run.id, "--out", "tiny", "--quiet"])
    assert code == 0 and checkpoints.exists("tiny") and store.get(run.id).status == "finished"


def test_a_disk_error_of_another_kind_is_named_too(store, monkeypatch):
    import errno

    inject_at(monkeypatch, "state", after=5, error=OSError(errno.EROFS, "Read-only file system"))
    run_cli(["train", *TINY_FLAGS])
    assert only_run(store).error == "read-only file system while saving the resumable state"


# -- a killed worker is seen at once, and its temp files go -------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_resume_is_accepted_right_after_the_worker_is_killed(store):
    run = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    store.attach_worker(run.id, worker.pid)
    assert store.get(run.id).silent is False
    worker.kill()
    worker.wait()
    started = time.monotonic()
    assert store.get(run.id).silent  # any reader sees it, no heartbeat wait
    (resumed,) = cli_runs._resumable(store, run.id)  # today: "run ... is running"
    assert time.monotonic() - started < 1.0
    assert resumed.status == "running" and resumed.pid == os.getpid()


def test_a_live_worker_on_this_machine_is_never_reaped(store):
    run = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    store.attach_worker(run.id, os.getpid())
    assert store.reap(stale_after=0.0) == [] and store.get(run.id).host == HOST


@pytest.mark.parametrize("point", ["state", "metrics"])
def test_a_kill_mid_write_loses_nothing_and_leaves_no_litter(store, tmp_path, point):
    env = {"SEQREV_RUNS_DIR": str(store.root)}
    result = run_killed(point, ["train", *TINY_FLAGS], env)
    assert killed(result), result.stderr[-500:]
    run = only_run(store)
    folder = store.run_folder(run.id)
    before = store.history(run.id).steps["step"].tolist()
    if point == "state":
        assert temp_files(folder)  # the dead writer's half-written temp file
    assert store.reap() == [run.id]  # its pid is dead: at once
    assert store.get(run.id).status == "interrupted" and temp_files(folder) == []
    assert store.history(run.id).steps["step"].tolist() == before  # nothing stored is lost
    code, _, err = run_cli(["train", "--resume", run.id, "--quiet"])
    assert code == 0 and "Traceback" not in err
    assert store.history(run.id).steps["step"].tolist() == list(range(1, 31))


def test_a_kill_mid_checkpoint_leaves_a_temp_file_the_next_save_removes(store, checkpoint_dir):
    env = {"SEQREV_RUNS_DIR": str(store.root), "SEQREV_CHECKPOINT_DIR": str(checkpoint_dir)}
    result = run_killed("checkpoint", ["train", *TINY_FLAGS, "--out", "tiny"], env)
    assert killed(result), result.stderr[-500:]
    assert temp_files(checkpoint_dir) and not checkpoints.exists("tiny")
    assert "tiny" not in checkpoints.list_checkpoints()  # never read
    run = only_run(store)
    code, _, err = run_cli(["train", "--resume", run.id, "--out", "tiny", "--quiet"])
    assert code == 0, err
    assert checkpoints.exists("tiny") and temp_files(checkpoint_dir) == []


def test_the_next_writer_removes_a_dead_writers_temp_state(store):
    run = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    folder = store.run_folder(run.id)
    folder.mkdir(parents=True)
    (folder / ".state.abc123.tmp").write_bytes(b"half a state")
    assert saved_step(folder) is None  # a temp file is never read as the state
    Worker(store, [run])
    assert temp_files(folder) == [] and (folder / CAUSE_FILE).exists()
    assert not (folder / STATE_FILE).exists()


# -- caps that keep a shared server fair -------------------------------------------------


@pytest.fixture
def no_launch(monkeypatch):
    monkeypatch.setattr(scheduler, "launch_pending", lambda store, limit=None: [])


def test_a_greedy_owner_is_refused_past_the_per_owner_limit(store, no_launch):
    for _ in range(3):
        scheduler.submit(store, [TINY_MODEL], TINY_TRAIN, owner="browser:greedy")
    with pytest.raises(QueueLimitError) as refused:
        scheduler.submit(store, [TINY_MODEL], TINY_TRAIN, owner="browser:greedy")
    message = str(refused.value)
    assert "limit per person (3, SEQREV_MAX_QUEUED_PER_OWNER)" in message
    assert "3 runs are ahead in the queue" in message
    assert len(store.list_runs()) == 3
    scheduler.submit(store, [TINY_MODEL], TINY_TRAIN, owner="browser:patient")  # others go on
    assert len(store.list_runs()) == 4


def test_a_race_counts_once_and_finished_runs_free_the_owners_slots(store, no_launch):
    race = [TINY_MODEL, ModelConfig(kind="plain", embedding_dim=8, hidden_dim=16)]
    for _ in range(3):
        scheduler.submit(store, race, TINY_TRAIN, owner="user:me")
    with pytest.raises(QueueLimitError):
        scheduler.submit(store, race, TINY_TRAIN, owner="user:me")
    for member in store.group(store.list_runs()[0]):
        store.set_status(member.id, "finished")
    scheduler.submit(store, [TINY_MODEL], TINY_TRAIN, owner="user:me")


def test_the_limits_come_from_the_environment_and_the_queue_has_a_global_cap(
        store, no_launch, monkeypatch):
    monkeypatch.setenv("SEQREV_MAX_QUEUED_PER_OWNER", "1")
    monkeypatch.setenv("SEQREV_MAX_QUEUED", "2")
    assert QueueLimits.from_environment() == QueueLimits(per_owner=1, queued=2)
    scheduler.submit(store, [TINY_MODEL], TINY_TRAIN, owner="a")
    with pytest.raises(QueueLimitError, match=r"limit per person \(1"):
        scheduler.submit(store, [TINY_MODEL], TINY_TRAIN, owner="a")
    scheduler.submit(store, [TINY_MODEL], TINY_TRAIN, owner="b")
    with pytest.raises(QueueLimitError, match=r"queue is full.*2 runs are ahead"):
        scheduler.submit(store, [TINY_MODEL], TINY_TRAIN, owner="c")


def test_quick_repeated_starts_from_many_threads_cannot_slip_past_the_limit(store, no_launch):
    refused = []

    def press_start() -> None:
        try:
            scheduler.submit(store, [TINY_MODEL], TINY_TRAIN, owner="browser:fast")
        except QueueLimitError:
            refused.append(1)

    threads = [threading.Thread(target=press_start) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.list_runs()) == 3 and len(refused) == 7


def test_a_shared_server_refuses_a_run_estimated_over_its_time_limit(store, no_launch,
                                                                     monkeypatch):
    huge = TrainConfig(steps=100_000, batch_size=512, min_len=1, max_len=64)
    big_model = ModelConfig(kind="attention", embedding_dim=256, hidden_dim=512)
    scheduler.submit(store, [big_model], huge, owner="local")  # not shared: allowed
    monkeypatch.setenv("SEQREV_SHARED", "1")
    with pytest.raises(scheduler.RunTooLongError, match="SEQREV_MAX_RUN_MINUTES"):
        scheduler.submit(store, [big_model], huge, owner="remote")
    scheduler.submit(store, [TINY_MODEL], TINY_TRAIN, owner="remote")  # a small one still goes
    assert len(store.list_runs()) == 2


def test_the_train_page_shows_a_refused_start_as_one_error(store, no_launch, monkeypatch):
    from tests.apptest_support import open_page

    monkeypatch.setenv("SEQREV_MAX_QUEUED", "1")
    scheduler.submit(store, [TINY_MODEL], TINY_TRAIN, owner="browser:someone-else")
    at = open_page("pages/train.py", timeout=120)
    at.button(key="train_start").click().run()
    assert not at.exception
    shown = [e.value.replace("\\", "") for e in at.error]  # escaped for Markdown
    assert any("Start refused: the queue is full" in text and "1 runs are ahead" in text
               for text in shown), shown
    assert len(store.list_runs()) == 1
