"""AppTest of the Attention page in 简体中文: every section and the states a reader reaches in it
(the step slider, the bidirectional comparison, a what-if run taken apart, the forced run, the
PCA colouring, the many-strings tables) have no English prose, and bad input and bad links are
named in Chinese with the user's text still escaped."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest_support import open_page as open_app_page
from tests.test_page_i18n import assert_no_english

INPUT_KEY = "att_input"
# true names and code on this page: a checkpoint's name, a tool's name, LaTeX commands
ALLOWED = frozenset({"attention-bidirectional", "seq", "seq-vis", "cdot", "sum", "begin",
                     "aligned", "underbrace", "dots", "text", "end", "frac"})


def open_page(**params) -> AppTest:
    at = open_app_page("pages/attention.py", {"lang": "zh", **params})
    assert not at.exception
    return at


def titles(at: AppTest) -> list[str]:
    return [json.loads(chart.proto.spec)["layout"].get("title", {}).get("text", "")
            for chart in at.get("plotly_chart")]


def test_the_heatmap_and_the_bidirectional_comparison_are_chinese():
    at = open_page()
    assert not at.error
    assert at.title[0].value == "注意力机制：每个输出字母看向哪里"
    assert titles(at) == ["“attention”在 reverse 任务上的注意力分布：ATTENTIONISALLYOUNEED"]
    assert {"最佳对角线", "熵（奈特）", "教科书对齐上的权重"} <= {m.label for m in at.metric}
    assert at.info[0].value.startswith("大部分权重落在模型自己的对角线上")
    assert_no_english(at, ALLOWED)
    at.slider(key="att_step__slider").set_value(3).run()
    assert any(c.value.startswith("第 3 步写出了") for c in at.caption)
    at.toggle(key="att_bidirectional").set_value(True).run()
    assert not at.exception and not at.error
    assert len(titles(at)) == 2
    [table] = [d.value for d in at.dataframe]
    assert list(table.columns) == ["模型", "边框上（0）", "右边一列（+1）", "左边一列（−1）"]
    # the caption names both checkpoints, escaped ("attention\-bidirectional")
    assert_no_english(at, ALLOWED | {"bidirectional"})


def test_one_step_taken_apart_own_and_what_if_run_is_chinese():
    at = open_page(section="step", text="HELLOWORLD", attend="2:3")
    assert not at.error
    assert at.header[0].value == "拆开第 2 步：从查询向量到上下文向量"
    assert "第 2 步：先打分，再 softmax" in titles(at)
    assert_no_english(at, ALLOWED)
    at.radio(key="att_mechanism_view").set_value("the what-if run").run()
    assert not at.exception
    scores = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                  if "先打分" in json.loads(c.proto.spec)["layout"]["title"]["text"])
    assert [bar["name"] for bar in scores["data"]] == ["分数", "模型自己的权重",
                                                      "实际使用的（强制，混合比例 1）"]
    assert any("其余项" in latex.value for latex in at.get("latex"))
    assert_no_english(at, ALLOWED)


def test_the_what_if_section_before_and_after_forcing_is_chinese():
    at = open_page(section="whatif")
    said = next(m.value for m in at.markdown if m.value.startswith("**先试试这个。**"))
    assert "第 5 步" in said.replace("\\", "")
    assert_no_english(at, ALLOWED)
    at.button(key="att_try_suggestion").click().run()
    assert not at.exception and not at.error
    assert at.session_state["att_overrides"] == [(5, 15)]
    assert next(m for m in at.metric if m.label == "第 5 步写出").value == "Y"
    assert "假设运行中实际使用的注意力分布（被强制的格子带框）" in titles(at)
    assert_no_english(at, ALLOWED)


def test_the_state_maps_in_both_colourings_are_chinese():
    at = open_page(section="states")
    assert not at.error
    assert "同一组平面上的 300 个新字符串" in titles(at)
    assert_no_english(at, ALLOWED)
    at.radio(key="att_color_by").set_value("left").run()
    assert not at.exception
    assert_no_english(at, ALLOWED)


def test_the_plain_models_errors_and_their_tables_are_chinese():
    at = open_page(section="errors")
    assert not at.error
    assert {"两者都对", "只有注意力模型对"} <= {m.label for m in at.metric}
    columns = {tuple(d.value.columns) for d in at.dataframe}
    assert ("步", "应输出", "注意力模型", "普通模型", "熵（奈特）", "正确字母上的权重") in columns
    assert_no_english(at, ALLOWED)


@pytest.mark.parametrize("bad", ["[x](http://evil.example) 1", "A" * 70])
def test_bad_input_is_an_escaped_chinese_error(bad):
    at = open_page(section="errors")
    at.text_input(key=INPUT_KEY).set_value(bad).run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert error.startswith("无法解码“") and "](" not in error
    assert "完全匹配" in " ".join(titles(at))  # the many strings still render
    assert_no_english(at, ALLOWED | {"http", "evil", "example"})  # the user's own text


@pytest.mark.parametrize("bad", ["[x](http://evil.example)", "<b>x</b>"])
def test_an_unknown_section_is_named_in_an_escaped_chinese_warning(bad):
    at = open_page(section=bad)
    assert not at.error
    [warning] = [w.value for w in at.warning]
    assert warning.startswith("本页没有“") and "](" not in warning and "<b>" not in warning
    assert "heatmap、step、whatif、states、errors" in warning.replace("\\", "")
    # the section values of the link, and the user's own text
    assert_no_english(at, ALLOWED | {"heatmap", "step", "whatif", "states", "errors", "http",
                                     "evil", "example"})


def test_a_bad_override_in_the_link_is_named_in_chinese():
    at = open_page(attend="a:b", blend="2")
    messages = [e.value.replace("\\", "") for e in at.error]
    assert len(messages) == 2
    assert messages[0].startswith("链接中的 ?blend= 参数已忽略：") and "'2'" in messages[0]
    assert messages[1].startswith("链接中的 ?attend= 参数已忽略：") and "'a:b'" in messages[1]
