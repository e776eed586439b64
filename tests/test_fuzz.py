"""Fuzzing with hypothesis: hostile metadata, file names, query strings and CLI arguments.

Every page must render without an exception, every CLI command must exit 0 or 2 (with one
line on stderr), and the checkpoint reader must answer with a CheckpointError, never another
exception. AppTest examples are few (each is a whole page run); the library ones are many.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as save_to_bytes
from streamlit.testing.v1 import AppTest

import seqrev.checkpoints.store as checkpoints
from pages.common import escape_markdown
from seqrev.checkpoints.store import CheckpointError
from seqrev.cli.main import main as cli_main
from seqrev.models.seq2seq import ModelConfig, build_model

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGE_RUNS = settings(max_examples=15, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])
LIBRARY_RUNS = settings(max_examples=150, deadline=None,
                        suppress_health_check=[HealthCheck.function_scoped_fixture])

# ---- strategies -------------------------------------------------------------------------
MARKDOWN_ATTACKS = st.sampled_from([
    "[click](https://evil.example/login)", "![x](http://host/p.png)", ":red[x]", "$x$",
    "<script>alert(1)</script>", "**b**", "`c`", "# h", "\n\n- item", "www.evil.example",
    "a@evil.example", "\\", "\x00", "\u202e", "²", "٣", "9" * 5000, "1e999", "NaN", "-1", "0",
    "3", "8", "9", "%00", "../../etc/passwd", "plain", "attention", " ", "",
])
HOSTILE_TEXT = st.one_of(MARKDOWN_ATTACKS, st.text(max_size=80),
                         st.lists(MARKDOWN_ATTACKS, max_size=4).map("".join))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner,
                                                                max_size=4),
    max_leaves=12)
FIELDS = ["format_version", "name", "model_config", "train_config", "weights_sha256",
          "versions", "command", "steps_done", "training_seconds", "history", "evaluation",
          "renamed_from"]
CONFIG_FIELDS = ["kind", "embedding_dim", "hidden_dim", "score", "vocab_size"]


def _valid_metadata() -> dict:
    return json.loads(json.dumps(checkpoints.read_sidecar("plain", checkpoints.SHIPPED_DIR)))


@st.composite
def hostile_metadata(draw) -> str:
    """A shipped sidecar with a few fields (or config fields) replaced by hostile JSON."""
    metadata = _valid_metadata()
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            metadata[draw(st.sampled_from(FIELDS))] = draw(JSON_VALUES)
        elif isinstance(metadata.get("model_config"), dict):
            metadata["model_config"][draw(st.sampled_from(CONFIG_FIELDS))] = draw(
                st.one_of(JSON_VALUES, st.integers(-1, 10**13)))
    text = json.dumps(metadata)
    return draw(st.sampled_from([text, text[: draw(st.integers(0, len(text)))],
                                 text.replace("0.9", "1e999", 1), "[" * 5000]))


FILE_NAMES = st.text(st.characters(blacklist_characters="/\x00", codec="utf-8"),
                     min_size=1, max_size=60).filter(lambda n: n not in (".", ".."))


@contextmanager
def folder_with_shipped():
    """A temp checkpoint folder holding the shipped checkpoints, made the app's folder."""
    folder = Path(tempfile.mkdtemp(prefix="seqrev-fuzz-"))
    old = checkpoints.CHECKPOINT_DIR
    try:
        for name in (checkpoints.SHIPPED_PLAIN, checkpoints.SHIPPED_ATTENTION):
            for suffix in (".safetensors", ".json"):
                shutil.copy(checkpoints.SHIPPED_DIR / f"{name}{suffix}", folder)
        checkpoints.CHECKPOINT_DIR = folder
        yield folder
    finally:
        checkpoints.CHECKPOINT_DIR = old
        shutil.rmtree(folder, ignore_errors=True)


