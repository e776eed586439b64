"""Issue 8's holes 1-4, each reproduced: crashes and races while saving, poisoned files, injection.

The crash and race tests fork real processes: a child killed with SIGKILL at a random moment
of a save loop, and two children released by one barrier to save to one name.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import re
import signal
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as save_to_bytes
from streamlit.testing.v1 import AppTest

import seqrev.checkpoints.store as checkpoints
from pages.common import escape_markdown
from seqrev.checkpoints.store import CheckpointError, load_checkpoint, save_checkpoint
from seqrev.cli.main import main as cli_main
from seqrev.models.seq2seq import ModelConfig, build_model

APP = str(Path(__file__).resolve().parent.parent / "app.py")
FORK = multiprocessing.get_context("fork")
# big enough (about 6 MB a file) that a random kill often lands inside a write
BIG = ModelConfig(kind="attention", embedding_dim=128, hidden_dim=384)


def tagged_models(config: ModelConfig = BIG) -> dict[str, torch.nn.Module]:
    models = {}
    for seed, tag in enumerate("AB"):
        torch.manual_seed(seed)
        models[tag] = build_model(config)
    return models


def assert_whole(name: str, directory: Path, models: dict) -> str:
    """The checkpoint loads, and its weights are the save named by its own metadata."""
    loaded = load_checkpoint(name, directory=directory)
    tag = loaded.meta["tag"]
    for key, value in models[tag].state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), f"{key} not from save {tag}"
    return tag


def temp_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


# ---- hole 1: a save killed at any moment leaves the old checkpoint or the new one ---------
def _save_forever(directory: Path, models: dict, first: str, saved_once) -> None:
    torch.set_num_threads(1)
    for i in range(10**9):
        tag = "AB"[(i + "AB".index(first)) % 2]
        save_checkpoint("victim", models[tag], meta={"tag": tag}, directory=directory,
                        overwrite=True)
        saved_once.set()


def test_kill_9_during_overwriting_saves_never_leaves_a_mixed_checkpoint(tmp_path):
    models = tagged_models()
    rng = random.Random(8)
    trials, mid_write, tags = 12, 0, []
    for _ in range(trials):
        saved_once = FORK.Event()
        child = FORK.Process(target=_save_forever,
                             args=(tmp_path, models, rng.choice("AB"), saved_once))
        child.start()
        assert saved_once.wait(60)
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        mid_write += any(".victim.safetensors." in n for n in temp_files(tmp_path))
        assert checkpoints.list_checkpoints(tmp_path) == ["victim"]
        tags.append(assert_whole("victim", tmp_path, models))
    print(f"\n{trials} kills: {mid_write} inside a weights write, 0 mixed, tags {tags}")
    save_checkpoint("other", models["A"], meta={"tag": "A"}, directory=tmp_path)
    assert temp_files(tmp_path) == []  # the next save swept what the kills left


def test_temp_files_from_a_crash_are_ignored_then_swept(tmp_path):
    model = tagged_models(ModelConfig(kind="plain", hidden_dim=8))["A"]
    save_checkpoint("kept", model, meta={"tag": "A"}, directory=tmp_path)
    crashed = [".kept.safetensors.x1y2z3.tmp", ".kept.json.a1b2.tmp",
               ".old.safetensors.k2j3n4"]  # the last: format 1's temp name
    for name in crashed:
        (tmp_path / name).write_bytes(b"half a file")
    assert checkpoints.list_checkpoints(tmp_path) == ["kept"]
    assert checkpoints.list_checkpoint_problems(tmp_path) == []
    save_checkpoint("next", model, meta={"tag": "A"}, directory=tmp_path)
    assert temp_files(tmp_path) == []


def test_a_new_name_is_never_blocked_by_a_half_save(tmp_path):
    """Format 1 could leave weights without a sidecar: hidden from list yet 'existing'."""
    model = build_model(ModelConfig(kind="plain", hidden_dim=8))
    save_checkpoint("fresh", model, directory=tmp_path)
    assert checkpoints.exists("fresh", tmp_path)
    assert checkpoints.list_checkpoints(tmp_path) == ["fresh"]
    (tmp_path / "fresh.json").unlink()  # the readable view is not needed
    assert checkpoints.list_checkpoints(tmp_path) == ["fresh"]


# ---- hole 2: simultaneous saves to one name serialize --------------------------------------
def _save_at_barrier(barrier, directory: Path, models: dict, tag: str, overwrite: bool,
                     results) -> None:
    torch.set_num_threads(1)
    barrier.wait()
    try:
        save_checkpoint("shared", models[tag], meta={"tag": tag}, directory=directory,
                        overwrite=overwrite)
        results.put((tag, "saved"))
    except FileExistsError:
        results.put((tag, "exists"))


def _race(directory: Path, models: dict, overwrite: bool) -> list[tuple[str, str]]:
    barrier, results = FORK.Barrier(2), FORK.Queue()
    children = [FORK.Process(target=_save_at_barrier,
                             args=(barrier, directory, models, tag, overwrite, results))
                for tag in "AB"]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    return sorted(results.get(timeout=5) for _ in children)


def test_simultaneous_saves_to_one_name_never_mix(tmp_path):
    models = tagged_models()
    winners = []
    for _ in range(20):
        assert _race(tmp_path, models, overwrite=True) == [("A", "saved"), ("B", "saved")]
        winners.append(assert_whole("shared", tmp_path, models))
        assert temp_files(tmp_path) == []
    print(f"\n20 races: last writer A {winners.count('A')}, B {winners.count('B')}, 0 mixed")


def test_simultaneous_creates_let_exactly_one_win(tmp_path):
    models = tagged_models(ModelConfig(kind="plain", hidden_dim=32))
    for _ in range(8):
        for path in tmp_path.iterdir():
            path.unlink()
        outcome = _race(tmp_path, models, overwrite=False)
        assert sorted(result for _, result in outcome) == ["exists", "saved"]
        winner = next(tag for tag, result in outcome if result == "saved")
        assert assert_whole("shared", tmp_path, models) == winner


# ---- hole 3: poisoned files are skipped, named, and never allocate -------------------------
def _real_tensors() -> dict[str, torch.Tensor]:
    return dict(build_model(ModelConfig(kind="plain", embedding_dim=4, hidden_dim=6))
                .state_dict())


def _metadata(**changes) -> dict:
    base = {"format_version": 2, "model_config": ModelConfig(
        kind="plain", embedding_dim=4, hidden_dim=6).to_dict(), "train_config": None}
    return base | changes


def write_v2(directory: Path, name: str, metadata_text: str, tensors=None) -> None:
    blob = save_to_bytes(tensors or _real_tensors(), metadata={
        "format": "seqrev", "version": "2", checkpoints.METADATA_KEY: metadata_text})
    (directory / f"{name}.safetensors").write_bytes(blob)


def write_v1(directory: Path, name: str, sidecar_text: str, tensors=None) -> None:
    blob = save_to_bytes(tensors or _real_tensors(), metadata={"format": "seqrev",
                                                               "version": "1"})
    (directory / f"{name}.safetensors").write_bytes(blob)
    sha = hashlib.sha256(blob).hexdigest()
    (directory / f"{name}.json").write_text(sidecar_text.replace("SHA", sha))


DEEP = '{"a":' * 40_000 + "1" + "}" * 40_000  # 200 KB
POISONS = {  # name: (metadata text, what the reason must say)
    "deep": (DEEP, "nests deeper"),
    "config-list": (json.dumps(_metadata(model_config=["plain"])), "model_config"),
    "eval-string": (json.dumps(_metadata(evaluation="abc")), "evaluation"),
    "eval-inf": (json.dumps(_metadata(evaluation={"length_10": {
        "n": 1, "exact_match": 0.5, "char_accuracy": 0.5}})).replace("0.5", "1e999", 1),
        "finite"),
    "hidden-huge": (json.dumps(_metadata(model_config=_metadata()["model_config"]
                                         | {"hidden_dim": 10**12})), "hidden_dim"),
    "hidden-8000": (json.dumps(_metadata(model_config=_metadata()["model_config"]
                                         | {"hidden_dim": 8000})), "hidden_dim"),
    "nan": ('{"format_version": NaN}', "NaN"),
    "not-object": ("[1, 2, 3]", "not an object"),
    "too-big": (json.dumps(_metadata(blob="x" * 2_100_000)), "limit"),
}


def poison(directory: Path, name: str, layout: str) -> None:
    text, _ = POISONS[name]
    if layout == "v1":  # format 1: the poison is the sidecar, with a matching hash
        write_v1(directory, name, text.replace(
            '"format_version": 2', '"format_version": 1, "weights_sha256": "SHA"'))
    else:
        write_v2(directory, name, text)


@pytest.fixture
def no_model_built(monkeypatch):
    def refuse(config):
        raise AssertionError(f"a model was built for {config}")

    monkeypatch.setattr(checkpoints, "build_model", refuse)
    checkpoints._SHAPES.clear()


@pytest.mark.parametrize("layout", ["v1", "v2"])
@pytest.mark.parametrize("name", sorted(POISONS))
def test_poisoned_file_is_refused_before_anything_is_built(tmp_path, name, layout,
                                                           no_model_built):
    poison(tmp_path, name, layout)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(name, directory=tmp_path)
    message = str(error.value)
    assert POISONS[name][1] in message and f"'{name}'" in message
    assert str(tmp_path) not in message and "\n" not in message
    assert checkpoints.list_checkpoints(tmp_path) == []
    [(file_name, reason)] = checkpoints.list_checkpoint_problems(tmp_path)
    assert file_name == f"{name}.safetensors" and POISONS[name][1] in reason


@pytest.mark.parametrize("header", [
    b"\xff" * 8,  # a header length of 2**64 - 1
    (10**6).to_bytes(8, "little") + b"{}",  # longer than the file
    json.dumps({"w": {"dtype": "F32", "shape": [10**6, 10**6],
                            "data_offsets": [0, 4]}}).encode(),
], ids=["huge-length", "short-file", "huge-shape"])
def test_hostile_safetensors_headers(tmp_path, header, no_model_built):
    blob = header if header[:1] != b"{" else len(header).to_bytes(8, "little") + header + b"0000"
    (tmp_path / "hostile.safetensors").write_bytes(blob)
    with pytest.raises(CheckpointError, match="hostile"):
        load_checkpoint("hostile", directory=tmp_path)
    assert [f for f, _ in checkpoints.list_checkpoint_problems(tmp_path)] == [
        "hostile.safetensors"]


def test_shapes_are_checked_from_the_header_before_tensors_are_read(tmp_path, monkeypatch):
    tensors = _real_tensors()
    tensors["output.weight"] = torch.zeros(29, 7)  # the config says hidden 6
    write_v2(tmp_path, "misfit", json.dumps(_metadata()), tensors)
    monkeypatch.setattr(checkpoints, "load_from_bytes", lambda blob: pytest.fail("read"))
    with pytest.raises(CheckpointError, match=r"output.weight has shape \(29, 7\)"):
        load_checkpoint("misfit", directory=tmp_path)


def test_special_files_are_skipped_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.safetensors")
    (tmp_path / "dir.safetensors").mkdir()
    (tmp_path / "bad name!.safetensors").write_bytes(b"x")
    (tmp_path / "orphan.json").write_text("{}")
    problems = dict(checkpoints.list_checkpoint_problems(tmp_path))
    assert set(problems) == {"pipe.safetensors", "dir.safetensors", "bad name!.safetensors",
                             "orphan.json"}
    assert "not a regular file" in problems["pipe.safetensors"]


def test_cli_list_reports_each_bad_file_and_exits_0(checkpoint_dir, capsys):
    for name in POISONS:
        poison(checkpoint_dir, name, "v1" if name < "h" else "v2")
    assert cli_main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [line for line in lines if not line.split("\t")[1].startswith("skip")]
    assert {line.split("\t")[0] for line in lines[:2]} == {"plain", "attention"}
    skipped = {line.split("\t")[0]: line for line in lines[2:]}
    assert set(skipped) == {f"{name}.safetensors" for name in POISONS}
    assert all("skipped: " in line for line in skipped.values())


def unescaped(markdown: str) -> str:
    """What is left of ``markdown`` after removing every backslash-escaped character."""
    return re.sub(r"\\.", "", markdown, flags=re.DOTALL)


def assert_no_markdown_syntax(markdown: str) -> None:
    """No link, image, HTML, directive or math can be formed: every such character is escaped."""
    bare = unescaped(markdown)
    assert not re.search(r"[\[\]()<>!$`*_:]", bare), bare
    assert "://" not in bare and "www." not in bare.lower()


def test_every_page_works_beside_poisoned_files(checkpoint_dir):
    for name in POISONS:
        poison(checkpoint_dir, name, "v1" if name < "h" else "v2")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception and not at.error
    assert [s.label for s in at.sidebar.selectbox] == ["Plain model", "Attention model"]
    [note] = [e for e in at.sidebar.expander if "skipped" in e.label]
    assert note.label == f"{len(POISONS)} checkpoint files skipped"
    shown = " ".join(c.value for c in note.caption)
    for name in POISONS:
        assert escape_markdown(f"{name}.safetensors") in shown
    for page in ("pages/decode.py", "pages/attention.py"):
        at.switch_page(page).run()
        assert not at.exception and not at.error, page


def test_load_error_names_the_checkpoint_not_the_path(checkpoint_dir):
    source = checkpoint_dir / "attention.safetensors"
    blob = bytearray(source.read_bytes())
    blob[-5] ^= 0x10  # format 1: the whole-file hash no longer matches
    source.write_bytes(bytes(blob))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    note = [e for e in at.sidebar.expander if "skipped" in e.label]
    assert note and "attention" in note[0].caption[0].value
    assert "SHA" in note[0].caption[0].value and str(checkpoint_dir) not in str(at)


# ---- hole 4: text from links, inputs and files never renders as Markdown -------------------
HOSTILE = [
    "[Session expired: click to log in](https://evil.example/login)",
    "![x](http://host/p.png)",
    ":red[alarm] $x^2$ <img src=x onerror=alert(1)> **bold** `code`",
    "www.evil.example and mail@evil.example",
]


def decode_page(query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/decode.py")
    at.query_params.update(query)
    return at.run()


@pytest.mark.parametrize("hostile", HOSTILE)
def test_decode_link_cannot_inject_markdown(hostile):
    at = decode_page({"text": hostile, "beam": hostile})
    assert not at.exception
    [warning] = at.warning
    assert "in the link" in warning.value
    assert_no_markdown_syntax(warning.value.split("beam=", 1)[1].split(" in the link")[0])
    [error] = at.error
    quoted = error.value.split("“", 1)[1].split("”", 1)[0]
    assert_no_markdown_syntax(quoted)
    assert unescaped(quoted).replace("\u200b", "") != ""


@pytest.mark.parametrize("beam", ["²", "9" * 5000, "0", "-1", "1e0", "٣", " 3", "3.0", "99"],
                         ids=["superscript", "5000-digits", "0", "-1", "1e0", "arabic-3",
                              "space-3", "3.0", "99"])
def test_beam_from_the_link_is_parsed_strictly(beam):
    at = decode_page({"text": "HELLO", "beam": beam})
    assert not at.exception and not at.error
    assert len(at.warning) == 1 and "1 to 8" in at.warning[0].value
    assert at.radio(key="decode_method").value == "Greedy"


def test_beam_from_the_link_still_works():
    at = decode_page({"text": "HELLO", "beam": "3"})
    assert not at.exception and not at.warning
    assert at.radio(key="decode_method").value == "Beam search"
    assert at.slider(key="decode_width").value == 3


def test_forced_prefix_cannot_inject_markdown():
    at = decode_page({"text": "HELLO"})
    at.text_input(key="decode_prefix").input(HOSTILE[0]).run()
    assert not at.exception
    [error] = at.error
    assert_no_markdown_syntax(error.value.split("“", 1)[1].split("”", 1)[0])


def test_input_cannot_inject_markdown_on_the_attention_page():
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/attention.py").run()
    inputs = [t for t in at.text_input if "string" in t.label.lower()]
    inputs[0].input(HOSTILE[1]).run()
    assert not at.exception
    for element in (*at.error, *at.warning, *at.info):
        if "“" in element.value:
            assert_no_markdown_syntax(element.value.split("“", 1)[1].split("”", 1)[0])
