"""AppTest of the Decode page on the shipped checkpoints."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

import seqrev.checkpoints.store as checkpoints
from pages.common import escape_markdown
from seqrev.charts.decoding import marked_output_html
from seqrev.decoding.search import beam_search, greedy_trace
from seqrev.tasks.vocab import token_label
from tests.apptest_support import open_page
from tests.test_charts_decoding import svg_bars

KINDS = {"plain": checkpoints.SHIPPED_PLAIN, "attention": checkpoints.SHIPPED_ATTENTION,
         "transformer": checkpoints.SHIPPED_TRANSFORMER}


@pytest.fixture(scope="module")
def shipped():
    return {kind: checkpoints.load_checkpoint(name).model for kind, name in KINDS.items()}


def decode_page(query: dict | None = None) -> AppTest:
    return open_page("pages/decode.py", query)


def typed(at: AppTest, text: str) -> AppTest:
    at.text_input(key="decode_text").input(text).run()
    assert not at.exception
    return at


def charts(at: AppTest) -> dict[str, dict]:
    """Plotly specs by their Streamlit key."""
    return {el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.spec)
            for el in at.get("plotly_chart")}


def outputs_html(at: AppTest) -> list[str]:
    """The marked outputs (``st.html``)."""
    return [el.proto.body for el in at.get("html")]


def step_charts(at: AppTest) -> dict[str, str]:
    """The step view's SVG charts, named as their models' columns come: each model's top-k
    bars (``decode_topk_KIND``), then its attention row (``decode_attention_KIND``). They are
    ``st.markdown`` with HTML: ``st.html`` keeps only HTML and drops SVG."""
    named, kinds, kind = {}, iter(KINDS), None
    for body in (el.value for el in at.markdown):
        if 'class="seqrev-chart seqrev-topk"' in body:
            kind = next(kinds)
            named[f"decode_topk_{kind}"] = body
        elif 'class="seqrev-chart seqrev-attention-row"' in body:
            named[f"decode_attention_{kind}"] = body
    return named


def test_renders_on_the_shipped_checkpoints():
    at = decode_page()
    assert not at.error
    assert at.text_input(key="decode_text").value == "MISSISSIPPIRIVER"
    assert len(outputs_html(at)) == 3
    assert not charts(at)  # the step view draws without Plotly: it is the first thing read
    assert set(step_charts(at)) == {"decode_topk_plain", "decode_topk_attention",
                               "decode_attention_attention", "decode_topk_transformer",
                               "decode_attention_transformer"}
    assert len(at.dataframe) == 3


def test_outputs_equal_greedy_traces(shipped):
    at = typed(decode_page(), "ABABABABABAB")
    expected = [greedy_trace(shipped[kind], "ABABABABABAB") for kind in KINDS]
    assert outputs_html(at) == [marked_output_html(t.output, t.expected) for t in expected]
    captions = " ".join(c.value for c in at.caption)
    for trace in expected:
        assert f"greedy output `{trace.output}`" in captions
    tables = [el.value for el in at.dataframe]
    assert [list(t["chosen"]) for t in tables] == [
        [token_label(s.chosen_token) for s in trace.steps] for trace in expected]
    assert at.query_params["text"] == "ABABABABABAB"


def test_lowercase_is_upper_cased_with_a_note(shipped):
    at = typed(decode_page(), "hello")
    assert not at.error
    assert any("upper-cased: HELLO" in c.value for c in at.caption)
    trace = greedy_trace(shipped["attention"], "HELLO")
    assert outputs_html(at)[1] == marked_output_html(trace.output, "OLLEH")


@pytest.mark.parametrize(("text", "named"), [
    ("AB12", "'1', '2'"), ("HELLO WORLD", "' '"), ("AB-C!", "'-', '!'"), ("CAFÉ", "'É'"),
    ("AB😀", "'😀'"), ("A" * 65, "65 letters"),
])
def test_bad_input_shows_an_error_and_no_charts(text, named):
    at = typed(decode_page(), text)
    assert len(at.error) == 1
    assert escape_markdown(named) in at.error[0].value  # user characters are escaped
    assert not at.get("plotly_chart")
    assert not outputs_html(at)


def test_empty_input_asks_for_letters():
    at = typed(decode_page(), "")
    assert not at.error
    assert any("Type a string of letters" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_query_param_prefills_the_input(shipped):
    at = decode_page({"text": "QWERTY"})
    assert at.text_input(key="decode_text").value == "QWERTY"
    trace = greedy_trace(shipped["plain"], "QWERTY")
    assert outputs_html(at)[0] == marked_output_html(trace.output, "YTREWQ")


def test_bad_query_param_is_refused_not_crashed():
    at = decode_page({"text": "<script>", "beam": "99"})
    assert len(at.error) == 1
    assert any("beam=" in w.value for w in at.warning)


def test_attention_row_is_the_trace_at_the_chosen_step(shipped):
    at = typed(decode_page(), "ABCDEFGH")
    at.slider(key="decode_step__slider").set_value(3).run()
    trace = greedy_trace(shipped["attention"], "ABCDEFGH")
    title, bars = svg_bars(step_charts(at)["decode_attention_attention"])
    assert [bar["value"] for bar in bars] == pytest.approx(trace.steps[3].attention.tolist(),
                                                           abs=1e-3)
    assert title.startswith("Step 3:")
    assert svg_bars(step_charts(at)["decode_topk_plain"])[0].startswith("Step 3:")


def test_play_walks_to_the_last_step_and_stops(shipped):
    at = typed(decode_page(), "ABCD")
    n_steps = max(len(greedy_trace(m, "ABCD").steps) for m in shipped.values())
    at.button(key="decode_step__play").click().run()
    assert at.button(key="decode_step__play").label == "Pause"
    seen = [at.session_state["decode_step"]]
    for _ in range(n_steps + 2):
        at.run()
        seen.append(at.session_state["decode_step"])
    assert seen[:n_steps] == list(range(n_steps))
    assert seen[-1] == n_steps - 1
    assert at.button(key="decode_step__play").label == "Play"
    assert not at.exception


def test_beam_mode_draws_both_trees(shipped):
    at = typed(decode_page(), "AAAAABBBBB")
    at.radio(key="decode_method").set_value("Beam search").run()
    at.slider(key="decode_width").set_value(3).run()
    assert not at.exception
    specs = charts(at)
    assert at.query_params["beam"] == "3"
    for kind, model in shipped.items():
        trace = beam_search(model, "AAAAABBBBB", 3)
        tree = {t["name"]: t for t in specs[f"decode_beam_{kind}"]["data"]}
        assert len(tree["candidates"]["x"]) == sum(len(s) for s in trace.beam_steps)
        assert tree["chosen path"]["y"] == trace.best_path
        assert f"best path {trace.output}" in specs[f"decode_beam_{kind}"]["layout"]["title"][
            "text"]


def test_forced_prefix_what_if(shipped):
    at = typed(decode_page(), "ABCDEFGH")
    at.text_input(key="decode_prefix").input("hgq").run()
    assert not at.exception
    expected = [greedy_trace(shipped[kind], "ABCDEFGH", prefix="HGQ") for kind in KINDS]
    assert outputs_html(at) == [marked_output_html(t.output, t.expected) for t in expected]
    assert all(t.output.startswith("HGQ") for t in expected)
    assert "greedy after the forced `HGQ`" in " ".join(c.value for c in at.caption)
    at.text_input(key="decode_prefix").input("H!").run()
    assert not at.exception
    assert any(escape_markdown("'!'") in e.value for e in at.error)


# --- the default shows the story; lengths outside training; beam trees (issue 15) -----------

def test_default_input_is_one_the_plain_model_gets_wrong_and_attention_right(shipped):
    at = decode_page()
    text = at.text_input(key="decode_text").value
    plain, attention = (greedy_trace(shipped[kind], text) for kind in ("plain", "attention"))
    assert not plain.correct and attention.correct
    lo, hi = (checkpoints.load_checkpoint("plain").train_config.min_len,
              checkpoints.load_checkpoint("plain").train_config.max_len)
    assert lo <= len(text) <= hi and not at.warning  # inside training: no length warning
    # the hint is a callout above the outputs, not a grey caption
    assert len(at.success) == 1
    assert at.success[0].value.startswith("The plain model gets ")
    assert f"all {len(text)}" in at.success[0].value


@pytest.mark.parametrize("text", ["ONEVECTORISNOTENOUGH", "A" * 40])
def test_input_longer_than_training_is_warned_about(text):
    at = typed(decode_page(), text)
    assert len(at.warning) == 1
    shown = at.warning[0].value.replace("\\", "")
    assert f"has {len(text)} letters" in shown and "(1 to 16)" in shown
    assert ("the plain model, the attention model and the transformer model were trained"
            in shown)


def test_input_inside_training_lengths_is_not_warned_about():
    assert not typed(decode_page(), "HELLO").warning


def test_beam_trees_name_their_model_and_keep_the_legend_off_the_axis_title():
    at = typed(decode_page(), "ABCDEFG")
    at.radio(key="decode_method").set_value("Beam search").run()
    specs = charts(at)
    for kind in KINDS:
        layout = specs[f"decode_beam_{kind}"]["layout"]
        title = "Transformer" if kind == "transformer" else f"{kind.capitalize()} model"
        assert layout["title"]["text"].startswith(f"{title} ({kind}): beam")
        assert layout["legend"]["y"] >= 1 and layout["legend"]["yanchor"] == "bottom"