def write_hostile(folder: Path, name: str, metadata_text: str, layout: str) -> None:
    tensors = build_model(ModelConfig(kind="plain")).state_dict()
    if layout == "v2":
        blob = save_to_bytes(dict(tensors), metadata={
            "format": "seqrev", "version": "2", checkpoints.METADATA_KEY: metadata_text})
        (folder / f"{name}.safetensors").write_bytes(blob)
    else:
        (folder / f"{name}.safetensors").write_bytes(save_to_bytes(dict(tensors)))
        (folder / f"{name}.json").write_text(metadata_text)


# ---- escaping ---------------------------------------------------------------------------
@LIBRARY_RUNS
@given(HOSTILE_TEXT)
def test_escaped_text_has_no_markdown_syntax_left(text):
    escaped = escape_markdown(text)
    bare = re.sub(r"\\.", "", escaped, flags=re.DOTALL)
    assert not re.search(r"[!-/:-@\[-`{-~]", bare)  # every ASCII punctuation mark is escaped
    assert "\n" not in escaped and "\r" not in escaped
    shown = re.sub(r"\\(.)", r"\1", escaped, flags=re.DOTALL).replace("\u200b", "")
    assert shown == re.sub(r"[\r\n\u2028\u2029]+", " ", text).replace("\u200b", "")


# ---- the checkpoint reader ----------------------------------------------------------------
@LIBRARY_RUNS
@given(metadata=hostile_metadata(), layout=st.sampled_from(["v1", "v2"]))
def test_hostile_metadata_is_a_checkpoint_error_or_a_valid_checkpoint(metadata, layout):
    with tempfile.TemporaryDirectory() as folder:
        write_hostile(Path(folder), "fuzz", metadata, layout)
        names = checkpoints.list_checkpoints(Path(folder))
        problems = checkpoints.list_checkpoint_problems(Path(folder))
        assert len(names) + len(problems) == 1
        try:
            loaded = checkpoints.load_checkpoint("fuzz", directory=Path(folder))
        except CheckpointError as error:
            assert "\n" not in str(error) and folder not in str(error)
            assert names == [] or "SHA-256" in error.problem or "NaN" in error.problem
        else:
            assert names == ["fuzz"] and loaded.model_config.hidden_dim <= 512


@LIBRARY_RUNS
@given(st.lists(st.tuples(FILE_NAMES, st.sampled_from([".safetensors", ".json", ""]),
                          st.binary(max_size=64)), max_size=5))
def test_hostile_file_names_and_contents_are_listed_as_problems(files):
    with tempfile.TemporaryDirectory() as folder:
        for stem, suffix, content in files:
            try:
                (Path(folder) / f"{stem}{suffix}").write_bytes(content)
            except OSError:  # a name too long for the file system
                continue
        assert checkpoints.list_checkpoints(Path(folder)) == []
        for _, problem in checkpoints.list_checkpoint_problems(Path(folder)):
            assert "\n" not in problem and folder not in problem


@LIBRARY_RUNS
@given(HOSTILE_TEXT)
def test_sanitize_name_gives_a_usable_name_or_a_value_error(raw):
    try:
        name = checkpoints.sanitize_name(raw)
    except ValueError:
        return
    assert checkpoints._valid_name(name)
    with tempfile.TemporaryDirectory() as folder:
        assert not checkpoints.exists(name, Path(folder))


# ---- pages --------------------------------------------------------------------------------
def run_page(page: str, query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    if page != "pages/home.py":
        at.switch_page(page)
    at.query_params.update(query)
    at.run()
    return at


@PAGE_RUNS
@given(text=HOSTILE_TEXT, beam=HOSTILE_TEXT)
def test_decode_page_survives_hostile_links(text, beam):
    at = run_page("pages/decode.py", {"text": text, "beam": beam})
    assert not at.exception, at.exception


@PAGE_RUNS
@given(text=HOSTILE_TEXT, attend=HOSTILE_TEXT, blend=HOSTILE_TEXT)
def test_attention_page_survives_hostile_links(text, attend, blend):
    at = run_page("pages/attention.py", {"text": text, "attend": attend, "blend": blend})
    assert not at.exception, at.exception


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(files=st.lists(st.tuples(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}",
                                              fullmatch=True),
                                hostile_metadata(), st.sampled_from(["v1", "v2"])),
                      min_size=1, max_size=3))
