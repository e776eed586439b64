"""Fault suite for sweeps (issue 17): two drivers racing for one sweep, a Ray that won't start,
a full disk and a kill while writing a trial's results; and the Sweep page's defects."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import seqrev.inspection.capacity as capacity
from seqrev.charts.sweep import capacity_curve_chart
from seqrev.runs.store import RunStore
from seqrev.sweeps.spec import SweepSpec
from seqrev.sweeps.store import (
    claim_driver,
    create_sweep,
    get_sweep,
    list_sweeps,
    progress,
    request_stop,
    stop_requested,
    trial_runs,
)
from seqrev.sweeps.trial import run_inline, write_result
from tests.fault_support import ROOT, FullStore, killed, run_cli

TINY = SweepSpec(grid={"hidden_dim": (4,), "kind": ("plain", "attention")},
                 base={"embedding_dim": 4, "max_len": 3, "batch_size": 8}, steps=10,
                 eval_every=5, eval_per_length=10)


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(tmp_path / "runs"))
    return RunStore(tmp_path / "runs")


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


# -- one driver at a time ----------------------------------------------------------------

_RACER = textwrap.dedent('''
    import os, sys, time
    from seqrev.sweeps.store import SweepBusyError, claim_driver
    print("ready", flush=True)
    while not os.path.exists(sys.argv[2]):  # both go at the same instant
        time.sleep(0.002)
    try:
        claim_driver(sys.argv[1])
        print("claimed", flush=True)
        time.sleep(1.0)  # alive while the other one tries
    except SweepBusyError as error:
        print("refused:", error, flush=True)
''')


def race_two_drivers(sweep_id: str, root) -> list[str]:
    """Two processes claim ``sweep_id`` at the same instant; their answers (stdout+stderr)."""
    go = root / f"go-{sweep_id}"
    env = {"SEQREV_RUNS_DIR": str(root), "PATH": "/usr/bin:/bin"}
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, sweep_id, str(go)], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(2)]
    for racer in racers:
        assert racer.stdout.readline().strip() == "ready"
    go.touch()
    answers = []
    for racer in racers:
        out, err = racer.communicate(timeout=60)
        answers.append(out.strip() + err)
    go.unlink()
    return answers


def test_two_drivers_racing_for_one_sweep_one_wins(store):
    record = create_sweep(TINY, store=store)
    answers = race_two_drivers(record.id, store.root)
    assert sorted(a.split()[0] for a in answers) == ["claimed", "refused:"], answers
    assert all("Traceback" not in a for a in answers)


def test_a_second_sweep_resume_is_one_line_naming_the_live_driver(store, monkeypatch):
    record = create_sweep(TINY, store=store)
    holder = sleeper()
    try:
        claim_driver(record.id, store, pid=holder.pid)
        monkeypatch.setattr("seqrev.sweeps.driver.start_ray",
                            lambda *a, **k: pytest.fail("Ray started"))
        code, _, err = run_cli(["sweep", "resume", record.id])
        assert code == 2 and err.count("\n") == 1
        assert f"pid {holder.pid}" in err and "sweep stop" in err
        assert get_sweep(record.id, store).status == "starting"
    finally:
        holder.kill()
        holder.wait()
    assert get_sweep(record.id, store).status == "interrupted"  # its driver died: at once
    claim_driver(record.id, store)  # and the sweep is free again


def test_a_ray_that_will_not_start_is_one_line_and_frees_the_sweep(store, monkeypatch):
    import ray

    def broken(*args, **kwargs):
        raise RuntimeError("Failed to start the GCS server.\nmore detail")

    monkeypatch.setattr(ray, "init", broken)
    record = create_sweep(TINY, store=store)
    code, out, err = run_cli(["sweep", "resume", record.id])
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert "Ray did not start: Failed to start the GCS server." in err
    after = get_sweep(record.id, store)
    assert after.status == "interrupted" and after.driver_pid is None
    assert "Ray did not start" in after.note


def test_a_stop_asked_while_the_driver_starts_is_kept(store):
    record = create_sweep(TINY, store=store)
    holder = sleeper()
    try:
        claim_driver(record.id, store, pid=holder.pid)  # as launch_driver does
        assert request_stop(record.id, store).status == "stopping"
        claim_driver(record.id, store, pid=holder.pid)  # the driver's own claim
        assert stop_requested(store, record.id)
    finally:
        holder.kill()
        holder.wait()


# -- a full disk and a kill while writing a trial's results ------------------------------


def test_full_disk_while_saving_sweep_results_fails_the_trial_and_keeps_the_finished(
        store, monkeypatch):
    record = create_sweep(TINY, store=store)
    full = FullStore(monkeypatch)
    original = write_result
    written = []

    def second_fills_the_disk(store_, run, result, attempts):
        if written:
            full.mode = "write"
        written.append(run.id)
        return original(store_, run, result, attempts)

    monkeypatch.setattr("seqrev.sweeps.trial.write_result", second_fills_the_disk)
    monkeypatch.setattr("seqrev.sweeps.driver.start_ray", lambda *a, **k: "stub")
    monkeypatch.setattr("seqrev.sweeps.driver.run_sweep",
                        lambda sweep_id, store, **kw: run_inline(sweep_id, store))
    code, _, err = run_cli(["sweep", "resume", record.id])
    full.mode = None
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "read-only file system while saving the sweep's results" in err
    runs = trial_runs(record.id, store)
    assert runs[0].status == "finished" and runs[0].extra["lengths"]  # what was stored stays
    assert progress(record.id, store).done == 1
    monkeypatch.setattr("seqrev.sweeps.trial.write_result", original)  # space is back
    run_inline(record.id, store)  # the rest runs, the finished trial stays
    assert progress(record.id, store).done == 2


_KILLED_DRIVER = textwrap.dedent('''
    import os, signal, sys
    import seqrev.runs.store as runs
    from seqrev.sweeps.store import driving
    from seqrev.sweeps.trial import run_inline
    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    runs.RunStore.update_extra = die  # after the metrics, before the trial's lengths
    with driving(sys.argv[1]):
        run_inline(sys.argv[1])
''')


def test_a_driver_killed_while_writing_results_is_seen_at_once_and_resumes(store):
    record = create_sweep(TINY, store=store)
    result = subprocess.run([sys.executable, "-c", _KILLED_DRIVER, record.id], cwd=ROOT,
                            env={"SEQREV_RUNS_DIR": str(store.root), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=120, check=False)
    assert killed(result), result.stderr[-500:]
    assert get_sweep(record.id, store).status == "interrupted"
    (trial,) = trial_runs(record.id, store).values()
    assert store.reap() == [trial.id] and store.get(trial.id).status == "interrupted"
    run_inline(record.id, store)
    assert progress(record.id, store).done == 2


# -- the Sweep page ----------------------------------------------------------------------


@pytest.fixture
def local_user(monkeypatch):
    import pages.run_common

    monkeypatch.setattr(pages.run_common, "is_local_user", lambda: True)


def sweep_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=90)
    at.run()
    at.switch_page("pages/sweep.py")
    at.query_params.update(query or {})
    return at.run()


def test_right_after_start_the_sweep_is_starting_with_stop_on_and_resume_off(
        store, monkeypatch, local_user):
    real_popen = subprocess.Popen
    drivers = []

    def fake_driver(command, **kwargs):  # the driver process, minus Ray and the trials
        drivers.append(real_popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        return drivers[-1]

    monkeypatch.setattr(subprocess, "Popen", fake_driver)
    try:
        at = sweep_page()
        at.multiselect[0].set_value([16])
        at.multiselect[1].set_value([4])
        at.number_input[1].set_value(20)
        at.button[0].click()
        at.run()
        assert not at.exception and not at.error
        assert at.metric[0].value == "starting"
        assert not at.button(key="sweep_stop").disabled
        assert at.button(key="sweep_resume").disabled
        (record,) = list_sweeps(store)
        assert record.driver_pid == drivers[0].pid
    finally:
        for driver in drivers:
            driver.kill()
            driver.wait()


def test_a_huge_sweep_needs_the_explicit_tick_like_the_clis_yes(store, monkeypatch, local_user):
    monkeypatch.setattr("seqrev.sweeps.driver.launch_driver",
                        lambda *a, **k: pytest.fail("launched"))
    at = sweep_page()
    at.multiselect[0].set_value([4, 8, 16])
    at.multiselect[1].set_value(list(range(2, 12)))  # 60 trials x 100,000 steps
    at.number_input[1].set_value(100_000)  # steps per trial
    at.button[0].click()
    at.run()
    assert not at.exception and list_sweeps(store) == []
    assert "Not started" in at.warning[0].value and "6,000,000 steps in all" in at.warning[0].value
    monkeypatch.setattr("seqrev.sweeps.driver.launch_driver", lambda *a, **k: 1)
    at.checkbox(key="sweep_confirm_size").check()
    at.button[0].click()
    at.run()
    assert len(list_sweeps(store)) == 1


def test_a_finished_tiny_sweep_shows_no_none_cells_and_a_curve_with_a_y_axis(store):
    record = create_sweep(TINY, store=store)
    run_inline(record.id, store)
    at = sweep_page({"sweep": record.id})
    assert not at.exception and not at.error
    for table in at.dataframe:
        frame = table.value
        assert not frame.isna().any().any(), frame
        assert "None" not in frame.astype(str).to_numpy().ravel().tolist()
    curve = [c for c in map(lambda c: json.loads(c.proto.spec), at.get("plotly_chart"))
             if "Smallest hidden" in c["layout"]["title"]["text"]][0]
    assert curve["layout"]["yaxis"]["range"] and curve["layout"]["yaxis"]["tickvals"] == [4]


def test_a_curve_nothing_reaches_still_has_its_axis_and_says_why():
    frame = pd.DataFrame({"kind": ["plain"] * 3, "test_length": [1, 2, 3],
                          "hidden_dim": [float("nan")] * 3})
    figure = capacity_curve_chart(frame, hidden_sizes=[4, 8])
    assert figure.layout.yaxis.range is not None and list(figure.layout.yaxis.tickvals) == [4, 8]
    assert "reaches 95%" in figure.layout.annotations[0].text


def test_the_shipped_curve_agrees_with_its_own_table():
    frame = capacity.load_results()
    curve = capacity.capacity_curve(frame).dropna()
    longest = capacity.longest_reached(frame).set_index(["kind", "hidden_dim"])["longest"]
    assert len(curve)
    for row in curve.itertuples():
        assert longest[(row.kind, int(row.hidden_dim))] >= row.test_length, row
        smaller = longest[row.kind][longest[row.kind].index < row.hidden_dim]
        assert (smaller < row.test_length).all(), (row, smaller)  # no smaller size reaches N
