"""The smoothed loss curve: one bias-corrected moving average, kept by the run store."""

from __future__ import annotations

from collections.abc import Sequence

LOSS_SMOOTHING = 0.95  # EMA weight of the smoothed loss curve


class LossSmoother:
    """Exponential moving average, bias-corrected so early values are not pulled to 0."""

    def __init__(self, weight: float = LOSS_SMOOTHING) -> None:
        self.weight, self.value, self.count = weight, 0.0, 0

    @classmethod
    def resumed(cls, smoothed: float, count: int, weight: float = LOSS_SMOOTHING) -> LossSmoother:
        """The smoother that returned ``smoothed`` after ``count`` values (a stored curve's end)."""
        smoother = cls(weight)
        smoother.count = count
        smoother.value = smoothed * (1.0 - weight ** count)
        return smoother

    def update(self, x: float) -> float:
        self.count += 1
        self.value = self.weight * self.value + (1.0 - self.weight) * x
        return self.value / (1.0 - self.weight ** self.count)


def ema(values: Sequence[float], weight: float = LOSS_SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average of ``values`` (weight 0 = no smoothing)."""
    average = LossSmoother(weight)
    return [average.update(v) for v in values]
