"""The library's remaining messages in 简体中文 (issue 19), each translated where it is raised:
a full disk, the what-if labels and suggestion, the capacity results' file errors, the
scheduler's refusals, the sweep driver's Ray errors and the configs' own checks. The pages
show them as they come; none of them matches English wording any more."""

from __future__ import annotations

import errno
from dataclasses import replace

import pytest

from seqrev.i18n import use_language
from tests.test_i18n_messages import TINY_MODEL, TINY_TRAIN, chinese


def in_both(make):
    """``make()``'s text (or its error's) in English and in Chinese."""
    def text():
        try:
            return str(make())
        except Exception as error:  # noqa: BLE001 (the message is what is checked)
            return str(error)
    with use_language("en"):
        english = text()
    with use_language("zh_CN"):
        return english, text()


# ---- seqrev.disk ----
@pytest.mark.parametrize(("code", "problem", "word"), [
    (errno.ENOSPC, "disk full", "磁盘已满"), (errno.EROFS, "read-only file system", "只读"),
    (errno.EDQUOT, "disk quota exceeded", "配额"), (errno.EIO, "disk input/output error", "读写"),
])
def test_a_refused_write_reads_in_chinese_and_keeps_its_english_problem(code, problem, word):
    from seqrev.disk import as_disk_error

    error = OSError(code, "as the OS says it")
    english, shown = in_both(lambda: as_disk_error(error, "saving the resumable state"))
    assert english == f"{problem} while saving the resumable state"
    chinese(shown, word, "保存可继续训练的状态")
    with use_language("zh_CN"):
        assert as_disk_error(error, "recording the metrics").problem == problem


def test_a_checkpoints_name_is_kept_in_the_chinese_line():
    from seqrev.disk import as_disk_error

    full = OSError(errno.ENOSPC, "No space left on device")
    english, shown = in_both(lambda: as_disk_error(full, "saving checkpoint {name}",
                                                   name="'tiny'"))
    assert english == "disk full while saving checkpoint 'tiny'"
    chinese(shown, "'tiny'", "磁盘已满")
    with use_language("zh_CN"):
        assert as_disk_error(full, "saving checkpoint {name}", name="'t'").what == \
            "saving checkpoint 't'"


def test_the_oss_own_reason_stays_as_the_os_gives_it():
    from seqrev.disk import as_disk_error

    odd = OSError(errno.EACCES, "Permission denied")
    english, shown = in_both(lambda: as_disk_error(odd, "saving the sweep's results"))
    assert english == "Permission denied while saving the sweep's results"
    chinese(shown, "Permission denied", "扫参结果")


def test_a_full_database_is_a_chinese_disk_line_too():
    import sqlite3

    from seqrev.disk import as_disk_error

    full = sqlite3.OperationalError("database or disk is full")
    english, shown = in_both(lambda: as_disk_error(full, "recording the metrics"))
    assert english == "disk full while recording the metrics"
    chinese(shown, "记录训练指标", "磁盘已满")


# ---- seqrev.inspection.what_if ----
def test_the_what_if_labels_read_in_chinese():
    from seqrev.inspection.what_if import position_label

    alignment = [frozenset({4}), frozenset({3}), frozenset({2})]
    english, shown = in_both(lambda: position_label("HELLO", 3, 1, 1, alignment))
    assert english == "3: L (textbook outline)"
    assert chinese(shown).startswith("3: L") and "textbook" not in shown
    english, shown = in_both(lambda: position_label("HELLO", 4, 1, 1, alignment))
    assert english == "4: O (the model's own diagonal)"
    chinese(shown, "4: O")
    assert in_both(lambda: position_label("HELLO", 0, 1, 1, alignment)) == ("0: H", "0: H")


@pytest.mark.parametrize(("kind", "skips_one"), [("own", False), ("textbook", True),
                                                 ("textbook", False)])
