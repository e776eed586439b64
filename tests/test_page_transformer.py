"""The Transformer in the app (AppTest): a race of all three kinds from the Train page, and its
heads on the Attention page for the same string the GRU reads."""

from __future__ import annotations

import json

from seqrev.checkpoints.store import SHIPPED_TRANSFORMER, load_checkpoint
from seqrev.decoding.search import AttentionOverride, greedy_trace
from seqrev.inspection.heads import head_step
from seqrev.runs.store import RunStore
from tests.apptest_support import open_page
from tests.test_page_train import TINY, TINY_TEXT, chart_points, poll

TINY_TRANSFORMER = {"train_d_model": 8, "train_n_heads": 2, "train_n_layers": 1,
                    "train_ff_dim": 8}


def test_a_race_of_all_three_trains_each_kind_on_the_same_batches(runs_dir):
    at = open_page("pages/train.py")
    at.segmented_control(key="train_models").set_value("all").run()
    assert not at.slider(key="train_d_model").disabled  # the Transformer's own settings
    for key, value in {**TINY, **TINY_TRANSFORMER}.items():
        (at.select_slider(key=key) if key == "train_batch_size" else at.slider(key=key)
         ).set_value(value)
    for key, value in {**TINY_TEXT, "train_steps": "20"}.items():
        at.text_input(key=key).input(value)
    at.run()
    assert not at.error, [e.value for e in at.error]
    at.button(key="train_start").click().run()
    assert not at.exception
    store = RunStore(runs_dir)
    race = store.group(store.get(at.query_params["run"]))
    assert [r.kind for r in race] == ["plain", "attention", "transformer"]
    assert len({json.dumps(r.train_config.to_dict(), sort_keys=True) for r in race}) == 1
    assert race[2].model_config.d_model == 8 and race[2].model_config.n_heads == 2
    poll(at, lambda: all(r.status == "finished" for r in store.group(race[0])), timeout=120)
    at.run()
    assert {"plain", "attention", "transformer"} <= set(chart_points(at)["Training loss"])


def test_a_gru_alone_greys_out_the_transformers_settings(runs_dir):
    at = open_page("pages/train.py")
    at.segmented_control(key="train_models").set_value("attention").run()
    assert at.slider(key="train_d_model").disabled and not at.slider(
        key="train_hidden_dim").disabled
    at.segmented_control(key="train_models").set_value("transformer").run()
    assert at.slider(key="train_hidden_dim").disabled and not at.slider(
        key="train_n_heads").disabled


def test_the_heads_section_draws_every_head_and_one_heads_arithmetic():
    text = "HELLOWORLD"
    at = open_page("pages/attention.py", {"section": "heads", "text": text})
    assert not at.exception and not at.error
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    titles = [spec["layout"].get("title", {}).get("text", "") for spec in specs]
    assert any(t.startswith("GRU attention") for t in titles)
    assert any(t.startswith("Transformer, last layer's mean") for t in titles)
    grids = [s for s in specs if sum(t["type"] == "heatmap" for t in s["data"]) == 8]
    assert len(grids) == 3  # cross-attention, encoder and decoder self-attention: 2 x 4 heads
    transformer = load_checkpoint(SHIPPED_TRANSFORMER)
    trace = greedy_trace(transformer.model, text)
    numbers = head_step(transformer.model, trace, 0, 1, 0)  # the page's default pick
    table = at.dataframe[0].value
    assert list(table["weight"]) == [float(w) for w in numbers.weights]
    caption = " ".join(c.value for c in at.caption)
    assert "a vector of 16 numbers" in caption
    assert "1/√16 = **0.250**" in " ".join(m.value for m in at.markdown)


def test_the_heads_section_in_chinese_has_no_english_prose():
    from tests.test_page_i18n import assert_no_english

    at = open_page("pages/attention.py", {"lang": "zh", "section": "heads", "text": "HELLO"})
    assert not at.exception and not at.error
    assert "Transformer 的注意力头" in [r.options for r in at.radio][0]
    # the model's name, q/k/v notation and softmax stay as the course writes them
    assert_no_english(at, frozenset({"transformer", "softmax", "gru", "q", "k", "v", "d"}))


def _what_if_figure(at) -> dict:
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    return next(s for s in specs if "before and after" in s["layout"].get("title", {}).get(
        "text", ""))


def test_the_heads_what_if_forces_one_head_and_changing_it_changes_the_output():
    at = open_page("pages/attention.py", {"section": "heads"})  # the default string
    assert not at.exception and not at.error and not at.warning
    step, position = at.selectbox(key="att_heads_force_step"), at.selectbox(
        key="att_heads_force_position")
    assert (step.value, position.value) == (0, 20)  # the first wrong step, on the outline
    assert at.slider(key="att_heads_force_blend").value == 1.0
    said = " ".join(m.value for m in at.markdown)
    assert "writes **O** where the answer has **D**, input 20" in said
    transformer = load_checkpoint(SHIPPED_TRANSFORMER)
    trace = greedy_trace(transformer.model, "ATTENTIONISALLYOUNEED")
    forced = greedy_trace(transformer.model, trace.source,
                          overrides=[AttentionOverride(0, 20, 1.0, layer=1, head=0)])
    assert (trace.output, forced.output) == ("OYLLASINOITNETTA", "DYLLASINOITNETTA")
    marked = [h.proto.body for h in at.get("html") if "seqrev-head-what-if" in h.proto.body]
    assert len(marked) == 1 and 'data-changed="1"' in marked[0]
    assert _what_if_figure(at)["data"][1]["y"] == forced.steps[0].heads[1, 0].tolist()
    captions = " ".join(c.value for c in at.caption)
    assert "One head of 8 was enough: step 0 now writes D instead of O" in captions
    at.selectbox(key="att_heads_head").set_value(2).run()  # a head that cannot carry it
    assert "The output did not change" in " ".join(c.value for c in at.caption)
    assert 'data-changed="0"' in next(h.proto.body for h in at.get("html")
                                      if "seqrev-head-what-if" in h.proto.body)
    assert at.query_params["head"] == "1:2" and at.query_params["head_attend"] == "0:20"
    at.slider(key="att_heads_force_blend").set_value(0.0).run()
    assert "this is the model's own decode" in " ".join(c.value for c in at.caption)
    assert at.query_params["head_blend"] == "0"


def test_a_what_if_from_the_link_is_kept_and_bad_values_warn_by_name():
    at = open_page("pages/attention.py", {"section": "heads", "text": "HELLOWORLD",
                                          "head": "0:1", "head_attend": "3:2",
                                          "head_blend": "0.5"})
    assert not at.exception and not at.warning
    assert (at.selectbox(key="att_heads_layer").value, at.selectbox(key="att_heads_head").value,
            at.selectbox(key="att_heads_force_step").value,
            at.selectbox(key="att_heads_force_position").value,
            at.slider(key="att_heads_force_blend").value) == (0, 1, 3, 2, 0.5)
    bad = open_page("pages/attention.py", {"section": "heads", "text": "HELLOWORLD",
                                           "head": "7:0", "head_attend": "40:2",
                                           "head_blend": "lots"})
    assert not bad.exception and not bad.error
    warned = " ".join(w.value for w in bad.warning).replace("\\", "")
    for named in ("Ignored head in the link: layer 7 is out of range 0-1",
                  "Ignored head_blend in the link: blend 'lots' is not a number",
                  "Ignored head_attend in the link: step 40 is out of range"):
        assert named in warned
    assert bad.selectbox(key="att_heads_force_step").value == 3  # the teaching choice instead
