"""``decode --attend STEP:POS`` and ``--json``: forced attention from the shell."""

import json
import subprocess
import sys

import pytest

from seqrev.checkpoints.store import load_checkpoint
from seqrev.cli.main import lab_line, main
from seqrev.decoding.search import AttentionOverride, greedy_trace
from seqrev.tasks.vocab import token_label

TEXT = "ATTENTIONISALLYOUNEED"


def decode_json(capsys, *args) -> dict:
    assert main(["decode", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_attend_prints_the_lab_line_of_the_forced_decoding(capsys):
    assert main(["decode", "--checkpoint", "attention", "--attend", "3:17", TEXT]) == 0
    forced = greedy_trace(load_checkpoint("attention").model, TEXT,
                          overrides=[AttentionOverride(3, 17)])
    assert capsys.readouterr().out == lab_line(TEXT, forced.output) + "\n"


def test_json_has_the_lab_fields_and_the_weights_used(capsys):
    result = decode_json(capsys, "--checkpoint", "attention", "--attend", "3:17",
                         "--attend", "5:2", "--blend", "0.5", TEXT, "ABCDEFGHIJKLMNOPQRSTU")
    assert result["attend"] == ["3:17", "5:2"] and result["blend"] == 0.5
    first, second = result["strings"]
    model = load_checkpoint("attention").model
    forced = greedy_trace(model, TEXT, overrides=[AttentionOverride(3, 17, 0.5),
                                                  AttentionOverride(5, 2, 0.5)])
    assert first["input"] == TEXT and first["should_get"] == TEXT[::-1]
    assert first["model_generate"] == forced.output and first["result"] == forced.correct
    assert len(first["steps"]) == len(forced.steps)
    for shown, step in zip(first["steps"], forced.steps, strict=True):
        assert shown["attention"] == pytest.approx(step.attention.tolist(), abs=1e-6)
        assert shown["forced_position"] == step.forced_position
    assert first["steps"][3]["attention"][17] >= 0.5
    assert first["steps"][3]["blend"] == 0.5 and first["steps"][2]["blend"] is None
    assert second["input"] == "ABCDEFGHIJKLMNOPQRSTU"
    assert second["steps"][5]["forced_position"] == 2


def test_json_without_attend_is_the_models_own_run(capsys):
    result = decode_json(capsys, "--checkpoint", "attention", "HELLOWORLD")
    own = greedy_trace(load_checkpoint("attention").model, "HELLOWORLD")
    steps = result["strings"][0]["steps"]
    assert [s["wrote"] for s in steps] == [token_label(s.chosen_token) for s in own.steps]
    assert all(s["forced_position"] is None for s in steps)
    assert steps[0]["attention"] == pytest.approx(own.steps[0].attention.tolist(), abs=1e-6)
    plain = decode_json(capsys, "--checkpoint", "plain", "HELLO")
    assert all(s["attention"] is None for s in plain["strings"][0]["steps"])


@pytest.mark.parametrize("args, named", [
    (["--attend", "3"], "'3'"),
    (["--attend", "a:b"], "'a:b'"),
    (["--attend", "99:0"], "step 99 in '99:0' is out of range"),
    (["--attend", "0:10"], "position 10 in '0:10' is out of range"),
    (["--attend=-1:0"], "'-1:0'"),
    (["--attend", "2:1", "--attend", "2:3"], "step 2 is overridden twice"),
    (["--attend", "1:1", "--blend", "1.5"], "blend '1.5' is outside [0, 1]"),
    (["--attend", "1:1", "--blend", "many"], "'many'"),
    (["--attend", "1:1", "--beam", "3"], "greedy decoding only"),
])
def test_bad_attend_is_one_line_naming_the_value_and_exit_2(args, named, capsys):
    assert main(["decode", "--checkpoint", "attention", *args, "ABCDEFGHIJ"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and named in captured.err
    assert "Traceback" not in captured.err


def test_range_is_checked_against_every_string_before_printing(capsys):
    assert main(["decode", "--checkpoint", "attention", "--attend", "5:5",
                 "ABCDEFGHIJ", "ABC"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "a 3-letter input" in captured.err


def test_plain_checkpoint_says_it_has_no_attention():
    result = subprocess.run([sys.executable, "-m", "seqrev", "decode", "--checkpoint", "plain",
                             "--attend", "3:17", TEXT], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == ("error: --attend: checkpoint 'plain' is a plain model: "
                                     "it has no attention to override")
