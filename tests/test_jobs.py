"""TrainingJob: background training that starts, stops, resumes, races fairly and reports errors."""

from __future__ import annotations

import math
import shlex
import time

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from seqrev import cli
from seqrev.data import ReversalTask
from seqrev.jobs import (
    TrainingJob,
    downsample,
    downsample_indices,
    ema,
    format_duration,
    make_configs,
    train_command,
)
from seqrev.models import ModelConfig
from seqrev.training import TrainConfig, preset

TINY_MODEL = {"embedding_dim": 8, "hidden_dim": 16, "score": "bilinear"}
TINY_TRAINING = {"batch_size": 8, "min_len": 2, "max_len": 5, "learning_rate": 1e-2,
                 "eval_every": 10, "eval_size": 32}
FOREVER = 1_000_000  # steps a test never reaches: it stops the job itself


def tiny_job(kinds=("plain",), steps: int = 30, **train) -> TrainingJob:
    model_configs, train_config = make_configs(list(kinds), **TINY_MODEL,
                                               **{**TINY_TRAINING, "steps": steps, **train})
    return TrainingJob(model_configs, train_config)


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the training thread"
        time.sleep(0.01)


@pytest.fixture
def jobs():
    """Jobs made by a test; any still running are stopped afterwards."""
    made: list[TrainingJob] = []
    yield made
    for job in made:
        job.stop(timeout=5)


# downsampling and smoothing


@given(st.integers(0, 5000), st.integers(2, 700))
def test_downsample_indices_keep_ends_and_cap_length(n, max_points):
    indices = downsample_indices(n, max_points)
    assert len(indices) == min(n, max_points)
    assert indices == sorted(set(indices))
    if n:
        assert indices[0] == 0 and indices[-1] == n - 1
    if n <= max_points:
        assert indices == list(range(n))


def test_downsample_spreads_points_evenly_over_a_long_history():
    values = list(range(20_000))
    thinned = downsample(values, 600)
    assert len(thinned) == 600 and thinned[0] == 0 and thinned[-1] == 19_999
    gaps = {b - a for a, b in zip(thinned, thinned[1:], strict=False)}
    assert gaps <= {33, 34}


def test_downsample_needs_room_for_both_ends():
    with pytest.raises(ValueError):
        downsample_indices(10, 1)


def test_ema_is_bias_corrected_and_follows_a_step():
    assert ema([2.0, 2.0, 2.0], 0.9) == pytest.approx([2.0, 2.0, 2.0])
    assert ema([1.0, 5.0, 3.0], 0.0) == [1.0, 5.0, 3.0]
    smoothed = ema([0.0] * 10 + [1.0] * 200, 0.9)
    assert smoothed[10] == pytest.approx(0.1 / (1 - 0.9**11))
    assert 0.99 < smoothed[-1] <= 1.0


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0:00"), (75.4, "1:15"), (3725, "1:02:05"), (None, "?"), (math.inf, "?")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


# the job's life


def test_a_job_runs_to_the_end_and_records_every_step(jobs):
    job = tiny_job(steps=30)
    jobs.append(job)
    assert job.status == "idle" and job.progress().steps_done == 0
    assert job.progress().eta is None
    job.start()
    assert job.join(timeout=30)
    assert job.status == "finished" and job.error is None
    progress = job.progress()
    assert (progress.steps_done, progress.total_steps, progress.fraction) == (30, 30, 1.0)
    assert progress.eta == 0 and progress.elapsed > 0
    view = job.views()["plain"]
    assert view.steps == list(range(1, 31))
    assert view.loss == job.trainers["plain"].losses
    assert view.smoothed_loss == pytest.approx(ema(view.loss))
    assert view.eval_steps == [10, 20, 30]
    assert all(0 <= v <= 1 for v in view.exact_match + view.char_accuracy)
    assert all(v > 0 for v in view.steps_per_second)
    frame = job.metrics_frame()
    assert len(frame) == 30 and set(frame["model"]) == {"plain"}
    assert frame["exact_match"].notna().sum() == 3
    assert frame.loc[frame["step"] == 20, "char_accuracy"].item() == pytest.approx(
        job.trainers["plain"].eval_history[1].char_accuracy)
    with pytest.raises(RuntimeError):
        job.start()


def test_views_cap_the_points_a_chart_gets_but_keep_the_ends(jobs):
    job = tiny_job(steps=50, eval_every=0)
    jobs.append(job)
    job.start()
    assert job.join(timeout=30)
    view = job.views(max_points=10)["plain"]
    assert len(view.steps) == len(view.loss) == len(view.steps_per_second) == 10
    assert (view.steps[0], view.steps[-1], view.total_steps) == (1, 50, 50)
    assert view.eval_steps == []
    assert len(job.metrics_frame()) == 50


def test_stop_takes_effect_within_a_second_and_resume_continues(jobs):
    job = tiny_job(steps=FOREVER)
    jobs.append(job)
    with pytest.raises(RuntimeError):
        job.resume()
    job.start()
    wait_for(lambda: job.progress().steps_done >= 5)
    asked = time.perf_counter()
    assert job.stop(timeout=1.0)
    assert time.perf_counter() - asked < 1.0
    assert job.status == "stopped"
    stopped_at = job.progress().steps_done
    time.sleep(0.2)
    assert job.progress().steps_done == stopped_at
    assert job.trainers["plain"].step == stopped_at
    job.resume()
    wait_for(lambda: job.progress().steps_done >= stopped_at + 5)
    assert job.stop(timeout=1.0)
    steps = job.views(max_points=FOREVER)["plain"].steps
    assert steps == list(range(1, len(steps) + 1))
    assert len(steps) > stopped_at


