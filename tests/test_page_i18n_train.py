"""AppTest of the Train page in 简体中文: the settings form (its toggle too), a finished race
with its progress line, links and lab reports, a starting worker, and the errors for a bad link,
a bad field and a bad run id, all Chinese and still escaped."""

from __future__ import annotations

import pytest

from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.store import RunStore
from seqrev.training.trainer import TrainConfig
from tests.apptest_support import open_page
from tests.test_page_i18n import assert_no_english
from tests.test_page_train import chart_points, poll, progress_text, shown, tiny

# the select boxes' options are the command line's own words (--lr-schedule onecycle ...);
# blue and orange are Streamlit's colour markup around each model's name (:blue[...])
OPTIONS = frozenset({"scaled", "constant", "cosine", "onecycle", "unit", "auto", "cuda", "blue",
                     "orange"})
ZH = {"lang": "zh"}


def open_train(query: dict | None = None):
    return open_page("pages/train.py", {**ZH, **(query or {})})


def labels(at) -> dict[str, str]:
    return {w.key: w.label for kind in ("slider", "select_slider", "selectbox", "text_input",
                                        "toggle") for w in getattr(at, kind)}


def test_the_settings_form_and_its_toggle_read_in_chinese(runs_dir):
    at = open_train()
    assert not at.error and at.title[0].value == "训练"
    named = labels(at)
    assert named["train_hidden_dim"] == "隐状态维数（GRU）"
    assert named["train_teacher_forcing"] == "教师强制"
    assert named["train_grad_clip"] == "梯度裁剪"
    assert named["train_learning_rate"] == "学习率（Adam）"
    assert named["train_bidirectional"] == "双向编码器"
    assert "0 表示关闭" in at.text_input(key="train_grad_clip").help  # its range, translated
    assert at.segmented_control(key="train_models").proto.options[0].content == "两个 GRU：公平比赛"
    assert_no_english(at, OPTIONS)
    at.toggle(key="train_bidirectional").set_value(True).run()
    assert not at.exception and not at.error
    assert any("bidirectional=true" in c.value for c in at.code)  # the share link carries it
    assert any(c.value == "用这些设置打开本页的链接：" for c in at.caption)
    at.button(key="train_lab").click().run()  # the preset buttons, and their helps
    assert at.text_input(key="train_steps").value == "5000"
    assert_no_english(at, OPTIONS)
    at.slider(key="train_hidden_dim").set_value(512)  # far slower than a default step
    at.select_slider(key="train_batch_size").set_value(512)
    at.text_input(key="train_max_len").input("64").run()
    assert any("倍" in w.value and "每步约" in w.value for w in at.warning)
    assert at.checkbox(key="train_confirm_slow").label == "仍然开始"
    assert_no_english(at, OPTIONS)


def test_english_is_unchanged(runs_dir):
    at = open_page("pages/train.py", {"lang": "en"})
    assert at.title[0].value == "Train"
    assert labels(at)["train_bidirectional"] == "Bidirectional encoder"
    first_choice = at.segmented_control(key="train_models").proto.options[0].content
    assert first_choice == "Both GRUs: a fair race"


def test_a_bad_link_is_named_in_chinese_and_escaped(runs_dir):
    at = open_train({"model": "zz", "lr": "x", "qq": "1", "bidirectional": "maybe",
                     "[x](http://e.x)": "1"})
    assert not at.exception
    warnings = [shown(w.value).replace("\u200b", "") for w in at.warning]
    assert len(warnings) == 5, warnings
    assert all(w.startswith("忽略了链接里的一项设置：") for w in warnings), warnings
    assert any("链接里的 model 应为" in w and "'zz'" in w for w in warnings)
    assert any("'qq' 不是一项设置" in w for w in warnings)
    assert any("学习率（Adam）" in w and "收到的是 'x'" in w for w in warnings)
    assert any("双向编码器" in w and "true 或 false" in w for w in warnings)
    assert any("[x](http://e.x)" in w for w in warnings)  # named ...
    assert not any("[x](http://e.x)" in w.value for w in at.warning)  # ... and escaped
    # the URL's own words (parameters, flags, values) and the reader's text stay as typed
    assert_no_english(at, OPTIONS | {"lr", "qq", "zz", "maybe", "true", "false", "model", "all",
                                     "both", "bidirectional", "http"})


