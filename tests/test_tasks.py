"""Every task's target and alignment agree with each other and with its batches; the reverse
task's batches are the lab's, bit for bit; a bad task is refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

import seqrev.checkpoints.store as checkpoints
from pages.common import ATTENTION_KEY
from seqrev.checkpoints.task import task_of
from seqrev.decoding.evaluation import evaluate
from seqrev.decoding.search import greedy_trace
from seqrev.models.seq2seq import ModelConfig
from seqrev.sweeps.spec import SweepSpec, parse_grid
from seqrev.tasks.base import TASKS, LetterTask, register
from seqrev.tasks.data import batch_from_source
from seqrev.tasks.registry import TaskError, make_task
from seqrev.tasks.vocab import decode
from seqrev.training.trainer import TrainConfig, Trainer
from tests.apptest_support import APP

LETTER_STRINGS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=16)
BUILT_IN = ("reverse", "copy", "sort", "rotate:1", "rotate:2", "rotate:5")


@pytest.mark.parametrize("spec", BUILT_IN)
@given(source=LETTER_STRINGS)
@settings(max_examples=60, deadline=None)
def test_each_output_letter_is_a_letter_its_alignment_points_at(spec: str, source: str) -> None:
    task = make_task(spec)
    target, alignment = task.target(source), task.alignment(source)
    assert sorted(target) == sorted(source)  # every built-in task permutes the letters
    assert len(alignment) == len(target) + 1 and alignment[-1] == frozenset()  # then <eos>
    for step, letter in enumerate(target):
        assert alignment[step] and all(source[i] == letter for i in alignment[step])


@pytest.mark.parametrize("spec", BUILT_IN)
def test_the_batches_hold_the_task_s_target(spec: str) -> None:
    task = make_task(spec, 1, 12)
    batch = task.sample(200, torch.Generator().manual_seed(3))
    for row in range(200):
        source = decode(batch.source[row])
        assert decode(batch.target[row]) == task.target(source)
        assert decode(batch.decoder_input[row]) == task.target(source)[:-1] or \
            decode(batch.decoder_input[row][1:]) == task.target(source)[: len(source)]


def test_known_examples() -> None:
    assert make_task("reverse").target("ABC") == "CBA"
    assert make_task("copy").target("ABC") == "ABC"
    assert make_task("sort").target("CABA") == "AABC"
    assert make_task("sort").alignment("CABA")[:2] == [frozenset({1, 3})] * 2
    assert make_task("rotate:2").target("ABCDE") == "CDEAB"
    assert make_task("rotate:2").alignment("ABCDE")[0] == frozenset({2})
    assert make_task("rotate:3").target("AB") == "BA"  # k modulo the length


def test_reverse_batches_are_the_lab_s_bit_for_bit() -> None:
    task = make_task("reverse", 10, 10)
    drawn = task.sample(64, torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(10, 11, (64,), generator=generator)
    letters = torch.randint(3, 29, (64, 10), generator=generator)
    expected = batch_from_source(letters, lengths)
    for got, want in zip(drawn, expected, strict=True):
        assert torch.equal(got, want)


@pytest.mark.parametrize("spec, message", [
    ("shuffle", "unknown task 'shuffle'"), ("rotate:9", "needs k from 1 to 5"),
    ("rotate:x", "needs k from 1 to 5"), ("copy:2", "takes no option")])
def test_a_bad_task_is_one_named_error(spec: str, message: str) -> None:
    with pytest.raises(TaskError, match=message):
        make_task(spec)
    with pytest.raises(ValueError, match="Task"):
        TrainConfig(task=spec)


@pytest.mark.parametrize("spec", ["rotate:9", "nonsense"])
def test_the_cli_refuses_a_bad_task_in_one_line(spec: str) -> None:
    done = subprocess.run([sys.executable, "-m", "seqrev", "train", "--task", spec,
                           "--steps", "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "--task" in done.stderr


def test_an_old_config_without_a_task_reads_as_reverse() -> None:
    from seqrev.training.trainer import SAVED_BEFORE
    assert TrainConfig(**{**SAVED_BEFORE, "steps": 5}).task == "reverse"


@register
@dataclass(frozen=True)
class SwapPairsTask(LetterTask):
    """A toy plug-in: swap each pair of neighbours (ABCD -> BADC), registered by the tests."""

    name = "swap-pairs-toy"
    description = "swap each pair of neighbours"

    def target(self, source: str) -> str:
        return "".join(source[i ^ 1] if (i ^ 1) < len(source) else source[i]
                       for i in range(len(source)))

    def alignment(self, source: str) -> list[frozenset[int]]:
        return [frozenset({i ^ 1 if (i ^ 1) < len(source) else i})
                for i in range(len(source))] + [frozenset()]

    def target_letters(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        index = torch.arange(letters.shape[1]).expand_as(letters) ^ 1  # (batch, S)
        index = torch.where(index < lengths.unsqueeze(1), index, torch.arange(letters.shape[1]))
        return letters.gather(1, index).masked_fill(letters == 0, 0)


def test_a_plug_in_task_trains_and_is_scored_on_its_own_target(checkpoint_dir) -> None:
    """Registered here, in the tests, with no other edit: it is a setting, it trains, the
    held-out set and its failures use its own target, its checkpoint decodes with its target,
    the Attention page draws its outline, and a sweep's grid takes it."""
    assert "swap-pairs-toy" in TASKS
    task = make_task("swap-pairs-toy", 2, 4)
    assert task.target("ABCDE") == "BADCE"
    batch = task.sample(50, torch.Generator().manual_seed(1))
    assert all(decode(batch.target[r]) == task.target(decode(batch.source[r])) for r in range(50))
    config = TrainConfig(task="swap-pairs-toy", steps=200, min_len=2, max_len=4, eval_every=0,
                         eval_size=100, length_curriculum=0.0)
    trainer = Trainer(ModelConfig(kind="attention", embedding_dim=16, hidden_dim=32), config)
    trainer.run()
    report = evaluate(trainer.model, trainer.eval_set)
    assert all(f["expected"] == task.target(f["input"]) for f in report.failures)
    assert report.exact_match > 0.2

    checkpoints.save_checkpoint("toy", trainer.model, config)
    saved = checkpoints.load_checkpoint("toy")
    trace = greedy_trace(saved.model, "ABCDE", task=task_of(saved))
    assert (trace.expected, trace.alignment) == (task.target("ABCDE"), task.alignment("ABCDE"))

    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state[ATTENTION_KEY] = "toy"
    at.run()
    at.switch_page("pages/attention.py")
    at.query_params["text"] = "ABCDE"
    at.run()
    assert not at.exception and not at.error
    heatmap = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert heatmap["layout"]["title"]["text"] == "Attention of 'toy' on swap-pairs-toy: ABCDE"
    outlined = {(round(s["y0"] + 0.5), round(s["x0"] + 0.5)) for s in heatmap["layout"]["shapes"]
                if s["name"].startswith("textbook outline")}
    assert outlined == {(0, 1), (1, 0), (2, 3), (3, 2), (4, 4)}

    spec = SweepSpec(grid=parse_grid(["task=swap-pairs-toy,reverse", "steps=20"]))
    assert [trial["task"] for trial in spec.trials()] == ["swap-pairs-toy", "reverse"]


@pytest.mark.parametrize("spec", ["copy", "sort", "rotate:2"])
def test_each_built_in_task_trains(spec: str) -> None:
    """A few hundred steps on short strings: the held-out score is on the task's own target."""
    config = TrainConfig(task=spec, steps=300, min_len=3, max_len=5, eval_every=0,
                         eval_size=200, length_curriculum=0.0)
    trainer = Trainer(ModelConfig(kind="attention", embedding_dim=16, hidden_dim=32), config)
    first = evaluate(trainer.model, trainer.eval_set).exact_match
    trainer.run()
    report = evaluate(trainer.model, trainer.eval_set)
    assert report.exact_match > max(first, 0.2)
    assert all(f["expected"] == make_task(spec).target(f["input"]) for f in report.failures)
