"""AppTest of the Attention page on the shipped checkpoints."""

import json

import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from seqrev.checkpoints.store import load_checkpoint
from seqrev.decoding.search import AttentionOverride, greedy_trace
from seqrev.inspection.analysis import compare_models, trace_numbers, wrong_steps
from seqrev.tasks.vocab import token_label
from tests.apptest_support import open_page as open_app_page

INPUT_KEY = "att_input"


def open_page(section: str | None = None, **params) -> AppTest:
    return open_app_page("pages/attention.py", params | ({"section": section} if section else {}))


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


def test_page_opens_on_the_heatmap_and_draws_only_it(page):
    assert not page.error
    titles = list(charts(page))
    assert titles == ["Attention of 'attention' on reverse: ATTENTIONISALLYOUNEED"]
    labels = [m.label for m in page.metric]
    assert {"Entropy (nats)", "On the textbook outline", "Best diagonal"} <= set(labels)
    assert page.radio(key="att_section").value == "heatmap"
    assert page.query_params["section"] in (["heatmap"], "heatmap")


def test_errors_section_draws_the_many_strings_part():
    at = open_page("errors")
    assert not at.error
    for start in ("Error rate by output position", "Exact match by input length",
                  "Attention on reverse: ", "Attention at the plain model's wrong steps"):
        chart_titled(at, start)


def test_heatmap_matches_greedy_trace_of_the_typed_input(page):
    page.text_input(key=INPUT_KEY).set_value("helloworldabc").run()
    assert not page.exception and not page.error
    spec = chart_titled(page, "Attention of 'attention' on reverse: HELLOWORLDABC")
    heatmap = spec["data"][0]
    trace = greedy_trace(load_checkpoint("attention").model, "HELLOWORLDABC")
    assert torch.tensor(heatmap["z"], dtype=torch.float64).allclose(
        trace.attention_matrix().double(), atol=1e-6)
    assert heatmap["x"] == [f"{i}: {ch}" for i, ch in enumerate("HELLOWORLDABC")]
    mean_entropy = next(m for m in page.metric if m.label == "Entropy (nats)")
    assert mean_entropy.value == f"{trace_numbers(trace).mean_entropy:.2f}"

    page.radio(key="att_section").set_value("errors").run()
    assert not page.exception and not page.error
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
def test_bad_input_shows_an_error_not_a_traceback(bad):
    page = open_page("errors")
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
    chart_titled(page, "Attention of 'attention' on reverse: JJDDNZGZZF")


def test_batch_comparison_follows_its_settings():
    page = open_page("errors")
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


# --- the step taken apart, forced attention, and the state maps (issue 9) ---------------------

def open_with_link(section: str = "whatif", **params) -> AppTest:
    return open_page(section, **params)


def metric(at: AppTest, label: str):
    return next(m for m in at.metric if m.label == label)


def test_mechanism_numbers_are_the_heatmaps_and_recompute():
    page = open_page("step")
    page.slider(key="att_step__slider").set_value(3).run()
    assert not page.exception and not page.error
    own = greedy_trace(load_checkpoint("attention").model, "ATTENTIONISALLYOUNEED")
    heatmap = {"z": own.attention_matrix().double().tolist()}
    scores = chart_titled(page, "Step 3: scores, then softmax")["data"]
    vectors = chart_titled(page, "Step 3: the numbers that meet")["data"]
    q = torch.tensor(vectors[0]["z"][0], dtype=torch.float64)  # (H,)
    keys = torch.tensor(vectors[1]["z"], dtype=torch.float64)  # (S, H)
    shown_scores = torch.tensor(scores[0]["y"], dtype=torch.float64)
    # from the shown q and keys: the shown scores, and the heatmap's row as their softmax
    recomputed = keys @ q
    assert torch.allclose(recomputed, shown_scores, rtol=1e-6, atol=1e-5)
    assert torch.allclose(torch.softmax(recomputed, 0),
                          torch.tensor(heatmap["z"][3], dtype=torch.float64), atol=1e-5)
    assert torch.allclose(torch.tensor(scores[1]["y"], dtype=torch.float64),
                          torch.tensor(heatmap["z"][3], dtype=torch.float64), atol=1e-7)
    latex = [element.value for element in page.get("latex")]
    assert any("(W h_i)" in value for value in latex)
    winner = int(shown_scores.argmax())
    assert any(f"s_{{{winner}}}" in value and f"{float(shown_scores[winner]):.3f}" in value
               for value in latex)


