"""Packed training: trials of one shape train as one model whose parameters have a pack dimension.

A sweep's trials at hidden 8 to 128 are too small to keep a core busy: a step is some two
thousand tiny ATen calls, and their overhead, not arithmetic, sets its time. Packing P trials
of the same shape (model kind, hidden and embedding size, score, batch size) stacks their
parameters along a leading dimension, so every call does P trials' work: one ``bmm`` per
matrix product (``seqrev.sweeps.packed_recurrence``), one loss, one backward and one Adam update.

Each trial stays its own: its initial weights, batch generator, held-out set and learning-rate
schedule come from its own ``seqrev.training.trainer.Trainer`` (built exactly as for a trial trained
alone), its loss is its own mean, its gradient is clipped by its own norm, and it leaves the
pack (finished, stopped or failed) without touching the others. Batches of different training
lengths are right-padded to the pack's longest; padding is masked exactly as inside one batch.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from seqrev.models.seq2seq import ModelConfig, Seq2Seq
from seqrev.sweeps.packed_recurrence import packed_attention_gru_sequence, packed_gru_sequence
from seqrev.tasks.data import Batch
from seqrev.tasks.vocab import PAD
from seqrev.training.trainer import StepEvent, TrainConfig, Trainer

BETAS = (0.9, 0.999)  # seqrev.training.adam's
EPSILON = 1e-8
PACKED_SCORES = ("bilinear", "dot", "scaled_dot")  # scores with a fused recurrence


def alone_reason(model_config: ModelConfig, train_config: TrainConfig) -> str | None:
    """Why a trial cannot share a pack (it then trains alone, as one trial); None if it can."""
    if model_config.kind == "transformer":
        return "a Transformer has no fused recurrence to batch"
    if train_config.teacher_forcing < 1.0:
        return "teacher forcing below 1 has no fused recurrence to batch"
    if model_config.kind == "attention" and model_config.score not in PACKED_SCORES:
        return f"the {model_config.score} score has no fused recurrence to batch"
    if model_config.bidirectional:
        return "a bidirectional encoder is not packed (yet)"
    return None


def pack_key(model_config: ModelConfig, train_config: TrainConfig) -> tuple | None:
    """Trials with equal keys can share a pack; None for a trial that must train alone.

    A Transformer, teacher forcing below 1, the additive score and a bidirectional encoder: see
    alone_reason.
    """
    attention = model_config.kind == "attention"
    if alone_reason(model_config, train_config) is not None:
        return None
    return (model_config.kind, model_config.hidden_dim, model_config.embedding_dim,
            model_config.score if attention else None, train_config.batch_size,
            train_config.device)


def pad_and_stack(batches: Sequence[Batch]) -> Batch:
    """One batch per trial -> a Batch whose tensors are (P, batch, ...), padded to the longest."""
    width = max(batch.source.shape[1] for batch in batches)

    def padded(tensor: torch.Tensor, size: int) -> torch.Tensor:
        return F.pad(tensor, (0, size - tensor.shape[1]), value=PAD)

    return Batch(torch.stack([padded(b.source, width) for b in batches]),  # (P, batch, S)
                 torch.stack([b.lengths for b in batches]),  # (P, batch)
                 torch.stack([padded(b.decoder_input, width + 1) for b in batches]),
                 torch.stack([padded(b.target, width + 1) for b in batches]))  # (P, batch, T)


class PackedSeq2Seq:
    """P models of one config as stacked leaf tensors, named as in ``Seq2Seq``."""

    def __init__(self, config: ModelConfig, parameters: dict[str, torch.Tensor]) -> None:
        self.config = config
        self.parameters = parameters  # name -> (P, *shape in Seq2Seq), requires_grad

    @classmethod
    def stack(cls, models: Sequence[Seq2Seq]) -> PackedSeq2Seq:
        names = [name for name, _ in models[0].named_parameters()]
        each = [dict(model.named_parameters()) for model in models]
        return cls(models[0].config, {
            name: torch.stack([own[name].detach() for own in each]).requires_grad_()
            for name in names})

    @property
    def size(self) -> int:
        return next(iter(self.parameters.values())).shape[0]

    def select(self, keep: list[int]) -> None:
        """Keep only the trials at positions ``keep`` (new leaf tensors)."""
        index = torch.tensor(keep, device=self.parameters["output.bias"].device)
        self.parameters = {name: value.detach().index_select(0, index).requires_grad_()
                           for name, value in self.parameters.items()}

    @torch.no_grad()
    def copy_to(self, position: int, model: Seq2Seq) -> None:
        """Write the trial at ``position`` into ``model``'s own parameters."""
        for name, parameter in model.named_parameters():
            parameter.copy_(self.parameters[name][position])

    def input_gates(self, tokens: torch.Tensor, weight: str, bias: str) -> torch.Tensor:
        """``F.linear(embedding(tokens), W, b)`` per trial, (P, batch, L) -> (P, batch, L, 3H).

        The product is taken once over the V-row letter table, then looked up: the same sums
        as projecting every position, in a twentieth of the arithmetic at these sizes.
        """
        table = self.parameters["embedding.weight"]  # (P, V, E)
        pack, vocab, _ = table.shape
        gates_table = torch.baddbmm(self.parameters[bias].unsqueeze(1), table,
                                    self.parameters[weight].transpose(1, 2))  # (P, V, 3H)
        offsets = torch.arange(pack, device=tokens.device).view(-1, 1, 1) * vocab
        return F.embedding(tokens + offsets, gates_table.flatten(0, 1))  # (P, batch, L, 3H)

    def _project(self, inputs: torch.Tensor, weight: str, bias: str | None) -> torch.Tensor:
        """``F.linear`` per trial: (P, batch, L, in) -> (P, batch, L, out)."""
        pack, batch, steps, _ = inputs.shape
        weight_t = self.parameters[weight].transpose(1, 2)  # (P, in, out)
        flat = inputs.reshape(pack, batch * steps, -1)  # (P, batch*L, in)
        if bias is None:
            out = torch.bmm(flat, weight_t)
        else:
            out = torch.baddbmm(self.parameters[bias].unsqueeze(1), flat, weight_t)
        return out.view(pack, batch, steps, -1)  # (P, batch, L, out)

    def losses(self, batch: Batch) -> torch.Tensor:
        """Each trial's mean cross-entropy per target symbol on its rows of ``batch``. (P,)"""
        p = self.parameters
        source, lengths = batch.source, batch.lengths  # (P, batch, S), (P, batch)
        pack, rows, _ = source.shape
        size = self.config.hidden_dim
        encoder_gates = self.input_gates(source, "encoder.weight_ih_l0",
                                          "encoder.bias_ih_l0")  # (P, batch, S, 3H)
        start = encoder_gates.new_zeros(pack, rows, size)  # (P, batch, H)
        states = packed_gru_sequence(encoder_gates, start, p["encoder.weight_hh_l0"],
                                     p["encoder.bias_hh_l0"])  # (P, batch, S, H)
        last = (lengths - 1).view(pack, rows, 1, 1).expand(-1, -1, 1, size)
        final = states.gather(2, last).squeeze(2)  # (P, batch, H)
        decoder_gates = self.input_gates(batch.decoder_input, "decoder.weight_ih_embedding",
                                          "decoder.bias_ih")  # (P, batch, T, 3H)
        if self.config.kind == "attention":
            decoder_states, _ = packed_attention_gru_sequence(
                decoder_gates, final, states, self.keys(states), source != PAD,
                p["decoder.weight_ih_context"], p["decoder.weight_hh"], p["decoder.bias_hh"])
        else:
            decoder_states = packed_gru_sequence(decoder_gates, final, p["decoder.weight_hh"],
                                                 p["decoder.bias_hh"])  # (P, batch, T, H)
        logits = self._project(decoder_states, "output.weight", "output.bias")  # (P, b, T, V)
        target = batch.target  # (P, batch, T)
        per_symbol = F.cross_entropy(logits.flatten(0, 2), target.flatten(), ignore_index=PAD,
                                     reduction="none").view(pack, -1)  # (P, batch*T)
        counted = (target != PAD).view(pack, -1).sum(1)  # (P,)
        return per_symbol.sum(1) / counted

    def keys(self, states: torch.Tensor) -> torch.Tensor:
        """The score's keys for encoder states (P, batch, S, H), as ``score.prepare``."""
        score = self.config.score
        if score == "bilinear":
            return self._project(states, "score.attention_w.weight", None)
        if score == "scaled_dot":
            return states * self.config.hidden_dim**-0.5
        return states


