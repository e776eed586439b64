"""The CLI's runs: train records a run, runs lists/shows/stops, bad ids and stores exit 2."""

from __future__ import annotations

import json

import pytest

from seqrev.cli.main import main
from seqrev.runs.store import RunStore
from seqrev.training.trainer import DEFAULT_STEPS, LAB_TRAINING

TINY = ["--model", "plain", "--embedding-dim", "8", "--hidden-dim", "16", "--batch-size", "8",
        "--min-len", "1", "--max-len", "4", "--eval-every", "5", "--eval-size", "20",
        "--threads", "1", "--quiet"]


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(tmp_path / "runs"))
    return RunStore(tmp_path / "runs")


def test_train_prints_its_run_first_and_the_store_has_its_history(store, capsys):
    assert main(["train", *TINY, "--steps", "12"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("run ")
    run_id = lines[0].split()[1]
    assert main(["runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == [run_id]
    assert set(listed[0]) >= {"id", "status", "model", "steps_done", "steps_total",
                              "exact_match", "started", "updated"}
    assert listed[0]["status"] == "finished" and listed[0]["steps_done"] == 12
    assert main(["runs", "show", run_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["history"]["steps"]["step"] == list(range(1, 13))
    assert shown["history"]["evals"]["step"] == [5, 10, 12]
    assert main(["runs"]) == 0
    assert run_id in capsys.readouterr().out
    assert main(["runs", "show", run_id]) == 0
    assert "Exact match has not reached 95% yet." in capsys.readouterr().out.splitlines()


def test_resume_carries_a_stopped_run_on_and_refuses_a_finished_one(store, capsys):
    assert main(["train", *TINY, "--steps", "12"]) == 0
    run_id = capsys.readouterr().out.split()[1]
    assert main(["train", "--resume", run_id]) == 2
    assert "finished" in capsys.readouterr().err
    store.set_status(run_id, "interrupted")
    store.truncate_history(run_id, 12)
    assert main(["train", "--resume", run_id, "--quiet"]) == 0
    assert store.get(run_id).status == "finished"


def test_stop_of_a_queued_run(store, capsys):
    from seqrev.models.seq2seq import ModelConfig
    from seqrev.training.trainer import TrainConfig

    queued = store.create_run(ModelConfig(kind="plain"), TrainConfig())
    store.create_run(ModelConfig(kind="plain"), TrainConfig(), status="running")  # slot taken
    assert main(["runs", "stop", queued.id]) == 0
    assert "stopped" in capsys.readouterr().out
    assert store.get(queued.id).status == "stopped"


@pytest.mark.parametrize("argv", [["runs", "show", "rnothere22"], ["runs", "stop", "../x"],
                                  ["train", "--resume", "nope"], ["runs", "delete", "r"]])
def test_unknown_runs_are_one_line_and_exit_2(store, capsys, argv):
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no run" in error


def test_a_corrupt_store_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "runs.sqlite3").write_bytes(b"not sqlite" * 500)
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(folder))
    assert main(["runs"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "run store" in error
    assert main(["decode", "--checkpoint", "attention", "HELLO"]) == 0  # decoding still works


@pytest.mark.parametrize(("flag", "value"), [("--steps", "0"), ("--hidden-dim", "513"),
                                             ("--lr", "abc"), ("--seed", "1" * 30),
                                             ("--score", "cosine")])
def test_out_of_range_settings_are_refused_before_a_run_exists(store, capsys, flag, value):
    assert main(["train", *TINY, flag, value]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert store.list_runs() == []


def test_train_help_lists_every_setting(capsys):
    import seqrev.training.settings as settings

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert all(item.flag in text for item in settings.all_settings())
    assert "10% of the rate" in text


@pytest.mark.parametrize(("argv", "kind", "steps"), [
    ([], "attention", DEFAULT_STEPS["attention"]),
    (["--model", "plain"], "plain", DEFAULT_STEPS["plain"]),
    (["--model", "plain", "--steps", "50"], "plain", 50),
    (["--model", "plain", "--preset", "seed"], "plain", LAB_TRAINING.steps),
])
def test_train_starts_from_the_chosen_models_own_defaults(argv, kind, steps):
    from seqrev.cli.main import _build_parser
    from seqrev.cli.runs import train_configs

    model_config, train_config = train_configs(_build_parser().parse_args(["train", *argv]))
    assert (model_config.kind, train_config.steps) == (kind, steps)
