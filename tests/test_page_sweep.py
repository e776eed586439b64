"""AppTest of the Sweep page: the shipped figure on first launch, a sweep's progress, bad input."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from seqrev.runs.store import RunStore
from seqrev.sweeps.spec import SweepSpec
from seqrev.sweeps.store import create_sweep, list_sweeps
from seqrev.sweeps.trial import run_inline

APP = "../app.py"


@pytest.fixture
def local_user(monkeypatch):
    """AppTest's client address is a mock, never "this machine": stand in for a local browser."""
    import pages.run_common

    monkeypatch.setattr(pages.run_common, "is_local_user", lambda: True)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(tmp_path / "runs"))
    return RunStore(tmp_path / "runs")


def sweep_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/sweep.py")
    at.query_params.update(query or {})
    return at.run()


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def test_first_launch_shows_the_shipped_capacity_figure(store):
    at = sweep_page()
    assert not at.exception and not at.error
    specs = charts(at)
    assert len(specs) == 4  # two heatmaps, the curve, and the three seeds' spread
    assert [spec["data"][0]["type"] for spec in specs[:2]] == ["heatmap", "heatmap"]
    assert "plain" in specs[0]["layout"]["title"]["text"]
    assert "attention" in specs[1]["layout"]["title"]["text"]
    names = {trace["name"] for trace in specs[2]["data"]}
    assert {"plain", "attention"} <= names
    assert at.dataframe[0].value["model"].tolist().count("plain") >= 2
    spread = specs[3]
    assert "seed by seed" in spread["layout"]["title"]["text"]
    assert any("error_y" in trace for trace in spread["data"])
    assert all(len(cell.split(" · ")) == 3 for cell in at.dataframe[0].value["each seed"])


def test_unknown_sweep_id_is_an_error_and_the_shipped_figure_stays(store):
    at = sweep_page({"sweep": "[x](http://example.com)"})
    assert not at.exception
    assert "No sweep with id" in at.error[0].value
    assert "](http" not in at.error[0].value  # escaped, not a link
    assert len(charts(at)) == 4


def test_a_finished_sweep_shows_its_own_heatmaps(store):
    spec = SweepSpec(grid={"kind": ("plain", "attention")},
                     base={"embedding_dim": 8, "hidden_dim": 16, "max_len": 3},
                     steps=10, eval_every=5, eval_per_length=10)
    record = create_sweep(spec, store=store)
    run_inline(record.id, store)
    at = sweep_page({"sweep": record.id})
    assert not at.exception and not at.error
    assert at.metric[0].value == "finished" and at.metric[1].value == "2 / 2"
    heat = charts(at)[0]["data"][0]
    assert heat["y"] == ["16"] and heat["x"] == [1, 2, 3, 4, 5, 6]
    trials = at.dataframe[1].value  # each trial is a run, opened from here like any other
    assert list(trials["status"]) == ["finished", "finished"]
    assert at.selectbox(key="sweep_trial").value in set(trials["run"])


def test_starting_a_sweep_records_it_and_launches_its_driver(store, monkeypatch, local_user):
    launched = []
    monkeypatch.setattr("seqrev.sweeps.driver.launch_driver",
                        lambda sweep_id, cpus, log_path: launched.append((sweep_id, cpus)) or 1)
    at = sweep_page()
    at.multiselect[0].set_value([16])  # hidden sizes
    at.multiselect[1].set_value([4])  # training lengths
    at.number_input[1].set_value(20)  # steps
    at.button[0].click()  # the form's submit button
    at.run()
    assert not at.exception and not at.error
    (record,) = list_sweeps(store)
    assert launched == [(record.id, 1)]
    assert record.spec.grid == {"max_len": (4,), "kind": ("plain", "attention"),
                                "hidden_dim": (16,), "seed": (0,)}
    assert at.query_params["sweep"] == record.id


def test_start_form_bad_input_makes_nothing(store, monkeypatch, local_user):
    monkeypatch.setattr("seqrev.sweeps.driver.launch_driver",
                        lambda *a, **k: pytest.fail("launched"))
    at = sweep_page()
    at.multiselect[0].set_value([])
    at.button[0].click()
    at.run()
    assert "Choose a hidden size" in at.error[0].value
    at.multiselect[0].set_value([16])
    at.text_input[0].set_value("127.0.0.1:1")
    at.button[0].click()
    at.run()
    assert "cannot reach Ray at" in at.error[0].value
    assert list_sweeps(store) == [] and store.list_runs() == []


def test_a_remote_browser_cannot_start_sweeps(store):
    at = sweep_page()
    assert not at.multiselect
    assert any("only open to a browser on this machine" in c.value for c in at.caption)
