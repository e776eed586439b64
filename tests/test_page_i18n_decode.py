"""AppTest of the Decode page in 简体中文: every state a reader reaches (the default string, a
string longer than training, greedy and beam search with their trees, a forced prefix, two
inputs compared, the step control, the pairs view) with no English prose, and bad input named
in a Chinese error with the user's text escaped."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from pages.common import escape_markdown
from seqrev.charts.compare import comparison_table
from seqrev.charts.decoding import beam_tree_figure, marked_output_html, step_table, topk_svg
from seqrev.checkpoints.store import load_checkpoint
from seqrev.decoding.search import beam_search, greedy_trace
from seqrev.i18n import use_language
from tests.apptest_support import open_page
from tests.test_charts_decoding import svg_bars
from tests.test_page_decode import step_charts
from tests.test_page_i18n import assert_no_english, english_words
from tests.test_page_pairs import open_with_words, pairs_folder, with_pairs  # noqa: F401

# a proper name on the page: the tool whose what-if and comparison modes it borrows
ALLOWED = frozenset({"seq", "seq-vis"})
HAN = re.compile(r"[\u4e00-\u9fff]")


def zh_page(query: dict | None = None) -> AppTest:
    at = open_page("pages/decode.py", {"lang": "zh", **(query or {})})
    assert not at.exception
    return at


def charts(at: AppTest) -> dict[str, dict]:
    return {el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.spec)
            for el in at.get("plotly_chart")}


def chinese(text: str) -> bool:
    return bool(HAN.search(text))


def test_the_default_string_greedy_the_step_control_and_a_long_string_in_chinese():
    at = zh_page()
    assert not at.error and at.title[0].value == "解码：一步一步解码你自己的字符串"
    assert chinese(at.success[0].value)  # the plain model fails, attention does not
    assert at.radio(key="decode_method").options == ["贪心解码", "束搜索"]
    assert_no_english(at, ALLOWED)
    at.slider(key="decode_step__slider").set_value(3).run()
    steps = step_charts(at)
    assert svg_bars(steps["decode_topk_plain"])[0].startswith("第 3 步")
    assert ">输入字母</text>" in steps["decode_attention_attention"]
    assert "权重" in svg_bars(steps["decode_attention_attention"])[1][0]["hover"]
    assert "当前" in at.dataframe[0].value.columns
    assert_no_english(at, ALLOWED)
    # longer than training: the length warning, and steps past one model's <eos>
    at.text_input(key="decode_text").input("ONEVECTORISNOTENOUGH").run()
    assert len(at.warning) == 1 and "超出了" in at.warning[0].value
    at.slider(key="decode_step__slider").set_value(
        at.slider(key="decode_step__slider").max).run()
    assert_no_english(at, ALLOWED)


def test_beam_search_trees_in_chinese():
    at = zh_page({"text": "AAAAABBBBB", "beam": "3"})
    assert at.radio(key="decode_method").value == "Beam search"  # the value stays English
    assert not at.exception and not at.error
    specs = charts(at)
    for kind, title in (("plain", "普通模型"), ("attention", "注意力模型")):
        layout = specs[f"decode_beam_{kind}"]["layout"]
        assert layout["title"]["text"].startswith(f"{title}（{kind}）：束搜索，束宽 3")
        assert layout["xaxis"]["title"]["text"] == "解码步"
        assert layout["yaxis"]["title"]["text"] == "束内排名"
        names = {trace.get("name") for trace in specs[f"decode_beam_{kind}"]["data"]}
        assert {"保留的候选", "最优路径", "候选", "选中的路径"} <= names
    assert_no_english(at, ALLOWED)


def test_a_forced_prefix_and_two_inputs_compared_in_chinese():
    at = zh_page({"text": "ABCDEFGH"})
    at.text_input(key="decode_prefix").input("hg").run()
    assert any("强制 `HG` 之后贪心解码" in c.value for c in at.caption)
    at.text_input(key="decode_second").set_value("ABCDEFGX").run()
    assert not at.exception and not at.error
    assert any("对两个字符串、两个模型都适用" in i.value for i in at.info)
    tables = [d.value for d in at.dataframe if "不同" in d.value.columns]
    assert len(tables) == 3 and "第二个写出" in tables[0].columns
    assert_no_english(at, ALLOWED)
    at.text_input(key="decode_prefix").input("").run()
    at.text_input(key="decode_second").set_value("HELLOWORLD").run()
    at.text_input(key="decode_text").input("HELLWORLD").run()
    assert any(m.value.startswith("**注意力模型**：逐个字母对齐后") for m in at.markdown)
    assert_no_english(at, ALLOWED)


@pytest.mark.parametrize(("field", "bad", "named"), [
    ("decode_prefix", "H!", "'!'"), ("decode_second", "AB3", "'3'"),
    ("decode_second", "A" * 65, "65"), ("decode_second", "[x](http://a.b)", "'['"),
])
def test_bad_input_is_a_chinese_error_with_the_users_text_escaped(field, bad, named):
    at = zh_page({"text": "ABCDEFGH"})
    widget = at.text_input(key=field)
    (widget.input(bad) if field == "decode_prefix" else widget.set_value(bad)).run()
    assert not at.exception and len(at.error) == 1
    error = at.error[0].value
    assert error.startswith("无法") and escape_markdown(named) in error
    assert "](" not in error  # never a live link
    assert not english_words(error.replace(escape_markdown(bad, 40), ""), ALLOWED), error


def test_the_main_inputs_error_and_a_bad_link_in_chinese():
    at = zh_page({"text": "[x](http://a.b)", "beam": "99"})
    assert len(at.error) == 1 and at.error[0].value.startswith("无法解码")
    assert "](" not in at.error[0].value
    assert len(at.warning) == 1 and at.warning[0].value.startswith("已忽略链接中的 beam=99")
    at.text_input(key="decode_text").input("hello").run()
    assert not at.error and any(c.value == "小写字母已转为大写：HELLO" for c in at.caption)
    for bad in ("AB12", "A" * 65):  # digits, too long: named in Chinese, from seqrev.tasks.vocab
        at.text_input(key="decode_text").input(bad).run()
        error = at.error[0].value
        assert error.startswith("无法解码") and not at.get("plotly_chart")
        assert not english_words(error.replace(escape_markdown(bad, 40), ""), ALLOWED), error


def test_the_pairs_view_in_chinese(with_pairs):  # noqa: F811
    at = open_with_words("pages/decode.py")
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception and not at.error
    assert any("你自己的输入输出对" in i.value for i in at.info)
    assert list(at.dataframe[0].value.columns) == ["输入", "应输出", "实际输出", "正确"]
    assert_no_english(at, ALLOWED | {"words", "abcdef"})  # the file: its name, alphabet
    at.text_input(key="decode_pairs_text").set_value("abZz").run()
    assert at.error and at.error[0].value.startswith("无法解码")
    assert not english_words(at.error[0].value, ALLOWED | {"abzz", "abcdef"}), at.error[0].value


def test_the_chart_builders_write_in_either_language():
    model = load_checkpoint("attention").model
    trace, beam = greedy_trace(model, "HELLO"), beam_search(model, "HELLO", 2)
    english = topk_svg(trace.steps[0], 3 + ord("O") - ord("A"))
    with use_language("zh_CN"):
        topk = topk_svg(trace.steps[0])
        figures = [beam_tree_figure(beam)]
        tables = [step_table(trace), comparison_table(trace, trace)]
        html = marked_output_html("OLEH", "OLLEH")
    assert "<title>Step 0: next token" in english
    assert "<title>第 0 步" in topk and "Step" not in topk
    assert figures[0].layout.title.text.startswith("束搜索，束宽 2")
    assert tables[0].columns[2] == "选中"
    assert "不同" in tables[1].columns
    assert "位置 3：写出 H，应为 E" in html and "5 个位置中错了 3 个" in html
