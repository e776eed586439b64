"""The Home and Runs tables: no header cut short, no column twice, the usual table fits."""

from __future__ import annotations

import pytest

import seqrev.checkpoints.store as checkpoints
import seqrev.training.settings as settings
from seqrev.charts import HEADLINE_COLUMNS, headline_table
from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.compare import RUN_COLUMNS, runs_columns, runs_frame
from seqrev.runs.store import RunStore
from seqrev.tables import TABLE_WIDTH, cut_headers, total_width
from seqrev.training.trainer import TrainConfig


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def shipped_sidecars() -> list[dict]:
    return [checkpoints.read_sidecar(name, checkpoints.SHIPPED_DIR) | {"name": name}
            for name in (checkpoints.SHIPPED_PLAIN, checkpoints.SHIPPED_ATTENTION)]


def assert_readable(columns) -> None:
    headers = [column.header.casefold() for column in columns]
    assert len(set(headers)) == len(headers), headers  # never "Steps" beside "steps"
    assert cut_headers(columns) == []


def test_the_home_table_fits_the_page_with_every_header_whole():
    frame = headline_table(shipped_sidecars())
    assert list(frame.columns) == [column.name for column in HEADLINE_COLUMNS]
    assert_readable(HEADLINE_COLUMNS)
    assert total_width(HEADLINE_COLUMNS) <= TABLE_WIDTH
    assert frame["exact 10"].between(0.9, 1).all()
    assert list(frame["lengths"]) != ["?", "?"]


def test_runs_that_differ_in_steps_get_one_steps_column(store):
    short = store.create_run(ModelConfig(kind="plain"), TrainConfig(steps=100))
    long = store.create_run(ModelConfig(kind="plain"), TrainConfig(steps=700,
                                                                    learning_rate=1e-3))
    frame = runs_frame([short, long])
    columns = runs_columns(frame)
    assert_readable(columns)
    assert [name.casefold() for name in frame.columns].count("steps") == 1
    assert list(frame["steps"]) == ["0/700", "0/100"]
    default_lr = settings.by_name()["learning_rate"].format(TrainConfig().learning_rate)
    assert list(frame["settings"]) == ["lr 0.001", f"lr {default_lr}"]


def test_a_race_fits_the_page_and_every_run_column_has_a_spec(store):
    race = [store.create_run(ModelConfig(kind=kind), TrainConfig(), group_id="g1")
            for kind in ("plain", "attention")]
    frame = runs_frame(race, firsts={0.95: {}, 0.99: {}})
    columns = runs_columns(frame)
    assert [c.name for c in columns] == list(frame.columns)  # nothing without a width
    assert "race" in frame.columns and "checkpoint" not in frame.columns
    assert total_width(columns) <= TABLE_WIDTH
    assert_readable(RUN_COLUMNS)
