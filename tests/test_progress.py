"""The Train page's words about a run (seqrev.runs.progress): progress line, lengths, metrics."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.progress import lengths_text, metrics_table, race_progress
from seqrev.runs.store import RunHistory, RunRecord
from seqrev.training.trainer import TrainConfig


def record(**changes) -> RunRecord:
    base = RunRecord(
        id="r1", status="running", kind="plain", model_config=ModelConfig(kind="plain"),
        train_config=TrainConfig(steps=400), group_id=None, sweep_id=None, source="app",
        steps_done=100, steps_total=400, exact_match=None, best_exact_match=None,
        wall_seconds=30.0, created=1000.0, started=1002.0, updated=1030.0, finished=None,
        checkpoint=None, error=None)
    return replace(base, **changes)


def test_a_running_run_shows_its_step_elapsed_time_and_time_left():
    progress = race_progress([record()], now=1040.0)
    assert progress.fraction == pytest.approx(0.25)
    assert progress.text == "Running: step 100 of 400 · 0:30 elapsed · about 1:30 left"


def test_a_race_follows_its_slowest_member_and_says_each_model():
    race = [record(), record(id="r2", kind="attention", steps_done=60, wall_seconds=36.0)]
    progress = race_progress(race, now=1040.0)
    assert progress.fraction == pytest.approx(0.15)
    assert progress.text.startswith("Running: step 60 of 400 (each model) · 0:36 elapsed")
    assert "about 3:24 left" in progress.text  # 36 s for 60 steps, 340 to go


def test_queued_and_starting_runs_say_what_they_wait_for():
    queued = race_progress([record(status="queued", steps_done=0)], now=0.0, queue_position=2)
    assert (queued.fraction, queued.text) == (
        0.0, "Queued, position 2: it starts when a worker is free.")
    starting = race_progress([record(steps_done=0)], now=1009.4)
    assert starting.fraction == 0.0 and "(7 s so far)" in starting.text


def test_a_finished_or_stopped_run_has_no_estimate():
    done = race_progress([record(status="finished", steps_done=400, wall_seconds=95.0)], 0.0)
    assert done.fraction == 1.0 and done.text == "Finished: step 400 of 400 · 1:35 elapsed"
    stopped = race_progress([record(status="stopped")], 0.0)
    assert "left" not in stopped.text and stopped.fraction == pytest.approx(0.25)


def test_lengths_read_as_one_length_or_a_range():
    assert lengths_text(10, 10) == "10 letters"
    assert lengths_text(1, 16) == "1 to 16 letters"


def test_the_metrics_table_joins_each_runs_evaluations_on_the_step():
    steps = pd.DataFrame({"step": [1, 2, 3], "loss": [3.0, 2.0, 1.0],
                          "wall_seconds": [0.1, 0.2, 0.3]})
    evals = pd.DataFrame({"step": [2], "exact_match": [0.5], "wall_seconds": [0.25]})
    table = metrics_table([(record(), RunHistory(steps, evals)),
                           (record(id="r2", kind="attention"), RunHistory(steps, evals))])
    assert list(table.columns) == ["run", "model", "step", "loss", "wall_seconds", "exact_match"]
    assert list(table["run"]) == ["r1"] * 3 + ["r2"] * 3
    assert table["exact_match"].isna().tolist() == [True, False, True] * 2
    assert list(table["wall_seconds"]) == [0.1, 0.2, 0.3] * 2  # the step's own time
    assert metrics_table([]).empty
