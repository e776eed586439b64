"""Shared fixtures: fresh Streamlit caches per test, and a private checkpoint folder."""

from __future__ import annotations

import shutil

import pytest
import streamlit as st
import torch

from seqrev import checkpoints

torch.set_num_threads(1)


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
