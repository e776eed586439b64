"""Training: a config dataclass with presets, and a resumable trainer that reports by callbacks.

Nothing here knows about Streamlit: the app, the CLI and the tests listen to the same events.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F

from seqrev.decoding.evaluation import evaluate
from seqrev.devices import DEVICE_CHOICES, resolve_device
from seqrev.i18n import _
from seqrev.models.kinds import KINDS
from seqrev.models.seq2seq import ModelConfig, Seq2Seq, build_model, scale_embedding
from seqrev.settings import range_problems, setting
from seqrev.tasks.base import LetterTask
from seqrev.tasks.pairs import PAIRS_TASK, load_task
from seqrev.tasks.registry import DEFAULT_TASK, describe, make_task, task_specs
from seqrev.tasks.vocab import MAX_INPUT_LEN, PAD
from seqrev.training.adam import Adam

EVENTS = ("step", "eval", "end")
LR_SCHEDULES = ("constant", "cosine", "onecycle")
EMBEDDING_INITS = ("unit", "scaled")
# Settings added after configs were first saved, with the value every older config had.
SAVED_BEFORE: dict[str, Any] = {"embedding_init": "unit", "length_curriculum": 0.0,
                                 "length_weighting": 0.0, "task": DEFAULT_TASK,
                                 "pairs_file": "", "pairs_sha256": ""}
WARMUP_SHARE = 0.05  # onecycle: share of the steps spent warming the rate up from ~0
# what a file of pairs decides for itself (its task, lengths and held-out set), so the
# command line of a run on pairs gives --pairs FILE instead of these
SET_BY_PAIRS = ("task", "min_len", "max_len", "length_curriculum", "length_weighting",
                "eval_size")
CURRICULUM_HEAD_START = 3  # a curriculum's first batches reach min_len + this many letters
_init_lock = threading.Lock()  # model init seeds the global RNG briefly


def check_task(spec: str) -> None:
    """A task setting's check: a registered task, or ``pairs`` (its file is a field apart)."""
    if spec != PAIRS_TASK:
        make_task(spec)


