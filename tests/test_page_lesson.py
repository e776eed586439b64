"""AppTest of the Lesson page: the app's first page, its chapters, the URL and a real race."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from urllib.parse import parse_qs

import pandas as pd
import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

import seqrev.teaching.lesson as lesson
from seqrev.decoding.search import greedy_trace
from seqrev.models.seq2seq import ModelConfig, build_model
from seqrev.runs.state import STATE_FILE
from seqrev.runs.store import RunStore
from tests.apptest_support import APP, open_page


def open_lesson(query: dict | None = None) -> AppTest:
    return open_page("pages/lesson.py", query)


def shown(text: str) -> str:
    """Markdown as the reader sees it: backslash escapes and zero-width spaces removed."""
    return re.sub(r"\\(.)", r"\1", text).replace("\u200b", "")


def links(at: AppTest) -> list[tuple[str, dict]]:
    """Every page link: its page and its query parameters."""
    return [(link.proto.page, {k: v[0] for k, v in parse_qs(link.proto.query_string).items()})
            for link in at.get("page_link")]


LESSON = ("", "lesson")  # the default page's path is "" on a first run, "lesson" after


def deeper(at: AppTest) -> tuple[str, dict]:
    """The go-deeper link: the one to another page."""
    [link] = [(page, query) for page, query in links(at) if page not in LESSON]
    return link


def chart_titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def lab_lines(at: AppTest) -> list[str]:
    return [c.value for c in at.code if c.value.startswith("Input: ")]


LAB_LINE = re.compile(r"Input: \['([A-Z]+)'\], Should get: ([A-Z]+), Model generate: ([A-Z]*) "
                      r"\| The result is (True|False)")


def test_the_app_opens_on_the_lesson_with_the_labs_printout_and_the_contrast():
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Lesson: why attention helps"
    assert at.header[0].value == lesson.CHAPTERS[0].title
    lines = lab_lines(at)
    assert len(lines) == 3  # plain, attention, and the Transformer beside them
    verdicts = []
    for line in lines:
        source, expected, produced, verdict = LAB_LINE.fullmatch(line).groups()
        assert source == lesson.PRINTOUT_TEXT and expected == source[::-1]
        assert verdict == str(produced == expected)
        verdicts.append(verdict)
    # plain wrong, attention right, with no click; the Transformer, trained on 1 to 16 letters
    # with absolute positions, writes only the last 16 letters of this 21-letter string
    assert verdicts == ["False", "True", "False"]
    assert lesson.VERDICTS[(False, True)] in at.markdown[0].value
    assert deeper(at) == ("decode", {"text": lesson.PRINTOUT_TEXT})
    assert at.button(key="lesson_previous").disabled
    at.text_input(key="lesson_text").input("hello").run()
    assert all(line.startswith("Input: ['HELLO'], Should get: OLLEH,") for line in lab_lines(at))
    assert lesson.VERDICTS[(True, True)] in at.markdown[0].value
    assert deeper(at) == ("decode", {"text": "HELLO"})


def test_bad_input_in_chapter_one_is_an_escaped_error():
    at = open_lesson()
    at.text_input(key="lesson_text").input("[x](http://e.x)").run()
    assert not at.exception and at.error
    assert "](" not in at.error[0].value and not lab_lines(at)
    assert lesson.NO_VERDICT in at.markdown[0].value


@pytest.mark.parametrize("number", range(1, len(lesson.CHAPTERS) + 1))
def test_every_chapter_renders_its_text_a_picture_and_a_link(number):
    at = open_lesson({"chapter": str(number)})
    assert not at.exception and not at.error
    chapter = lesson.CHAPTERS[number - 1]
    assert at.header[0].value == chapter.title
    assert f"Chapter {number} of {len(lesson.CHAPTERS)}" in at.get("progress")[0].proto.text
    assert "{" not in at.markdown[0].value  # every placeholder filled
    pictures = len(at.get("plotly_chart")) + len(at.get("html"))
    assert pictures or number == 5  # the race draws its pictures once it is started
    page, _ = deeper(at)
    assert page in ("decode", "attention", "train", "sweep")


def test_chapter_two_shows_the_contrast_with_no_click_and_the_slider_moves_it():
    at = open_lesson({"chapter": "2"})
    assert [m.value for m in at.markdown if m.value.endswith((": right", ": wrong"))] == [
        "**Plain model**: wrong", "**Attention model**: right"]
    prefix = lesson.LONG_TEXT[:lesson.LONG_DEFAULT]
    assert deeper(at) == ("attention", {"text": prefix, "section": "errors"})
    at.slider(key="lesson_length").set_value(8).run()
    assert [m.value for m in at.markdown if m.value.endswith((": right", ": wrong"))] == [
        "**Plain model**: right", "**Attention model**: right"]
    assert deeper(at)[1]["text"] == lesson.LONG_TEXT[:8]


def test_chapter_three_follows_the_step_slider():
    at = open_lesson({"chapter": "3"})
    at.slider(key="lesson_step").set_value(5).run()
    assert any(c.value.startswith("Step 5 wrote") for c in at.caption)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert any(shape.get("name") == "selected step" for shape in spec["layout"]["shapes"])
    assert deeper(at) == ("attention", {"text": lesson.SURPRISE_TEXT, "section": "heatmap"})


def test_chapter_four_forcing_the_outline_derails_and_the_plus_one_column_does_not():
    at = open_lesson({"chapter": "4"})
    outline, plus_one = lesson.surprise_positions(lesson.SURPRISE_TEXT, lesson.SURPRISE_STEP)
    assert at.radio(key="lesson_force").value == outline
    assert any("never finds its place" in m.value for m in at.markdown)
    assert deeper(at)[1]["attend"] == f"{lesson.SURPRISE_STEP}:{outline}"
    at.radio(key="lesson_force").set_value(plus_one).run()
    assert any("whole output is right" in m.value for m in at.markdown)
    assert deeper(at) == ("attention", {"text": lesson.SURPRISE_TEXT, "section": "whatif",
                                        "attend": f"{lesson.SURPRISE_STEP}:{plus_one}"})


def test_chapter_six_measures_the_trained_model_too():
    at = open_lesson({"chapter": "6"})
    names = {trace["name"] for trace in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    assert names == {"random vectors, unscaled", "random vectors, ÷ √D"}
    at.radio(key="lesson_vectors").set_value("model").run()
    assert not at.exception and any("trained model's own scores" in c.value for c in at.caption)
    names = {trace["name"] for trace in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    assert "the trained model's q and keys, unscaled" in names


def test_next_and_previous_move_through_the_chapters_in_the_url():
    at = open_lesson()
    at.button(key="lesson_next").click().run()
    assert at.query_params["chapter"] == "2"
    assert at.header[0].value == lesson.CHAPTERS[1].title
    at.button(key="lesson_previous").click().run()
    assert at.header[0].value == lesson.CHAPTERS[0].title
    contents = [query for page, query in links(at) if page in LESSON]
    assert contents == [{"chapter": str(n)} for n in range(1, len(lesson.CHAPTERS) + 1)]
    last = open_lesson({"chapter": str(len(lesson.CHAPTERS))})
    assert last.button(key="lesson_next").disabled
    assert not last.button(key="lesson_previous").disabled


@pytest.mark.parametrize("bad", ["0", "8", "abc", "3.5", "", "[x](http://e.x)", "２",
                                 "99999999999999999999"])
def test_a_bad_chapter_is_named_in_a_warning_and_falls_back_to_chapter_one(bad):
    at = open_lesson({"chapter": bad})
    assert not at.exception
    assert at.header[0].value == lesson.CHAPTERS[0].title
    if bad == "":
        assert not at.warning
        return
    [warning] = at.warning
    assert f"“{bad}”" in shown(warning.value)
    assert "](" not in warning.value


# ---- the race ---------------------------------------------------------------------------------
SHIPPED_RACE = lesson.race_configs


def tiny_race():
    model_configs, train_config = SHIPPED_RACE(20)
    return ([replace(c, embedding_dim=8, hidden_dim=16) for c in model_configs],
            replace(train_config, batch_size=8, min_len=1, max_len=4, eval_every=10,
                    eval_size=50))


def poll(at: AppTest, done, timeout: float = 90.0) -> None:
    """Rerun as the browser's fragment timer would, until ``done()``."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the race never got there"
        time.sleep(0.3)
        at.run()
        assert not at.exception