def test_forcing_step_three_with_the_select_boxes():
    page = open_page("whatif")
    model = load_checkpoint("attention").model
    page.selectbox(key="att_force_step").set_value(3)
    page.selectbox(key="att_force_position").set_value(17)
    page.button(key="att_force").click().run()
    assert not page.exception and not page.error
    assert page.query_params["attend"] in (["3:17"], "3:17")  # AppTest may keep lists
    forced = greedy_trace(model, "ATTENTIONISALLYOUNEED",
                          overrides=[AttentionOverride(3, 17)])
    written = metric(page, "Step 3 wrote")
    assert written.value == token_label(forced.steps[3].chosen_token)
    assert f"p = {float(forced.steps[3].probabilities.max()):.2f}" in written.delta
    assert metric(page, "Whole output").value == ("exact" if forced.correct else "not exact")
    used = chart_titled(page, "Attention used in the what-if run")
    assert used["data"][0]["z"][3][17] == 1.0
    assert any(s.get("name") == "forced" for s in used["layout"]["shapes"])
    lines = chart_titled(page, "Probability of the right letter")["data"]
    assert [line["name"] for line in lines] == ["model's own", "forced"]


def test_blend_and_stacked_overrides_come_from_the_link():
    at = open_with_link(text="HELLOWORLD", attend="1:8,4:0", blend="0.5")
    assert not at.error
    assert at.slider(key="att_blend").value == 0.5
    used = chart_titled(at, "Attention used in the what-if run")["data"][0]["z"]
    own = chart_titled(at, "Click a cell to force it")["data"][0]["z"]
    assert used[1][8] >= 0.5 and used[4][0] >= 0.5
    assert used[0] == own[0]  # before the first forced step nothing changes
    assert any("step 1 → input 8" in m.value for m in at.markdown)


@pytest.mark.parametrize("params, named", [
    ({"attend": "3"}, "'3'"), ({"attend": "a:b"}, "'a:b'"), ({"attend": "99:0"}, "99"),
    ({"attend": "0:21"}, "21"), ({"attend": "1:1", "blend": "1.5"}, "1.5"),
    ({"attend": "1:1", "blend": "nan"}, "nan"),
])
def test_bad_override_in_the_link_is_an_error_naming_it(params, named):
    at = open_with_link("heatmap", **params)
    assert not at.exception
    assert at.error, f"no st.error for {params}"
    assert any(named in e.value.replace("\\", "") for e in at.error)
    chart_titled(at, "Attention of 'attention'")  # the page still works


def test_clear_and_new_text_drop_the_overrides():
    at = open_with_link(text="HELLOWORLD", attend="2:3")
    assert at.session_state["att_overrides"] == [(2, 3)]
    at.button(key="att_clear").click().run()
    assert at.session_state["att_overrides"] == [] and "attend" not in at.query_params
    at = open_with_link(text="HELLOWORLD", attend="2:3")
    at.text_input(key=INPUT_KEY).set_value("ABC").run()
    assert not at.exception and not at.error
    assert at.session_state["att_overrides"] == []


def test_plain_model_is_said_to_have_no_attention_to_override():
    page = open_page("whatif")
    assert any("has no attention to override" in c.value for c in page.caption)


def test_what_if_run_can_be_taken_apart():
    at = open_with_link("step", text="HELLOWORLD", attend="2:3")
    at.slider(key="att_step__slider").set_value(2).run()
    at.radio(key="att_mechanism_view").set_value("the what-if run").run()
    assert not at.exception
    bars = chart_titled(at, "Step 2: scores, then softmax")["data"]
    assert [b["name"] for b in bars] == ["score", "model's own weights",
                                         "used (forced, blend 1)"]
    assert bars[2]["y"][3] == 1.0


def test_state_maps_show_both_models_on_the_reference_planes():
    page = open_page("states")
    from seqrev.inspection.projection import fit_state_map, trace_path
    paths = chart_titled(page, "States of both models for ATTENTIONISALLYOUNEED")
    cloud = chart_titled(page, "300 fresh strings on the same planes")
    lines = [t for t in paths["data"] if t.get("mode") == "lines+markers+text"]
    assert [t["name"] for t in lines] == ["plain encoder", "plain decoder",
                                          "attention encoder", "attention decoder"]
    model = load_checkpoint("attention").model
    expected = trace_path(fit_state_map(model), greedy_trace(model, "ATTENTIONISALLYOUNEED"))
    assert torch.allclose(torch.tensor([lines[3]["x"], lines[3]["y"]]).t(),
                          expected.decoder_xy, atol=1e-3)  # rounded to 3 decimals
    assert lines[2]["text"][0] == "0: A"
    assert len(cloud["data"]) == 4
    page.radio(key="att_color_by").set_value("left").run()
    assert not page.exception
    # the planes do not move when the string changes
    before = chart_titled(page, "300 fresh strings")["data"][0]["x"]
    page.text_input(key=INPUT_KEY).set_value("QWERTY").run()
    assert chart_titled(page, "300 fresh strings")["data"][0]["x"] == before


