"""A training step's cost from its shapes, to warn before settings that would take ages."""

from __future__ import annotations

from seqrev.models.seq2seq import ModelConfig
from seqrev.training.trainer import TrainConfig

SLOW_FACTOR = 20.0  # settings costing more than this many default steps ask to confirm
DEFAULT_STEP_SECONDS = 0.015  # a default attention step on one core here (docs/speed.md)


def step_flops(model_config: ModelConfig, train_config: TrainConfig) -> float:
    """Approximate multiply-adds of one training step (forward and backward, ~3x forward)."""
    hidden, embedding = model_config.hidden_dim, model_config.embedding_dim
    length = (train_config.min_len + train_config.max_len) / 2
    encoder = 3 * hidden * (embedding + hidden)  # per letter
    decoder = encoder + hidden * model_config.vocab_size
    if model_config.kind == "attention":
        decoder += 3 * hidden * hidden + 2 * hidden * length + hidden * hidden / length
    per_string = length * encoder + (length + 1) * decoder
    return 3.0 * train_config.batch_size * per_string


def relative_step_cost(model_config: ModelConfig, train_config: TrainConfig) -> float:
    """How many default steps of the same model kind one step of these settings costs."""
    default = step_flops(ModelConfig(kind=model_config.kind), TrainConfig())
    return step_flops(model_config, train_config) / default


def estimated_seconds(model_configs, train_config: TrainConfig) -> float:
    """Rough wall seconds of a run (a race: its models one after another) on one core here."""
    per_step = sum(relative_step_cost(c, train_config) for c in model_configs)
    return per_step * DEFAULT_STEP_SECONDS * train_config.steps