def test_the_race_button_trains_both_models_and_a_reload_finds_the_race(runs_dir, monkeypatch):
    monkeypatch.setattr(lesson, "race_configs", tiny_race)
    at = open_lesson({"chapter": "5"})
    assert not at.get("plotly_chart")
    at.button(key="lesson_race").click().run()
    assert not at.exception
    run_id = at.query_params["run"]
    store = RunStore(runs_dir)
    race = store.group(store.get(run_id))
    assert [r.kind for r in race] == ["plain", "attention"] and race[0].steps_total == 20
    poll(at, lambda: all(r.status == "finished" for r in store.group(store.get(run_id))))
    at.run()
    assert "Training loss" in chart_titles(at) and "Exact match by input length" in chart_titles(at)
    page, link = deeper(at)
    assert page == "train" and link["run"] == run_id and link["token"]

    reloaded = open_lesson({"chapter": "5", "run": run_id})
    assert "Exact match by input length" in chart_titles(reloaded)
    spec = json.loads(reloaded.get("plotly_chart")[-1].proto.spec)
    assert {trace["name"] for trace in spec["data"]} == {"plain", "attention"}
    assert spec["data"][0]["x"] == list(range(1, 9))  # twice the longest training string

    st.cache_data.clear()
    (store.run_folder(run_id) / STATE_FILE).unlink()  # its saved weights are gone
    broken = open_lesson({"chapter": "5", "run": run_id})
    assert any("Could not score" in e.value for e in broken.error)
    assert "Training loss" in chart_titles(broken)


