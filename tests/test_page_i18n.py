"""AppTest of the Lesson (every chapter) and Home pages in 简体中文: no English prose anywhere
the reader looks (text, labels, help, chart titles, axes, legends, table headers), the
language kept across pages and switches, and a bad ?lang= named in an escaped warning."""

from __future__ import annotations

import html
import json
import re

import pytest
from google.protobuf.json_format import MessageToDict
from streamlit.testing.v1 import AppTest

import seqrev.checkpoints.store as checkpoints
import seqrev.teaching.lesson as lesson
from pages.common import LANGUAGE_PICKER_KEY
from tests.apptest_support import APP, open_page

# words that stay as they are in Chinese: proper names, code, tokens, units, file formats
ALLOWED = {
    "gru", "pca", "ray", "seqrev", "seq2seq", "eos", "sos", "pad", "unk", "cli", "url", "api",
    "html", "json", "csv", "safetensors", "pytorch", "streamlit", "plotly", "python", "adam",
    "softmax", "tanh", "relu", "argmax", "utf", "lang", "chapter", "run", "token", "a-z",
    "lstm", "rnn", "gpu", "cpu", "id", "ms", "md", "english", "bahdanau", "luong", "pairs",
    "readme", "github", "train", "decode", "attention", "sweep", "runs", "lesson", "home",
    "exact", "chars", "plain", "bilinear", "dot", "additive", "reverse", "copy", "sort",
    "rotate", "ok", "vs",
    "language",  # the switch's own label is in both languages: "Language / 语言"
    "transformer", "sinusoidal", "learned", "heads", "dropout",  # a model, a term, its values
}
# code, and a <style> block's CSS (selectors and properties: not prose)
_CODE = re.compile(r"```.*?```|`[^`]*`|<style>.*?</style>", re.DOTALL)
_URL = re.compile(r"https?://\S+|\?[a-z]+=\S*|[\w./-]+\.(?:py|md|json|safetensors|txt)\b")
_PLOTLY = re.compile(r"%\{[^}]*\}|<[^>]+>")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]")
_TEXT_KEYS = {"body", "label", "text", "help", "placeholder", "caption", "title", "options",
              "formattedOptions", "value"}


def _strings(node, keys=_TEXT_KEYS, key=None):
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _strings(value, keys, name)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, keys, key)
    elif isinstance(node, str) and key in keys:
        yield node


def _figure_texts(spec: dict):
    layout = spec.get("layout", {})
    yield from _strings(layout, {"text"})
    for trace in spec.get("data", []):
        yield from (trace.get(name, "") for name in ("name", "hovertemplate"))
        colorbar = trace.get("colorbar", {}).get("title", {})
        yield colorbar.get("text", "") if isinstance(colorbar, dict) else ""


def table_headers(node):
    """The headers a reader sees on an ``st.dataframe`` (AppTest's element type "dataframe"),
    in their order: a ``column_config`` label where one is given, the column name otherwise,
    hidden columns apart; then each column's help (its hover text)."""
    config = json.loads(node.proto.columns or "{}")
    names = list(node.proto.column_order) or [str(name) for name in node.value.columns]
    shown = [(name, config.get(name) or {}) for name in names]
    shown = [(name, column) for name, column in shown if not column.get("hidden")]
    yield from (column.get("label") or name for name, column in shown)
    yield from (column["help"] for _name, column in shown if column.get("help"))


def _node_texts(node):
    element = getattr(node, "type", "")
    if element == "code":  # the lab's printout, code and commands stay as they are
        return
    proto = getattr(node, "proto", None)
    if proto is not None and element not in ("plotly_chart", "dataframe"):
        yield from _strings(MessageToDict(proto))
    if element == "plotly_chart":
        yield from _figure_texts(json.loads(proto.spec))
    if element == "dataframe":
        yield from table_headers(node)
    for child in getattr(node, "children", {}).values():
        yield from _node_texts(child)


def texts(at) -> list[str]:
    """Every text the reader of ``at``'s page can see, code blocks and checkpoint names apart."""
    names = set(checkpoints.list_checkpoints())
    return [text for text in _node_texts(at._tree) if text and text not in names]


