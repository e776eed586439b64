"""Checkpoints: round trip, one-file format, format 1 still loads, safe names, failures named."""

import hashlib
import json

import pytest
import torch
from safetensors.torch import save as save_to_bytes

import seqrev.checkpoints.store as checkpoints
import seqrev.disk
from seqrev.checkpoints.store import (
    CheckpointError,
    load_checkpoint,
    sanitize_name,
    save_checkpoint,
)
from seqrev.models.seq2seq import ModelConfig, build_model
from seqrev.training.trainer import TrainConfig


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="attention", embedding_dim=8, hidden_dim=12))
    save_checkpoint("tiny", model, TrainConfig(steps=5), {"note": "test"}, directory=tmp_path)
    return tmp_path, model


def header_metadata(path):
    """The JSON metadata stored in a checkpoint's safetensors header."""
    blob = path.read_bytes()
    header = json.loads(blob[8:8 + int.from_bytes(blob[:8], "little")])
    return json.loads(header["__metadata__"][checkpoints.METADATA_KEY])


def rewrite(path, metadata=None, tensors=None):
    """Rewrite a format-2 file with other metadata (a JSON value or raw text) or tensors."""
    from safetensors.torch import load

    blob = path.read_bytes()
    old = header_metadata(path)
    metadata = old if metadata is None else metadata
    text = metadata if isinstance(metadata, str) else json.dumps(metadata)
    path.write_bytes(save_to_bytes(tensors or load(blob), metadata={
        "format": "seqrev", "version": "2", checkpoints.METADATA_KEY: text}))


def write_legacy(directory, name, model, sidecar_extra=None):
    """A format-1 checkpoint: bare weights plus a sidecar holding the file's SHA-256."""
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    blob = save_to_bytes(tensors, metadata={"format": "seqrev", "version": "1"})
    (directory / f"{name}.safetensors").write_bytes(blob)
    sidecar = {"format_version": 1, "name": name, "model_config": model.config.to_dict(),
               "train_config": None, "weights_sha256": hashlib.sha256(blob).hexdigest(),
               **(sidecar_extra or {})}
    (directory / f"{name}.json").write_text(json.dumps(sidecar))


def test_round_trip_restores_weights_and_configs(saved):
    directory, model = saved
    loaded = load_checkpoint("tiny", directory=directory)
    assert loaded.model_config == model.config and loaded.train_config == TrainConfig(steps=5)
    assert loaded.meta["note"] == "test" and "torch" in loaded.meta["versions"]
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)
    assert checkpoints.list_checkpoints(directory) == ["tiny"]
    assert checkpoints.list_checkpoint_problems(directory) == []


def test_one_file_carries_the_metadata_and_the_json_is_only_a_view(saved):
    directory, _ = saved
    inside = header_metadata(directory / "tiny.safetensors")
    assert inside["format_version"] == 2 and inside["note"] == "test"
    assert json.loads((directory / "tiny.json").read_text()) == inside
    (directory / "tiny.json").write_text("{not json")  # the view is never read back
    assert load_checkpoint("tiny", directory=directory).meta["note"] == "test"
    (directory / "tiny.json").unlink()
    assert checkpoints.read_sidecar("tiny", directory)["note"] == "test"


def test_existing_name_is_not_overwritten_by_default(saved):
    directory, model = saved
    before = (directory / "tiny.safetensors").read_bytes()
    with pytest.raises(FileExistsError):
        save_checkpoint("tiny", build_model(ModelConfig(kind="plain")), directory=directory)
    assert (directory / "tiny.safetensors").read_bytes() == before
    assert not [p for p in directory.iterdir() if p.name.startswith(".")]  # no temp files left


def test_missing_checkpoint_is_named_without_a_path(tmp_path):
    with pytest.raises(CheckpointError, match="not found") as error:
        load_checkpoint("nothing", directory=tmp_path)
    assert "'nothing'" in str(error.value) and str(tmp_path) not in str(error.value)


def test_truncated_weights(saved):
    directory, _ = saved
    path = directory / "tiny.safetensors"
    whole = path.read_bytes()
    for cut in (0, 4, 100, len(whole) - 10):
        path.write_bytes(whole[:cut])
        with pytest.raises(CheckpointError, match="tiny") as error:
            load_checkpoint("tiny", directory=directory)
        assert str(directory) not in str(error.value)


def test_tensor_bytes_that_do_not_match_the_hash(saved):
    directory, _ = saved
    path = directory / "tiny.safetensors"
    blob = bytearray(path.read_bytes())
    blob[-3] ^= 0x55  # flip bits in the last tensor's data
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint("tiny", directory=directory)


def test_metadata_that_does_not_fit_the_weights(saved):
    directory, _ = saved
    path = directory / "tiny.safetensors"
    metadata = header_metadata(path)
    metadata["model_config"]["hidden_dim"] = 99
    rewrite(path, metadata)
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint("tiny", directory=directory)
    metadata["model_config"] = {"kind": "plain", "wings": 2}
    rewrite(path, metadata)
    with pytest.raises(CheckpointError, match="wings"):
        load_checkpoint("tiny", directory=directory)


