"""Trials per minute on the shipped capacity grid: packed trials against one trial per task.

Run from the repository root: ``python -m bench.packed_sweep [--steps 30] [--seeds 3]``.

The grid is the one behind ``sweeps/capacity.csv``: its kinds, hidden sizes and training
lengths (1..max_len), with that file's embedding size, batch size and learning rate and the
other settings of its README commands (cosine schedule, clipping at 1, unit embeddings, early
stop at 0.99), times ``--seeds`` seeds, at a reduced step budget. Each (kind, hidden) group is
timed both ways, back to back, the order alternating from group to group:
- alone: ``train_trial`` for each trial, what one Ray task runs today;
- packed: ``packed_sweep.train_pack`` for each pack that ``plan_packs`` makes of the group.
Both include building the trials and their held-out and final evaluations. The time inside
the final evaluation (``capacity.evaluate_lengths`` per trial alone, ``packed_eval`` per
pack) is also reported apart: at a reduced budget it weighs far more than at 3000 steps. Wall
and CPU time (this process) are reported with the load average, on one torch thread. Ray is left
out: its per-task cost (README, "Ray on this machine") is paid once per pack instead of once
per trial, so it can only widen the gap.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

import seqrev.inspection.capacity as capacity
import seqrev.sweeps.packed_eval as packed_eval
from seqrev.inspection.capacity import SHIPPED_RESULTS, load_results
from seqrev.sweeps.packed_sweep import plan_packs, train_pack
from seqrev.sweeps.spec import SweepSpec, build_configs, validate
from seqrev.sweeps.trial import train_trial

SHIPPED_SETTINGS = {"lr_schedule": "cosine", "grad_clip": 1.0, "embedding_init": "unit"}


def capacity_grid(seeds: int) -> SweepSpec:
    """The shipped capacity sweep's grid and settings, with ``seeds`` seeds (budget set later)."""
    frame = load_results(SHIPPED_RESULTS)
    fixed = {name: frame[name].iloc[0].item() for name in ("embedding_dim", "batch_size",
                                                             "learning_rate")}
    grid = {"kind": tuple(sorted(frame["kind"].unique())),
            "hidden_dim": tuple(int(v) for v in sorted(frame["hidden_dim"].unique())),
            "max_len": tuple(int(v) for v in sorted(frame["max_len"].unique())),
            "seed": tuple(range(seeds))}
    return SweepSpec(grid=grid, base={**fixed, **SHIPPED_SETTINGS}, target=0.99)


def _payloads(spec: SweepSpec, trials: list[dict]) -> list[dict]:
    payloads = []
    for number, settings in enumerate(trials):
        model, train = build_configs(spec, settings)
        payloads.append({"run_id": f"t{number}", "model_config": model.to_dict(),
                         "train_config": train.to_dict(), "target": spec.target,
                         "eval_per_length": spec.eval_per_length, "threads": 1})
    return payloads


