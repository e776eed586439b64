"""A model trained on your own pairs, in the app: the Decode page reads and writes the file's
symbols and scores the held-out rows; the Attention page sends it there; the export is safe."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import seqrev.checkpoints.store as checkpoints
from pages.common import ATTENTION_KEY
from seqrev.cli.main import main
from seqrev.decoding.evaluation import EvalReport
from seqrev.inspection.held_out import COLUMNS, HeldOut, held_out_csv, score_held_out
from seqrev.runs.store import RunStore
from tests.apptest_support import APP, open_page
from tests.test_page_train import poll, tiny

ALPHABET = "abcdef"


def word_rows(n: int) -> list[tuple[str, str]]:
    """``n`` distinct words over ALPHABET, each paired with itself reversed."""
    words = []
    for index in range(n):
        word, value = "", index + 1
        while value:
            value, digit = divmod(value - 1, len(ALPHABET))
            word += ALPHABET[digit]
        words.append(word)
    return [(word, word[::-1]) for word in words]


@pytest.fixture(scope="module")
def pairs_folder(tmp_path_factory):
    """A checkpoint folder with the shipped pair and ``words``, trained from the CLI on pairs."""
    folder = tmp_path_factory.mktemp("pairs-page")
    data = folder / "words.csv"
    with open(data, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("input", "output"), *word_rows(300)])
    saved = folder / "checkpoints"
    saved.mkdir()
    for path in checkpoints.SHIPPED_DIR.glob("*"):
        if path.stem in (checkpoints.SHIPPED_PLAIN, checkpoints.SHIPPED_ATTENTION):
            shutil.copy(path, saved / path.name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpoints, "CHECKPOINT_DIR", saved)
        patch.setenv("SEQREV_RUNS_DIR", str(folder / "runs"))
        assert main(["train", "--model", "attention", "--pairs", str(data), "--steps", "150",
                     "--batch-size", "32", "--eval-every", "0", "--out", "words",
                     "--quiet"]) == 0
    return saved


@pytest.fixture
def with_pairs(pairs_folder, monkeypatch):
    monkeypatch.setattr(checkpoints, "CHECKPOINT_DIR", pairs_folder)
    monkeypatch.setenv("SEQREV_CHECKPOINT_DIR", str(pairs_folder))
    return checkpoints.load_checkpoint("words", directory=pairs_folder)


def shown(text: str) -> str:
    """Markdown as the reader sees it: backslash escapes removed."""
    return re.sub(r"\\(.)", r"\1", text)


def open_with_words(page: str, text: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state[ATTENTION_KEY] = "words"
    at.run()
    at.switch_page(page)
    at.run()
    if text is not None:
        at.text_input(key="decode_pairs_text").set_value(text).run()
    assert not at.exception, at.exception
    return at


def test_decode_page_works_in_the_files_symbols_and_scores_the_held_out_rows(with_pairs):
    task = checkpoints.pairs_task(with_pairs)
    at = open_with_words("pages/decode.py")
    assert not at.error
    assert any("trained on your own pairs (words.csv)" in shown(i.value) for i in at.info)
    assert at.text_input(key="decode_pairs_text").value == task.held_out[0][0]
    expected = score_held_out(with_pairs.model, task)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Held-out rows exact"] == f"{expected.report.exact_match:.1%}"
    table = at.dataframe[0].value
    assert list(table.columns) == list(COLUMNS) and len(table) == len(task.held_out) == 30
    assert list(table["input"]) == [source for source, _ in task.held_out]
    assert not set(table["input"]) & {source for source, _ in task.train_rows}  # never trained
    heatmap = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert heatmap["data"][0]["x"][0] == f"0: {task.held_out[0][0][0]}"  # the file's symbols
    assert not heatmap["layout"].get("shapes")  # no outline: the file does not say one
    assert any("No outline" in c.value for c in at.caption)


def test_an_input_outside_the_files_alphabet_is_named_not_decoded(with_pairs):
    at = open_with_words("pages/decode.py", "abZz")
    assert [e.value for e in at.error] and "'Z', 'z'" in shown(at.error[0].value)
    assert "alphabet is abcdef" in shown(at.error[0].value)
    at.text_input(key="decode_pairs_text").set_value("fedcbaab").run()
    assert not at.error
    assert any("nothing to score it against" in c.value for c in at.caption)  # not in file


def test_the_attention_page_sends_a_pairs_model_to_the_decode_page(with_pairs):
    at = open_with_words("pages/attention.py")
    assert not at.error and any("trained on your own pairs" in shown(i.value) for i in at.info)
    assert not at.get("plotly_chart")


def test_the_held_out_export_neutralises_formula_cells():
    rows = pd.DataFrame([("=1+1", "+A", "@x", False), ("ab", "-b", "ba", True)],
                        columns=list(COLUMNS))
    report = EvalReport(n=2, exact_match=0.5, char_accuracy=0.5, fine_accuracy=0.5,
                        per_position=[], by_length={}, failures=[])
    text = held_out_csv(HeldOut(report, rows))
    read = list(csv.reader(io.StringIO(text)))
    assert read[0] == list(COLUMNS)
    assert read[1] == ["'=1+1", "'+A", "'@x", "False"] and read[2] == ["ab", "'-b", "ba", "True"]


def words_csv(n: int) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([("input", "output"), *word_rows(n)])
    return buffer.getvalue().encode()


def test_the_train_page_refuses_a_bad_file_by_line_and_keeps_nothing(runs_dir):
    at = open_page("pages/train.py")
    bad = words_csv(40) + b"abc\n"  # a row without its output, on line 42
    at.file_uploader(key="train_pairs_file").set_value(("mine.csv", bad, "text/csv")).run()
    assert any("line 42" in shown(e.value) for e in at.error), [e.value for e in at.error]
    assert at.button(key="train_start").disabled
    assert not (runs_dir / "pairs").exists() or not any((runs_dir / "pairs").rglob("*.csv"))


def test_training_on_an_uploaded_file_end_to_end(runs_dir, checkpoint_dir):
    at = open_page("pages/train.py")
    tiny(at, 40, models="attention")
    at.file_uploader(key="train_pairs_file").set_value(
        ("my words.csv", words_csv(200), "text/csv")).run()
    assert not at.error, [e.value for e in at.error]
    assert any("180 rows to train on, 20 held out; alphabet abcdef" in shown(s.value)
               for s in at.success)
    at.button(key="train_start").click().run()
    run_id = at.query_params["run"]
    store = RunStore(runs_dir)
    config = store.get(run_id).train_config
    assert config.task == "pairs" and config.pairs_file.endswith("my-words.csv")
    assert Path(config.pairs_file).read_bytes() == words_csv(200)  # the bytes uploaded
    poll(at, lambda: store.get(run_id).status == "finished")
    at.run()
    at.text_input(key=f"train_name_{run_id}").input("my-words").run()
    at.button(key=f"train_save_{run_id}").click().run()
    assert not at.exception and not at.error
    assert any("the file's 20 held-out rows, never trained on" in shown(s.value)
               for s in at.success)
    saved = checkpoints.load_checkpoint("my-words")
    task = checkpoints.pairs_task(saved)
    assert task.source_info["name"] == "my-words.csv" and len(task.held_out) == 20
    held_out = score_held_out(saved.model, task)
    assert saved.meta["evaluation"]["held_out"]["exact_match"] == pytest.approx(
        held_out.report.exact_match)


@pytest.mark.parametrize("page", ["pages/lesson.py", "pages/home.py"])
def test_the_lesson_and_home_still_work_with_a_pairs_model_selected(with_pairs, page):
    at = open_with_words(page)
    assert not at.error, [e.value for e in at.error]
    if page == "pages/lesson.py":  # it tells the reversal story on the shipped pair
        assert any("uses the shipped models here instead of words" in shown(c.value)
                   for c in at.caption)