@pytest.mark.parametrize("bad", ["nope", "r" + "z" * 9, "[x](http://e.x)"])
def test_an_unknown_race_in_the_url_is_an_error_not_a_traceback(runs_dir, bad):
    at = open_lesson({"chapter": "5", "run": bad})
    assert not at.exception and at.error
    assert "](" not in at.error[0].value
    assert not at.button(key="lesson_race").disabled


# ---- the library behind the page --------------------------------------------------------------
def test_prefix_outcomes_in_one_padded_batch_match_decoding_each_prefix_alone():
    torch.manual_seed(3)
    models = {kind: build_model(ModelConfig(kind=kind, embedding_dim=8, hidden_dim=12))
              for kind in ("plain", "attention")}
    text = "QWERTYUIOPAS"
    outcomes = lesson.prefix_outcomes(models, text)
    assert len(outcomes) == 2 * len(text)
    for row in outcomes.itertuples():
        trace = greedy_trace(models[row.model], text[:row.length],
                             max_steps=len(text) + 1)
        assert row.output == trace.output, (row.model, row.length)
        assert row.correct == trace.correct and row.expected == text[:row.length][::-1]


def test_prefix_summary_finds_where_a_model_first_breaks():
    frame = pd.DataFrame({"length": [1, 2, 3, 4], "model": ["plain"] * 4,
                          "correct": [True, True, False, True]})
    assert lesson.prefix_summary(frame, "plain") == lesson.PrefixSummary(2, 3, 3)
    frame["correct"] = True
    assert lesson.prefix_summary(frame, "plain") == lesson.PrefixSummary(4, None, 4)


def test_parse_chapter_takes_only_whole_numbers_in_range():
    assert lesson.parse_chapter(None) == lesson.ChapterPick(1)
    assert lesson.parse_chapter(" 3 ") == lesson.ChapterPick(3)
    for bad in ("0", str(len(lesson.CHAPTERS) + 1), "٣", "1e0", "x"):
        pick = lesson.parse_chapter(bad)
        assert pick.number == 1 and pick.problem and "{value}" in pick.problem


def test_capacity_numbers_come_from_the_sweep():
    rows = []
    for kind, longest in (("plain", 3), ("attention", 7)):
        for length in range(1, 9):
            rows.append({"kind": kind, "hidden_dim": 32, "max_len": 8, "test_length": length,
                         "exact_match": 1.0 if length <= longest else 0.5})
    numbers = lesson.capacity_numbers(pd.DataFrame(rows))
    assert numbers == {"hidden": 32, "plain_longest": 3, "attention_longest": 7,
                       "plain_per_letter": 32 / 3, "attention_per_letter": 32 / 7}
    assert lesson.capacity_numbers(pd.DataFrame(rows[:8])) is None  # plain only


def test_a_missing_checkpoint_is_an_error_and_the_chapters_still_move_on(checkpoint_dir):
    for path in checkpoint_dir.glob("attention.*"):
        path.unlink()
    at = open_lesson({"chapter": "3"})
    assert not at.exception and at.error
    assert not [page for page, _ in links(at) if page not in LESSON]
    assert not at.get("plotly_chart")
    at.button(key="lesson_next").click().run()
    assert at.header[0].value == lesson.CHAPTERS[3].title and at.error
    at.button(key="lesson_next").click().run()  # the race needs no checkpoint
    assert not at.error and deeper(at)[0] == "train"