def test_every_page_renders_beside_hostile_checkpoints(files):
    with folder_with_shipped() as folder:
        for stem, metadata, layout in files:
            if stem in ("plain", "attention"):
                continue
            write_hostile(folder, stem, metadata, layout)
        for page in ("pages/home.py", "pages/decode.py"):  # the sidebar is every page's
            at = run_page(page, {})
            assert not at.exception, (page, at.exception)


# ---- the CLI ------------------------------------------------------------------------------
CLI_COMMANDS = st.one_of(
    st.tuples(st.just("decode"), st.lists(HOSTILE_TEXT, min_size=1, max_size=3),
              HOSTILE_TEXT, HOSTILE_TEXT).map(
        lambda t: ["decode", "--checkpoint", t[2], "--beam", t[3], "--", *t[1]]),
    st.tuples(HOSTILE_TEXT, HOSTILE_TEXT).map(
        lambda t: ["decode", "--checkpoint", "attention", "--attend", t[0], "--blend", t[1],
                   "HELLO"]),
    st.tuples(HOSTILE_TEXT, HOSTILE_TEXT, HOSTILE_TEXT).map(
        lambda t: ["eval", "--checkpoint", t[0], "--n", t[1], "--min-len", t[2]]),
    st.tuples(HOSTILE_TEXT, HOSTILE_TEXT).map(
        lambda t: ["sample", "--checkpoint", t[0], "--length", t[1], "--n", "2"]),
    st.tuples(HOSTILE_TEXT, HOSTILE_TEXT).map(
        lambda t: ["train", "--out", t[0], "--steps", "0", "--hidden-dim", t[1]]),
    st.lists(HOSTILE_TEXT, max_size=3).map(lambda rest: ["list", *rest]),
    st.lists(HOSTILE_TEXT, max_size=3),
)


def _small(argv: list[str]) -> bool:
    """Keep valid numbers small, so that an accepted command finishes in a moment."""
    for flag in ("--n",):
        if flag in argv:
            value = argv[argv.index(flag) + 1].strip()
            digits = value.lstrip("+")
            if value.isascii() and digits.isdigit() and (len(digits) > 4 or int(digits) > 50):
                return False
    return True


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(CLI_COMMANDS.filter(_small))
def test_every_cli_command_exits_0_or_2_with_one_line(capsys, argv):
    with folder_with_shipped() as folder:
        write_hostile(folder, "poisoned", '{"a":' * 9000, "v2")
        code = cli_main(argv)
    out, err = capsys.readouterr()
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        lines = err.strip("\n").split("\n")
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert "Traceback" not in err and str(folder) not in err


def test_real_processes_exit_2_with_one_line_and_list_exits_0(tmp_path):
    env = {**os.environ, "SEQREV_CHECKPOINT_DIR": str(tmp_path)}
    for name in ("plain", "attention"):
        for suffix in (".safetensors", ".json"):
            shutil.copy(checkpoints.SHIPPED_DIR / f"{name}{suffix}", tmp_path)
    write_hostile(tmp_path, "deep", '{"a":' * 40_000, "v1")
    write_hostile(tmp_path, "inf", json.dumps(_valid_metadata()).replace("0.9", "1e999", 1),
                  "v2")

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "seqrev", *argv], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    listed = run("list")
    assert listed.returncode == 0 and listed.stderr == ""
    assert sorted(line.split("\t")[0] for line in listed.stdout.splitlines()) == [
        "attention", "deep.safetensors", "inf.safetensors", "plain"]
    for argv in (["decode", "--checkpoint", "deep", "ABC"],
                 ["eval", "--checkpoint", "[x](https://evil.example)", "--n", "5"]):
        result = run(*argv)
        assert result.returncode == 2, (argv, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
        assert str(tmp_path) not in result.stderr


@pytest.mark.parametrize("beam", ["²", "9" * 5000, "[x](https://evil.example)"],
                         ids=["superscript", "5000-digits", "link"])
def test_cli_beam_is_parsed_strictly(capsys, beam):
    assert cli_main(["decode", "--checkpoint", "plain", "--beam", beam, "ABC"]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1