def test_every_suggestion_sentence_reads_in_chinese_with_its_values(kind, skips_one):
    from seqrev.inspection.what_if import Suggestion

    suggestion = Suggestion(step=2, position=7, kind=kind, written="Q", expected="R",
                            skips_one=skips_one, changed_letters=5, output="X")
    english, shown = in_both(lambda: suggestion.sentence("ABCDEFGHIJ"))
    assert english.startswith("Force step 2 onto the textbook outline, input 7 (H).")
    values = ("2", "7", "H", "R") + (() if kind == "own" else ("Q",))
    chinese(shown, *values)
    assert "Force" not in shown


def test_an_empty_source_has_no_step_to_force_in_chinese():
    from seqrev.inspection.what_if import default_force

    english, shown = in_both(lambda: default_force(0))
    assert english == "an empty source has no step to force"
    chinese(shown)


# ---- seqrev.inspection.capacity ----
def test_the_capacity_results_file_errors_read_in_chinese(tmp_path):
    from seqrev.inspection.capacity import load_results

    english, shown = in_both(lambda: load_results(tmp_path / "gone.csv"))
    assert english.startswith("cannot read sweep results gone.csv: ")
    chinese(shown, "gone.csv")
    (tmp_path / "thin.csv").write_text("kind,hidden_dim\nplain,16\n")
    english, shown = in_both(lambda: load_results(tmp_path / "thin.csv"))
    assert english == "sweep results thin.csv lack columns max_len, test_length, exact_match"
    chinese(shown, "thin.csv", "max_len, test_length, exact_match")


# ---- seqrev.runs.scheduler and seqrev.runs.store ----
def test_a_run_too_long_for_a_shared_server_is_refused_in_chinese(monkeypatch):
    from seqrev.runs.scheduler import RunTooLongError, check_run_time

    monkeypatch.setenv("SEQREV_SHARED", "1")
    monkeypatch.setenv("SEQREV_MAX_RUN_MINUTES", "0.01")
    with use_language("zh_CN"), pytest.raises(RunTooLongError) as raised:
        check_run_time([TINY_MODEL], replace(TINY_TRAIN, steps=100_000))
    chinese(raised.value, "0.01", "SEQREV_MAX_RUN_MINUTES")
    with use_language("en"), pytest.raises(RunTooLongError) as english:
        check_run_time([TINY_MODEL], replace(TINY_TRAIN, steps=100_000))
    assert str(english.value).startswith("Start refused: these settings would train for about ")
    assert "over the 0.01 minutes" in str(english.value)


def test_a_worker_that_cannot_start_fails_its_run_in_chinese(tmp_path, monkeypatch):
    import seqrev.runs.scheduler as scheduler
    from seqrev.runs.store import QueueLimits, RunStore

    store = RunStore(tmp_path / "runs")
    store.create_queued([TINY_MODEL], TINY_TRAIN, owner="me", limits=QueueLimits(5, 5))

    def refusing(*args, **kwargs):
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(scheduler, "spawn_detached", refusing)
    with use_language("zh_CN"):
        scheduler.launch_pending(store)
    (run,) = store.list_runs()
    assert run.status == "failed"
    chinese(run.error, "Resource temporarily unavailable")


def test_a_worker_gone_silent_is_named_in_chinese(tmp_path):
    from seqrev.runs.store import GONE_SILENTLY, RunStore

    store = RunStore(tmp_path / "runs")
    run = store.create_run(TINY_MODEL, TINY_TRAIN, status="running")
    with store.transaction() as connection:  # a worker on no pid, silent for an hour
        connection.execute("UPDATE runs SET heartbeat = 1, updated = 1, pid = NULL WHERE id = ?",
                           (run.id,))
    with use_language("zh_CN"):
        assert store.reap() == [run.id]
    reaped = store.get(run.id)
    assert reaped.status == "interrupted" and chinese(reaped.error) != GONE_SILENTLY


def test_an_unknown_status_reads_in_chinese(tmp_path):
    from seqrev.runs.store import RunStore

    store = RunStore(tmp_path / "runs")
    english, shown = in_both(lambda: store.create_run(TINY_MODEL, TINY_TRAIN, status="lost"))
    assert english == "unknown status 'lost'"
    chinese(shown, "'lost'")