@pytest.mark.parametrize(("key", "value", "message", "flag"), [
    ("train_steps", "-5", "训练步数（--steps）应为 1 到 100000", "steps"),
    ("train_min_len", "9", "最短训练字符串的长度 9 大于最长的 8", "len"),
])
def test_a_bad_field_blocks_start_with_a_chinese_reason(runs_dir, key, value, message, flag):
    at = open_train()
    at.text_input(key="train_max_len").input("8")
    at.text_input(key=key).input(value).run()
    [error] = [shown(e.value) for e in at.error]
    assert error.startswith("改好下面这些之前不能开始：") and message in error, error
    assert at.button(key="train_start").disabled
    assert_no_english(at, OPTIONS | {flag, "min", "max"})


def test_a_refused_start_says_why_in_chinese(runs_dir, monkeypatch):
    monkeypatch.setenv("SEQREV_SHARED", "1")
    monkeypatch.setenv("SEQREV_MAX_RUN_MINUTES", "0.001")  # any run is too long
    at = open_train()
    at.button(key="train_start").click().run()
    assert not at.exception and "run" not in at.query_params
    [error] = [shown(e.value) for e in at.error]
    assert error.startswith("不能开始：按这些设置，在这里大约要训练 "), error
    assert_no_english(at, OPTIONS)


def test_a_starting_worker_and_an_unknown_run_read_in_chinese(runs_dir, monkeypatch):
    monkeypatch.setenv("SEQREV_SHARED", "1")  # another browser's run: watched read-only
    store = RunStore(runs_dir)
    run = store.create_run(ModelConfig(kind="plain", embedding_dim=8, hidden_dim=16),
                           TrainConfig(steps=10), status="running")  # no step recorded yet
    at = open_train({"run": run.id})
    assert progress_text(at).startswith("正在启动工作进程")
    assert {"**训练损失**", "**留出集正确率**", "**速度**"} <= {m.value for m in at.markdown}
    assert any(i.value.startswith("你正以只读方式观看这次运行") for i in at.info)
    assert_no_english(at, OPTIONS)
    store.set_status(run.id, "stopped")  # no worker to stop it at teardown
    bad = open_train({"run": "[x](http://e.x)"})
    assert bad.error and bad.error[0].value.startswith("没有运行")
    assert "](" not in bad.error[0].value


def test_a_finished_race_reads_in_chinese(runs_dir, checkpoint_dir):
    at = open_train()
    tiny(at, 20)
    at.button(key="train_start").click().run()
    store = RunStore(runs_dir)
    run_id = at.query_params["run"]
    race = store.group(store.get(run_id))
    poll(at, lambda: all(store.get(r.id).status == "finished" for r in race))
    at.run()
    assert not at.exception and not at.error
    assert progress_text(at).startswith("已完成：第 20 步，共 20 步（每个模型）· 已用 ")
    assert set(chart_points(at)) == {"训练损失", "留出集正确率", "速度"}
    assert set(chart_points(at)["训练损失"]) == {"普通模型（原始）", "普通模型",
                                             "注意力模型（原始）", "注意力模型"}
    buttons = [b.proto.label for b in at.get("download_button")]
    assert "指标（CSV）" in buttons
    assert {"普通模型的实验报告（HTML）", "注意力模型的实验报告（HTML）"} <= set(buttons), buttons
    captions = [c.value for c in at.caption]
    assert "只读：拿到链接的人都可以观看。" in captions
    assert any(c.startswith("在长度为 1 到 5 个字母的字符串上训练") for c in captions)
    assert_no_english(at, OPTIONS)
    plain = race[0].id
    at.text_input(key=f"train_name_{plain}").input("q7 k!").run()
    assert "将保存为：" in [c.value for c in at.caption]
    at.button(key=f"train_save_{plain}").click().run()
    assert not at.exception and not at.error
    [saved] = [shown(s.value) for s in at.success]
    assert saved.startswith("已把普通模型保存为 q7-k（在 ") and "1 到 5 个字母" in saved
    assert_no_english(at, OPTIONS)
