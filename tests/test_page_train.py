"""AppTest of the Train page: settings, a live run, Stop, bad settings and saving."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from pages.common import PLAIN_KEY
from seqrev import checkpoints
from seqrev.models import ModelConfig
from seqrev.training import TrainConfig, Trainer, preset

APP = str(Path(__file__).resolve().parent.parent / "app.py")
FOREVER = 100_000  # the widget's maximum: a run the test stops itself


@pytest.fixture
def page():
    """The Train page after one run; a job it leaves running is stopped afterwards."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/train.py")
    at.run()
    yield at
    job = at.session_state["train_job"] if "train_job" in at.session_state else None  # noqa: SIM401
    if job is not None:
        job.stop(timeout=5)


def tiny(at: AppTest, steps: int, models: str = "both") -> None:
    at.segmented_control(key="train_models").set_value(models)
    at.slider(key="train_embedding").set_value(8)
    at.slider(key="train_hidden").set_value(16)
    at.select_slider(key="train_batch").set_value(8)
    at.number_input(key="train_min_len").set_value(1)
    at.number_input(key="train_max_len").set_value(5)
    at.number_input(key="train_eval_every").set_value(5)
    at.number_input(key="train_steps").set_value(steps)
    at.run()


def chart_points(at: AppTest) -> dict[str, dict[str, int]]:
    """Points per trace, per chart title."""
    charts = {}
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        charts[spec["layout"]["title"]["text"]] = {
            trace["name"]: len(trace.get("x", [])) for trace in spec["data"]}
    return charts


def poll(at: AppTest, done, timeout: float = 25.0) -> None:
    """Rerun as the browser's fragment timer would, until ``done()``."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the page never showed the expected progress"
        time.sleep(0.3)
        at.run()
        assert not at.exception


def job_of(at: AppTest):
    return at.session_state["train_job"]


def test_the_page_renders_with_the_app_defaults(page):
    assert not page.exception and not page.error
    assert page.title[0].value == "Train"
    model, train = ModelConfig(), TrainConfig()
    assert page.slider(key="train_hidden").value == model.hidden_dim
    assert page.slider(key="train_embedding").value == model.embedding_dim
    assert page.select_slider(key="train_lr").value == train.learning_rate
    assert page.number_input(key="train_steps").value == train.steps
    assert page.number_input(key="train_max_len").value == train.max_len
    assert not page.button(key="train_start").disabled
    assert page.button(key="train_stop").disabled and page.button(key="train_resume").disabled
    assert not page.get("plotly_chart")


def test_lab_settings_fill_the_widgets_with_the_lab_preset(page):
    page.button(key="train_lab").click().run()
    model, train = preset("seed")
    assert page.slider(key="train_embedding").value == model.embedding_dim
    assert page.slider(key="train_hidden").value == model.hidden_dim
    assert page.select_slider(key="train_batch").value == train.batch_size
    assert page.select_slider(key="train_lr").value == train.learning_rate
    assert page.selectbox(key="train_schedule").value == train.lr_schedule
    assert page.number_input(key="train_steps").value == train.steps
    assert page.number_input(key="train_min_len").value == train.min_len == 10
    assert page.number_input(key="train_clip").value == 0
    page.button(key="train_defaults").click().run()
    assert page.number_input(key="train_steps").value == TrainConfig().steps


def test_a_race_draws_live_charts_and_stop_stops_it(page):
    tiny(page, FOREVER)
    page.button(key="train_start").click().run()
    assert not page.exception
    assert job_of(page).status == "running" and page.button(key="train_start").disabled

    def evaluated_twice():
        accuracy = chart_points(page).get("Held-out accuracy", {})
        return min(accuracy.values(), default=0) >= 2

    poll(page, evaluated_twice)
    loss = chart_points(page)["Training loss"]
    assert set(loss) == {"plain raw", "plain", "attention raw", "attention"}
    assert min(loss.values()) >= 10
    assert "Running: step" in page.get("progress")[0].proto.text

    page.button(key="train_stop").click().run()
    job = job_of(page)
    assert job.status == "stopped"
    stopped = job.progress().per_model
    time.sleep(0.4)
    page.run()
    time.sleep(0.4)
    page.run()
    assert job.progress().per_model == stopped
    points = chart_points(page)["Training loss"]["plain"]
    assert points == min(stopped["plain"], 600)
    assert "Stopped: step" in page.get("progress")[0].proto.text
    assert not page.button(key="train_resume").disabled
    assert {b.key for b in page.button} >= {"train_save_plain", "train_save_attention"}


@pytest.mark.parametrize(("key", "value", "message"), [
    ("train_min_len", 6, "shortest training string"),
    ("train_device", "cuda", "CUDA"),
])
def test_bad_settings_show_an_error_and_block_start(page, key, value, message):
    if value == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    page.number_input(key="train_max_len").set_value(5)
    widget = page.selectbox(key=key) if key == "train_device" else page.number_input(key=key)
    widget.set_value(value).run()
    assert not page.exception
    assert any(message in e.value for e in page.error)
    assert page.button(key="train_start").disabled


def test_saving_writes_a_checkpoint_that_the_sidebar_offers(page, checkpoint_dir):
    tiny(page, 20, models="plain")
    page.button(key="train_start").click().run()
    poll(page, lambda: job_of(page).status == "finished")
    assert page.button(key="train_stop").disabled

    page.text_input(key="train_name_plain").input("!!!").run()
    assert any("not a usable checkpoint name" in e.value for e in page.error)

    page.text_input(key="train_name_plain").input("plain").run()
    assert any("exists" in w.value for w in page.warning)
    assert page.button(key="train_save_plain").disabled
    page.checkbox(key="train_overwrite_plain").check().run()
    assert not page.button(key="train_save_plain").disabled

    page.text_input(key="train_name_plain").input("tiny plain!").run()
    assert any("tiny-plain" in c.value for c in page.caption)
    page.button(key="train_save_plain").click().run()
    assert not page.exception and not page.error
    assert any("tiny-plain" in s.value for s in page.success)
    assert page.session_state[PLAIN_KEY] == "tiny-plain"
    assert (checkpoint_dir / "tiny-plain.safetensors").is_file()
    sidecar = checkpoints.read_sidecar("tiny-plain")
    assert sidecar["steps_done"] == 20 and sidecar["model_config"]["hidden_dim"] == 16
    assert sidecar["command"].startswith("python -m seqrev train --model plain")
    assert "--out tiny-plain" in sidecar["command"]
    loaded = checkpoints.load_checkpoint("tiny-plain")
    assert loaded.train_config.steps == 20
    downloads = {b.proto.label for b in page.get("download_button")}
    assert {"Metrics (CSV)", "tiny-plain.safetensors", "tiny-plain.json"} <= downloads

    page.switch_page("app.py")
    page.run()
    assert "tiny-plain" in page.selectbox(key=PLAIN_KEY).options


def test_an_error_while_training_is_shown_not_raised(page, monkeypatch):
    def broken_step(trainer):
        raise RuntimeError("out of memory, pretend")

    monkeypatch.setattr(Trainer, "train_step", broken_step)
    tiny(page, 50, models="attention")
    page.button(key="train_start").click().run()
    poll(page, lambda: job_of(page).status != "running")
    page.run()
    assert not page.exception
    assert any("out of memory, pretend" in e.value for e in page.error)
    assert "Error: step 0" in page.get("progress")[0].proto.text
    assert not any(b.key == "train_save_attention" for b in page.button)
    assert not page.button(key="train_start").disabled