def english_words(text: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    text = _PLOTLY.sub(" ", _URL.sub(" ", _CODE.sub(" ", text)))
    text = _PLOTLY.sub(" ", html.unescape(text))  # an SVG's "&lt;eos&gt;" reads as <eos>
    words = []
    for word in _WORD.findall(text):
        # tokens (letters, ABC), names, codes
        if word.isupper() or word.lower() in ALLOWED or word.lower() in allowed:
            continue
        if len(word) == 1:  # a letter: a token, a position (S, t) or a variable
            continue
        words.append(word)
    return words


def assert_no_english(at, allowed: frozenset[str] = frozenset()) -> None:
    """Fail on any English word on ``at``'s page outside ALLOWED and ``allowed`` (lower case)."""
    found = {text: english_words(text, allowed) for text in texts(at)}
    leaks = {text[:120]: words for text, words in found.items() if words}
    assert not leaks, leaks


@pytest.mark.parametrize("number", range(1, len(lesson.CHAPTERS) + 1))
def test_every_lesson_chapter_in_chinese_has_no_english_prose(number):
    at = open_page("pages/lesson.py", {"lang": "zh", "chapter": str(number)})
    assert not at.exception and not at.error
    assert at.header[0].value != lesson.CHAPTERS[number - 1].title
    assert_no_english(at)


def test_the_home_page_in_chinese_has_no_english_prose():
    at = open_page("pages/home.py", {"lang": "zh"})
    assert not at.exception and not at.error
    headers = list(table_headers(at.dataframe[0]))
    assert headers and set(headers) <= set(texts(at))  # the table's headers are checked too
    assert_no_english(at)


TABLE_SCRIPT = """
import pandas as pd
import streamlit as st
st.dataframe(pd.DataFrame({"exact 10": [0.9], "name": ["x"], "hidden one": [1]}),
             hide_index=True, column_order=["name", "exact 10"],
             column_config={"exact 10": st.column_config.NumberColumn(label="完全匹配",
                                                                      help="在长度 10 上"),
                            "hidden one": None})
"""


def test_a_tables_headers_are_read_as_the_reader_sees_them(tmp_path):
    script = tmp_path / "table.py"
    script.write_text(TABLE_SCRIPT)
    at = AppTest.from_file(str(script), default_timeout=30).run()
    assert texts(at) == ["name", "完全匹配", "在长度 10 上"]


def test_the_english_pages_are_unchanged_by_the_catalogues():
    at = open_page("pages/lesson.py", {"lang": "en"})
    assert at.header[0].value == lesson.CHAPTERS[0].title
    home = open_page("pages/home.py", {"lang": "en"})
    assert any("reverse" in title.value for title in home.title)


def test_the_language_is_kept_in_the_url_across_pages_and_chapters():
    at = open_page("pages/lesson.py", {"lang": "zh", "chapter": "2"})
    assert at.query_params["lang"] == ["zh"] or at.query_params["lang"] == "zh"
    links = [link.proto for link in at.get("page_link")]
    assert links and all("lang=zh" in link.query_string for link in links if link.query_string)
    at.switch_page("pages/home.py").run()
    assert not at.exception
    assert "lang" in at.query_params
    assert_no_english(at)


def routed(query: dict | None = None) -> AppTest:
    """The app's first run through the router: the Lesson page with the shared sidebar."""
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    at.run()
    assert not at.exception
    return at


def test_the_router_page_title_navigation_and_sidebar_are_chinese():
    at = routed({"lang": "zh"})
    assert at.sidebar.children  # the sidebar was drawn and is checked too
    assert_no_english(at)


def test_without_lang_the_page_is_english_and_the_switch_changes_it_keeping_the_input():
    at = routed({"chapter": "1"})
    assert at.header[0].value == lesson.CHAPTERS[0].title
    [switch] = [e for e in at.sidebar.radio if e.key == LANGUAGE_PICKER_KEY]
    at.text_input[0].set_value("ABCDE")
    switch.set_value("zh_CN")
    at.run()
    assert not at.exception
    assert at.header[0].value != lesson.CHAPTERS[0].title
    assert at.text_input[0].value == "ABCDE"
    assert at.query_params.get("chapter") in ("1", ["1"])


@pytest.mark.parametrize("bad", ["fr", "[click](http://evil.example)", "**x**"])
def test_an_unknown_lang_is_named_in_an_escaped_warning_then_english(bad):
    at = open_page("pages/lesson.py", {"lang": bad})
    assert not at.exception
    [warning] = [w.value for w in at.warning if "lang" in w.value]
    assert "](" not in warning and "**x**" not in warning
    assert at.header[0].value == lesson.CHAPTERS[0].title
