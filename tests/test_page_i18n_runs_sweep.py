"""AppTest of the Runs and Sweep pages in 简体中文: no English prose in any state a reader sees
(recorded runs and their compare chart; the shipped sweep, a finished, a created and a stopped
one; the start form and its errors), table headers and their help included; English unchanged;
user text still escaped."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from seqrev.i18n import use_language
from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.store import RunStore
from seqrev.sweeps.spec import GRID_LIMIT, SweepSpec, size_problem
from seqrev.sweeps.store import create_sweep, update_sweep
from seqrev.sweeps.trial import run_inline
from seqrev.tasks.base import TASKS
from seqrev.training.trainer import TrainConfig
from tests.apptest_support import open_page
from tests.events_support import eval_event, step_event
from tests.test_page_i18n import english_words, texts

# tokens and names on these pages: settings' URL keys in the runs' labels ("lr 0.001"), and
# the sweep grid's task names
ALLOWED = frozenset({"lr", "emb", "hid"})
_ID = re.compile(r"\b(?:r[a-z0-9]{9}|s[0-9a-f]{8})\b")  # a run's or a sweep's id ("r8x…"): a token


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(tmp_path / "runs"))
    return RunStore(tmp_path / "runs")


@pytest.fixture
def local_user(monkeypatch):
    import pages.run_common

    monkeypatch.setattr(pages.run_common, "is_local_user", lambda: True)


def finished_run(store: RunStore, learning_rate: float):
    run = store.create_run(ModelConfig(kind="plain", embedding_dim=8, hidden_dim=16),
                           TrainConfig(steps=30, learning_rate=learning_rate), status="running")
    steps = [step_event(s, 3.0 / s, 0.1 * s, learning_rate) for s in range(1, 31)]
    evals = [eval_event(s, s / 30 * learning_rate * 100, 0.1 * s) for s in (10, 20, 30)]
    store.record_progress(run.id, steps, evals, steps_done=30, wall_seconds=3.0)
    store.set_status(run.id, "finished")
    return store.get(run.id)


def assert_chinese(at, allowed=ALLOWED) -> None:
    """No English word in anything the reader sees, run and sweep ids apart."""
    assert not at.exception
    # the task picker also lists the toy tasks other tests register (tests/test_tasks.py)
    allowed = allowed | {name.lower() for name, task in TASKS.items()
                         if not task.__module__.startswith("seqrev.")}
    found = {text: english_words(_ID.sub(" ", text), allowed)
             for text in texts(at)}  # table headers and their help included
    leaks = {text[:120]: words for text, words in found.items() if words}
    assert not leaks, leaks


def charts(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def zh(page: str, query: dict | None = None) -> AppTest:
    return open_page(page, {"lang": "zh", **(query or {})}, timeout=90)


# --- Runs


def test_runs_with_no_runs_says_where_to_start_in_chinese(store):
    at = zh("pages/runs.py")
    assert_chinese(at)
    assert "“训练”页" in at.info[0].value


def test_runs_table_compare_chart_and_one_run_in_chinese(store, monkeypatch):
    monkeypatch.setenv("SEQREV_SHARED", "1")  # another browser's runs: read-only
    runs = [finished_run(store, lr) for lr in (1e-3, 3e-3, 5e-3)]
    at = zh("pages/runs.py")
    assert_chinese(at)
    assert at.title[0].value == "运行记录"
    table = at.dataframe[0].value
    assert set(table["status"]) == {"已完成"} and set(table["model"]) == {"普通模型"}
    assert list(table["id"]) == [r.id for r in reversed(runs)]  # ids stay as they are
    config = json.loads(at.dataframe[0].proto.columns)
    assert config["to 95%"]["label"] == "到 95%" and "95%" in config["to 95%"]["help"]
    [spec] = charts(at)
    assert spec["layout"]["title"]["text"] == "留出集完全匹配率"
    assert all("普通模型" in trace["name"] for trace in spec["data"])
    at.segmented_control(key="runs_x_axis").set_value("wall").run()
    at.segmented_control(key="runs_metric").set_value("smoothed_loss").run()
    assert_chinese(at)
    [spec] = charts(at)
    assert spec["layout"]["xaxis"]["title"]["text"] == "实际用时（秒）"
    at.selectbox(key="runs_target").set_value(runs[0].id).run()
    assert_chinese(at)
    assert any(c.value.startswith("只读") for c in at.caption)
    at.multiselect(key="runs_chosen").set_value([]).run()  # nothing picked: no chart
    assert_chinese(at)


def test_an_interrupted_run_reads_in_chinese(store):
    done = finished_run(store, 1e-3)
    store.set_status(done.id, "interrupted")
    at = zh("pages/runs.py")
    assert set(at.dataframe[0].value["status"]) == {"已中断"}
    assert_chinese(at)


# --- Sweep


def test_the_shipped_sweep_in_chinese_heatmaps_curve_and_table(store):
    at = zh("pages/sweep.py")
    assert_chinese(at)
    specs = charts(at)
    assert len(specs) == 4
    assert specs[0]["layout"]["title"]["text"].startswith("普通模型")
    assert specs[1]["layout"]["title"]["text"].startswith("注意力模型")
    assert {"普通模型", "注意力模型"} <= {trace["name"] for trace in specs[2]["data"]}
    longest = at.dataframe[0].value
    assert list(longest.columns)[:2] == ["模型", "隐状态"]
    assert list(longest.columns)[-1] == "各随机种子"
    assert specs[3]["layout"]["title"]["text"].startswith("逐个随机种子")
    assert {"普通模型：单个随机种子", "注意力模型：单个随机种子"} <= {
        trace["name"] for trace in specs[3]["data"]}
    train_max = at.selectbox(key="shipped_max")  # the heatmaps' training-length filter
    assert train_max.options[0] == "任意长度（每格取最好的试验）"
    train_max.set_value(16).run()
    at.toggle(key="shipped_within").set_value(False).run()
    assert_chinese(at)
    heat = charts(at)[0]
    assert any(a.get("text") == "训练最大长度" for a in heat["layout"].get("annotations", []))


def test_an_unknown_sweep_id_is_a_chinese_error_and_user_text_stays_escaped(store):
    at = zh("pages/sweep.py", {"sweep": "[x](http://example.com)"})
    assert not at.exception
    error = at.error[0].value
    assert error.startswith("没有 id 为") and "](http" not in error
    assert len(charts(at)) == 4
    assert_chinese(at, ALLOWED | {"x", "http", "example", "com"})


def test_a_finished_tiny_sweep_in_chinese(store):
    spec = SweepSpec(grid={"kind": ("plain", "attention")},
                     base={"embedding_dim": 8, "hidden_dim": 16, "max_len": 3},
                     steps=10, eval_every=5, eval_per_length=10)
    record = create_sweep(spec, store=store)
    run_inline(record.id, store)
    at = zh("pages/sweep.py", {"sweep": record.id})
    assert_chinese(at)
    assert at.metric[0].value == "已完成" and at.metric[1].value == "2 / 2"
    trials = at.dataframe[1].value
    assert list(trials["状态"]) == ["已完成", "已完成"]
    assert any(c.value.startswith("网格：类型：普通模型、注意力模型") for c in at.caption)


SHOWN = {"created": "已创建", "stopped": "已停止", "running": "已中断"}


@pytest.mark.parametrize("status", list(SHOWN))
def test_a_waiting_stopped_or_interrupted_sweep_in_chinese(store, status):
    spec = SweepSpec(grid={"hidden_dim": (8, 16)}, base={"max_len": 3}, steps=10, target=0.9)
    record = create_sweep(spec, store=store)
    if status != "created":  # "running" with no driver alive reads "interrupted"
        update_sweep(store, record.id, status=status, note="RuntimeError: Ray died")
    at = zh("pages/sweep.py", {"sweep": record.id})
    assert_chinese(at)
    assert at.metric[0].value == SHOWN[status]
    assert any("提前停止" in c.value for c in at.caption)
    assert any("还没有完成的试验" in i.value for i in at.info)
    if status == "running":
        assert at.warning[0].value == "扫参的驱动进程停止了："
        assert at.code[0].value == "RuntimeError: Ray died"  # its note, as it is


def test_the_start_form_and_its_errors_in_chinese(store, monkeypatch, local_user):
    monkeypatch.setattr("seqrev.sweeps.driver.launch_driver",
                        lambda *a, **k: pytest.fail("launched"))
    at = zh("pages/sweep.py")
    assert_chinese(at)
    at.multiselect[0].set_value([])  # no hidden size
    at.multiselect[2].set_value([])  # no model
    at.button[0].click().run()
    assert at.error[0].value == "请选择隐状态维数、模型。"
    at.multiselect[0].set_value([16])
    at.multiselect[2].set_value(["plain"])
    at.text_input[0].set_value("[x](http://evil.example)")  # a Ray address that is none
    at.button[0].click().run()
    assert_chinese(at, ALLOWED | {"http", "evil", "example"})  # the user's own text, escaped
    [error] = at.error
    assert error.value.startswith("无法连接") and "地址应当写成 HOST" in error.value
    assert "](http" not in error.value  # the user's text, escaped
    at.text_input[0].set_value("")
    huge(at)
    assert_chinese(at)
    [warning] = at.warning
    assert warning.value.startswith("没有启动：扫参总共要训练")
    assert "“即使规模很大也启动”" in warning.value
    assert "5,000,000" in warning.value


def huge(at) -> SweepSpec:
    """Fill the start form with a sweep over the total-steps limit and press Start."""
    at.multiselect[0].set_value([16])
    at.multiselect[1].set_value([4, 5, 6, 7, 8, 9])
    at.multiselect[2].set_value(["plain"])
    at.number_input[0].set_value(10)  # seeds
    at.number_input[1].set_value(100_000)  # steps per trial: 60 trials, 6,000,000 in all
    at.button[0].click().run()
    return SweepSpec(grid={"max_len": (4, 5, 6, 7, 8, 9), "kind": ("plain",),
                           "hidden_dim": (16,), "seed": tuple(range(10))}, steps=100_000,
                     eval_every=100)


def test_the_size_warning_reads_word_for_word_as_the_library_says_it_in_english(
        store, monkeypatch, local_user):
    monkeypatch.setattr("seqrev.sweeps.driver.launch_driver",
                        lambda *a, **k: pytest.fail("launched"))
    at = open_page("pages/sweep.py", timeout=90)
    spec = huge(at)
    assert at.warning[0].value == (f"Not started: {size_problem(spec)}. Tick \"Start it even if "
                                   "it is huge\" and press Start again to run it anyway.")
    many = SweepSpec(grid={"hidden_dim": tuple(range(1, GRID_LIMIT + 2))}, steps=1)
    with use_language("zh_CN"):  # the library says it in the reader's language itself
        assert size_problem(many) == "网格共有 10,001 次试验，超过了 10,000"


def test_a_remote_browser_reads_why_it_cannot_start_sweeps_in_chinese(store):
    at = zh("pages/sweep.py")
    assert any(c.value == "只有本机上的浏览器才能启动扫参。" for c in at.caption)


def test_the_chart_modules_build_in_either_language():
    from seqrev.charts.runs import compare_figure

    with use_language("en"):
        figure = compare_figure({}, "smoothed_loss", "wall")
    assert figure.layout.title.text == "Training loss (smoothed)"
    assert figure.layout.xaxis.title.text == "wall seconds"
    with use_language("zh_CN"):
        figure = compare_figure({}, "smoothed_loss", "wall")
    assert figure.layout.title.text == "训练损失（平滑后）"
    assert figure.layout.annotations[0].text == "请选择要比较的运行"


def test_a_corrupt_run_store_is_named_in_chinese_on_both_pages(tmp_path, monkeypatch):
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "runs.sqlite3").write_bytes(b"garbage" * 1000)
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(folder))
    for page in ("pages/runs.py", "pages/sweep.py"):
        at = zh(page)
        assert at.error and not re.match(r"[A-Za-z]", at.error[0].value), at.error[0].value