# --- the section picker, the two diagonals and the what-if suggestion (issue 15) -------------

SECTION_CHARTS = {  # section: the titles (starts) of the charts it draws, and no other
    "step": ["Step 0: the numbers that meet", "Step 0: scores, then softmax", ""],
    "whatif": ["Click a cell to force it"],
    "states": ["States of both models", "300 fresh strings"],
}


@pytest.mark.parametrize("section", list(SECTION_CHARTS))
def test_each_section_from_the_link_draws_only_its_own_charts(section):
    at = open_page(section)
    assert not at.exception and not at.error and not at.warning
    assert at.radio(key="att_section").value == section
    titles = list(charts(at))
    assert len(titles) == len(SECTION_CHARTS[section])
    for start in SECTION_CHARTS[section]:
        assert any(t.startswith(start) for t in titles), (start, titles)
    assert not any(t.startswith("Attention of 'attention'") for t in titles)
    assert at.info[0].value.startswith("Most weight sits")  # the one-line reading stays first


@pytest.mark.parametrize("bad", ["nope", "[x](http://evil.example)", "HEATMAP", "<b>x</b>"])
def test_unknown_section_in_the_link_warns_naming_it_and_opens_the_heatmap(bad):
    at = open_page(bad)
    assert not at.exception and not at.error
    assert len(at.warning) == 1
    shown = at.warning[0].value
    assert "](" not in shown and "<b>" not in shown  # escaped: no live link or tag
    assert bad.replace("\\", "") in shown.replace("\\", "").replace("\u200b", "")
    assert at.radio(key="att_section").value == "heatmap"
    assert list(charts(at)) == ["Attention of 'attention' on reverse: ATTENTIONISALLYOUNEED"]
    assert at.query_params["section"] in (["heatmap"], "heatmap")
    at.radio(key="att_section").set_value("states").run()
    assert not at.warning  # picking a section forgets the bad link
    assert at.query_params["section"] in (["states"], "states")


def test_heatmap_outlines_the_textbook_and_the_models_own_diagonal(page):
    spec = chart_titled(page, "Attention of 'attention'")
    names = {shape.get("name") for shape in spec["layout"]["shapes"]}
    assert "textbook outline: step t reads input S−1−t" in names
    assert "the model's own diagonal: the outline shifted +1" in names
    # 21/21 right with little weight on the outline: the page says where the weight is instead
    outline = metric(page, "On the textbook outline")
    assert outline.delta == "it reads +1 instead"
    assert metric(page, "Best diagonal").value == "+1"
    assert any("own diagonal" in c.value and "i−1" in c.value for c in page.caption)


def test_what_if_suggestion_says_what_happens_and_does_it():
    at = open_page("whatif")
    said = next(m.value for m in at.markdown if m.value.startswith("**Try this first.**"))
    said = said.replace("\\", "")
    assert "step 5" in said and "input 15 (O)" in said and "write Y instead of O" in said
    at.button(key="att_try_suggestion").click().run()
    assert not at.exception and not at.error
    assert at.session_state["att_overrides"] == [(5, 15)]
    assert metric(at, "Step 5 wrote").value == "Y"  # what the suggestion promised
    forced = greedy_trace(load_checkpoint("attention").model, "ATTENTIONISALLYOUNEED",
                          overrides=[AttentionOverride(5, 15)])
    assert forced.output == "DEENUOYLLASINOITNETTA".replace("O", "", 1)  # one letter short
    assert any("1 letter(s) only in the model's own run" in c.value for c in at.caption)


def test_plain_errors_button_brings_the_string_back_to_the_heatmap():
    at = open_page("errors")
    if not at.button(key="att_use_example"):
        pytest.skip("no string in the default set is wrong only for the plain model")
    choice = at.selectbox(key="att_example").value
    at.button(key="att_use_example").click().run()
    assert at.radio(key="att_section").value == "heatmap"
    chart_titled(at, f"Attention of 'attention' on reverse: {choice}")
