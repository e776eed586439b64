"""AppTest of the Attention page on the shipped checkpoints."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from seqrev.analysis import compare_models, trace_numbers, wrong_steps
from seqrev.checkpoints import load_checkpoint
from seqrev.decoding import greedy_trace

APP = str(Path(__file__).resolve().parent.parent / "app.py")
INPUT_KEY = "att_input"


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/attention.py")
    at.run()
    assert not at.exception
    return at


def charts(at: AppTest) -> dict[str, dict]:
    """Plotly specs on the page, by title."""
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    return {spec["layout"].get("title", {}).get("text", ""): spec for spec in specs}


def chart_titled(at: AppTest, start: str) -> dict:
    found = [spec for title, spec in charts(at).items() if title.startswith(start)]
    assert len(found) == 1, f"no single chart titled {start!r} in {list(charts(at))}"
    return found[0]


@pytest.fixture
def page():
    return open_page()


def test_page_renders_every_part(page):
    assert not page.error
    titles = list(charts(page))
    heading = "Attention of 'attention' reversing ATTENTIONISALLYOUNEED"
    assert any(t.startswith(heading) for t in titles)
    for start in ("Error rate by output position", "Exact match by input length",
                  "Attention reversing "):
        chart_titled(page, start)
    labels = [m.label for m in page.metric]
    assert {"Entropy (nats)", "On the outline", "Best diagonal"} <= set(labels)


def test_heatmap_matches_greedy_trace_of_the_typed_input(page):
    page.text_input(key=INPUT_KEY).set_value("helloworldabc").run()
    assert not page.exception and not page.error
    spec = chart_titled(page, "Attention of 'attention' reversing HELLOWORLDABC")
    heatmap = spec["data"][0]
    trace = greedy_trace(load_checkpoint("attention").model, "HELLOWORLDABC")
    assert torch.tensor(heatmap["z"], dtype=torch.float64).allclose(
        trace.attention_matrix().double(), atol=1e-6)
    assert heatmap["x"] == [f"{i}: {ch}" for i, ch in enumerate("HELLOWORLDABC")]
    mean_entropy = next(m for m in page.metric if m.label == "Entropy (nats)")
    assert mean_entropy.value == f"{trace_numbers(trace).mean_entropy:.2f}"

    wrong = wrong_steps(greedy_trace(load_checkpoint("plain").model, "HELLOWORLDABC"))
    reached = [t for t in wrong if t < len(trace.steps)]
    if reached:
        rows = chart_titled(page, "Attention at the plain model's wrong steps")["data"][0]
        assert [int(label.split(":")[0]) for label in rows["y"]] == reached
        assert torch.tensor(rows["z"], dtype=torch.float64).allclose(
            trace.attention_matrix()[reached].double(), atol=1e-6)
    else:
        assert page.success


def test_step_slider_moves_the_highlighted_row(page):
    page.slider(key="att_step__slider").set_value(3).run()
    assert not page.exception
    spec = chart_titled(page, "Attention of 'attention'")
    frames = [s for s in spec["layout"]["shapes"] if s.get("name") == "selected step"]
    assert [(f["y0"], f["y1"]) for f in frames] == [(2.5, 3.5)]
    assert any(c.value.startswith("Step 3 wrote") for c in page.caption)


@pytest.mark.parametrize("bad", ["abc1", "HÉLLO", "A" * 65, "  ", "A-B"])
def test_bad_input_shows_an_error_not_a_traceback(page, bad):
    page.text_input(key=INPUT_KEY).set_value(bad).run()
    assert not page.exception
    assert page.error, f"no st.error for {bad!r}"
    assert not any(t.startswith("Attention of") for t in charts(page))
    chart_titled(page, "Exact match by input length")  # the batch part still renders


def test_empty_input_asks_for_letters(page):
    page.text_input(key=INPUT_KEY).set_value("").run()
    assert not page.exception and page.info


def test_example_button_fills_the_input(page):
    page.button(key="att_example_JJDDNZGZZF").click().run()
    assert page.text_input(key=INPUT_KEY).value == "JJDDNZGZZF"
    chart_titled(page, "Attention of 'attention' reversing JJDDNZGZZF")


def test_batch_comparison_follows_its_settings(page):
    page.slider(key="att_lengths").set_value((3, 6))
    page.number_input(key="att_n").set_value(20)
    next(b for b in page.button if b.label == "Compare").click().run()
    assert not page.exception
    lines = chart_titled(page, "Exact match by input length")["data"]
    assert [line["name"] for line in lines] == ["plain", "attention"]
    assert all(line["x"] == [3, 4, 5, 6] for line in lines)
    errors = chart_titled(page, "Error rate by output position")["data"]
    assert all(line["x"] == [0, 1, 2, 3, 4, 5] for line in errors)
    assert any("80 fresh strings" in c.value for c in page.caption)
    plain, attention = (load_checkpoint(n).model for n in ("plain", "attention"))
    result = compare_models(plain, attention, range(3, 7), 20, seed=0)
    tables = [d.value for d in page.dataframe if "first_error" in d.value.columns]
    if result.examples.empty:
        assert not tables and any("No string in this set" in i.value for i in page.info)
    else:
        assert len(tables) == 1
        pd.testing.assert_frame_equal(tables[0].reset_index(drop=True), result.examples)
        assert (tables[0]["plain"] != tables[0]["expected"]).all()
        assert (tables[0]["attention"] == tables[0]["expected"]).all()
        assert page.selectbox(key="att_example").value == result.examples["input"][0]