class PackedAdam:
    """seqrev.training.adam's Adam over stacked parameters, with one learning rate per trial."""

    def __init__(self, parameters: Sequence[torch.Tensor]) -> None:
        self.exp_avgs = [torch.zeros_like(p) for p in parameters]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in parameters]
        self.steps = 0  # every trial in a pack has taken the same number of steps

    def select(self, keep: list[int]) -> None:
        index = torch.tensor(keep, device=self.exp_avgs[0].device)
        self.exp_avgs = [m.index_select(0, index) for m in self.exp_avgs]
        self.exp_avg_sqs = [v.index_select(0, index) for v in self.exp_avg_sqs]

    @torch.no_grad()
    def step(self, parameters: Sequence[torch.Tensor], learning_rates: torch.Tensor) -> None:
        """One update of every trial; ``learning_rates`` is (P,)."""
        beta1, beta2 = BETAS
        self.steps += 1
        grads = [p.grad for p in parameters]
        torch._foreach_lerp_(self.exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(self.exp_avg_sqs, beta2)
        torch._foreach_addcmul_(self.exp_avg_sqs, grads, grads, 1 - beta2)
        denominators = torch._foreach_sqrt(self.exp_avg_sqs)
        torch._foreach_div_(denominators, math.sqrt(1 - beta2**self.steps))
        torch._foreach_add_(denominators, EPSILON)
        step_sizes = learning_rates / (1 - beta1**self.steps)  # (P,)
        for parameter, exp_avg, denominator in zip(parameters, self.exp_avgs, denominators,
                                                   strict=True):
            scale = step_sizes.view(-1, *[1] * (parameter.dim() - 1))  # (P, 1, ...)
            parameter.addcdiv_(exp_avg * scale, denominator, value=-1)


def clip_per_trial(parameters: Sequence[torch.Tensor], max_norms: torch.Tensor) -> torch.Tensor:
    """``clip_grad_norm_`` for each trial apart; returns each trial's norm before clipping. (P,)"""
    norms = torch.stack([torch.linalg.vector_norm(p.grad.flatten(1), dim=1)
                         for p in parameters])  # (n_params, P)
    total = torch.linalg.vector_norm(norms, dim=0)  # (P,)
    scale = (max_norms / (total + 1e-6)).clamp(max=1.0)  # (P,); inf max_norm -> 1
    for parameter in parameters:
        parameter.grad.mul_(scale.view(-1, *[1] * (parameter.dim() - 1)))
    return total


def _next_batch(trainer: Trainer) -> Batch:
    """The batch ``trainer.train_step`` would draw next, from the trial's own generator."""
    config = trainer.config
    task = config.task_at(trainer.step) if hasattr(config, "task_at") else config.task
    return task.sample(config.batch_size, trainer.batch_generator, trainer.device)


def _eval_due(trainer: Trainer) -> bool:
    """As the Trainer decides: every ``eval_every`` steps, and after the last one."""
    every, step = trainer.config.eval_every, trainer.step
    return bool(every) and (step % every == 0 or step == trainer.config.steps)


@dataclass
class PackedTrial:
    """One trial of a pack: its own Trainer (weights, data, schedule, history) and its fate."""

    trainer: Trainer
    status: str | None = None  # None while in the pack; then "finished", "stopped" or "failed"
    error: str | None = None
    leaving: str | None = None  # a status asked for, applied at the next step boundary


class PackedTrainer:
    """Trains trials of one ``pack_key`` together; each matches its Trainer trained alone.

    Listeners: ``add_callback("step" | "eval", fn(index, event))`` with StepEvent/EvalEvent,
    and ``"leave"`` with ``fn(index, status)``. ``elapsed`` of an event is the pack's wall time.
    """

    def __init__(self, configs: Sequence[tuple[ModelConfig, TrainConfig]]) -> None:
        reasons = {alone_reason(*pair) for pair in configs} - {None}
        if reasons:
            raise ValueError(f"these trials train alone, not in a pack: {sorted(reasons)[0]}")
        keys = {pack_key(*pair) for pair in configs}
        if len(keys) != 1:
            raise ValueError("a pack needs trials of one packable shape (see pack_key)")
        self.trials = [PackedTrial(Trainer(*pair)) for pair in configs]
        self.model = PackedSeq2Seq.stack([trial.trainer.model for trial in self.trials])
        self.optimizer = PackedAdam(list(self.model.parameters.values()))
        self.active = list(range(len(self.trials)))  # trial index at each pack position
        self.elapsed = 0.0
        self.callbacks: dict[str, list[Callable]] = {"step": [], "eval": [], "leave": []}

    def add_callback(self, event: str, callback: Callable) -> None:
        if event not in self.callbacks:
            raise ValueError(f"unknown event {event!r}; choose from {tuple(self.callbacks)}")
        self.callbacks[event].append(callback)

    def _emit(self, event: str, index: int, payload) -> None:
        for callback in self.callbacks[event]:
            callback(index, payload)

    def leave(self, index: int, status: str, error: str | None = None) -> None:
        """Ask trial ``index`` to leave the pack with ``status`` before the next step."""
        trial = self.trials[index]
        if trial.status is None and trial.leaving is None:
            trial.leaving, trial.error = status, error

    def train_step(self) -> list[float]:
        """One step of every trial still in the pack; returns their losses in pack order."""
        trainers = [self.trials[index].trainer for index in self.active]
        device = trainers[0].device
        batch = pad_and_stack([_next_batch(t) for t in trainers])
        parameters = list(self.model.parameters.values())
        learning_rates = torch.tensor([t.learning_rate_at(t.step) for t in trainers],
                                      device=device)  # (P,)
        max_norms = torch.tensor([t.config.grad_clip or math.inf for t in trainers],
                                 device=device)  # (P,)
        for parameter in parameters:
            parameter.grad = None
        losses = self.model.losses(batch)  # (P,)
        losses.sum().backward()
        norms = clip_per_trial(parameters, max_norms)
        self.optimizer.step(parameters, learning_rates)
        values, norms = losses.detach().tolist(), norms.tolist()
        for index, trainer, loss, norm in zip(self.active, trainers, values, norms, strict=True):
            trainer.step += 1
            trainer.losses.append(loss)
            if not (math.isfinite(loss) and math.isfinite(norm)):
                bad = "loss" if not math.isfinite(loss) else "gradient norm"
                self.leave(index, "failed", f"{bad} became {loss if bad == 'loss' else norm} "
                                            f"at step {trainer.step} (learning rate "
                                            f"{trainer.config.learning_rate:g})")
        return values

    def _evaluate_due(self) -> None:
        for position, index in enumerate(self.active):
            trial = self.trials[index]
            if trial.leaving == "failed" or not _eval_due(trial.trainer):
                continue
            started = time.perf_counter()
            self.model.copy_to(position, trial.trainer.model)
            report = trial.trainer.evaluate()
            self.elapsed += time.perf_counter() - started
            self._emit("eval", index, report)

    def _drop_leavers(self) -> None:
        for index in self.active:
            trial = self.trials[index]
            if trial.leaving is None and trial.trainer.finished:
                trial.leaving = "finished"
        keep = [position for position, index in enumerate(self.active)
                if self.trials[index].leaving is None]
        if len(keep) == len(self.active):
            return
        for position, index in enumerate(self.active):
            trial = self.trials[index]
            if trial.leaving is not None:
                self.model.copy_to(position, trial.trainer.model)
                trial.trainer.elapsed = self.elapsed
                trial.status, trial.leaving = trial.leaving, None
                self._emit("leave", index, trial.status)
        self.active = [self.active[position] for position in keep]
        if keep:
            self.model.select(keep)
            self.optimizer.select(keep)

    def run(self, stop: threading.Event | None = None) -> None:
        """Train until every trial has left: finished its steps, stopped, or failed."""
        self._drop_leavers()
        while self.active:
            if stop is not None and stop.is_set():
                for index in self.active:
                    self.leave(index, "stopped")
                self._drop_leavers()
                break
            started = time.perf_counter()
            losses = self.train_step()
            seconds = time.perf_counter() - started
            self.elapsed += seconds
            for index, loss in zip(self.active, losses, strict=True):
                trainer = self.trials[index].trainer
                trainer.elapsed = self.elapsed
                if self.trials[index].leaving == "failed":
                    continue  # its error says what went wrong; the history stays finite
                self._emit("step", index, StepEvent(
                    trainer.step, loss, trainer.learning_rate_at(trainer.step - 1), seconds,
                    1.0 / max(seconds, 1e-9), self.elapsed))
            self._evaluate_due()
            self._drop_leavers()