@dataclass(frozen=True)
class TrainConfig:
    """How to train; saved in every checkpoint beside the ModelConfig."""

    # The defaults are tuned for time to accuracy on this 2-core CPU (docs/speed.md); both
    # models share them but for the steps (DEFAULT_STEPS). This default is the plain model's,
    # which a race trains both models for.
    # what the model learns to output; reversal is the lab's (seqrev/tasks/)
    task: str = field(default=DEFAULT_TASK, metadata=setting(
        "--task", "Task", "What the model learns to write: " + "; ".join(
            f"{spec}: {describe(spec)}" for spec in task_specs() if ":" not in spec
            or spec.endswith(":2")) + ".", group="data", widget="select",
        suggestions=task_specs(), validate=check_task))
    # optimizer steps in all
    steps: int = field(default=1500, metadata=setting(
        "--steps", "Steps", "Optimizer steps in all; each draws a fresh batch.",
        group="data", minimum=1, maximum=100_000, step=100))
    # strings per step; 64 beat 128 and 256 in wall time to 99%
    batch_size: int = field(default=64, metadata=setting(
        "--batch-size", "Batch size", "Random strings per step.", group="data",
        widget="select_slider", minimum=1, maximum=512,
        suggestions=(8, 16, 32, 64, 128, 256, 512)))
    # Adam; with scaled embeddings and clipping at 5, 7e-3 beat 3e-3 and 5e-3, and 1e-2 was
    # unstable for attention
    learning_rate: float = field(default=7e-3, metadata=setting(
        "--lr", "Learning rate (Adam)", "Adam's step size; the lab used 1e-3.",
        group="optimisation", widget="select_slider", minimum=1e-5, maximum=0.5,
        suggestions=(1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 7e-3, 1e-2)))
    # 1 to 16 covers the strings people type (names, words, HELLOWORLD); the lab trained on
    # length 10 only, and a model trained so writes OOOLLEH for HELLO
    min_len: int = field(default=1, metadata=setting(
        "--min-len", "Shortest training string", "Training strings have a length drawn "
        "evenly from shortest to longest.", group="data", minimum=1, maximum=MAX_INPUT_LEN))
    max_len: int = field(default=16, metadata=setting(
        "--max-len", "Longest training string", "Longer strings at test time show how far "
        "a model generalizes.", group="data", minimum=1, maximum=MAX_INPUT_LEN))
    # share of the steps over which the longest string grows from min_len + 3 to max_len;
    # with it attention holds 99%+ at every length 1-16, without it 93% at 16 (docs/speed.md);
    # the early, short batches are also cheaper
    length_curriculum: float = field(default=0.3, metadata=setting(
        "--length-curriculum", "Length curriculum", "Share of the steps over which the "
        "longest training string grows from the shortest + 3 letters to the longest; 0 "
        "trains on every length from the first step.", group="data", widget="slider",
        minimum=0.0, maximum=1.0, step=0.05))
    # a length L is drawn with weight L**p: 0.5 brought the last trained length up to 99%
    length_weighting: float = field(default=0.5, metadata=setting(
        "--length-weighting", "Length weighting", "Training lengths are drawn with weight "
        "length to this power: 0 draws every length equally often, 1 a string twice as long "
        "twice as often.", group="data", widget="slider", minimum=0.0, maximum=2.0,
        step=0.25))
    # chance of feeding the true previous letter (1 = always)
    teacher_forcing: float = field(default=1.0, metadata=setting(
        "--teacher-forcing", "Teacher forcing", "Chance of feeding the decoder the true "
        "previous letter instead of its own guess.", group="optimisation", widget="slider",
        minimum=0.0, maximum=1.0, step=0.05))
    # max global gradient norm; None = no clipping
    grad_clip: float | None = field(default=5.0, metadata=setting(
        "--grad-clip", "Gradient clipping", "Largest global gradient norm; 0 turns "
        "clipping off.", group="optimisation", minimum=0.0, maximum=100.0, step=0.5,
        zero_means_none=True))
    lr_schedule: str = field(default="onecycle", metadata=setting(
        "--lr-schedule", "Learning-rate schedule", "constant; cosine decay to 10% of the "
        "rate by the last step; or onecycle: a warm-up over 5% of the steps, then cosine to "
        "zero.", group="optimisation", widget="select",
        choices=LR_SCHEDULES))
    # nn.Embedding draws N(0, 1): letter vectors of length ~8 at size 64 saturate the gates
    embedding_init: str = field(default="scaled", metadata=setting(
        "--embedding-init", "Embedding initialization", "unit: letter vectors drawn from "
        "N(0, 1), as the lab's nn.Embedding; scaled: N(0, 1/size), vectors of length about 1 "
        "like the GRU's other inputs, which learns several times faster (docs/speed.md).",
        group="optimisation", widget="select", choices=EMBEDDING_INITS))
    # weights, batches and teacher-forcing coins
    seed: int = field(default=0, metadata=setting(
        "--seed", "Random seed", "Seeds the weights, the batches and the teacher-forcing "
        "coins: the same seed gives the same run.", group="run", minimum=0,
        maximum=2**31 - 1))
    eval_every: int = field(default=50, metadata=setting(
        "--eval-every", "Evaluate every (steps, 0 = never)", "Steps between held-out "
        "evaluations.", group="run", minimum=0, maximum=100_000, step=50))
    eval_size: int = field(default=500, metadata=setting(
        "--eval-size", "Held-out strings", "Fresh strings in the fixed held-out set.",
        group="run", minimum=1, maximum=10_000, step=100))
    eval_seed: int = 1_000_003  # seed of the held-out set, kept apart from training seeds
    # the task "pairs" only: the CSV/TSV file (python -m seqrev train --pairs FILE) and the
    # SHA-256 of its bytes, so a worker or a resume trains on the rows the run was set up with
    pairs_file: str = ""
    pairs_sha256: str = ""
    device: str = field(default="cpu", metadata=setting(
        "--device", "Device", "auto picks CUDA when present.", group="run",
        widget="select", choices=DEVICE_CHOICES))

    def __post_init__(self) -> None:
        if self.grad_clip == 0:  # as on the command line: 0 turns clipping off, not all updates
            object.__setattr__(self, "grad_clip", None)
        problems = range_problems(self, "train")
        if not problems and self.min_len > self.max_len:
            problems.append(_("min_len {low} is above max_len {high}: the shortest training "
                              "string must not be longer than the longest").format(
                low=self.min_len, high=self.max_len))
        if (self.task == PAIRS_TASK) != bool(self.pairs_file):
            problems.append(_("the task pairs is read from a file: give it with --pairs FILE")
                            if self.task == PAIRS_TASK else
                            _("a pairs file goes with the task pairs, not {task}").format(
                                task=repr(self.task)))
        if problems:
            raise ValueError(_("; ").join(problems))

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def task_over_range(self) -> LetterTask:
        """The task over the whole training range, every length equally often (held-out sets).

        For ``pairs``, the file's task (PairsError if it is gone or has changed)."""
        if self.task == PAIRS_TASK:
            return load_task(self.pairs_file, self.pairs_sha256)
        return make_task(self.task, self.min_len, self.max_len)

    def longest_at(self, step: int) -> int:
        """The longest training string of the batch drawn after ``step`` steps."""
        ramp_steps = self.length_curriculum * self.steps
        start = min(self.max_len, self.min_len + CURRICULUM_HEAD_START)
        if ramp_steps <= 0 or step >= ramp_steps:
            return self.max_len
        return round(start + (self.max_len - start) * step / ramp_steps)

    def task_at(self, step: int) -> LetterTask:
        """The task the batch after ``step`` steps is drawn from (the curriculum's lengths).

        A file of pairs has no curriculum: every batch is drawn from its training rows."""
        if self.task == PAIRS_TASK:
            return self.task_over_range
        return make_task(self.task, self.min_len, self.longest_at(step), self.length_weighting)


