"""Every page on every built-in task: AppTest with a plain and an attention checkpoint per task.

The models are small and untrained: what is checked is that each page takes the task from the
chosen checkpoint (its expected output, its outline, its comparison), not what a trained model
writes.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import torch
from streamlit.testing.v1 import AppTest

import seqrev.checkpoints.store as checkpoints
from pages.common import ATTENTION_KEY, PLAIN_KEY
from seqrev.models.seq2seq import ModelConfig, build_model
from seqrev.runs.store import RunStore
from seqrev.sweeps.store import list_sweeps
from seqrev.tasks.registry import make_task
from seqrev.training.trainer import TrainConfig
from tests.apptest_support import APP, open_page
from tests.events_support import eval_event, step_event
from tests.test_charts_decoding import svg_bars

TASKS = ("reverse", "copy", "sort", "rotate:3")
TEXT = "QWERTYBQ"  # a repeated letter: sort's outline has two cells at its steps


def names(spec: str) -> tuple[str, str]:
    slug = spec.replace(":", "")
    return f"plain-{slug}", f"attention-{slug}"


@pytest.fixture
def task_checkpoints(checkpoint_dir):
    """A plain and an attention checkpoint per task, saved in the test's checkpoint folder."""
    torch.manual_seed(0)
    for spec in TASKS:
        config = TrainConfig(task=spec, min_len=1, max_len=6, steps=10)
        for kind, name in zip(("plain", "attention"), names(spec), strict=True):
            model = build_model(ModelConfig(kind=kind, embedding_dim=8, hidden_dim=16))
            checkpoints.save_checkpoint(name, model, config)
    return checkpoint_dir


