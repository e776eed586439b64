"""Training jobs: one model, or both racing, trained in a background thread and watched safely.

A ``TrainingJob`` owns its Trainers and one daemon thread. In a race both Trainers share one
TrainConfig, so their batch generators start from the same seed and draw identical batches;
the thread steps whichever model is behind (plain first on a tie), so they alternate one step
each and neither gets more of the CPU. The Trainers report through callbacks into a history
guarded by a lock; readers get copies, with the charts' series capped by ``downsample``.
Nothing here knows about Streamlit.
"""

from __future__ import annotations

import math
import shlex
import statistics
import threading
import time
import traceback
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TypeVar

import pandas as pd
import torch

from seqrev.models import ModelConfig
from seqrev.training import EvalEvent, StepEvent, TrainConfig, Trainer

MODEL_ORDER = ("plain", "attention")
STATUSES = ("idle", "running", "stopped", "finished", "error")
CHART_POINTS = 600  # most points per series sent to a chart on each poll
LOSS_SMOOTHING = 0.95  # EMA weight of the smoothed loss curve
SPEED_WINDOW = 25  # steps whose median time gives steps/s: robust to warm-up and hiccups

T = TypeVar("T")


def downsample_indices(n: int, max_points: int = CHART_POINTS) -> list[int]:
    """At most ``max_points`` evenly spread indices into ``n`` items, first and last included."""
    if max_points < 2:
        raise ValueError("max_points must be at least 2")
    if n <= max_points:
        return list(range(n))
    return [round(i * (n - 1) / (max_points - 1)) for i in range(max_points)]


def downsample(values: Sequence[T], max_points: int = CHART_POINTS) -> list[T]:
    """``values`` thinned to at most ``max_points``, keeping the first and the last."""
    return [values[i] for i in downsample_indices(len(values), max_points)]


class _Ema:
    """Exponential moving average, bias-corrected so early values are not pulled to 0."""

    def __init__(self, weight: float) -> None:
        self.weight, self.value, self.count = weight, 0.0, 0

    def update(self, x: float) -> float:
        self.count += 1
        self.value = self.weight * self.value + (1.0 - self.weight) * x
        return self.value / (1.0 - self.weight ** self.count)


