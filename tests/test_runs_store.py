"""The run store: round trips, queue order, tokens, liveness and a store that can't be used."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.store import RunNotFound, RunStore, RunStoreError, new_token, valid_run_id
from seqrev.training.trainer import TrainConfig
from tests.events_support import eval_event, step_event

TINY_MODEL = ModelConfig(kind="plain", embedding_dim=8, hidden_dim=16)
TINY_TRAIN = TrainConfig(steps=30, batch_size=8, min_len=1, max_len=5, eval_every=10,
                         eval_size=20)


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def test_a_run_round_trips_with_its_configs_and_history(store):
    run = store.create_run(TINY_MODEL, TINY_TRAIN, source="app", extra={"note": "x"})
    assert valid_run_id(run.id) and run.status == "queued" and run.kind == "plain"
    again = store.get(run.id)
    assert again.model_config == TINY_MODEL and again.train_config == TINY_TRAIN
    assert again.extra == {"note": "x"} and again.steps_total == 30
    store.set_status(run.id, "running")
    store.record_progress(run.id, [step_event(1, 3.0, 0.5), step_event(2, 2.5, 1.0)],
                          [eval_event(2, 0.25, 1.1)], steps_done=2, wall_seconds=1.1)
    store.record_progress(run.id, [step_event(3, 2.0, 1.5)], [eval_event(3, 0.1, 1.6)],
                          steps_done=3, wall_seconds=1.6)
    run = store.get(run.id)
    assert (run.steps_done, run.wall_seconds) == (3, 1.6)
    assert run.exact_match == 0.1 and run.best_exact_match == 0.25
    history = store.history(run.id)
    assert history.steps["step"].tolist() == [1, 2, 3]
    assert history.steps["loss"].tolist() == [3.0, 2.5, 2.0]
    assert history.evals["exact_match"].tolist() == [0.25, 0.1]
    store.update_extra(run.id, evaluation={"10": 0.5})
    assert store.get(run.id).extra == {"note": "x", "evaluation": {"10": 0.5}}
    store.truncate_history(run.id, after_step=2)
    assert store.history(run.id).steps["step"].tolist() == [1, 2]
    assert store.get(run.id).exact_match == 0.25
    store.delete(run.id)
    with pytest.raises(RunNotFound):
        store.get(run.id)
    assert store.list_runs() == []


def test_history_is_thinned_for_charts_but_keeps_the_last_step(store):
    run = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    rows = [step_event(s, 1.0, s * 0.01) for s in range(1, 1001)]
    store.record_progress(run.id, rows, [], steps_done=1000, wall_seconds=10.0)
    thinned = store.history(run.id, max_points=100).steps
    assert len(thinned) <= 101 and thinned["step"].iloc[-1] == 1000
    assert len(store.history(run.id).steps) == 1000


def test_queued_runs_start_first_in_first_out_within_the_limit(store):
    first = store.create_run(TINY_MODEL, TINY_TRAIN)
    race = [store.create_run(TINY_MODEL, TINY_TRAIN, group_id="g1"),
            store.create_run(ModelConfig(kind="attention", embedding_dim=8, hidden_dim=16),
                             TINY_TRAIN, group_id="g1")]
    last = store.create_run(TINY_MODEL, TINY_TRAIN)
    assert store.queue_position(first.id) == 1
    assert store.queue_position(race[1].id) == 2 and store.queue_position(last.id) == 3
    assert store.claim_next(limit=1) == [[first.id]]
    assert store.claim_next(limit=1) == []  # the slot is taken
    store.set_status(first.id, "finished")
    assert store.claim_next(limit=1) == [[race[0].id, race[1].id]]  # a race is one worker
    assert store.queue_position(last.id) == 1
    assert store.claim_next(limit=2) == [[last.id]]
    assert {r.status for r in store.list_runs()} == {"finished", "running"}


def test_a_stop_request_stops_a_queued_run_at_once_and_flags_a_running_one(store):
    queued = store.create_run(TINY_MODEL, TINY_TRAIN)
    assert store.request_stop(queued.id) == "stopped"
    running = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    assert store.request_stop(running.id) == "running"
    assert store.heartbeat([running.id]) == [running.id]


def test_only_the_right_token_controls_a_run(store):
    token = new_token()
    run = store.create_run(TINY_MODEL, TINY_TRAIN, token=token)
    other = store.create_run(TINY_MODEL, TINY_TRAIN, token=new_token())
    assert store.check_token(run.id, token)
    assert not store.check_token(other.id, token)
    assert not store.check_token(run.id, None) and not store.check_token(run.id, "")
    assert not store.check_token(run.id, token + "x") and not store.check_token(run.id, "x" * 999)
    plain_text = sqlite3.connect(store.db_path).execute("SELECT token_hash FROM runs").fetchall()
    assert all(token not in str(row) for row in plain_text)  # stored only as a hash


def test_a_dead_worker_makes_its_run_interrupted_and_a_live_one_stays_running(store):
    dead = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    store.attach_worker(dead.id, child.pid)
    alive = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    store.attach_worker(alive.id, os.getpid())
    assert store.reap(stale_after=60) == [dead.id]  # a dead pid here: at once (issue 17)
    assert store.get(dead.id).status == "interrupted"
    assert "resume" in store.get(dead.id).error
    assert store.get(alive.id).status == "running"


@pytest.mark.parametrize("content", [b"this is not a database at all" * 100, b"\x00" * 4096])
def test_a_corrupt_store_is_one_clear_error(tmp_path, content):
    (tmp_path / "runs.sqlite3").write_bytes(content)
    with pytest.raises(RunStoreError) as caught:
        RunStore(tmp_path).list_runs()
    assert "\n" not in str(caught.value) and str(tmp_path) not in str(caught.value)


def test_an_unwritable_runs_folder_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RunStoreError, match="runs folder"):
        RunStore(blocker / "runs")


def test_unknown_ids_are_refused_without_touching_the_disk(store):
    for bad in ("", "../etc", "r000000000", "x123456789", "r12345678901", "R23456789a"):
        assert not valid_run_id(bad)
        with pytest.raises(RunNotFound):
            store.run_folder(bad)


def test_first_reaching_names_the_first_evaluation_at_a_milestone(store):
    from seqrev.runs.history import milestones_line

    run = store.create_run(TINY_MODEL, TINY_TRAIN, source="cli")
    evals = [eval_event(10, 0.5, 1.0), eval_event(20, 0.96, 2.5), eval_event(30, 0.94, 4.0),
             eval_event(40, 0.995, 5.0)]
    store.record_progress(run.id, [], evals[:2], steps_done=20, wall_seconds=2.5)
    reached = {t: store.first_reaching(t, [run.id]).get(run.id) for t in (0.95, 0.99)}
    assert reached == {0.95: (20, 2.5), 0.99: None}
    assert milestones_line(reached) == "First reached 95% at step 20 (0:02); not yet 99%."
    store.record_progress(run.id, [], evals[2:], steps_done=40, wall_seconds=5.0)
    reached = {t: store.first_reaching(t, [run.id]).get(run.id) for t in (0.95, 0.99)}
    assert reached == {0.95: (20, 2.5), 0.99: (40, 5.0)}
    other = store.create_run(TINY_MODEL, TINY_TRAIN, source="cli")
    store.record_progress(other.id, [], [eval_event(10, 0.97, 0.7)], steps_done=10,
                          wall_seconds=0.7)
    assert store.first_reaching(0.95) == {run.id: (20, 2.5), other.id: (10, 0.7)}
    assert store.first_reaching(0.95, [other.id]) == {other.id: (10, 0.7)}
    assert store.first_reaching(0.95, []) == {}  # no runs asked about: no query to build
    assert milestones_line(reached) == ("First reached 95% at step 20 (0:02) · "
                                        "99% at step 40 (0:05).")
    assert milestones_line({0.95: None, 0.99: None}) == "Exact match has not reached 95% yet."


def test_the_store_smooths_the_loss_by_one_rule_across_flushes_and_rerecorded_steps(store):
    from seqrev.runs.smoothing import ema

    run = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    losses = [3.0, 2.0, 2.5, 1.0, 0.5, 0.7]
    events = [step_event(s, loss, 0.1 * s) for s, loss in enumerate(losses, start=1)]
    store.record_progress(run.id, events[:2], [], steps_done=2, wall_seconds=0.2)
    store.record_progress(run.id, events[2:5], [], steps_done=5, wall_seconds=0.5)
    store.record_progress(run.id, events[4:], [], steps_done=6, wall_seconds=0.6)  # step 5 again
    smoothed = store.history(run.id).steps["smoothed_loss"].tolist()
    assert smoothed == pytest.approx(ema(losses), rel=1e-12)
    assert smoothed[1] != losses[1]  # smoothed, not the raw loss
    assert store.latest_smoothed_loss(run.id) == pytest.approx(ema(losses)[-1], rel=1e-12)
