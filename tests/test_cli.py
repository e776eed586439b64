"""The CLI: the lab's printout, JSON eval, and one-line errors with exit code 2."""

import json
import subprocess
import sys

import pytest

from seqrev.cli.main import lab_line, main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "seqrev", *args], capture_output=True,
                          text=True, timeout=120)


def test_lab_line_format():
    assert lab_line("ABC", "CBA") == (
        "Input: ['ABC'], Should get: CBA, Model generate: CBA | The result is True")
    assert lab_line("ABC", "CBB").endswith("| The result is False")


@pytest.mark.parametrize("text, named", [
    ("AB1", "'1'"), ("A B", "' '"), ("HI!", "'!'"), ("ÉTÉ", "'É'"), ("OK😀", "'😀'"),
    ("", "empty"), ("A" * 65, "limit is 64"),
])
def test_decode_bad_input_is_one_line_and_exit_2(text, named, capsys):
    assert main(["decode", "--checkpoint", "attention", text]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and named in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("args, named", [
    (["decode", "--checkpoint", "no-such-model", "ABC"], "not found"),
    (["decode", "--checkpoint", "../../etc/passwd", "ABC"], "invalid name"),
    (["eval", "--checkpoint", "attention", "--n", "0"], "expected a number >= 1"),
    (["eval", "--checkpoint", "attention", "--min-len", "5", "--max-len", "2"], "below"),
    (["sample", "--checkpoint", "attention", "--length", "65"], "limit of 64"),
    (["train", "--out", "x", "--min-len", "9", "--max-len", "3"], "min_len"),
    (["train", "--out", "../"], "not a usable checkpoint name"),
    (["frobnicate"], "invalid choice"),
])
def test_other_bad_input_is_one_line_and_exit_2(args, named, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err


def test_decode_and_sample_print_the_lab_format():
    result = run_cli("decode", "--checkpoint", "attention", "hello", "ABC")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Input: ['HELLO'], Should get: OLLEH, Model generate: ")
    assert len(lines) == 2
    sample = run_cli("sample", "--checkpoint", "attention", "--n", "4", "--length", "6")
    assert sample.returncode == 0
    assert len(sample.stdout.splitlines()) == 4
    assert all(" | The result is " in line for line in sample.stdout.splitlines())


def test_eval_json_is_one_object_with_the_metrics(capsys):
    assert main(["eval", "--checkpoint", "attention", "--n", "50", "--min-len", "3",
                 "--max-len", "5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("exact_match", "char_accuracy", "fine_accuracy", "per_position", "by_length",
                "failures"):
        assert key in report
    assert report["n"] == 50 and set(report["by_length"]) <= {"3", "4", "5"}


def test_train_writes_a_checkpoint_that_decodes(checkpoint_dir, capsys):
    assert main(["train", "--model", "plain", "--steps", "3", "--batch-size", "8",
                 "--hidden-dim", "8", "--embedding-dim", "4", "--eval-every", "0",
                 "--out", "cli test", "--quiet"]) == 0
    assert (checkpoint_dir / "cli-test.safetensors").exists()
    sidecar = json.loads((checkpoint_dir / "cli-test.json").read_text())
    assert sidecar["command"].startswith("python -m seqrev train")
    assert sidecar["train_config"]["steps"] == 3
    assert main(["train", "--model", "plain", "--steps", "3", "--out", "cli-test"]) == 2
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("args, named", [
    (["train", "--pairs", "no-such-file.csv", "--out", "x"], "--pairs: cannot read"),
    (["train", "--pairs", "x.csv", "--resume", "abc"], "keeps its own file"),
    (["train", "--task", "pairs", "--steps", "2"], "--pairs FILE"),
    (["eval", "--checkpoint", "attention", "--export", "x.csv"], "not trained on pairs"),
])
def test_pairs_usage_errors_are_one_line_and_exit_2(args, named, checkpoint_dir, capsys):
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and named in captured.err
    assert not (checkpoint_dir / "x.safetensors").exists()


def test_train_on_pairs_prints_the_held_out_score(checkpoint_dir, tmp_path, capsys):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"{w}\t{w[::-1]}\n" for w in ("ab", "ba", "abc", "cab", "b", "ca",
                                                           "acb", "bb", "cc", "aa", "bca")))
    assert main(["train", "--model", "plain", "--pairs", str(pairs), "--steps", "3",
                 "--hidden-dim", "8", "--embedding-dim", "4", "--out", "p", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "saved checkpoint p (plain, alphabet 'abc')" in out
    assert "held-out rows of pairs.tsv: 1 (never trained on)" in out
    assert main(["list"]) == 0
    assert "p\tplain\theld-out exact " in capsys.readouterr().out