def ema(values: Sequence[float], weight: float = LOSS_SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average of ``values`` (weight 0 = no smoothing)."""
    average = _Ema(weight)
    return [average.update(v) for v in values]


@dataclass(frozen=True)
class HistoryView:
    """One model's history as plain lists for the charts (step series downsampled)."""

    steps: list[int]
    loss: list[float]
    smoothed_loss: list[float]
    steps_per_second: list[float]  # 1 / median recent step time: the model's own compute only
    eval_steps: list[int]
    exact_match: list[float]
    char_accuracy: list[float]
    total_steps: int  # points in the full history, before downsampling


@dataclass
class _History:
    """The full record of one model, written only by its Trainer's callbacks under the lock."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    smoothed_loss: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    steps_per_second: list[float] = field(default_factory=list)
    elapsed: list[float] = field(default_factory=list)
    evals: list[EvalEvent] = field(default_factory=list)
    loss_average: _Ema = field(default_factory=lambda: _Ema(LOSS_SMOOTHING))
    recent_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=SPEED_WINDOW))

    def add_step(self, event: StepEvent) -> None:
        self.steps.append(event.step)
        self.loss.append(event.loss)
        self.smoothed_loss.append(self.loss_average.update(event.loss))
        self.learning_rate.append(event.learning_rate)
        self.step_seconds.append(event.step_seconds)
        self.recent_seconds.append(event.step_seconds)
        self.steps_per_second.append(1.0 / max(statistics.median(self.recent_seconds), 1e-9))
        self.elapsed.append(event.elapsed)

    def view(self, max_points: int) -> HistoryView:
        keep = downsample_indices(len(self.steps), max_points)
        return HistoryView(
            steps=[self.steps[i] for i in keep],
            loss=[self.loss[i] for i in keep],
            smoothed_loss=[self.smoothed_loss[i] for i in keep],
            steps_per_second=[self.steps_per_second[i] for i in keep],
            eval_steps=[e.step for e in self.evals],
            exact_match=[e.exact_match for e in self.evals],
            char_accuracy=[e.char_accuracy for e in self.evals],
            total_steps=len(self.steps),
        )


@dataclass(frozen=True)
class Progress:
    """How far a job is: steps over all its models, wall time, and an estimate of what is left."""

    steps_done: int
    total_steps: int
    elapsed: float  # wall seconds the thread has run, pauses excluded
    eta: float | None  # seconds left at the pace so far; None before the first step
    per_model: dict[str, int]  # steps done by each model

    @property
    def fraction(self) -> float:
        return min(1.0, self.steps_done / self.total_steps) if self.total_steps else 0.0


class TrainingJob:
    """Trains one model or races two in a daemon thread; stoppable, resumable and observable.

    ``status`` is one of STATUSES. An exception in the thread ends the job in "error" with
    ``error`` holding its message (and ``error_traceback`` the details): it never vanishes.
    """

    def __init__(
        self, model_configs: Sequence[ModelConfig], train_config: TrainConfig,
        torch_threads: int | None = None,
    ) -> None:
        kinds = [config.kind for config in model_configs]
        if not kinds or len(set(kinds)) != len(kinds):
            raise ValueError("a job trains one model, or one of each kind")
        ordered = sorted(model_configs, key=lambda c: MODEL_ORDER.index(c.kind))
        self.train_config = train_config
        self.torch_threads = torch_threads
        self.trainers: dict[str, Trainer] = {c.kind: Trainer(c, train_config) for c in ordered}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = "idle"
        self._error: str | None = None
        self._error_traceback: str | None = None
        self._wall_seconds = 0.0
        self._segment_started: float | None = None
        self._histories = {kind: _History() for kind in self.trainers}
        for kind, trainer in self.trainers.items():
            trainer.add_callback("step", lambda event, kind=kind: self._on_step(kind, event))
            trainer.add_callback("eval", lambda event, kind=kind: self._on_eval(kind, event))

    @property
    def kinds(self) -> list[str]:
        return list(self.trainers)

    @property
    def racing(self) -> bool:
        return len(self.trainers) > 1

    def _on_step(self, kind: str, event: StepEvent) -> None:
        with self._lock:
            self._histories[kind].add_step(event)

    def _on_eval(self, kind: str, event: EvalEvent) -> None:
        with self._lock:
            self._histories[kind].evals.append(event)

    # control

    def start(self) -> None:
        """Begin training in the background; only from "idle"."""
        self._launch(expected="idle")

    def resume(self) -> None:
        """Continue a stopped job from its last step, with the same optimizer state."""
        self._launch(expected="stopped")

    def _launch(self, expected: str) -> None:
        with self._lock:
            if self._status != expected:
                raise RuntimeError(f"cannot go on from status {self._status!r}")
            self._stop.clear()
            self._status = "running"
            self._segment_started = time.perf_counter()
            self._thread = threading.Thread(target=self._run, name="seqrev-training",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 2.0) -> bool:
        """Ask the thread to stop after its current step; True once it has ended."""
        self._stop.set()
        return self.join(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the thread; True if it is not running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _next_trainer(self) -> Trainer | None:
        pending = [t for t in self.trainers.values() if not t.finished]
        return min(pending, key=lambda t: t.step) if pending else None

    def _run(self) -> None:
        outcome, error, details = "error", None, None
        try:
            if self.torch_threads:
                torch.set_num_threads(self.torch_threads)
            while (trainer := self._next_trainer()) is not None:
                if trainer.run(self._stop, max_steps=1) == "stopped" and self._stop.is_set():
                    break
            outcome = "stopped" if self._next_trainer() is not None else "finished"
        except Exception as exception:  # kept for the page to show; the thread must not die mute
            error = f"{type(exception).__name__}: {exception}"
            details = traceback.format_exc()
        finally:
            with self._lock:
                if self._segment_started is not None:
                    self._wall_seconds += time.perf_counter() - self._segment_started
                self._segment_started = None
                self._status, self._error, self._error_traceback = outcome, error, details

    # observation

    @property
    def status(self) -> str:
        with self._lock:
            return self._status

    @property
    def error(self) -> str | None:
        with self._lock:
            return self._error

    @property
    def error_traceback(self) -> str | None:
        with self._lock:
            return self._error_traceback

    def progress(self) -> Progress:
        """Steps done over all models, elapsed wall time and the estimated time left."""
        with self._lock:
            elapsed = self._wall_seconds
            if self._segment_started is not None:
                elapsed += time.perf_counter() - self._segment_started
            per_model = {k: (h.steps[-1] if h.steps else 0) for k, h in self._histories.items()}
        done = sum(per_model.values())
        total = self.train_config.steps * len(self.trainers)
        eta = elapsed * (total - done) / done if done else None
        return Progress(done, total, elapsed, eta, per_model)

    def views(self, max_points: int = CHART_POINTS) -> dict[str, HistoryView]:
        """A consistent copy of every model's history for the charts, at most ``max_points``."""
        with self._lock:
            return {kind: history.view(max_points) for kind, history in self._histories.items()}

    def latest(self) -> dict[str, dict[str, float | None]]:
        """Per model: last step, smoothed loss, last held-out exact match and char accuracy."""
        with self._lock:
            summary = {}
            for kind, history in self._histories.items():
                last_eval = history.evals[-1] if history.evals else None
                summary[kind] = {
                    "step": history.steps[-1] if history.steps else 0,
                    "smoothed_loss": history.smoothed_loss[-1] if history.steps else None,
                    "steps_per_second": history.steps_per_second[-1] if history.steps else None,
                    "exact_match": last_eval.exact_match if last_eval else None,
                    "char_accuracy": last_eval.char_accuracy if last_eval else None,
                }
            return summary

    def metrics_frame(self) -> pd.DataFrame:
        """Every step of every model (long format), with held-out accuracy on eval steps."""
        with self._lock:
            parts = []
            for kind, history in self._histories.items():
                steps = pd.DataFrame({
                    "model": kind, "step": history.steps, "loss": history.loss,
                    "smoothed_loss": history.smoothed_loss,
                    "learning_rate": history.learning_rate,
                    "step_seconds": history.step_seconds,
                    "elapsed_seconds": history.elapsed,
                })
                evals = pd.DataFrame(
                    [(e.step, e.exact_match, e.char_accuracy, e.fine_accuracy)
                     for e in history.evals],
                    columns=["step", "exact_match", "char_accuracy", "fine_accuracy"],
                )
                parts.append(steps.merge(evals, on="step", how="left"))
        return pd.concat(parts, ignore_index=True)


def make_configs(
    kinds: Sequence[str], embedding_dim: int, hidden_dim: int, score: str, **train_fields,
) -> tuple[list[ModelConfig], TrainConfig]:
    """Validated configs for ``kinds`` from the app's settings; raises ValueError saying why.

    ``train_fields`` are TrainConfig fields; ``grad_clip`` of 0 means no clipping. Unset
    fields keep TrainConfig's defaults.
    """
    if not kinds:
        raise ValueError("choose at least one model to train")
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(train_fields) - known
    if unknown:
        raise ValueError(f"unknown training settings {sorted(unknown)}")
    if train_fields.get("grad_clip") is not None and train_fields["grad_clip"] <= 0:
        train_fields["grad_clip"] = None
    for name, value in train_fields.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number")
    train_config = TrainConfig(**train_fields)
    model_configs = [
        ModelConfig(kind=kind, embedding_dim=embedding_dim, hidden_dim=hidden_dim,
                    score=score if kind == "attention" else ModelConfig.score)
        for kind in kinds
    ]
    return model_configs, train_config


def train_command(model_config: ModelConfig, train_config: TrainConfig,
                  out: str | None = None) -> str:
    """The ``python -m seqrev train ...`` command line that trains the same model from scratch.

    Every setting is spelled out, so the command does not depend on the CLI's defaults.
    ``eval_seed`` has no flag: a non-default one is left out.
    """
    clip = 0 if train_config.grad_clip is None else train_config.grad_clip
    parts = ["python", "-m", "seqrev", "train", "--model", model_config.kind]
    if model_config.kind == "attention" or model_config.score != ModelConfig.score:
        parts += ["--score", model_config.score]
    options = {
        "--embedding-dim": model_config.embedding_dim, "--hidden-dim": model_config.hidden_dim,
        "--steps": train_config.steps, "--batch-size": train_config.batch_size,
        "--lr": train_config.learning_rate, "--lr-schedule": train_config.lr_schedule,
        "--min-len": train_config.min_len, "--max-len": train_config.max_len,
        "--teacher-forcing": train_config.teacher_forcing, "--grad-clip": clip,
        "--seed": train_config.seed, "--eval-every": train_config.eval_every,
        "--eval-size": train_config.eval_size, "--device": train_config.device,
    }
    for flag, value in options.items():
        parts += [flag, str(value)]
    if out:
        parts += ["--out", out]
    return " ".join(shlex.quote(p) for p in parts)



def format_duration(seconds: float | None) -> str:
    """``75.4`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``; ``None`` -> ``"?"``."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
