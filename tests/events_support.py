"""Training events for tests that fill a run store by hand, as the trainer emits them."""

from __future__ import annotations

from seqrev.training.trainer import EvalEvent, StepEvent


def step_event(step: int, loss: float, elapsed: float, learning_rate: float = 1e-3,
               step_seconds: float = 0.01) -> StepEvent:
    return StepEvent(step=step, loss=loss, learning_rate=learning_rate,
                     step_seconds=step_seconds, steps_per_second=1.0 / step_seconds,
                     elapsed=elapsed)


def eval_event(step: int, exact_match: float, elapsed: float, char_accuracy: float = 0.5,
               fine_accuracy: float = 0.5) -> EvalEvent:
    return EvalEvent(step=step, exact_match=exact_match, char_accuracy=char_accuracy,
                     fine_accuracy=fine_accuracy, elapsed=elapsed)
