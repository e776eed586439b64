"""The sweep's Ray actor, kept apart from torch: its process then holds ~80 MB, not ~350 MB.

Trials report their step to it about once a second and learn whether to stop; the driver
collects the steps and relays the stops asked for in the run store (``RunStore.request_stop``,
the one path by which any run is asked to stop: from the Runs page, or by the driver for each
running trial when the sweep is stopped). Nothing here imports the rest of seqrev.
"""

from __future__ import annotations


class Coordinator:
    """A tiny Ray actor: trials report their step to it, and learn from it whether to stop."""

    def __init__(self) -> None:
        self.stopped_runs: set[str] = set()
        self.beats: dict[str, tuple[int, float]] = {}

    def heartbeat(self, run_id: str, step: int, elapsed: float) -> bool:
        self.beats[run_id] = (step, elapsed)
        return run_id in self.stopped_runs

    def stop_runs(self, run_ids: list[str]) -> None:
        self.stopped_runs.update(run_ids)

    def progress(self) -> dict[str, tuple[int, float]]:
        beats, self.beats = self.beats, {}
        return beats