# The course lab's settings (seed 000/003): reproduce the lab exactly with these.
LAB_MODEL = ModelConfig(kind="attention", embedding_dim=64, hidden_dim=100, score="bilinear")
LAB_TRAINING = TrainConfig(
    steps=5000, batch_size=64, learning_rate=1e-3, min_len=10, max_len=10,
    teacher_forcing=1.0, grad_clip=None, lr_schedule="constant", embedding_init="unit",
    length_curriculum=0.0, length_weighting=0.0,
)
PRESETS: dict[str, tuple[ModelConfig, TrainConfig]] = {
    "seed": (LAB_MODEL, LAB_TRAINING),
    "default": (ModelConfig(), TrainConfig()),
}
# The default steps of one model trained alone: attention is at 99% well before the plain
# model is at 95% (docs/speed.md). A race trains both for TrainConfig's default, the larger.
DEFAULT_STEPS = {kind.name: kind.default_steps for kind in KINDS.values()}


def preset(name: str, kind: str | None = None, race: tuple[str, ...] = ()
           ) -> tuple[ModelConfig, TrainConfig]:
    """The named preset's configs for model ``kind``; without a kind, a race's defaults.

    A race of the default preset trains every kind in ``race`` for the budget of its slowest
    (at least TrainConfig's own), so each ends at its target.
    """
    if name not in PRESETS:
        raise ValueError(_("unknown preset {name}; choose from {choices}").format(
            name=repr(name), choices=", ".join(PRESETS)))
    model_config, train_config = PRESETS[name]
    if kind is None:
        if name == "default" and race:
            steps = max(train_config.steps, *(DEFAULT_STEPS[k] for k in race))
            train_config = replace(train_config, steps=steps)
        return model_config, train_config
    if name == "default":
        train_config = replace(train_config, steps=DEFAULT_STEPS[kind])
    return replace(model_config, kind=kind), train_config


@dataclass
class StepEvent:
    step: int  # steps done so far
    loss: float  # this step's mean cross-entropy per target symbol
    learning_rate: float
    step_seconds: float  # wall time of this step
    steps_per_second: float  # this step's throughput
    elapsed: float  # wall seconds trained so far, evaluations included


@dataclass
class EvalEvent:
    step: int
    exact_match: float  # on the fixed held-out set
    char_accuracy: float
    fine_accuracy: float
    elapsed: float


