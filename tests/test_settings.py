"""One definition of every setting: the CLI, the page, the URL and the command agree."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import load_file
from streamlit.testing.v1 import AppTest

import seqrev.training.settings as settings
from seqrev.cli.main import _build_parser
from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.store import RunStore
from seqrev.runs.worker import trainer_from_run
from seqrev.training.trainer import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
RUN_FLAGS = {"--preset", "--threads", "--out", "--overwrite", "--quiet", "--resume", "--run",
             "--pairs", "-h", "--help"}  # --pairs: a file that decides several settings at once


def _train_parser():
    commands = next(a for a in _build_parser()._actions if a.dest == "command")
    return commands.choices["train"]


def test_the_cli_takes_exactly_one_flag_per_setting():
    flags = {option for action in _train_parser()._actions for option in action.option_strings}
    assert flags - RUN_FLAGS == {s.flag for s in settings.all_settings()}


def test_the_train_page_has_exactly_one_widget_per_setting():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception
    keys = {element.key for kind in ("text_input", "slider", "selectbox", "select_slider", "toggle")
            for element in at.get(kind) if element.key and element.key.startswith("train_")}
    expected = {f"train_{s.name}" for s in settings.all_settings() if s.name != "kind"}
    assert keys == expected
    models = at.get("button_group")
    assert [m.key for m in models] == ["train_models"]  # the "kind" setting, plus "both"


def test_every_range_is_enforced_with_a_message_naming_the_setting():
    for item in settings.all_settings():
        if item.choices:
            with pytest.raises(ValueError, match=re.escape(item.label)):
                item.parse("no-such-choice")
            continue
        with pytest.raises(ValueError, match=re.escape(item.label)):
            item.parse("twelve")
        with pytest.raises(ValueError, match=re.escape(item.label)):
            item.parse("9" * 41)
        if item.maximum is not None:
            with pytest.raises(ValueError, match=re.escape(item.label)):
                item.check(item.maximum * 2 + 1)
        if item.minimum is not None:
            with pytest.raises(ValueError, match=re.escape(item.label)):
                item.check(item.minimum - 1)
        with pytest.raises(ValueError):
            item.parse("nan")
        assert item.check(item.default) == item.default or item.zero_means_none


def test_zero_means_no_clipping_in_one_place():
    clip = settings.by_name()["grad_clip"]
    assert clip.parse("0") is None and clip.format(None) == "0"
    model_config, train_config = settings.build_configs({"grad_clip": 0})
    assert train_config.grad_clip is None
    assert "--grad-clip 0" in settings.command_line(model_config, train_config)


@given(st.integers(1, 256), st.integers(1, 512), st.sampled_from([1e-4, 3e-3, 0.0123]),
       st.integers(0, 2**31 - 1), st.sampled_from(["plain", "attention"]),
       st.sampled_from([None, 0.5, 1.0]))
def test_url_state_round_trips(embedding, hidden, learning_rate, seed, kind, clip):
    configs = settings.build_configs({"embedding_dim": embedding, "hidden_dim": hidden,
                                      "learning_rate": learning_rate, "seed": seed,
                                      "kind": kind, "grad_clip": clip})
    values, problems = settings.from_query(settings.to_query(*configs))
    assert problems == []
    assert settings.build_configs(values) == configs


def test_bad_url_values_are_named_and_skipped():
    values, problems = settings.from_query(
        {"steps": "10" * 30, "hidden-dim": "[x](http://e.example)", "lr": "1e-3", "seed": "-5"})
    assert values == {"learning_rate": 1e-3}
    assert len(problems) == 3 and any("Steps" in p for p in problems)


def test_the_command_shown_reproduces_the_run_bit_for_bit(tmp_path):
    """The app's worker process and the shown command, each in a fresh process, agree exactly."""
    model_config = ModelConfig(kind="attention", embedding_dim=8, hidden_dim=12, score="dot")
    train_config = TrainConfig(steps=25, batch_size=8, min_len=2, max_len=6, eval_every=0,
                               learning_rate=0.0123, grad_clip=None, seed=11,
                               teacher_forcing=0.7)
    store = RunStore(tmp_path / "runs")
    run = store.create_run(model_config, train_config, status="running")
    env = {**os.environ, "SEQREV_RUNS_DIR": str(store.root),
           "SEQREV_CHECKPOINT_DIR": str(tmp_path / "checkpoints")}
    from seqrev.runs.scheduler import worker_command

    subprocess.run(worker_command([run.id]), cwd=ROOT, env=env, check=True, timeout=300)
    assert store.get(run.id).status == "finished"
    app_weights = trainer_from_run(store, store.get(run.id)).model.state_dict()
    command = settings.command_line(model_config, train_config, "again", threads=1)
    argv = shlex.split(command)
    assert argv[:4] == ["python", "-m", "seqrev", "train"]
    subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, env=env, check=True, timeout=300,
                   capture_output=True)
    saved = load_file(str(tmp_path / "checkpoints" / "again.safetensors"))
    assert set(saved) == set(app_weights)
    assert all(torch.equal(saved[k], app_weights[k]) for k in app_weights)


def test_the_cli_flags_build_the_configs_the_command_was_made_from():
    """The CLI's flags build the very configs the command line was made from."""
    model_config = ModelConfig(kind="plain", embedding_dim=16, hidden_dim=24)
    train_config = TrainConfig(steps=7, lr_schedule="constant", eval_size=33, device="cpu")
    argv = shlex.split(settings.command_line(model_config, train_config, "x"))[4:]
    from seqrev.cli.runs import train_configs

    parsed = _train_parser().parse_args(argv)
    assert train_configs(parsed) == (model_config, train_config)


@pytest.mark.parametrize("spelling", ["lr", "learning_rate"])
def test_a_link_may_spell_a_setting_as_its_flag_or_its_field(spelling):
    values, problems = settings.from_query({spelling: "0.002", "max_len": "12", "max-len": "12",
                                            "hidden_dim": "32"})
    assert problems == []
    assert values == {"learning_rate": 0.002, "max_len": 12, "hidden_dim": 32}


def test_unknown_and_contradicting_parameters_are_named():
    values, problems = settings.from_query(
        {"colour": "blue", "run": "r1", "lr": "0.002", "learning_rate": "0.003",
         "steps": "50"}, other_keys=["run"])
    assert values == {"steps": 50}
    assert len(problems) == 2
    assert "'colour' is not a setting" in problems[0]
    assert "Learning rate" in problems[1] and "'lr'" in problems[1]


def test_a_share_url_keeps_the_browsers_address_and_quotes_values():
    url = settings.share_url("https://class.example.org/seqrev/train?old=1",
                             {"model": "attention", "lr": "0.002", "x": "a b&c"})
    assert url == "https://class.example.org/seqrev/train?model=attention&lr=0.002&x=a+b%26c"
    assert settings.share_url("http://h:1/train", {}) == "http://h:1/train"
