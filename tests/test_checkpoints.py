"""Checkpoints: round trip, atomic writes, safe names, and every failure mode named."""

import json

import pytest
import torch

from seqrev import checkpoints
from seqrev.checkpoints import CheckpointError, load_checkpoint, sanitize_name, save_checkpoint
from seqrev.models import ModelConfig, build_model
from seqrev.training import TrainConfig


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="attention", embedding_dim=8, hidden_dim=12))
    save_checkpoint("tiny", model, TrainConfig(steps=5), {"note": "test"}, directory=tmp_path)
    return tmp_path, model


def test_round_trip_restores_weights_and_configs(saved):
    directory, model = saved
    loaded = load_checkpoint("tiny", directory=directory)
    assert loaded.model_config == model.config and loaded.train_config == TrainConfig(steps=5)
    assert loaded.meta["note"] == "test" and "torch" in loaded.meta["versions"]
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)
    assert checkpoints.list_checkpoints(directory) == ["tiny"]


def test_existing_name_is_not_overwritten_by_default(saved):
    directory, model = saved
    before = (directory / "tiny.safetensors").read_bytes()
    with pytest.raises(FileExistsError):
        save_checkpoint("tiny", build_model(ModelConfig(kind="plain")), directory=directory)
    assert (directory / "tiny.safetensors").read_bytes() == before
    assert not [p for p in directory.iterdir() if p.name.startswith(".")]  # no temp files left


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found") as error:
        load_checkpoint("nothing", directory=tmp_path)
    assert "nothing.json" in str(error.value)


def test_truncated_weights(saved):
    directory, _ = saved
    path = directory / "tiny.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="tiny.safetensors"):
        load_checkpoint("tiny", directory=directory)


def test_corrupted_weights_with_matching_hash_are_still_caught(saved):
    directory, _ = saved
    path = directory / "tiny.safetensors"
    path.write_bytes(b"\xff" * 64)
    sidecar = json.loads((directory / "tiny.json").read_text())
    import hashlib

    sidecar["weights_sha256"] = hashlib.sha256(b"\xff" * 64).hexdigest()
    (directory / "tiny.json").write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match="unreadable safetensors"):
        load_checkpoint("tiny", directory=directory)


def test_broken_sidecar(saved):
    directory, _ = saved
    (directory / "tiny.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint("tiny", directory=directory)


def test_sidecar_that_does_not_fit_the_weights(saved):
    directory, _ = saved
    sidecar = json.loads((directory / "tiny.json").read_text())
    sidecar["model_config"]["hidden_dim"] = 99
    (directory / "tiny.json").write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint("tiny", directory=directory)
    sidecar["model_config"] = {"kind": "plain", "wings": 2}
    (directory / "tiny.json").write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match="unknown fields"):
        load_checkpoint("tiny", directory=directory)


def test_weights_swapped_between_checkpoints(tmp_path):
    for seed in (0, 1):
        torch.manual_seed(seed)
        save_checkpoint(f"m{seed}", build_model(ModelConfig()), directory=tmp_path)
    (tmp_path / "m0.safetensors").write_bytes((tmp_path / "m1.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint("m0", directory=tmp_path)


@pytest.mark.parametrize("raw, clean", [
    ("my model", "my-model"), ("../../etc/passwd", "etcpasswd"), ("a/b\\c", "abc"),
    ("ok_name-1.2", "ok_name-1.2"), ("x.safetensors", "x"),
])
def test_sanitize_name(raw, clean):
    assert sanitize_name(raw) == clean


@pytest.mark.parametrize("raw", ["", "   ", "../", "💥", "..."])
def test_sanitize_name_refuses_empty_results(raw):
    with pytest.raises(ValueError):
        sanitize_name(raw)


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/b", "..", ""])
def test_unsafe_names_never_touch_the_filesystem(tmp_path, name):
    with pytest.raises(CheckpointError, match="invalid name"):
        load_checkpoint(name, directory=tmp_path)
    with pytest.raises(CheckpointError, match="invalid name"):
        save_checkpoint(name, build_model(ModelConfig(kind="plain")), directory=tmp_path)


def test_shipped_checkpoints_load_and_keep_their_promise():
    for name, kind in ((checkpoints.SHIPPED_PLAIN, "plain"),
                       (checkpoints.SHIPPED_ATTENTION, "attention")):
        loaded = load_checkpoint(name, directory=checkpoints.SHIPPED_DIR)
        assert loaded.model_config.kind == kind
        assert loaded.meta["command"].startswith("python -m seqrev train")
        assert (checkpoints.SHIPPED_DIR / f"{name}.safetensors").stat().st_size < 5_000_000