class Trainer:
    """Trains one model; deterministic for a seed; stoppable between steps and resumable.

    Listeners register with ``add_callback(event, fn)`` for ``step`` (StepEvent), ``eval``
    (EvalEvent) and ``end`` (the reason: "finished" or "stopped").
    """

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig) -> None:
        self.model_config = model_config
        self.config = train_config
        self.device = resolve_device(train_config.device)
        with _init_lock, torch.random.fork_rng(devices=[]):
            torch.manual_seed(train_config.seed)
            self.model: Seq2Seq = build_model(model_config)
            if train_config.embedding_init == "scaled":
                scale_embedding(self.model)
            self.model.to(self.device)
        self.optimizer = Adam(self.model.parameters(), lr=train_config.learning_rate)
        self.batch_generator = torch.Generator().manual_seed(train_config.seed)
        self.coin_generator = torch.Generator().manual_seed(train_config.seed + 1)
        self.task = train_config.task_over_range  # for pairs, the held-out rows of its file
        self.eval_set = self.task.eval_set(train_config.eval_size, train_config.eval_seed)
        self.step = 0
        self.elapsed = 0.0
        self.losses: list[float] = []
        self.eval_history: list[EvalEvent] = []
        self.callbacks: dict[str, list[Callable[[Any], None]]] = defaultdict(list)

    def add_callback(self, event: str, callback: Callable[[Any], None]) -> None:
        if event not in EVENTS:
            raise ValueError(_("unknown event {event}; choose from {choices}").format(
                event=repr(event), choices=", ".join(EVENTS)))
        self.callbacks[event].append(callback)

    def _emit(self, event: str, payload: Any) -> None:
        for callback in self.callbacks[event]:
            callback(payload)

    def learning_rate_at(self, step: int) -> float:
        """The rate for the step that starts after ``step`` steps.

        ``cosine`` decays from the full rate to 10% by the last step. ``onecycle`` warms up
        linearly over the first ``WARMUP_SHARE`` of the steps, then decays to zero along a
        half cosine: the end of the run anneals, so the last model is the best one.
        """
        base, steps = self.config.learning_rate, self.config.steps
        if self.config.lr_schedule == "constant":
            return base
        if self.config.lr_schedule == "onecycle":
            warmup = max(1, round(WARMUP_SHARE * steps))
            if step < warmup:
                return base * (step + 1) / warmup
            progress = min((step - warmup) / max(steps - warmup, 1), 1.0)
            return base * 0.5 * (1.0 + math.cos(math.pi * progress))
        progress = min(step / steps, 1.0)
        return base * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))

    def train_step(self) -> float:
        """One optimizer step on a fresh batch; returns its loss."""
        config = self.config
        batch = config.task_at(self.step).sample(config.batch_size, self.batch_generator,
                                                 self.device)
        learning_rate = self.learning_rate_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        self.model.train()
        logits = self.model(
            batch.source, batch.lengths, batch.decoder_input,
            teacher_forcing=config.teacher_forcing, generator=self.coin_generator,
        )  # (batch, T, vocab)
        loss = F.cross_entropy(logits.flatten(0, 1), batch.target.flatten(), ignore_index=PAD)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    def _eval_due(self) -> bool:
        every = self.config.eval_every
        return bool(every) and (self.step % every == 0 or self.step == self.config.steps)

    def evaluate(self) -> EvalEvent:
        """Exact-match and character accuracy on the fixed held-out set; emits ``eval``."""
        return self._record_eval(evaluate(self.model, self.eval_set, max_failures=0))

    def _record_eval(self, report) -> EvalEvent:
        event = EvalEvent(self.step, report.exact_match, report.char_accuracy,
                          report.fine_accuracy, self.elapsed)
        self.eval_history.append(event)
        self._emit("eval", event)
        return event

    @property
    def finished(self) -> bool:
        return self.step >= self.config.steps

    def run(self, stop: threading.Event | None = None, max_steps: int | None = None) -> str:
        """Train until ``config.steps`` (or ``max_steps`` more), or until ``stop`` is set.

        Returns "finished" or "stopped"; calling ``run`` again resumes where it stopped.
        """
        target = self.config.steps if max_steps is None else min(
            self.config.steps, self.step + max_steps)
        reason = "finished"
        while self.step < target:
            if stop is not None and stop.is_set():
                reason = "stopped"
                break
            started = time.perf_counter()
            loss = self.train_step()
            seconds = time.perf_counter() - started
            self.elapsed += seconds
            self.losses.append(loss)
            self._emit("step", StepEvent(
                self.step, loss, self.learning_rate_at(self.step - 1), seconds,
                1.0 / max(seconds, 1e-9), self.elapsed))
            if self._eval_due():
                started = time.perf_counter()
                report = evaluate(self.model, self.eval_set, max_failures=0)
                self.elapsed += time.perf_counter() - started
                self._record_eval(report)
        if reason == "finished" and self.step < self.config.steps:
            reason = "stopped"
        self._emit("end", reason)
        return reason
