"""Packed sweeps on a real local Ray (1 CPU): one task per pack, the same losses as a trial
trained alone, and a stop that reaches every trial of a running pack. Marked ``ray``."""

from __future__ import annotations

import threading

import pytest

from seqrev.runs.store import RunStore
from seqrev.sweeps.driver import run_sweep
from seqrev.sweeps.spec import SweepSpec
from seqrev.sweeps.store import create_sweep, progress, results
from seqrev.training.trainer import Trainer

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray


@pytest.fixture
def store(tmp_path, local_ray):
    return RunStore(tmp_path / "runs")


def test_a_packed_sweep_records_each_trial_as_if_trained_alone(store):
    spec = SweepSpec(grid={"hidden_dim": (8, 12), "seed": (0, 1, 2)},
                     base={"embedding_dim": 8, "max_len": 4, "kind": "attention"},
                     steps=20, eval_every=10, eval_per_length=10)
    events = []
    record = create_sweep(spec, store=store)
    final = run_sweep(record.id, store=store, on_event=lambda k, d: events.append(k))
    assert final.status == "finished"
    runs = store.list_runs(sweep_id=record.id)
    assert sorted(run.status for run in runs) == ["finished"] * 6
    assert events.count("finished") == 6
    assert len(results(record.id, store)) == 6 * 8  # lengths 1..8 per trial
    for run in runs[:2]:
        alone = Trainer(run.model_config, run.train_config)
        alone.run()
        stored = store.history(run.id).steps["loss"].tolist()
        assert max(abs(a - b) for a, b in zip(stored, alone.losses, strict=True)) < 1e-4


def test_stopping_a_sweep_stops_every_trial_of_the_running_pack(store):
    spec = SweepSpec(grid={"seed": (0, 1)},
                     base={"embedding_dim": 8, "hidden_dim": 16, "max_len": 4},
                     steps=100_000, eval_every=0, eval_per_length=20)
    record = create_sweep(spec, store=store)
    stop = threading.Event()

    def stop_when_training(kind, data):
        if kind == "start":
            threading.Timer(3.0, stop.set).start()

    final = run_sweep(record.id, store=store, stop=stop, on_event=stop_when_training)
    assert final.status == "stopped"
    runs = store.list_runs(sweep_id=record.id)
    assert len(runs) == 2  # both started together, as one pack
    for run in runs:
        assert run.status == "stopped" and 0 < run.steps_done < 100_000
    counts = progress(record.id, store)
    assert (counts.done, counts.running, counts.queued) == (0, 0, 2)