class _EvaluationClock:
    """Adds up the wall and CPU time spent inside the wrapped final-evaluation functions."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def wrap(self, function):
        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.wall += time.perf_counter() - wall
                self.cpu += time.process_time() - cpu
        return timed


def _timed(work) -> tuple[list[dict], float, float, float, float]:
    """Results, wall and CPU seconds, and the wall and CPU seconds of final evaluations."""
    clock = _EvaluationClock()
    originals = capacity.evaluate_lengths, packed_eval.evaluate_lengths_packed
    capacity.evaluate_lengths = clock.wrap(originals[0])
    packed_eval.evaluate_lengths_packed = clock.wrap(originals[1])
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        results = work()
        return (results, time.perf_counter() - wall, time.process_time() - cpu, clock.wall,
                clock.cpu)
    finally:
        capacity.evaluate_lengths, packed_eval.evaluate_lengths_packed = originals


def measure(steps: int, seeds: int, eval_every: int, eval_per_length: int,
            hidden_sizes: tuple[int, ...] | None = None,
            on_group=lambda line: print(line, flush=True)) -> dict:
    """Both ways over every (kind, hidden) group of the grid; totals, ratios and per group.

    ``hidden_sizes`` keeps only those of the grid (a quicker run); ``on_group`` gets each
    group's row as a JSON line as soon as it is measured (None: silent).
    """
    torch.set_num_threads(1)
    shipped = capacity_grid(seeds)
    grid = dict(shipped.grid)
    if hidden_sizes is not None:
        grid["hidden_dim"] = tuple(h for h in grid["hidden_dim"] if h in hidden_sizes)
    spec = SweepSpec(grid=grid, base=shipped.base, steps=steps,
                     target=shipped.target, eval_every=eval_every,
                     eval_per_length=eval_per_length)
    validate(spec)
    trials = spec.trials()
    groups: dict[tuple, list[dict]] = {}
    for settings in trials:
        groups.setdefault((settings["kind"], settings["hidden_dim"]), []).append(settings)
    load_before = os.getloadavg()
    rows, totals = [], {"alone": [0.0] * 4, "packed": [0.0] * 4}
    for number, ((kind, hidden), members) in enumerate(groups.items()):
        payloads = _payloads(spec, members)
        configs = [build_configs(spec, settings) for settings in members]
        packs = plan_packs(configs)

        def alone(payloads=payloads):
            return [train_trial(payload) for payload in payloads]

        def packed(payloads=payloads, packs=packs):
            return [result for pack in packs for result in train_pack([payloads[i]
                                                                       for i in pack])]

        order = (("alone", alone), ("packed", packed))
        timed = {}
        for name, work in order if number % 2 == 0 else order[::-1]:
            timed[name] = _timed(work)
            for slot in range(4):
                totals[name][slot] += timed[name][slot + 1]
        last_losses = {name: {r["run_id"]: r["steps"][-1].loss for r in results}
                       for name, (results, *_) in timed.items()}
        rows.append({
            "kind": kind, "hidden_dim": hidden, "trials": len(members),
            "packs": [len(pack) for pack in packs],
            "alone_wall_s": round(timed["alone"][1], 2), "packed_wall_s": round(
                timed["packed"][1], 2),
            "alone_cpu_s": round(timed["alone"][2], 2), "packed_cpu_s": round(
                timed["packed"][2], 2),
            "ratio_wall": round(timed["alone"][1] / timed["packed"][1], 2),
            "ratio_cpu": round(timed["alone"][2] / timed["packed"][2], 2),
            "final_eval_cpu_s": [round(timed[name][4], 2) for name in ("alone", "packed")],
            "ratio_cpu_without_final_eval": round((timed["alone"][2] - timed["alone"][4])
                                                  / (timed["packed"][2] - timed["packed"][4]), 2),
            "largest_final_loss_gap": max(abs(last_losses["alone"][k] - last_losses["packed"][k])
                                          for k in last_losses["alone"]),
        })
        if on_group is not None:
            on_group(json.dumps(rows[-1]))
    n = len(trials)
    return {
        "trials": n, "steps_per_trial": steps, "eval_every": eval_every,
        "eval_per_length": eval_per_length, "seeds": seeds, "torch_threads": 1,
        "grid": {k: list(v) for k, v in spec.grid.items()}, "settings": spec.base,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "alone_wall_s": round(totals["alone"][0], 1),
        "packed_wall_s": round(totals["packed"][0], 1),
        "alone_trials_per_minute_wall": round(60 * n / totals["alone"][0], 2),
        "packed_trials_per_minute_wall": round(60 * n / totals["packed"][0], 2),
        "ratio_wall": round(totals["alone"][0] / totals["packed"][0], 2),
        "alone_cpu_s": round(totals["alone"][1], 1),
        "packed_cpu_s": round(totals["packed"][1], 1),
        "ratio_cpu": round(totals["alone"][1] / totals["packed"][1], 2),
        "final_eval_wall_s": [round(totals[n][2], 1) for n in ("alone", "packed")],
        "final_eval_cpu_s": [round(totals[n][3], 1) for n in ("alone", "packed")],
        "ratio_wall_without_final_eval": round((totals["alone"][0] - totals["alone"][2])
                                               / (totals["packed"][0] - totals["packed"][2]), 2),
        "ratio_cpu_without_final_eval": round((totals["alone"][1] - totals["alone"][3])
                                              / (totals["packed"][1] - totals["packed"][3]), 2),
        "target_ratio": 10.0,
        "groups": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="steps per trial (reduced)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--eval-every", type=int, default=15)
    parser.add_argument("--eval-per-length", type=int, default=20)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    measured = measure(args.steps, args.seeds, args.eval_every, args.eval_per_length)
    text = json.dumps(measured, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as out:
            out.write(text + "\n")


if __name__ == "__main__":
    main()
