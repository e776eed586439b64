"""The sweep benchmark: one small sweep on a fresh local Ray, inline, and on the warm Ray.

``python -m seqrev sweep bench`` prints :func:`benchmark`'s measures: wall times and their
ratios, Ray's start time and overhead per trial, and the memory Ray's processes hold.
"""

from __future__ import annotations

import os
import time
from contextlib import suppress
from pathlib import Path

from seqrev.sweeps.driver import run_sweep, start_ray
from seqrev.sweeps.spec import SweepError, SweepSpec
from seqrev.sweeps.store import create_sweep, progress
from seqrev.sweeps.trial import run_inline


def _descendants_rss_mb(root_pid: int) -> tuple[float, int]:
    """Resident memory (MB) of every process below ``root_pid``, and how many there are."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(entry.name)] = int(line.split()[1])
    seen, stack = [], list(children.get(root_pid, []))
    while stack:
        pid = stack.pop()
        seen.append(pid)
        stack.extend(children.get(pid, []))
    return sum(rss.get(pid, 0) for pid in seen) / 1024, len(seen)


def _own_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _nice_of(pid: int | None) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
    except (OSError, ValueError, IndexError, TypeError):
        return None


def benchmark(steps: int = 200, cpus: int = 1, eval_per_length: int = 100,
              match_nice: bool = False) -> dict:
    """The same small sweep inline (one process) and on a fresh local Ray, in one run.

    Four trials (hidden 16 and 32 x both models, lengths 1-8): on a new local Ray (its first
    worker must start and import torch), then in this process, then on Ray again with the
    worker up. Ray runs its workers at niceness 15; ``match_nice`` runs the inline pass at
    the same niceness. Returns wall times, their ratios, Ray's start time and overhead per
    trial, and the memory Ray's processes hold (idle, and at most while running).
    """
    import tempfile

    import ray

    from seqrev.runs.store import RunStore

    if ray.is_initialized():
        raise SweepError("the benchmark needs to start its own Ray; one is already running")
    spec = SweepSpec(grid={"hidden_dim": (16, 32), "kind": ("plain", "attention")},
                     base={"embedding_dim": 16, "max_len": 8}, steps=steps, eval_every=100,
                     eval_per_length=eval_per_length)
    peak = {"mb": 0.0, "processes": 0}

    def sample(kind: str, data: dict) -> None:
        mb, count = _descendants_rss_mb(os.getpid())
        if mb > peak["mb"]:
            peak.update(mb=mb, processes=count)

    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(folder)
        driver_before = _own_rss_mb()
        started = time.perf_counter()
        start_ray(None, cpus)
        start_seconds = time.perf_counter() - started
        idle_mb, idle_processes = _descendants_rss_mb(os.getpid())
        try:
            cold = create_sweep(spec, store=store)
            started = time.perf_counter()
            run_sweep(cold.id, store=store, on_event=sample)
            cold_seconds = time.perf_counter() - started
            worker_pid = store.list_runs(sweep_id=cold.id)[0].extra.get("worker_pid")
            worker_nice = _nice_of(worker_pid)
            inline = create_sweep(spec, store=store)
            own_nice = os.nice(0)
            if match_nice and worker_nice is not None and worker_nice > own_nice:
                os.nice(worker_nice - own_nice)  # only while the inline pass runs
            try:
                inline_seconds = run_inline(inline.id, store)
            finally:
                if os.nice(0) != own_nice:
                    with suppress(PermissionError):  # lowering niceness needs root
                        os.nice(own_nice - os.nice(0))
            warm = create_sweep(spec, store=store)
            started = time.perf_counter()
            run_sweep(warm.id, store=store, on_event=sample)
            warm_seconds = time.perf_counter() - started
            driver_after = _own_rss_mb()
        finally:
            ray.shutdown()
        finished = progress(cold.id, store).done + progress(warm.id, store).done
        in_trial = {name: round(sum(run.extra.get("trial_seconds", 0.0)
                                    for run in store.list_runs(sweep_id=sweep)), 2)
                    for name, sweep in (("inline", inline.id), ("cold", cold.id),
                                        ("warm", warm.id))}
    n = spec.size
    return {
        "trials": n, "steps_per_trial": steps, "ray_cpus": cpus, "finished_on_ray": finished,
        "ray_worker_nice": worker_nice, "inline_nice": worker_nice if match_nice else own_nice,
        "inline_seconds": round(inline_seconds, 2),
        "ray_start_seconds": round(start_seconds, 2),
        "ray_cold_sweep_seconds": round(cold_seconds, 2),
        "ray_warm_sweep_seconds": round(warm_seconds, 2),
        "ratio_ray_start_and_cold_over_inline": round(
            (start_seconds + cold_seconds) / inline_seconds, 3),
        "ratio_ray_warm_over_inline": round(warm_seconds / inline_seconds, 3),
        "ray_cold_overhead_per_trial_seconds": round((cold_seconds - inline_seconds) / n, 3),
        "ray_warm_overhead_per_trial_seconds": round((warm_seconds - inline_seconds) / n, 3),
        "inline_in_trial_seconds": in_trial["inline"],
        "ray_cold_in_trial_seconds": in_trial["cold"],
        "ray_warm_in_trial_seconds": in_trial["warm"],
        "ray_idle_mb": round(idle_mb, 1), "ray_idle_processes": idle_processes,
        "ray_peak_mb": round(peak["mb"], 1), "ray_peak_processes": peak["processes"],
        "driver_growth_mb": round(driver_after - driver_before, 1),
    }