def test_stopping_and_resuming_changes_nothing_in_the_result(jobs):
    straight, interrupted = tiny_job(steps=60), tiny_job(steps=60)
    jobs.extend([straight, interrupted])
    straight.start()
    interrupted.start()
    wait_for(lambda: interrupted.progress().steps_done >= 3)
    interrupted.stop()
    assert interrupted.status == "stopped" and interrupted.progress().steps_done < 60
    interrupted.resume()
    assert straight.join(timeout=30) and interrupted.join(timeout=30)
    assert interrupted.status == "finished"
    assert interrupted.trainers["plain"].losses == straight.trainers["plain"].losses
    for a, b in zip(straight.trainers["plain"].model.parameters(),
                    interrupted.trainers["plain"].model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_race_alternates_steps_on_identical_batches(jobs, monkeypatch):
    job = tiny_job(kinds=("attention", "plain"), steps=3, eval_every=0)
    jobs.append(job)
    assert job.kinds == ["plain", "attention"] and job.racing
    drawn = []
    sample = ReversalTask.sample

    def recording_sample(task, batch_size, generator, device="cpu"):
        batch = sample(task, batch_size, generator, device)
        drawn.append((generator, batch))
        return batch

    monkeypatch.setattr(ReversalTask, "sample", recording_sample)
    job.start()
    assert job.join(timeout=30) and job.status == "finished"
    plain, attention = job.trainers["plain"], job.trainers["attention"]
    assert [g for g, _ in drawn] == [plain.batch_generator, attention.batch_generator] * 3
    for (_, first), (_, second) in zip(drawn[::2], drawn[1::2], strict=True):
        assert torch.equal(first.source, second.source)
        assert torch.equal(first.lengths, second.lengths)
    assert job.progress().per_model == {"plain": 3, "attention": 3}


def test_racing_gives_each_model_what_training_it_alone_gives(jobs):
    race = tiny_job(kinds=("plain", "attention"), steps=12)
    solo = tiny_job(kinds=("attention",), steps=12)
    jobs.extend([race, solo])
    race.start()
    solo.start()
    assert race.join(timeout=30) and solo.join(timeout=30)
    assert race.trainers["attention"].losses == solo.trainers["attention"].losses
    assert race.progress().total_steps == 24
    assert set(race.metrics_frame()["model"]) == {"plain", "attention"}


def test_an_error_in_the_thread_ends_in_status_error_with_its_message(jobs):
    job = tiny_job(kinds=("plain", "attention"), steps=20)
    jobs.append(job)

    def broken_step():
        raise RuntimeError("the GPU caught fire")

    job.trainers["attention"].train_step = broken_step
    job.start()
    assert job.join(timeout=30)
    assert job.status == "error"
    assert job.error == "RuntimeError: the GPU caught fire"
    assert "broken_step" in job.error_traceback
    assert job.progress().per_model == {"plain": 1, "attention": 0}
    with pytest.raises(RuntimeError):
        job.resume()


# settings


def test_make_configs_applies_the_app_conventions():
    models, train = make_configs(["plain", "attention"], 8, 16, "dot", steps=5, grad_clip=0.0)
    assert [m.kind for m in models] == ["plain", "attention"]
    assert models[0].score == ModelConfig().score and models[1].score == "dot"
    assert train.grad_clip is None and train.steps == 5
    assert train.batch_size == TrainConfig().batch_size


@pytest.mark.parametrize(("kinds", "train", "message"), [
    (["plain"], {"min_len": 6, "max_len": 5}, "min_len"),
    (["plain"], {"learning_rate": math.nan}, "finite"),
    (["plain"], {"warmup": 3}, "unknown"),
    ([], {}, "at least one"),
])
def test_make_configs_rejects_bad_settings_with_a_reason(kinds, train, message):
    with pytest.raises(ValueError, match=message):
        make_configs(kinds, 8, 16, "bilinear", **train)


def test_a_job_needs_distinct_kinds():
    model_configs, train_config = make_configs(["plain"], **TINY_MODEL, steps=5)
    with pytest.raises(ValueError):
        TrainingJob(model_configs * 2, train_config)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_job_on_missing_cuda_fails_at_once():
    model_configs, train_config = make_configs(["plain"], **TINY_MODEL, steps=5, device="cuda")
    with pytest.raises(ValueError, match="CUDA"):
        TrainingJob(model_configs, train_config)


def _parse_command(command: str) -> tuple[ModelConfig, TrainConfig, str]:
    words = shlex.split(command)
    assert words[:4] == ["python", "-m", "seqrev", "train"]
    args = cli._build_parser().parse_args(words[3:])
    return (*cli._train_configs(args), args.out)


@pytest.mark.parametrize("configs", [
    preset("seed"),
    preset("seed", "plain"),
    preset("default"),
    make_configs(["plain"], 8, 16, "bilinear", steps=7, grad_clip=0, lr_schedule="constant",
                 teacher_forcing=0.5, seed=3, learning_rate=2e-4, device="auto"),
    make_configs(["attention"], 32, 48, "scaled_dot", min_len=3, max_len=12, eval_every=0,
                 eval_size=64),
])
def test_train_command_rebuilds_the_same_configs_through_the_cli(configs):
    model_config, train_config = configs
    if isinstance(model_config, list):
        model_config = model_config[0]
    command = train_command(model_config, train_config, "my run")
    assert _parse_command(command) == (model_config, train_config, "my run")