# ---- seqrev.sweeps.driver ----
def test_a_ray_that_did_not_start_says_so_in_chinese(monkeypatch):
    ray = pytest.importorskip("ray")
    from seqrev.sweeps import driver
    from seqrev.sweeps.spec import SweepError

    def failing(*args, **kwargs):
        raise RuntimeError("no room in /tmp\nsecond line")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", failing)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    with use_language("zh_CN"), pytest.raises(SweepError) as raised:
        driver.start_ray(None, 1)
    assert chinese(raised.value, "Ray", "no room in /tmp").count("second line") == 0
    with use_language("en"), pytest.raises(SweepError) as english:
        driver.start_ray(None, 1)
    assert str(english.value) == "Ray did not start: no room in /tmp"


def test_where_the_sweep_runs_is_said_in_the_language_of_the_asking(monkeypatch):
    ray = pytest.importorskip("ray")
    from seqrev.sweeps import driver

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda *args, **kwargs: None)
    monkeypatch.setattr(driver, "_WHERE", driver._WHERE)
    with use_language("en"):
        assert driver.start_ray(None, 3) == "a local Ray with 3 CPU(s)"
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    with use_language("zh_CN"):
        chinese(driver.start_ray(None, 3), "3", "Ray")  # the description the last start made


def test_a_dead_trials_line_reads_in_chinese_with_its_plural():
    from seqrev.i18n import ngettext

    with use_language("zh_CN"):
        chinese(ngettext("worker died ({name}) on {attempts} attempt",
                         "worker died ({name}) on {attempts} attempts", 2).format(
            name="WorkerCrashedError", attempts=2), "WorkerCrashedError", "2")
    with use_language("en"):
        assert ngettext("worker died ({name}) on {attempts} attempt",
                        "worker died ({name}) on {attempts} attempts", 1).format(
            name="X", attempts=1) == "worker died (X) on 1 attempt"


# ---- the configs' own checks: seqrev.training.trainer, seqrev.models.seq2seq ----
@pytest.mark.parametrize(("make", "english_text", "values"), [
    (lambda: replace(TINY_TRAIN, task="pairs"),
     "the task pairs is read from a file: give it with --pairs FILE", ("--pairs FILE",)),
    (lambda: replace(TINY_TRAIN, pairs_file="x.csv"),
     "a pairs file goes with the task pairs, not 'reverse'", ("'reverse'",)),
    (lambda: replace(TINY_TRAIN, min_len=6),
     "min_len 6 is above max_len 5: the shortest training string must not be longer than the "
     "longest", ("6", "5")),
    (lambda: replace(TINY_MODEL, bidirectional=True, score="dot"),
     "score: dot compares keys and queries of one size", ("dot",)),
    (lambda: replace(TINY_MODEL, max_positions=0), "max_positions must be 1 to 1024, got 0",
     ("0",)),
    (lambda: replace(TINY_MODEL, vocab_size=3), "vocab_size must be 29", ("29",)),
])
def test_the_configs_own_checks_read_in_chinese(make, english_text, values):
    english, shown = in_both(make)
    assert english_text in english
    chinese(shown, *values)
    assert english_text not in shown


def test_a_config_with_two_problems_joins_them_the_chinese_way():
    english, shown = in_both(lambda: replace(TINY_MODEL, max_positions=0, vocab_size=3))
    assert "; " in english and "；" in chinese(shown)


def test_an_unknown_preset_and_event_read_in_chinese():
    from seqrev.training.trainer import Trainer, preset

    english, shown = in_both(lambda: preset("huge"))
    assert english == "unknown preset 'huge'; choose from seed, default"
    chinese(shown, "'huge'", "seed, default")
    trainer = Trainer(TINY_MODEL, TINY_TRAIN)
    english, shown = in_both(lambda: trainer.add_callback("never", print))
    assert english.startswith("unknown event 'never'")
    chinese(shown, "'never'", "step, eval, end")
