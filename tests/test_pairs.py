"""Your own pairs: the file's refusals, CSV and TSV, the split, the alphabet, export, and a
model trained on a file from the CLI, scored on its held-out rows only."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load as load_from_bytes
from safetensors.torch import save as save_to_bytes

import seqrev.checkpoints.store as checkpoints
from seqrev.checkpoints.store import CheckpointError, load_checkpoint, pairs_task
from seqrev.cli.main import main
from seqrev.decoding.evaluation import greedy_batch, score_outputs
from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.store import RunStore
from seqrev.tasks.pairs import (
    HELD_OUT_MAX,
    PairsError,
    PairsTask,
    load_task,
    neutralise,
    parse_pairs,
    split_rows,
    task_from_table,
    write_csv,
)
from seqrev.tasks.vocab import decode
from seqrev.training.settings import command_line
from seqrev.training.trainer import TrainConfig, Trainer

ALPHABET = "abcdef"


def word_rows(n: int, seed: int = 1, longest: int = 8) -> list[tuple[str, str]]:
    """``n`` distinct words over abcdef with a simple function of each: written backwards."""
    rng, words = random.Random(seed), set()
    while len(words) < n:
        words.add("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, longest))))
    return [(w, w[::-1]) for w in sorted(words)]


def csv_bytes(rows, header: bool = True) -> bytes:
    lines = (["input,output"] if header else []) + [f"{a},{b}" for a, b in rows]
    return ("\n".join(lines) + "\n").encode()


def refused(data: bytes, name: str = "pairs.csv") -> str:
    with pytest.raises(PairsError) as caught:
        parse_pairs(data, name)
    message = str(caught.value)
    assert "\n" not in message
    return message


# ---- refusals, one line each, with the line where it helps ----------------------------
@pytest.mark.parametrize("data, name, expected", [
    (b"abc,cba\nab\xff,ba\n", "p.csv", "line 2: p.csv is not UTF-8"),
    (b"", "p.csv", "p.csv is empty"),
    (b"\n\n", "p.csv", "p.csv is empty"),
    (b"input,output\n", "p.csv", "empty: no input/output rows after its header"),
    (b"ab,ba\nabc\n", "p.csv", "line 2: expected 2 fields (input, output) separated by a comma, "
                               "found 1"),
    (b"ab,ba\nab,ba,x\n", "p.csv", "line 2: expected 2 fields"),
    (b"ab\tba\nab\tba\tx\n", "p.tsv", "line 2: expected 2 fields (input, output) separated by a "
                                      "tab, found 3"),
    (b"ab,ba\n,ba\n", "p.csv", "line 2: the input is empty"),
    (b"ab,ba\nab,\n", "p.csv", "line 2: the output is empty"),
    (b"ab,ba\nb,b\n" + b"a" * 65 + b",b\n", "p.csv", "line 3: the input has 65 symbols; the "
                                                     "limit is 64"),
    (b"ab,ba\nb,b\nc," + b"a" * 70 + b"\n", "p.csv", "line 3: the output has 70 symbols"),
    (b"ab,ba\n\"a\tb\",x\n", "p.csv", "line 2: the input holds the control or space character "
                                      "U+0009"),
    (b"ab,ba\na\x01b,x\n", "p.csv", "line 2: the input holds the control or space character "
                                    "U+0001"),
    ("ab,ba\na\u200bb,x\n".encode(), "p.csv", "U+200B"),
    (b"ab,ba\nab, ba\n", "p.csv", "line 2: the output starts or ends with a space"),
    (b"ab,ba\nab,\"b\na\"\n", "p.csv", "line 2: the output holds the control or space "
                                       "character U+000A"),
    (b"ab,ba\n\"ab,ba\n", "p.csv", "not valid CSV"),
    (b"ab,ba\nab,ab\n", "p.csv", "one distinct input"),
])
def test_each_refusal_is_one_named_line(data, name, expected):
    assert expected in refused(data, name)


def test_more_than_26_symbols_is_refused_at_the_line_that_brings_the_27th():
    symbols = "abcdefghijklmnopqrstuvwxyz0123"
    rows = "".join(f"{ch},{ch}\n" for ch in symbols)
    message = refused(rows.encode())
    assert message.startswith("line 27: ")
    assert "more than 26 distinct symbols (27 so far)" in message
    parse_pairs("".join(f"{ch},{ch}\n" for ch in symbols[:26]).encode())  # 26 is fine


def test_size_and_row_limits():
    assert "is 5,000,001 bytes; the limit is 5,000,000" in refused(b"a" * 5_000_001)
    many = b"".join(b"%d,x\n" % (i % 7) for i in range(100_001)).replace(b"0", b"y")
    assert refused(many).startswith("line 100001: the file has more than 100,000 rows")
    assert len(parse_pairs(many[: many.rindex(b"\n", 0, -1) + 1]).rows) == 100_000


def test_a_file_too_big_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("wb") as handle:
        handle.truncate(6_000_000)
    with pytest.raises(PairsError, match="big.csv is 6,000,000 bytes"):
        load_task(str(path))
    with pytest.raises(PairsError, match="cannot read missing.csv"):
        load_task(str(tmp_path / "missing.csv"))


# ---- CSV and TSV ---------------------------------------------------------------------
def test_csv_and_tsv_are_told_apart_and_said():
    rows = [("ab", "ba"), ("a,b", "b a"), ("c", "cc")]
    as_csv = parse_pairs(b'input,output\nab,ba\n"a,b",b a\r\nc,cc\n', "mine.csv")
    as_tsv = parse_pairs(b"Input\tOutput\nab\tba\na,b\tb a\r\nc\tcc\n", "mine.tsv")
    for table in (as_csv, as_tsv):
        assert table.rows == tuple(rows) and table.header
    assert (as_csv.file_format, as_csv.format_reason) == ("csv", "by its .csv extension")
    assert (as_tsv.file_format, as_tsv.format_reason) == ("tsv", "by its .tsv extension")
    sniffed = parse_pairs(b"ab\tba\nc\tcc\n", "pairs.txt")
    assert (sniffed.file_format, sniffed.format_reason) == ("tsv", "its first line holds a tab")
    assert not sniffed.header and sniffed.line_numbers == (1, 2)
    assert parse_pairs(b"ab,ba\nc,cc\n", "pairs").file_format == "csv"
    # TSV has no quoting: a quote is a symbol
    assert parse_pairs(b'"a\tb\nc\td\n', "q.tsv").rows == (('"a', "b"), ("c", "d"))


def test_only_a_first_row_of_known_names_is_a_header_and_a_bom_is_dropped():
    table = parse_pairs("\ufeffsource,target\nab,ba\nc,c\n".encode())
    assert table.header and table.rows == (("ab", "ba"), ("c", "c"))
    kept = parse_pairs(b"ab,ba\ninput,output\nc,c\n")  # a later one is a row like any other
    assert not kept.header and ("input", "output") in kept.rows
    assert kept.line_numbers == (1, 2, 3)


def test_line_numbers_count_the_file_lines_with_blank_lines_and_quoted_breaks():
    table = parse_pairs(b"ab,ba\n\nc,c\n\"d e\",f\n")
    assert table.line_numbers == (1, 3, 4)
    assert refused(b"ab,ba\n\n\nab,\n").startswith("line 4: ")


# ---- the split -------------------------------------------------------------------------
rows_strategy = st.lists(st.tuples(st.text("abcd", min_size=1, max_size=4),
                                   st.text("abcd", min_size=1, max_size=4)),
                         min_size=2, max_size=300)


@settings(max_examples=200, deadline=None)
@given(rows_strategy)
def test_the_split_never_shares_an_input_and_covers_every_row(rows):
    if len({source for source, _ in rows}) < 2:
        return
    train, held_out = split_rows(tuple(rows))
    assert {s for s, _ in train}.isdisjoint({s for s, _ in held_out})
    assert train and held_out and len(held_out) <= HELD_OUT_MAX
    assert sorted(train + held_out) == sorted(rows)
    assert split_rows(tuple(rows)) == (train, held_out)  # deterministic
    # the rule is by input: the order of the rows changes neither side's inputs
    again = split_rows(tuple(reversed(rows)))
    assert {s for s, _ in again[1]} == {s for s, _ in held_out}


def test_the_split_holds_out_about_a_tenth_capped():
    rows = tuple(word_rows(400))
    train, held_out = split_rows(rows)
    assert len(held_out) == 40 and len(train) == 360
    big = tuple((f"{i:05d}", "x") for i in range(20_000))
    assert len(split_rows(big)[1]) == HELD_OUT_MAX
    duplicated = tuple(rows) * 3
    train, held_out = split_rows(duplicated)
    assert {s for s, _ in train}.isdisjoint({s for s, _ in held_out})


def test_training_samples_only_training_rows_and_eval_is_the_held_out_rows():
    task = task_from_table(parse_pairs(csv_bytes(word_rows(200))))
    batch = task.sample(512, torch.Generator().manual_seed(0))
    trained = {task.to_letters(s) for s, _ in task.train_rows}
    drawn = [decode(row) for row in batch.source]
    assert set(drawn) <= trained and len(set(drawn)) > 100
    for row in range(len(drawn)):  # each target is that row's own output, then <eos>
        assert decode(batch.target[row]) == task.target(drawn[row])
    held = task.eval_set(5, seed=9)
    assert len(held.lengths) == len(task.held_out) == 20
    assert [task.to_symbols(decode(r)) for r in held.source] == [s for s, _ in task.held_out]
    assert task.alignment("ABC") is None


def test_outputs_have_their_own_lengths_and_score_perfectly_when_right():
    rows = [("ab", "a"), ("b", "bbbb"), ("abab", "ba"), ("a", "b"), ("ba", "ab")]
    task = task_from_table(parse_pairs(csv_bytes(rows)))
    batch = task.rows_batch(tuple(rows))
    assert batch.target.shape == (5, 5) and batch.source.shape == (5, 4)
    report = score_outputs(batch, batch.target.clone())
    assert (report.exact_match, report.char_accuracy, report.fine_accuracy) == (1.0, 1.0, 1.0)
    short = batch.target.clone()
    short[1, 2:] = 0  # "bb" then nothing for "bbbb"
    report = score_outputs(batch, short)
    assert report.exact_match == 0.8 and report.char_accuracy == pytest.approx(8 / 10)


# ---- the alphabet ----------------------------------------------------------------------
symbol = st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"))


@settings(max_examples=200, deadline=None)
@given(st.sets(symbol, min_size=2, max_size=26), st.data())
def test_the_alphabet_maps_onto_the_letter_slots_and_back(symbols, data):
    alphabet = "".join(sorted(symbols))
    task = _table_of([(alphabet, alphabet[::-1]), (alphabet[0], alphabet[-1])])
    assert task.alphabet == alphabet
    text = data.draw(st.text(alphabet, min_size=1, max_size=64))
    letters = task.to_letters(text)
    assert set(letters) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: len(alphabet)])
    assert task.to_symbols(letters) == text
    assert task.to_letters(alphabet) == "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: len(alphabet)]


def _table_of(rows):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return task_from_table(parse_pairs(buffer.getvalue().encode(), "p.csv"))


def test_symbols_outside_the_alphabet_are_refused_and_empty_slots_shown():
    task = task_from_table(parse_pairs(b"ab,ba\nc,c\n"))
    with pytest.raises(PairsError, match="not in the file's alphabet: 'z'"):
        task.to_letters("abz")
    assert task.to_symbols("ABCD") == "abc\ufffd"
    assert task.known_output("ab") == "ba" and task.known_output("zz") is None


# ---- export ------------------------------------------------------------------------------
def test_export_neutralises_formula_cells():
    dangerous = ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\ry", "=HYPERLINK(\"u\")"]
    buffer = io.StringIO()
    write_csv([(cell, "safe") for cell in dangerous], buffer)
    read = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert read[0] == ["input", "output"]
    assert [row[0] for row in read[1:]] == ["'" + cell for cell in dangerous]
    assert all(row[1] == "safe" for row in read[1:])
    assert neutralise("a=b") == "a=b" and neutralise("'=x") == "'=x"


# ---- the config, the schema, old checkpoints ---------------------------------------------
def test_a_pairs_config_needs_its_file_and_spells_it_on_the_command_line(tmp_path):
    with pytest.raises(ValueError, match="--pairs FILE"):
        TrainConfig(task="pairs")
    with pytest.raises(ValueError, match="goes with the task pairs"):
        TrainConfig(pairs_file="x.csv")
    config = TrainConfig(task="pairs", pairs_file="/data/my pairs.csv", pairs_sha256="0" * 64)
    line = command_line(*(ModelConfig(), config))
    assert "--pairs '/data/my pairs.csv'" in line
    assert "--task" not in line and "--max-len" not in line and "--eval-size" not in line
    assert "--task" in command_line(ModelConfig(), TrainConfig())


def test_a_changed_file_is_refused_when_training_starts(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(csv_bytes(word_rows(30)))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    config = TrainConfig(task="pairs", pairs_file=str(path), pairs_sha256=sha, steps=1)
    assert Trainer(ModelConfig(), config).task.source_info["sha256"] == sha
    path.write_bytes(csv_bytes(word_rows(31)))
    load_task.cache_clear()  # as in a fresh worker process
    with pytest.raises(PairsError, match="has changed since the run was set up"):
        Trainer(ModelConfig(), config)


def test_shipped_checkpoints_load_as_before():
    for name in (checkpoints.SHIPPED_PLAIN, checkpoints.SHIPPED_ATTENTION):
        loaded = load_checkpoint(name)
        assert loaded.train_config.task == "reverse" and loaded.train_config.pairs_file == ""
        assert pairs_task(loaded) is None and "pairs" not in loaded.meta


# ---- the CLI, end to end -----------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small attention model trained from the CLI on 300 reversed words over abcdef."""
    folder = tmp_path_factory.mktemp("pairs")
    data = folder / "words.csv"
    data.write_bytes(csv_bytes(word_rows(300)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpoints, "CHECKPOINT_DIR", folder / "checkpoints")
        patch.setenv("SEQREV_RUNS_DIR", str(folder / "runs"))
        code = main(["train", "--model", "attention", "--pairs", str(data), "--steps", "120",
                     "--batch-size", "32", "--eval-every", "60", "--out", "words",
                     "--quiet"])
        assert code == 0
        yield {"folder": folder, "data": data,
               "checkpoint": load_checkpoint("words", directory=folder / "checkpoints")}


def test_cli_train_records_what_decoding_and_scoring_need(trained):
    checkpoint = trained["checkpoint"]
    record = checkpoint.meta["pairs"]
    assert record["alphabet"] == ALPHABET and record["name"] == "words.csv"
    assert record["sha256"] == hashlib.sha256(trained["data"].read_bytes()).hexdigest()
    assert record["split"]["rule"] == "sha256-input-v1" and record["rows"] == 300
    assert (record["train_rows"], record["held_out_rows"]) == (270, 30)
    train, held_out = split_rows(tuple(word_rows(300)))
    assert [tuple(r) for r in record["held_out"]] == list(held_out)
    config = checkpoint.train_config
    assert config.task == "pairs" and config.pairs_file == str(trained["data"].resolve())
    assert (config.min_len, config.max_len, config.eval_size) == (1, 8, 30)
    assert "--pairs" in checkpoint.meta["command"]
    assert checkpoint.meta["evaluation"]["held_out"]["n"] == 30
    assert set(checkpoint.meta["evaluation"]) == {"held_out"}


def test_cli_eval_scores_exactly_the_held_out_rows(trained, capsys, monkeypatch):
    monkeypatch.setattr(checkpoints, "CHECKPOINT_DIR", trained["folder"] / "checkpoints")
    export = trained["folder"] / "held_out.csv"
    assert main(["eval", "--checkpoint", "words", "--json", "--export", str(export)]) == 0
    report = json.loads(capsys.readouterr().out)
    checkpoint = trained["checkpoint"]
    task = pairs_task(checkpoint)
    assert report["n"] == 30 and report["pairs"]["held_out_rows"] == 30
    # by hand: each held-out row decoded alone, compared in the file's symbols
    hits, letters, right = 0, 0, 0
    for source, output in task.held_out:
        produced = task.to_symbols(decode(greedy_batch(checkpoint.model, task.rows_batch(
            ((source, output),)))[0]))
        hits += produced == output
        letters += len(output)
        right += sum(a == b for a, b in zip(produced, output, strict=False))
    assert report["exact_match"] == pytest.approx(hits / 30)
    assert report["char_accuracy"] == pytest.approx(right / letters)
    assert report["exact_match"] == pytest.approx(
        checkpoint.meta["evaluation"]["held_out"]["exact_match"])
    rows = list(csv.reader(export.open(encoding="utf-8")))
    assert rows[0] == ["input", "expected", "produced", "correct"]
    assert [(r[0], r[1]) for r in rows[1:]] == list(task.held_out)
    assert sum(r[3] == "true" for r in rows[1:]) == hits
    trained_inputs = {s for s, _ in split_rows(tuple(word_rows(300)))[0]}
    assert trained_inputs.isdisjoint(r[0] for r in rows[1:])


def test_cli_decode_reads_and_writes_the_files_symbols(trained, capsys, monkeypatch):
    monkeypatch.setattr(checkpoints, "CHECKPOINT_DIR", trained["folder"] / "checkpoints")
    source, output = pairs_task(trained["checkpoint"]).held_out[0]
    assert main(["decode", "--checkpoint", "words", "--json", source, "fab"]) == 0
    strings = json.loads(capsys.readouterr().out)["strings"]
    assert strings[0]["input"] == source and strings[0]["should_get"] == output
    assert set(strings[1]["model_generate"]) <= set(ALPHABET + "\ufffd")
    assert main(["decode", "--checkpoint", "words", "abz"]) == 2
    assert "not in the file's alphabet: 'z'" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", "words"]) == 2
    assert "trained on pairs" in capsys.readouterr().err


def test_a_pairs_model_learns_the_mapping_with_more_steps(tmp_path, monkeypatch):
    """A real (short) run: the held-out exact match is far above chance."""
    monkeypatch.setattr(checkpoints, "CHECKPOINT_DIR", tmp_path)
    data = tmp_path / "w.tsv"
    data.write_text("\n".join(f"{a}\t{b}" for a, b in word_rows(300, longest=5)) + "\n")
    assert main(["train", "--model", "attention", "--pairs", str(data), "--steps", "400",
                 "--out", "w", "--quiet"]) == 0
    held_out = load_checkpoint("w", directory=tmp_path).meta["evaluation"]["held_out"]
    assert held_out["n"] == 30 and held_out["exact_match"] >= 0.5


@pytest.mark.parametrize("content, flags, message", [
    (b"ab,ba\nabc\n", [], "--pairs: line 2: expected 2 fields"),
    (b"", [], "--pairs: p.csv is empty"),
    (b"ab,ba\n\xff,x\n", [], "not UTF-8"),
    (csv_bytes(word_rows(20)), ["--max-len", "4"], "leave out --max-len"),
    (csv_bytes(word_rows(20)), ["--task", "copy"], "leave out --task"),
], ids=["two-fields", "empty", "utf-8", "max-len", "task"])
def test_a_bad_file_is_exit_2_one_line_and_nothing_written(tmp_path, monkeypatch, capsys,
                                                           content, flags, message):
    out_dir, runs = tmp_path / "checkpoints", tmp_path / "runs"
    out_dir.mkdir()
    monkeypatch.setattr(checkpoints, "CHECKPOINT_DIR", out_dir)
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(runs))
    path = tmp_path / "p.csv"
    path.write_bytes(content)
    assert main(["train", "--pairs", str(path), "--steps", "2", "--out", "bad", *flags]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and message in captured.err
    assert list(out_dir.iterdir()) == [] and not runs.exists()
    assert main(["train", "--task", "pairs", "--steps", "2"]) == 2
    assert "--pairs FILE" in capsys.readouterr().err


# ---- a checkpoint's pairs record, checked on load ----------------------------------------
def _rewrite(path: Path, change) -> None:
    """Rewrite a format-2 checkpoint's metadata in place, keeping its tensor bytes."""
    blob = path.read_bytes()
    header = json.loads(blob[8: 8 + int.from_bytes(blob[:8], "little")])
    meta = json.loads(header["__metadata__"]["seqrev_metadata"])
    change(meta)
    path.write_bytes(save_to_bytes(load_from_bytes(blob), metadata={
        **header["__metadata__"], "seqrev_metadata": json.dumps(meta)}))


@pytest.mark.parametrize("change, named", [
    (lambda m: m["pairs"].update(alphabet="abcdea"), "the alphabet repeats a symbol"),
    (lambda m: m["pairs"].update(alphabet="abc"), "outside the alphabet"),
    (lambda m: m["pairs"].update(held_out_rows=29), "held_out_rows says 29"),
    (lambda m: m["pairs"].update(held_out=[["ab", "ba", "x"]] * 30), "pairs.held_out"),
    (lambda m: m["pairs"].update(sha256="f" * 64), "not the training file's"),
    (lambda m: m["pairs"].pop("alphabet"), "pairs.alphabet"),
    (lambda m: m.pop("pairs"), "needs its pairs record"),
    (lambda m: m["pairs"]["split"].update(rule="random"), "pairs.split.rule"),
])
def test_a_malformed_pairs_record_is_a_named_checkpoint_error(trained, tmp_path, change, named):
    source = trained["folder"] / "checkpoints" / "words.safetensors"
    (tmp_path / "words.safetensors").write_bytes(source.read_bytes())
    _rewrite(tmp_path / "words.safetensors", change)
    with pytest.raises(CheckpointError, match="checkpoint 'words': bad metadata") as caught:
        load_checkpoint("words", directory=tmp_path)
    assert named in str(caught.value)


def test_a_malformed_pairs_record_in_a_format_1_sidecar_is_a_checkpoint_error(trained,
                                                                              tmp_path):
    checkpoint = trained["checkpoint"]
    blob = save_to_bytes({k: v.contiguous() for k, v in checkpoint.model.state_dict().items()})
    (tmp_path / "old.safetensors").write_bytes(blob)
    meta = {**checkpoint.meta, "format_version": 1, "name": "old",
            "weights_sha256": hashlib.sha256(blob).hexdigest()}
    (tmp_path / "old.json").write_text(json.dumps(meta))
    assert pairs_task(load_checkpoint("old", directory=tmp_path)).alphabet == ALPHABET
    meta["pairs"]["held_out"][0] = ["ab", ""]
    (tmp_path / "old.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="bad metadata: pairs.held_out"):
        load_checkpoint("old", directory=tmp_path)


def test_runs_on_pairs_are_recorded_with_their_file(trained):
    runs = RunStore(trained["folder"] / "runs").list_runs()
    assert len(runs) == 1 and runs[0].train_config.pairs_file == str(trained["data"].resolve())


def test_a_task_rebuilt_from_a_record_has_no_training_rows(trained):
    task = PairsTask.from_record(trained["checkpoint"].meta["pairs"])
    with pytest.raises(PairsError, match="no training rows"):
        task.sample(2, torch.Generator())
    with pytest.raises(PairsError, match="malformed pairs record"):
        PairsTask.from_record({"held_out": [["a", "b"]]})