def open_with(page: str, plain: str, attention: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state[PLAIN_KEY], at.session_state[ATTENTION_KEY] = plain, attention
    at.run()
    at.switch_page(page)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def chart_specs(at: AppTest) -> dict[str, dict]:
    specs = [json.loads(element.proto.spec) for element in at.get("plotly_chart")]
    return {spec["layout"].get("title", {}).get("text", ""): spec for spec in specs}


def outline_cells(spec: dict, source: str) -> set[tuple[int, int]]:
    """(step row, source column) of each textbook-outline rectangle in a heatmap spec."""
    return {(round(shape["y0"] + 0.5), round(shape["x0"] + 0.5))
            for shape in spec["layout"].get("shapes", [])
            if shape.get("name", "").startswith("textbook outline")}


def expected_cells(spec: str, source: str, n_steps: int) -> set[tuple[int, int]]:
    alignment = make_task(spec).alignment(source)
    return {(t, j) for t in range(min(n_steps, len(alignment))) for j in alignment[t]}


@pytest.mark.parametrize("spec", TASKS)
def test_decode_page_scores_each_model_against_its_task(task_checkpoints, spec):
    at = open_with("pages/decode.py", *names(spec), {"text": TEXT})
    assert not at.error
    target = make_task(spec).target(TEXT)
    assert any(f"expected **`{target}`**" in m.value for m in at.markdown)
    rows = [m.value for m in at.markdown if 'class="seqrev-chart seqrev-attention-row"' in m.value]
    assert rows, [m.value[:60] for m in at.markdown]
    outlined = [i for i, bar in enumerate(svg_bars(rows[0])[1]) if bar["outline"]]
    assert outlined == sorted(make_task(spec).alignment(TEXT)[0])  # step 0's letters


@pytest.mark.parametrize("spec", TASKS)
def test_the_sidebar_names_each_models_task(task_checkpoints, spec):
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state[PLAIN_KEY], at.session_state[ATTENTION_KEY] = names(spec)
    at.run()  # AppTest shows the sidebar on the first page only
    captions = [c.value for c in at.sidebar.caption if c.value.startswith("Task:")]
    name = spec.split(":")[0]
    assert len(captions) == 2 and all(f"**{name}" in c for c in captions), captions


@pytest.mark.parametrize("spec", TASKS)
def test_attention_page_draws_each_tasks_outline_in_every_section(task_checkpoints, spec):
    plain, attention = names(spec)
    at = open_with("pages/attention.py", plain, attention, {"text": TEXT})
    assert not at.error and not at.warning
    title = f"Attention of '{attention}' on {spec}: {TEXT}"
    heatmap = chart_specs(at)[title]
    n_steps = len(heatmap["data"][0]["y"])
    assert outline_cells(heatmap, TEXT) == expected_cells(spec, TEXT, n_steps)
    assert any(make_task(spec).outline_rule in m.value for m in at.markdown)
    for section in ("step", "whatif", "states", "errors"):
        at.radio(key="att_section").set_value(section).run()
        assert not at.exception, (section, at.exception)
        assert not at.error, (section, [e.value for e in at.error])
    assert any(t.startswith("Exact match by input length") for t in chart_specs(at))


def test_models_of_two_tasks_are_each_scored_on_their_own(task_checkpoints):
    plain, _ = names("reverse")
    _, attention = names("sort")
    at = open_with("pages/attention.py", plain, attention, {"text": TEXT, "section": "errors"})
    assert any("trained on reverse, not sort" in w.value for w in at.warning)
    assert any("can only be compared on one task" in i.value for i in at.info)
    assert not at.get("plotly_chart")  # no comparison drawn across tasks
    decode = open_with("pages/decode.py", plain, attention, {"text": TEXT})
    assert any("different tasks" in i.value for i in decode.info)
    shown = " ".join(m.value for m in decode.markdown)
    assert TEXT[::-1] in shown and "".join(sorted(TEXT)) in shown


@pytest.mark.parametrize("spec", TASKS)
def test_train_page_takes_the_task_from_the_link(runs_dir, spec):
    at = open_page("pages/train.py", {"task": spec})
    assert not at.error
    assert at.selectbox(key="train_task").value == spec
    links = [c.value for c in at.code if "/train?" in c.value]
    assert len(links) == 1
    query = parse_qs(urlsplit(links[0]).query)
    assert query.get("task") == (None if spec == "reverse" else [spec])  # the default is implied


def test_runs_page_tells_runs_of_each_task_apart(runs_dir):
    store = RunStore(runs_dir)
    for spec in TASKS:
        run = store.create_run(ModelConfig(kind="attention", embedding_dim=8, hidden_dim=16),
                               TrainConfig(steps=30, task=spec), status="running")
        store.record_progress(run.id, [step_event(s, 1.0, 0.1 * s) for s in (10, 20, 30)],
                              [eval_event(30, 0.5, 3.0)], steps_done=30, wall_seconds=3.0)
        store.set_status(run.id, "finished")
    at = open_page("pages/runs.py")
    assert not at.error
    settings = " | ".join(at.dataframe[0].value["settings"])
    for spec in TASKS:
        assert spec in settings, settings


def test_sweep_page_sweeps_over_tasks(runs_dir, monkeypatch):
    import pages.run_common

    monkeypatch.setattr(pages.run_common, "is_local_user", lambda: True)
    launched = []
    monkeypatch.setattr("seqrev.sweeps.driver.launch_driver",
                        lambda sweep_id, cpus, log_path: launched.append(sweep_id) or 1)
    at = open_page("pages/sweep.py")
    hidden, lengths, kinds, tasks = at.multiselect[:4]
    assert tasks.label == "Tasks" and tasks.value == ["reverse"]
    assert set(TASKS) <= set(tasks.options)
    hidden.set_value([16])
    lengths.set_value([4])
    kinds.set_value(["attention"])
    tasks.set_value(list(TASKS))
    at.number_input[1].set_value(20)
    at.button[0].click()
    at.run()
    assert not at.exception and not at.error
    (record,) = list_sweeps(RunStore(runs_dir))
    assert launched == [record.id]
    assert record.spec.grid["task"] == TASKS
    assert [trial["task"] for trial in record.spec.trials()] == list(TASKS)


def test_the_lesson_keeps_to_reversal_when_the_sidebar_holds_another_task(task_checkpoints):
    at = open_with("pages/lesson.py", *names("sort"))
    assert not at.error
    assert any("instead of plain-sort, attention-sort" in c.value.replace("\\", "")
               for c in at.caption)
    reverse = open_with("pages/lesson.py", *names("reverse"))
    assert not any("uses the shipped models" in c.value for c in reverse.caption)
