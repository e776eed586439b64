"""The Transformer in the app (AppTest): a race of all three kinds from the Train page, and its
heads on the Attention page for the same string the GRU reads."""

from __future__ import annotations

import json

from seqrev.checkpoints.store import SHIPPED_TRANSFORMER, load_checkpoint
from seqrev.decoding.search import greedy_trace
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
