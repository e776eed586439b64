"""AppTest of the Train page: settings, a race in worker processes, reattach, stop, tokens, save."""

from __future__ import annotations

import json
import re
import time

import pytest
from streamlit.testing.v1 import AppTest

import seqrev.checkpoints.store as checkpoints
from pages.common import PLAIN_KEY
from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.store import RunStore, new_token
from seqrev.training.trainer import DEFAULT_STEPS, TrainConfig, preset
from tests.apptest_support import open_page
from tests.events_support import step_event

LINK_BASE = "http://localhost:8501/train"  # AppTest has no browser address: this server's
TINY = {"train_embedding_dim": 8, "train_hidden_dim": 16, "train_batch_size": 8}
TINY_TEXT = {"train_min_len": "1", "train_max_len": "5", "train_eval_every": "10",
             "train_eval_size": "50"}


def open_train(query: dict | None = None) -> AppTest:
    return open_page("pages/train.py", query)


def tiny(at: AppTest, steps: int, models: str = "both") -> None:
    at.segmented_control(key="train_models").set_value(models)
    for key, value in TINY.items():
        (at.select_slider(key=key) if key == "train_batch_size" else at.slider(key=key)
         ).set_value(value)
    for key, value in {**TINY_TEXT, "train_steps": str(steps)}.items():
        at.text_input(key=key).input(value)
    at.run()
    assert not at.error, [e.value for e in at.error]


def shown(text: str) -> str:
    """Markdown as the reader sees it: backslash escapes removed."""
    return re.sub(r"\\(.)", r"\1", text)


def chart_points(at: AppTest) -> dict[str, dict[str, int]]:
    charts = {}
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        charts[spec["layout"]["title"]["text"]] = {
            trace["name"]: len(trace.get("x", [])) for trace in spec["data"]}
    return charts


