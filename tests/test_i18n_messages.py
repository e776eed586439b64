"""The library's own messages in 简体中文 (issue 19): each is translated where it is raised or
built, with its values kept, and English stays as it was. A message that comes out in English
on a Chinese page fails here, not only on the page that happens to show it."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import replace

import pytest

from seqrev.decoding.search import AttentionOverride, OverrideError, check_overrides, parse_override
from seqrev.i18n import use_language
from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.store import QueueLimitError, QueueLimits, RunNotFound, RunStore, RunStoreError
from seqrev.training.trainer import TrainConfig

HAN = re.compile(r"[\u4e00-\u9fff]")
TINY_MODEL = ModelConfig(kind="attention", embedding_dim=8, hidden_dim=16)
TINY_TRAIN = TrainConfig(steps=40, batch_size=8, min_len=1, max_len=5, eval_every=10,
                         eval_size=20, seed=3)


def chinese(text: object, *values: str) -> str:
    """``text`` as a string, checked to be Chinese and to hold each of ``values``."""
    text = str(text)
    assert HAN.search(text), text
    for value in values:
        assert value in text, (value, text)
    return text


# ---- seqrev.decoding.search: OverrideError ----
@pytest.mark.parametrize(("make", "values"), [
    (lambda: parse_override("3-17"), ("'3-17'",)),
    (lambda: parse_override("1:2", blend="lots"), ("'lots'",)),
    (lambda: parse_override("1:2", blend=1.5), ("1.5",)),
    (lambda: check_overrides([AttentionOverride(1, 1)], 4, has_attention=False), ()),
    (lambda: check_overrides([AttentionOverride(9, 0)], 4, True), ("9", "'9:0'", "0-4")),
    (lambda: check_overrides([AttentionOverride(0, 7)], 4, True), ("7", "'0:7'", "0-3")),
    (lambda: check_overrides([AttentionOverride(2, 1), AttentionOverride(2, 3)], 4, True),
     ("2",)),
])
def test_every_override_error_reads_in_chinese_with_its_values(make, values):
    with use_language("zh_CN"), pytest.raises(OverrideError) as raised:
        make()
    chinese(raised.value, *values)
    with use_language("en"), pytest.raises(OverrideError) as english:
        make()
    assert not HAN.search(str(english.value))


# ---- seqrev.devices ----
def test_the_device_messages_read_in_chinese(monkeypatch):
    from seqrev.devices import resolve_device

    with use_language("zh_CN"), pytest.raises(ValueError) as unknown:
        resolve_device("tpu")
    chinese(unknown.value, "'tpu'", "auto, cpu, cuda")
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with use_language("zh_CN"), pytest.raises(ValueError) as no_gpu:
        resolve_device("cuda")
    chinese(no_gpu.value, "CUDA")
    with use_language("en"), pytest.raises(ValueError) as english:
        resolve_device("cuda")
    assert str(english.value) == "device 'cuda' was asked for, but no CUDA GPU is available"


# ---- seqrev.runs.store: RunStoreError and the queue limits ----
def test_a_store_that_cannot_be_created_says_so_in_chinese(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with use_language("zh_CN"), pytest.raises(RunStoreError) as raised:
        RunStore(blocker / "runs")
    chinese(raised.value)


def test_a_corrupt_database_is_named_in_chinese_with_the_databases_own_words(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "runs.sqlite3").write_bytes(b"this is not a database" * 100)
    with use_language("zh_CN"), pytest.raises(RunStoreError) as raised:
        RunStore(tmp_path / "runs")
    chinese(raised.value, "runs.sqlite3", "not a database")
    assert isinstance(raised.value.cause, sqlite3.Error)
    with use_language("en"), pytest.raises(RunStoreError) as english:
        RunStore(tmp_path / "runs")
    assert str(english.value).startswith("run store (runs.sqlite3): ")


def test_a_missing_run_and_the_queue_limits_read_in_chinese(tmp_path):
    store = RunStore(tmp_path / "runs")
    with use_language("zh_CN"), pytest.raises(RunNotFound) as missing:
        store.get("rnothere00")
    chinese(missing.value, "'rnothere00'")
    with use_language("zh_CN"), pytest.raises(QueueLimitError) as mine:
        store.create_queued([TINY_MODEL], TINY_TRAIN, owner="me",
                            limits=QueueLimits(per_owner=0, queued=5))
    chinese(mine.value, "SEQREV_MAX_QUEUED_PER_OWNER")
    with use_language("zh_CN"), pytest.raises(QueueLimitError) as full:
        store.create_queued([TINY_MODEL], TINY_TRAIN, owner="me",
                            limits=QueueLimits(per_owner=5, queued=0))
    chinese(full.value, "SEQREV_MAX_QUEUED")


def test_a_malformed_run_row_is_named_in_chinese(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create_run(TINY_MODEL, TINY_TRAIN)
    with store.transaction() as connection:
        connection.execute("UPDATE runs SET model_config = '{\"no such field\": 1}' WHERE id = ?",
                           (run.id,))
    with use_language("zh_CN"), pytest.raises(RunStoreError) as raised:
        store.get(run.id)
    chinese(raised.value, repr(run.id))


# ---- seqrev.runs.worker ----
def test_a_worker_that_cannot_record_says_so_in_its_language(tmp_path, monkeypatch):
    from seqrev.runs.worker import Worker

    store = RunStore(tmp_path / "runs")
    run = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")

    def refusing(*args, **kwargs):
        raise RunStoreError("run store (runs.sqlite3): database is locked")

    monkeypatch.setattr(store, "record_progress", refusing)
    monkeypatch.setattr("seqrev.runs.worker.FLUSH_SECONDS", 0.0)
    with use_language("zh_CN"):
        assert Worker(store, [run]).run() == "failed"
    chinese(store.get(run.id).error, "database is locked")


def test_a_full_disk_is_still_recognised_behind_a_chinese_store_message(tmp_path):
    from seqrev.runs.worker import disk_error

    full = sqlite3.OperationalError("database or disk is full")
    with use_language("zh_CN"):
        error = RunStoreError(RunStore(tmp_path / "runs")._describe(full), full)
        assert "run store" not in str(error)
        assert disk_error(error, "recording the metrics").problem == "disk full"


# ---- seqrev.sweeps.driver: cannot reach Ray ----
@pytest.mark.parametrize(("address", "values"), [("nowhere", ("'nowhere'", "HOST:PORT")),
                                                  ("127.0.0.1:1", ("'127.0.0.1:1'",))])
def test_an_unreachable_ray_is_named_in_chinese(address, values):
    from seqrev.sweeps.driver import check_address
    from seqrev.sweeps.spec import SweepError

    with use_language("zh_CN"), pytest.raises(SweepError) as raised:
        check_address(address, timeout=1.0)
    chinese(raised.value, *values)
    with use_language("en"), pytest.raises(SweepError) as english:
        check_address(address, timeout=1.0)
    assert str(english.value).startswith(f"cannot reach Ray at {address!r}: ")


# ---- sentences the pages show as the library builds them ----
def test_the_train_pages_progress_lengths_and_milestones_read_in_chinese():
    from seqrev.runs.history import milestones_line
    from seqrev.runs.progress import lengths_text, race_progress

    store_free = replace_record(status="running", steps_done=20, steps_total=100,
                                wall_seconds=10.0)
    with use_language("zh_CN"):
        chinese(race_progress([store_free, store_free], now=0.0).text, "20", "100", "0:10")
        chinese(race_progress([replace(store_free, status="queued")], 0.0, 3).text, "3")
        chinese(race_progress([replace(store_free, steps_done=0)], now=1005.0).text, "5")
        chinese(lengths_text(1, 16), "1", "16")
        chinese(milestones_line({0.95: (20, 2.0), 0.99: None}), "95%", "20", "99%")
        chinese(milestones_line({0.95: None, 0.99: None}), "95%")


def replace_record(**changes):
    from seqrev.runs.store import RunRecord

    record = RunRecord(
        id="r1", status="running", kind="attention", model_config=TINY_MODEL,
        train_config=TINY_TRAIN, group_id=None, sweep_id=None, source="app", steps_done=0,
        steps_total=100, exact_match=None, best_exact_match=None, wall_seconds=0.0,
        created=1000.0, started=1000.0, updated=1000.0, finished=None, checkpoint=None,
        error=None)
    return replace(record, **changes)


def test_the_runs_tables_headers_and_help_read_in_chinese(tmp_path):
    from seqrev.runs.compare import runs_columns, runs_frame

    store = RunStore(tmp_path / "runs")
    frame = runs_frame([store.create_run(TINY_MODEL, TINY_TRAIN)], firsts={0.95: {}})
    with use_language("zh_CN"):
        columns = runs_columns(frame)
    for column in columns:
        chinese(column.help)
    assert any("95%" in column.header for column in columns)
    with use_language("en"):
        assert [c.header for c in runs_columns(frame)][:3] == ["run", "model", "status"]


def test_the_inspection_sentences_read_in_chinese():
    from seqrev.inspection.alignment import align_letters, describe, summarize
    from seqrev.inspection.analysis import TraceNumbers, heatmap_reading, training_length_warning

    with use_language("zh_CN"):
        chinese(describe(summarize(align_letters("DLROWOLLEH", "DLROWLLEH"))), "1", "9")
        chinese(describe(summarize(align_letters("ABC", "ABC"))))
        chinese(training_length_warning(20, {"plain": (1, 16), "attention": (1, 16)}), "20",
                "16")
        chinese(training_length_warning(20, {"plain": (1, 10), "attention": (1, 16)}), "10")
        numbers = TraceNumbers(entropy=[], mean_entropy=0.0, max_entropy=1.0, correct_mass=[],
                               mean_correct_mass=0.5, offset_mass={0: 0.5, 1: 0.8},
                               best_offset=1)
        chinese(heatmap_reading(numbers, 3, 4), "+1", "80%", "50%", "3", "4")
        chinese(heatmap_reading(replace(numbers, offset_mass={}, best_offset=0), 4, 4), "4")


def test_the_worked_scores_one_word_reads_in_chinese():
    import torch

    from seqrev.decoding.search import greedy_trace
    from seqrev.inspection.mechanism import step_mechanism
    from seqrev.models.seq2seq import build_model

    torch.manual_seed(7)
    model = build_model(replace(TINY_MODEL, hidden_dim=16)).eval()
    mechanism = step_mechanism(model, greedy_trace(model, "HELLOWORLD"), 2, top_k=4)
    with use_language("en"):
        english = mechanism.worked_score()
    with use_language("zh_CN"):
        chinese_score = mechanism.worked_score()
    n_rest = mechanism.contributions.numel() - 3
    assert rf"_{{{n_rest}\ \text{{more}}}}" in english
    assert chinese_score == english.replace(r"\text{more}", r"\text{其余项}")
