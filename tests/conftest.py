"""Shared fixtures: fresh Streamlit caches per test, a private checkpoint folder, a run store
whose workers are stopped after the test, and one local Ray per test module."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import streamlit as st
import torch

import seqrev.checkpoints.store as checkpoints
import seqrev.runs.scheduler as scheduler
from seqrev.runs.store import RunStore

torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _components_scanned_once():
    """One component scan for the whole suite, as a server scans once when it starts.

    AppTest scans every installed package's metadata on each new AppTest's first run (~0.5 s,
    hundreds of times over the suite); the app has no components of its own to find.
    """
    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.testing.v1 import AppTest

    manager = BidiComponentManager()
    manager.discover_and_register_components(start_file_watching=False)
    original_init = AppTest.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if getattr(self, "_bidi_component_manager", False) is None:
            self._bidi_component_manager = manager

    AppTest.__init__ = init
    yield
    AppTest.__init__ = original_init


@pytest.fixture(autouse=True)
def _private_run_store(tmp_path_factory, monkeypatch):
    """Every test records runs in a folder of its own, never in the repository's runs/."""
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    st.cache_resource.clear()
    st.cache_data.clear()
    yield


@pytest.fixture
def checkpoint_dir(tmp_path, monkeypatch):
    """A temp checkpoint folder holding copies of the shipped checkpoints; used for writes."""
    for path in checkpoints.SHIPPED_DIR.glob("*"):
        if path.suffix in (".json", ".safetensors") and path.stem in (
                checkpoints.SHIPPED_PLAIN, checkpoints.SHIPPED_ATTENTION):
            shutil.copy(path, tmp_path / path.name)
    monkeypatch.setattr(checkpoints, "CHECKPOINT_DIR", tmp_path)
    monkeypatch.setenv("SEQREV_CHECKPOINT_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    """A run store of the test's own; its queued and running workers are stopped afterwards."""
    folder = tmp_path / "runs"
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(folder))
    yield folder
    store = RunStore(folder)
    for run in store.list_runs(statuses=["queued", "running"]):
        store.request_stop(run.id)
    deadline = time.monotonic() + 20
    while store.list_runs(statuses=["running"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    scheduler.reap_children()


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray (1 CPU) for the test module that asks for it."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()