def poll(at: AppTest, done, timeout: float = 90.0) -> None:
    """Rerun as the browser's fragment timer would, until ``done()``."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the page never showed the expected progress"
        time.sleep(0.3)
        at.run()
        assert not at.exception


def progress_text(at: AppTest) -> str:
    bars = at.get("progress")
    return bars[0].proto.text if bars else ""


def test_the_page_renders_with_the_app_defaults(runs_dir):
    at = open_train()
    assert not at.error and at.title[0].value == "Train"
    model, train = ModelConfig(), TrainConfig()
    assert at.slider(key="train_hidden_dim").value == model.hidden_dim
    assert at.select_slider(key="train_learning_rate").value == train.learning_rate
    assert at.text_input(key="train_steps").value == str(train.steps)
    assert not at.button(key="train_start").disabled
    assert not at.get("plotly_chart")


def test_lab_settings_fill_the_widgets(runs_dir):
    at = open_train()
    at.button(key="train_lab").click().run()
    model, train = preset("seed")
    assert at.slider(key="train_hidden_dim").value == model.hidden_dim
    assert at.select_slider(key="train_learning_rate").value == train.learning_rate
    assert at.text_input(key="train_steps").value == "5000"
    assert at.text_input(key="train_grad_clip").value == "0"
    assert at.selectbox(key="train_lr_schedule").value == "constant"


@pytest.mark.parametrize(("key", "value", "message"), [
    ("train_steps", "1000000000000", "Steps"),
    ("train_steps", "-5", "Steps"),
    ("train_steps", "0", "Steps"),
    ("train_eval_every", "-1", "Evaluate every"),
    ("train_min_len", "0", "Shortest training string"),
    ("train_max_len", "65", "Longest training string"),
    ("train_seed", "100000000000000000000", "Random seed"),
    ("train_min_len", "9", "min_len 9 is above max_len"),
    ("train_grad_clip", "abc", "Gradient clipping"),
])
def test_out_of_range_fields_block_start_and_name_the_field(runs_dir, key, value, message):
    at = open_train()
    at.text_input(key="train_max_len").input("8")
    at.text_input(key=key).input(value).run()
    assert not at.exception
    assert any(message in shown(e.value) for e in at.error), [e.value for e in at.error]
    assert at.button(key="train_start").disabled


def test_the_largest_sizes_show_an_estimate_and_ask_first(runs_dir):
    at = open_train()
    at.slider(key="train_embedding_dim").set_value(256)
    at.slider(key="train_hidden_dim").set_value(512)
    at.select_slider(key="train_batch_size").set_value(512)
    at.text_input(key="train_max_len").input("64").run()
    assert any("per step" in w.value for w in at.warning)
    assert at.button(key="train_start").disabled
    at.checkbox(key="train_confirm_slow").check().run()
    assert not at.button(key="train_start").disabled


def test_settings_come_from_the_link_and_bad_ones_are_named(runs_dir):
    at = open_train({"model": "plain", "hidden-dim": "32", "lr": "0.001", "steps": "[x](y)"})
    assert at.segmented_control(key="train_models").value == "plain"
    assert at.slider(key="train_hidden_dim").value == 32
    assert at.select_slider(key="train_learning_rate").value == 0.001
    assert at.text_input(key="train_steps").value == str(TrainConfig().steps)
    warnings = [w.value for w in at.warning]
    assert any("Steps" in w for w in warnings)
    assert not any("[x](y)" in w for w in warnings)  # shown escaped, never as a link


def test_a_link_accepts_field_names_and_flag_spellings_and_names_what_it_ignores(runs_dir):
    at = open_train({"model": "attention", "learning_rate": "0.002", "max_len": "12",
                     "min-len": "2", "colour": "blue", "[x](http://e.x)": "1"})
    assert at.select_slider(key="train_learning_rate").value == 0.002
    assert at.text_input(key="train_max_len").value == "12"
    assert at.text_input(key="train_min_len").value == "2"
    warnings = [shown(w.value).replace("\u200b", "") for w in at.warning]
    assert any("'colour' is not a setting" in w for w in warnings), warnings
    assert any("[x](http://e.x)" in w for w in warnings)  # named ...
    assert not any("[x](http://e.x)" in w.value for w in at.warning)  # ... and escaped
    assert not any("model" in w for w in warnings)  # the page's own parameter


def test_the_share_link_is_a_full_address_that_reopens_the_settings(runs_dir):
    at = open_train({"model": "attention", "lr": "0.002"})
    links = [c.value for c in at.code if "/train?" in c.value]
    assert links == [LINK_BASE + "?model=attention&lr=0.002"]
    assert links[0].startswith("http://")  # pasteable in an e-mail, not a bare path


def test_default_steps_follow_the_model_choice_and_the_link_keeps_it(runs_dir):
    at = open_train()
    choice, steps = at.segmented_control(key="train_models"), lambda: at.text_input(
        key="train_steps").value
    links = lambda: [c.value.removeprefix(LINK_BASE) for c in at.code  # noqa: E731
                     if c.value.startswith(LINK_BASE)]
    assert steps() == str(TrainConfig().steps) and links() == ["?model=both"]
    choice.set_value("attention").run()
    assert steps() == str(DEFAULT_STEPS["attention"])
    assert links() == ["?model=attention"]
    at.text_input(key="train_steps").input("700").run()
    at.segmented_control(key="train_models").set_value("plain").run()
    assert steps() == "700"  # typed by hand: kept
    assert links() == ["?model=plain&steps=700"]
    linked = open_train({"model": "attention"})
    assert linked.text_input(key="train_steps").value == str(DEFAULT_STEPS["attention"])


def test_a_race_runs_in_workers_reattaches_after_reload_and_stops(runs_dir):
    at = open_train()
    tiny(at, 100_000)
    at.button(key="train_start").click().run()
    assert not at.exception
    run_id, token = at.query_params["run"], at.query_params["token"]
    store = RunStore(runs_dir)
    race = store.group(store.get(run_id))
    assert [r.kind for r in race] == ["plain", "attention"] and race[0].group_id

    def evaluated_twice():  # the progress line is read before the charts: ask for both
        accuracy = chart_points(at).get("Held-out accuracy", {})
        return (len(accuracy) == 4 and min(accuracy.values()) >= 2
                and "Running: step" in progress_text(at))

    poll(at, evaluated_twice)
    loss = chart_points(at)["Training loss"]
    assert set(loss) == {"plain raw", "plain", "attention raw", "attention"}
    assert "Running: step" in progress_text(at)
    milestones = [c.value for c in at.caption if "95%" in c.value]
    assert len(milestones) == 2, milestones  # one line per model: when it reached 95% and 99%

    reloaded = open_train({"run": run_id, "token": token})  # a new session: a reload
    poll(reloaded, lambda: "Running: step" in progress_text(reloaded), timeout=30)
    assert not reloaded.button(key="train_stop").disabled
    reloaded.button(key="train_stop").click().run()
    poll(reloaded, lambda: all(r.status == "stopped" for r in store.group(store.get(run_id))),
         timeout=30)
    reloaded.run()
    assert "Stopped: step" in progress_text(reloaded)
    assert not reloaded.button(key="train_resume").disabled


def test_a_run_whose_worker_is_starting_says_so_and_shows_titled_boxes_at_once(runs_dir):
    store = RunStore(runs_dir)
    run = store.create_run(ModelConfig(kind="plain", embedding_dim=8, hidden_dim=16),
                           TrainConfig(steps=10), status="running")  # no step recorded yet
    at = open_train({"run": run.id})
    assert progress_text(at).startswith("Starting a worker process: it loads PyTorch")
    assert not at.get("plotly_chart")  # nothing loading over an empty area
    titles = {"**Training loss**", "**Held-out accuracy**", "**Speed**"}
    assert titles <= {m.value for m in at.markdown}
    steps = [step_event(s, 3.0 / s, 0.1 * s) for s in range(1, 4)]
    store.record_progress(run.id, steps, [], steps_done=3, wall_seconds=0.3)
    at.run()
    assert set(chart_points(at)) == {"Training loss", "Held-out accuracy", "Speed"}
    assert not titles & {m.value for m in at.markdown}
    store.set_status(run.id, "stopped")  # no worker to stop it at teardown


def test_without_the_token_a_shared_server_shows_the_run_read_only(runs_dir, monkeypatch):
    monkeypatch.setenv("SEQREV_SHARED", "1")
    store = RunStore(runs_dir)
    run = store.create_run(ModelConfig(kind="plain", embedding_dim=8, hidden_dim=16),
                           TrainConfig(steps=10), token=new_token(), status="stopped")
    at = open_train({"run": run.id})
    assert any("read-only" in i.value for i in at.info)
    assert at.button(key="train_resume").disabled
    wrong = open_train({"run": run.id, "token": "not-the-token"})
    assert wrong.button(key="train_resume").disabled


@pytest.mark.parametrize("bad", ["nope", "r" + "z" * 9, "../../etc/passwd", "[x](http://e.x)"])
def test_an_unknown_or_malformed_run_is_an_error_not_a_traceback(runs_dir, bad):
    at = open_train({"run": bad})
    assert not at.exception
    assert at.error and "no run" in at.error[0].value
    assert "](" not in at.error[0].value


def test_saving_a_finished_run_ties_consent_to_the_name(runs_dir, checkpoint_dir):
    at = open_train()
    tiny(at, 20, models="plain")
    at.button(key="train_start").click().run()
    run_id = at.query_params["run"]
    store = RunStore(runs_dir)
    poll(at, lambda: store.get(run_id).status == "finished")
    at.run()
    name_key, save_key = f"train_name_{run_id}", f"train_save_{run_id}"

    at.text_input(key=name_key).input("plain").run()  # a shipped model: read-only
    at.run()
    assert not any(b.key == save_key for b in at.button) or at.button(key=save_key).disabled

    taken = checkpoints.load_checkpoint("plain")
    for existing in ("mine", "mine2"):
        checkpoints.save_checkpoint(existing, taken.model, taken.train_config, {})
    at.text_input(key=name_key).input("mine").run()
    assert any("exists" in w.value for w in at.warning)
    assert at.button(key=save_key).disabled
    at.checkbox(key=f"train_replace_{run_id}_mine").check().run()
    assert not at.button(key=save_key).disabled
    at.text_input(key=name_key).input("mine2").run()  # the tick does not carry over
    assert not at.checkbox(key=f"train_replace_{run_id}_mine2").value
    assert at.button(key=save_key).disabled

    at.text_input(key=name_key).input("tiny plain!").run()
    at.button(key=save_key).click().run()
    assert not at.exception and not at.error
    assert any("tiny-plain" in shown(s.value) for s in at.success)
    saved = next(shown(s.value) for s in at.success if "tiny-plain" in shown(s.value))
    assert "strings of 1 to 5 letters, its training lengths" in saved  # never "length-10"
    assert any(c.value.startswith("Trained on strings of 1 to 5 letters;") for c in at.caption)
    assert at.session_state[PLAIN_KEY] == "tiny-plain"
    sidecar = checkpoints.read_sidecar("tiny-plain")
    assert sidecar["run_id"] == run_id and sidecar["steps_done"] == 20
    assert "Lab report of the plain model (HTML)" in [
        b.proto.label for b in at.get("download_button")]
    assert sidecar["command"].startswith("python -m seqrev train --model plain")
    assert store.get(run_id).checkpoint == "tiny-plain"
