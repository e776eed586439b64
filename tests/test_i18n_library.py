"""The library's words in Chinese (issue 19): the CLI follows LANG/LC_ALL for its messages, and
its lab printout and --json output never change with the language; user-facing errors, the
lab report and the tasks' words read in the current language; English stays as it was."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace

import pandas as pd
import pytest

import seqrev.checkpoints.store as checkpoints
from seqrev.cli.main import language_from_environment, main
from seqrev.i18n import _, use_language
from seqrev.runs.history import HistoryView
from seqrev.sweeps.spec import SweepError, parse_grid
from seqrev.tasks.base import TASKS
from seqrev.tasks.pairs import PairsError, PairsTask, parse_pairs
from seqrev.tasks.registry import TaskError, make_task
from seqrev.tasks.vocab import InputError, normalize
from seqrev.teaching import task_gallery
from seqrev.teaching.report import ReportInput, build_report
from seqrev.training.settings import by_name

HAN = re.compile(r"[\u4e00-\u9fff]")
LAB_LINE = re.compile(r"^Input: \['([A-Z]+)'\], Should get: ([A-Z]+), Model generate: ([A-Z]*) "
                      r"\| The result is (True|False)$", re.MULTILINE)
CHINESE = {"LANG": "zh_CN.UTF-8"}
ENGLISH = {"LANG": "C"}


# ---- the language from the environment ----
@pytest.mark.parametrize("environ, language", [
    ({"LANG": "zh_CN.UTF-8"}, "zh_CN"), ({"LANG": "zh_CN"}, "zh_CN"),
    ({"LANG": "en_US.UTF-8"}, "en"), ({"LANG": "C"}, "en"), ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "fr_FR.UTF-8"}, "en"), ({}, "en"),
    ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, "en"),  # LC_ALL first
    ({"LANG": "C", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANG": "en_US.UTF-8", "LANGUAGE": "zh_CN:en"}, "zh_CN"),  # GNU's list comes first
    ({"LANG": "C", "LANGUAGE": "zh_CN"}, "en"),  # and is ignored in the C locale
    ({"LANG": "de_DE.UTF-8", "LANGUAGE": "fr:en"}, "en"),
])
def test_the_cli_reads_its_language_the_gettext_way(environ, language):
    assert language_from_environment(environ) == language


def _cli(monkeypatch, capsys, environ: dict[str, str], *args: str) -> tuple[int, str, str]:
    for key in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("args", [
    ("decode", "--checkpoint", checkpoints.SHIPPED_ATTENTION, "hello", "ABC"),
    ("decode", "--checkpoint", checkpoints.SHIPPED_ATTENTION, "--json", "ABCD"),
    ("decode", "--checkpoint", checkpoints.SHIPPED_ATTENTION, "--json", "--attend", "0:1",
     "ABCD"),
    ("eval", "--checkpoint", checkpoints.SHIPPED_PLAIN, "--n", "50", "--json"),
    ("sample", "--checkpoint", checkpoints.SHIPPED_ATTENTION, "--n", "4", "--length", "6"),
    ("runs", "--json"),
])
def test_the_lab_printout_and_json_are_byte_identical_in_both_languages(args, monkeypatch,
                                                                        capsys):
    chinese = _cli(monkeypatch, capsys, CHINESE, *args)
    english = _cli(monkeypatch, capsys, ENGLISH, *args)
    assert chinese == english and chinese[0] == 0
    if "--json" in args:
        json.loads(chinese[1])
    elif args[0] != "runs":
        assert len(LAB_LINE.findall(chinese[1])) == len(chinese[1].splitlines())


def test_the_clis_own_lines_follow_the_language_and_its_lab_lines_do_not(monkeypatch, capsys):
    args = ("eval", "--checkpoint", checkpoints.SHIPPED_PLAIN, "--n", "30", "--min-len", "14")
    code, chinese, _err = _cli(monkeypatch, capsys, CHINESE, *args)
    code_en, english, _err = _cli(monkeypatch, capsys, ENGLISH, *args)
    assert code == code_en == 0
    assert "fresh strings, lengths 14-14, seed 0" in english and "exact match" in english
    assert "个新字符串" in chinese and "完全匹配" in chinese and "exact match" not in chinese
    lab_lines = LAB_LINE.findall(chinese)
    assert lab_lines and lab_lines == LAB_LINE.findall(english)  # the failures, as printed


@pytest.mark.parametrize("args, chinese, english", [
    (("decode", "--checkpoint", checkpoints.SHIPPED_ATTENTION, "AB1"), "只能使用字母",
     "only the letters A-Z are allowed"),
    (("decode", "--checkpoint", "no-such-model", "ABC"), "找不到", "not found"),
    (("eval", "--checkpoint", "attention", "--n", "0"), "需要一个 >= 1 的数",
     "expected a number >= 1"),
    (("frobnicate",), "无效的选项", "invalid choice"),
    (("train", "--task", "rotate:9", "--out", "x"), "需要 1 到 5 之间的 k", "needs k from 1 to 5"),
    (("sweep", "run", "--grid", "nope=1"), "未知的设置", "unknown setting 'nope'"),
])
def test_an_error_is_one_line_in_the_environments_language(args, chinese, english, monkeypatch,
                                                           capsys):
    code, out, err = _cli(monkeypatch, capsys, CHINESE, *args)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("错误：") and chinese in err and english not in err
    code, out, err = _cli(monkeypatch, capsys, ENGLISH, *args)
    assert code == 2 and err.startswith("error: ") and english in err and not HAN.search(err)


def test_help_texts_are_chinese(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        _cli(monkeypatch, capsys, CHINESE, "decode", "--help")
    shown = capsys.readouterr().out
    assert "束宽（1 = 贪心解码）" in shown and "beam width" not in shown


def test_python_m_seqrev_reads_lang_from_its_environment():
    """The entry point itself: a Chinese error, the same lab line in both languages."""
    def run(environ, *args):
        return subprocess.run([sys.executable, "-m", "seqrev", *args], capture_output=True,
                              text=True, timeout=120, env={**_base_env(), **environ})

    chinese = run(CHINESE, "decode", "--checkpoint", checkpoints.SHIPPED_ATTENTION, "ABC", "A1")
    assert chinese.returncode == 2 and chinese.stderr.startswith("错误：只能使用字母 A-Z")
    lines = [run(environ, "decode", "--checkpoint", checkpoints.SHIPPED_ATTENTION, "ABC").stdout
             for environ in (CHINESE, ENGLISH)]
    assert lines[0] == lines[1] and LAB_LINE.match(lines[0].strip())


def _base_env() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items()
            if key not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}


# ---- errors where they are raised ----
def _message(raises, *args) -> str:
    try:
        raises(*args)
    except (ValueError, checkpoints.CheckpointError) as error:
        return str(error)
    raise AssertionError("no error")


@pytest.mark.parametrize("raises, args, chinese, english", [
    (normalize, ("AB1",), "只能使用字母 A-Z；发现了 '1'",
     "only the letters A-Z are allowed; found '1'"),
    (normalize, ("",), "输入为空", "the input is empty; type at least one letter A-Z"),
    (make_task, ("shuffle",), "未知的任务 'shuffle'", "unknown task 'shuffle'; choose from"),
    (make_task, ("rotate:9",), "任务 'rotate' 需要", "the task 'rotate' needs k from 1 to 5"),
    (lambda text: by_name()["hidden_dim"].parse(text), ("huge",), "应为 1 到 512",
     "Hidden size (GRU) (--hidden-dim) must be 1 to 512, got 'huge'"),
    (lambda text: by_name()["learning_rate"].parse(text), ("9" * 50,), "个字符",
     "-character value"),
    (parse_grid, (["hidden_dim"],), "不是 NAME=VALUES",
     "grid item 'hidden_dim' is not NAME=VALUES"),
    (parse_grid, (["hidden_dim=0"],), "应为 1 到 512", "must be 1 to 512, got 0"),
    (lambda name: checkpoints.load_checkpoint(name), ("no-such-model",),
     "检查点 'no-such-model'：找不到", "checkpoint 'no-such-model': not found"),
    (parse_pairs, (b"input,output\nab\n", "x.csv"), "第 2 行：应有 2 个用逗号分隔的字段",
     "line 2: expected 2 fields (input, output) separated by a comma, found 1"),
    (parse_pairs, (b"a,\n", "x.csv"), "输出是空的", "line 1: the output is empty"),
])
def test_user_facing_errors_read_in_the_current_language(raises, args, chinese, english):
    assert english in _message(raises, *args)
    with use_language("zh_CN"):
        shown = _message(raises, *args)
    assert chinese in shown and english not in shown


def test_the_error_classes_are_kept():
    with use_language("zh_CN"):
        for raises, args, kind in [(normalize, ("1",), InputError), (make_task, ("x",), TaskError),
                                   (parse_grid, (["x=1"],), SweepError),
                                   (parse_pairs, (b"", "p.csv"), PairsError)]:
            with pytest.raises(kind):
                raises(*args)


def test_a_refused_checkpoint_says_why_in_each_language_though_its_check_is_remembered(
        tmp_path):
    (tmp_path / "broken.safetensors").write_bytes(b"\x00" * 4)
    (tmp_path / "lonely.json").write_text("{}")
    english = checkpoints.list_checkpoint_problems(tmp_path)
    with use_language("zh_CN"):
        chinese = checkpoints.list_checkpoint_problems(tmp_path)
    assert checkpoints.list_checkpoint_problems(tmp_path) == english
    assert [name for name, _problem in english] == [name for name, _problem in chinese]
    assert "truncated" in english[0][1] and "不完整" in chinese[0][1]
    assert english[1][1] == "metadata with no weights beside it" and HAN.search(chinese[1][1])


# ---- the tasks' words ----
@pytest.mark.parametrize("spec", ["copy", "reverse", "sort", "rotate:3"])
def test_each_tasks_description_and_outline_rule_have_chinese(spec):
    task = make_task(spec)
    english_rule = task.outline_rule
    with use_language("zh_CN"):
        assert HAN.search(_(task.description)) and HAN.search(_(task.outline_rule))
        assert HAN.search(_(make_task(spec).outline_rule))
    assert make_task(spec).outline_rule == english_rule and not HAN.search(english_rule)


def test_the_pairs_tasks_words_have_chinese():
    with use_language("zh_CN"):
        shipped = [task for task in TASKS.values() if task.__module__.startswith("seqrev.")]
        for task in (*shipped, PairsTask):  # not the toy tasks other tests register
            assert HAN.search(_(task.description))
        assert HAN.search(_(PairsTask.outline_rule))


def test_the_task_gallery_is_built_in_both_languages():
    english = task_gallery.gather()
    with use_language("zh_CN"):
        chinese = task_gallery.gather()
    assert len(english.panels) == len(chinese.panels) == 3 and not english.problems
    for first, second in zip(english.panels, chinese.panels, strict=True):
        assert first.description == make_task(first.task).description
        assert HAN.search(second.description) and second.matrix == first.matrix
    with use_language("zh_CN"):
        missing = task_gallery.gather(gallery=(("copy", "no-such-model"),))
    assert missing.problems and HAN.search(missing.problems[0])


# ---- the lab report ----
def _material() -> ReportInput:
    import torch

    from seqrev.models.seq2seq import ModelConfig, build_model
    from seqrev.training.trainer import TrainConfig

    torch.manual_seed(0)
    config = ModelConfig(kind="attention", embedding_dim=8, hidden_dim=16)
    history = HistoryView(steps=[1, 2, 3], loss=[3.0, 2.0, 1.5], smoothed_loss=[3.0, 2.5, 2.0],
                          steps_per_second=[], wall_seconds=[], eval_steps=[2],
                          eval_wall_seconds=[1.0], exact_match=[0.2], char_accuracy=[0.5])
    by_length = pd.DataFrame({"length": [1, 2, 3], "n": [10, 10, 10],
                              "exact_match": [1.0, 0.5, 0.1], "char_accuracy": [1.0, 0.8, 0.4]})
    return ReportInput(title="run r1 <b>'x'</b>", model=build_model(config).eval(),
                       model_config=config, train_config=TrainConfig(min_len=1, max_len=4),
                       history=history, by_length=by_length, steps_done=3,
                       training_seconds=2.0)


def test_a_report_in_chinese_has_chinese_words_and_the_same_lab_lines_and_opens_offline():
    material = _material()
    english = build_report(material, seed=4)
    with use_language("zh_CN"):
        chinese = build_report(material, seed=4)
    headings = re.findall(r"<h2>([^<]*)</h2>", chinese)
    assert headings == ["设置", "实验的测试输出", "训练曲线", "各长度的完全匹配率",
                        "一张注意力热力图"]
    assert re.findall(r"<h2>([^<]*)</h2>", english) == [
        "Settings", "The lab's printout", "Training curves", "Exact match by length",
        "One attention heatmap"]
    assert "<h1>seqrev 实验报告：run r1 &lt;b&gt;&#x27;x&#x27;&lt;/b&gt;</h1>" in chinese
    assert "<html lang='zh-CN'>" in chinese and "<html lang='en'>" in english
    assert "共训练了 3 步，用时 2 秒。" in chinese
    assert "训练用的字符串长度为 1 到 4 个字母。" in chinese
    assert "<th>长度</th><th>完全匹配率</th>" in chinese
    lines = LAB_LINE.findall(chinese)
    assert len(lines) == 10 and lines == LAB_LINE.findall(english)
    assert "解码" in chinese and "看向哪里" in chinese  # the heatmap's title
    for document in (english, chinese):
        assert document.count("Plotly.newPlot") == 4
        assert not re.search(r"<script[^>]*\bsrc=", document)
        assert not re.search(r"<link[^>]*href=['\"]?https?:", document)


def test_a_reports_settings_and_figures_follow_the_language():
    with use_language("zh_CN"):
        chinese = build_report(replace(_material(), history=None), seed=1)
    assert "--hidden-dim 16" in chinese  # the command line stays as typed
    assert "训练曲线" not in chinese and "各长度的完全匹配率" in chinese