def test_broken_metadata_json(saved):
    directory, _ = saved
    rewrite(directory / "tiny.safetensors", "{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint("tiny", directory=directory)


def test_format_1_checkpoints_still_load_and_list(tmp_path):
    torch.manual_seed(3)
    model = build_model(ModelConfig(kind="plain", embedding_dim=6, hidden_dim=10))
    write_legacy(tmp_path, "old", model, {"note": "from before"})
    loaded = load_checkpoint("old", directory=tmp_path)
    assert loaded.meta["note"] == "from before"
    assert torch.equal(loaded.model.output.weight, model.output.weight)
    assert checkpoints.list_checkpoints(tmp_path) == ["old"]
    save_checkpoint("old", model, directory=tmp_path, overwrite=True)  # converts it
    assert header_metadata(tmp_path / "old.safetensors")["format_version"] == 2
    assert "note" not in load_checkpoint("old", directory=tmp_path).meta


def test_format_1_weights_swapped_between_checkpoints(tmp_path):
    for seed in (0, 1):
        torch.manual_seed(seed)
        write_legacy(tmp_path, f"m{seed}", build_model(ModelConfig()))
    (tmp_path / "m0.safetensors").write_bytes((tmp_path / "m1.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint("m0", directory=tmp_path)


def test_format_1_weights_without_their_sidecar_are_reported_not_hidden(tmp_path):
    write_legacy(tmp_path, "half", build_model(ModelConfig(kind="plain", hidden_dim=8)))
    (tmp_path / "half.json").unlink()  # what a crash between the old two writes left
    assert checkpoints.list_checkpoints(tmp_path) == []
    [(file, reason)] = checkpoints.list_checkpoint_problems(tmp_path)
    assert file == "half.safetensors" and "half.json" in reason
    save_checkpoint("half", build_model(ModelConfig(kind="plain", hidden_dim=8)),
                    directory=tmp_path, overwrite=True)
    assert checkpoints.list_checkpoints(tmp_path) == ["half"]


def test_non_finite_weights_are_refused_on_save_and_on_load(saved):
    directory, model = saved
    broken = build_model(ModelConfig(kind="plain", embedding_dim=4, hidden_dim=4))
    with torch.no_grad():
        broken.output.bias[0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN"):
        save_checkpoint("nan", broken, directory=directory)
    assert not checkpoints.exists("nan", directory)
    from safetensors.torch import load

    tensors = load((directory / "tiny.safetensors").read_bytes())
    tensors["output.bias"][0] = float("inf")
    metadata = header_metadata(directory / "tiny.safetensors")
    del metadata["weights_sha256"]
    rewrite(directory / "tiny.safetensors", metadata, tensors)
    with pytest.raises(CheckpointError, match="infinite"):
        load_checkpoint("tiny", directory=directory)


def test_a_diverged_loss_history_is_saved_with_nulls(tmp_path):
    model = build_model(ModelConfig(kind="plain", embedding_dim=4, hidden_dim=4))
    history = {"loss_stride": 1, "loss": [2.5, float("nan"), float("inf")], "eval": []}
    save_checkpoint("diverged", model, meta={"history": history}, directory=tmp_path)
    loaded = load_checkpoint("diverged", directory=tmp_path)
    assert loaded.meta["history"]["loss"] == [2.5, None, None]


@pytest.mark.parametrize("raw, clean", [
    ("my model", "my-model"), ("../../etc/passwd", "etcpasswd"), ("a/b\\c", "abc"),
    ("ok_name-1.2", "ok_name-1.2"), ("x.safetensors", "x"),
    ("[x](https://e.example/login)../../etc/passwd", "xhttpse.examplelogin.etcpasswd"),
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


def test_a_folder_that_cannot_be_written_is_a_named_error(tmp_path, monkeypatch):
    def denied(**kwargs):
        raise PermissionError(13, "Permission denied", str(kwargs["dir"]))

    monkeypatch.setattr(seqrev.disk.tempfile, "mkstemp", denied)  # the one atomic write
    model = build_model(ModelConfig(kind="plain", embedding_dim=4, hidden_dim=4))
    with pytest.raises(CheckpointError, match="could not write: Permission denied") as error:
        save_checkpoint("x", model, directory=tmp_path)
    assert str(tmp_path) not in str(error.value)


def test_is_shipped(tmp_path):
    assert checkpoints.is_shipped("plain", checkpoints.SHIPPED_DIR)
    assert checkpoints.is_shipped("attention", checkpoints.SHIPPED_DIR)
    assert not checkpoints.is_shipped("my-plain", checkpoints.SHIPPED_DIR)
    assert not checkpoints.is_shipped("plain", tmp_path)


def test_shipped_checkpoints_load_and_keep_their_promise():
    for name, kind in ((checkpoints.SHIPPED_PLAIN, "plain"),
                       (checkpoints.SHIPPED_ATTENTION, "attention")):
        loaded = load_checkpoint(name, directory=checkpoints.SHIPPED_DIR)
        assert loaded.model_config.kind == kind
        assert loaded.meta["command"].startswith("python -m seqrev train")
        assert (checkpoints.SHIPPED_DIR / f"{name}.safetensors").stat().st_size < 5_000_000
    assert checkpoints.list_checkpoint_problems(checkpoints.SHIPPED_DIR) == []
