"""AppTest of the Runs page: the table, overlaid curves, and actions guarded by tokens."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.store import RunStore, new_token
from seqrev.training.trainer import TrainConfig
from tests.apptest_support import APP, open_page
from tests.events_support import eval_event, step_event


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(tmp_path / "runs"))
    return RunStore(tmp_path / "runs")


def finished_run(store: RunStore, learning_rate: float, token: str | None = None):
    run = store.create_run(ModelConfig(kind="plain", embedding_dim=8, hidden_dim=16),
                           TrainConfig(steps=30, learning_rate=learning_rate), token=token,
                           status="running")
    steps = [step_event(s, 3.0 / s, 0.1 * s, learning_rate) for s in range(1, 31)]
    evals = [eval_event(s, s / 30 * learning_rate * 100, 0.1 * s) for s in (10, 20, 30)]
    store.record_progress(run.id, steps, evals, steps_done=30, wall_seconds=3.0)
    store.set_status(run.id, "finished")
    return store.get(run.id)


def open_runs() -> AppTest:
    return open_page("pages/runs.py")


def test_no_runs_yet_says_where_to_start(store):
    at = open_runs()
    assert any("No runs yet" in i.value for i in at.info)


def test_three_learning_rates_overlay_on_one_chart(store):
    runs = [finished_run(store, lr) for lr in (1e-3, 3e-3, 5e-3)]
    at = open_runs()
    table = at.dataframe[0].value
    assert list(table["id"]) == [r.id for r in reversed(runs)]
    assert list(table["settings"]) == ["lr 0.005", "lr 0.003", "lr 0.001"]  # only what differs
    assert set(at.multiselect(key="runs_chosen").value) == {r.id for r in runs}
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(spec["data"]) == 3
    assert all(len(trace["x"]) == 3 for trace in spec["data"])  # three evaluations each
    assert any("lr 0.001" in trace["name"] for trace in spec["data"])
    at.segmented_control(key="runs_x_axis").set_value("wall").run()
    at.segmented_control(key="runs_metric").set_value("smoothed_loss").run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["title"]["text"] == "wall seconds"
    assert all(len(trace["x"]) == 30 for trace in spec["data"])


def test_the_table_says_when_each_run_first_reached_95_and_99_percent(store):
    slow, fast = finished_run(store, 1e-3), finished_run(store, 1e-2)  # fast: 100% at step 30
    table = open_runs().dataframe[0].value.set_index("id")
    assert table.loc[fast.id, "to 95%"] == table.loc[fast.id, "to 99%"] == "0:03"
    assert table.loc[slow.id, "to 95%"] == table.loc[slow.id, "to 99%"] == ""


def test_a_local_user_deletes_after_a_confirmation(store, monkeypatch):
    monkeypatch.setattr("pages.run_common.is_local_user", lambda: True)
    run = finished_run(store, 1e-3, token=new_token())  # started elsewhere: no token here
    at = open_runs()
    at.selectbox(key="runs_target").set_value(run.id).run()
    assert at.button(key="runs_delete").disabled
    at.checkbox(key=f"runs_sure_{run.id}").check().run()
    at.button(key="runs_delete").click().run()
    assert not at.exception
    assert store.list_runs() == []


def test_another_browsers_run_is_read_only_on_a_shared_server(store, monkeypatch):
    monkeypatch.setenv("SEQREV_SHARED", "1")
    run = finished_run(store, 1e-3, token=new_token())
    at = open_runs()
    at.selectbox(key="runs_target").set_value(run.id).run()
    assert at.button(key="runs_delete").disabled and at.button(key="runs_resume").disabled
    assert any("Read-only" in c.value for c in at.caption)


def test_a_corrupt_store_is_an_error_and_the_other_pages_still_work(tmp_path, monkeypatch):
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "runs.sqlite3").write_bytes(b"garbage" * 1000)
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(folder))
    at = open_runs()
    assert at.error and "run store" in at.error[0].value
    at.switch_page("pages/decode.py")
    at.run()
    assert not at.exception and not at.error


@pytest.mark.parametrize(("ip", "shared", "local"), [
    (None, "", True), (None, "0", True), (None, "1", False), ("192.0.2.7", "", False),
    ("::ffff:198.51.100.1", "", False)])
def test_only_a_loopback_browser_on_an_unshared_server_controls_every_run(ip, shared, local):
    from pages.run_common import local_connection

    assert local_connection(ip, shared) is local


def test_a_server_start_marks_dead_runs_interrupted_and_starts_the_queue(store, monkeypatch):
    import sqlite3
    import time

    import seqrev.runs.scheduler as scheduler

    orphan = store.create_run(ModelConfig(kind="plain"), TrainConfig(), status="running")
    with sqlite3.connect(store.db_path) as connection:  # its worker died an hour ago
        connection.execute("UPDATE runs SET heartbeat = ?, pid = 999999999 WHERE id = ?",
                           (time.time() - 3600, orphan.id))
    queued = store.create_run(ModelConfig(kind="plain", embedding_dim=8, hidden_dim=16),
                              TrainConfig(steps=5, batch_size=8, eval_every=0))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()  # the home page: the router's start-up runs once for the server
    assert not at.exception
    assert store.get(orphan.id).status == "interrupted"
    assert store.get(queued.id).status in ("running", "finished")
    deadline = time.monotonic() + 60
    while store.get(queued.id).status == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    scheduler.reap_children()
    assert store.get(queued.id).status == "finished"


def test_a_finished_run_with_its_state_offers_the_lab_report(store):
    from seqrev.runs.state import save_state
    from seqrev.teaching.report import run_report
    from seqrev.training.trainer import Trainer

    bare, run = finished_run(store, 1e-3), finished_run(store, 3e-3)
    save_state(Trainer(run.model_config, run.train_config), store.run_folder(run.id), 3.0)
    at = open_runs()
    labels = lambda: [b.proto.label for b in at.get("download_button")]  # noqa: E731
    at.selectbox(key="runs_target").set_value(bare.id).run()
    assert labels() == []  # nothing saved to report on
    at.selectbox(key="runs_target").set_value(run.id).run()
    assert labels() == ["Lab report of the plain model (HTML)"]
    document = run_report(store, run, seed=1)
    assert document.count("The result is ") == 10 and f"run {run.id}" in document
