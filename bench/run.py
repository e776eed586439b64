"""``python -m seqrev bench``: seqrev against the lab's implementation, measured in one run.

Timings on a shared machine move with load, so every comparison is a ratio of numbers taken
side by side in the same run (interleaved rounds, medians after warm-up).
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

import torch

import seqrev.checkpoints.store as checkpoints
from bench.floor import floor_step, step_flops
from bench.reference import lab_model, make_lab_trainer
from seqrev.decoding.evaluation import evaluate_fresh
from seqrev.decoding.search import beam_search, greedy_trace
from seqrev.inspection.analysis import compare_models
from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.scheduler import worker_command
from seqrev.runs.store import RunStore
from seqrev.runs.worker import trainer_from_run
from seqrev.training.trainer import LAB_MODEL, LAB_TRAINING, TrainConfig, Trainer

REPO_ROOT = Path(__file__).resolve().parent.parent
SEQREV_THREADS = 1  # what the app and the benchmark use for seqrev (see README)
# exact match, on SCORED_PER_LENGTH fresh strings of each length in TARGET_LENGTHS[kind]
TARGETS = {"attention": 0.99, "plain": 0.95}
REFERENCE_STEP_BUDGET = {"attention": 1000, "plain": 1500}  # train's wall time, in lab steps
SCORED_PER_LENGTH = 500
_DEFAULT_RANGE = range(TrainConfig().min_len, TrainConfig().max_len + 1)
# attention: every length it trains on; plain: up to 10, past which it is meant to fail
TARGET_LENGTHS = {"attention": list(_DEFAULT_RANGE),
                  "plain": [n for n in _DEFAULT_RANGE if n <= 10]}
# reported beside the range: how far past the longest training string each model carries
BEYOND_RANGE = (int(1.5 * _DEFAULT_RANGE[-1]), 2 * _DEFAULT_RANGE[-1])
FLOOR_TARGET = 1.5  # step time over the floor of its matrix products, lab settings
_device = {"name": "cpu"}  # where seqrev trains in this run; set by collect()


VECTOR_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # what bf16 autocast could use


def machine() -> dict:
    model, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            lines = cpuinfo.read().splitlines()
        model = next(line.split(":", 1)[1].strip() for line in lines
                     if line.startswith("model name"))
        flags = set(next(line.split(":", 1)[1].split() for line in lines
                         if line.startswith("flags")))
    except (OSError, StopIteration):
        pass
    return {"date": date.today().isoformat(), "cpu": model, "cores": os.cpu_count(),
            "vector_flags": [flag for flag in VECTOR_FLAGS if flag in flags],
            "torch": torch.__version__, "python": platform.python_version(),
            "seqrev_threads": SEQREV_THREADS, "reference_threads": os.cpu_count()}


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000.0


def median_ms(fn: Callable[[], object], warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    return statistics.median(_timed(fn) for _ in range(repeats))


def _with_threads(threads: int, fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        torch.set_num_threads(threads)
        return fn()
    return run


def _seqrev_step(kind: str, train_config: TrainConfig, model_config: ModelConfig | None = None):
    """One seqrev training step as a closure (synchronized on CUDA so it can be timed)."""
    config = TrainConfig(**{**train_config.to_dict(), "device": _device["name"]})
    trainer = Trainer(model_config or ModelConfig(kind=kind), config)
    if trainer.device.type == "cuda":
        def step() -> None:
            trainer.train_step()
            torch.cuda.synchronize()
        return step
    return trainer.train_step


def training_step(quick: bool) -> dict:
    """ms per training step at the lab's settings, reference against seqrev, interleaved.

    seqrev runs on SEQREV_THREADS (the app's choice) and, for comparison, on all cores. The
    floor (``bench.floor``), the step's own matrix products alone, is timed in the same rounds on
    SEQREV_THREADS, so ``floor_multiple`` is seqrev's step over what its arithmetic costs here.
    """
    rounds, per_round = (4, 5) if quick else (10, 10)
    lab_config = TrainConfig(**{**LAB_TRAINING.to_dict(), "eval_every": 0})
    cores = os.cpu_count() or 1
    results = {}
    for kind in ("plain", "attention"):
        torch.manual_seed(0)
        model_config = replace(LAB_MODEL, kind=kind)
        runners = {
            "reference": _with_threads(cores, make_lab_trainer(lab_model(kind),
                                                               random.Random(0))),
            "seqrev": _with_threads(SEQREV_THREADS, _seqrev_step(kind, lab_config, model_config)),
            "seqrev_all_cores": _with_threads(cores, _seqrev_step(kind, lab_config,
                                                                  model_config)),
            "floor": _with_threads(SEQREV_THREADS, floor_step(
                model_config, lab_config.batch_size, lab_config.max_len)),
        }
        for fn in runners.values():
            for _ in range(5):
                fn()
        times = {name: [] for name in runners}
        for _ in range(rounds):  # interleave so all see the same machine load
            for name, fn in runners.items():
                times[name].extend(_timed(fn) for _ in range(per_round))
        medians = {name: statistics.median(t) for name, t in times.items()}
        floor_ms, gflop = medians["floor"], step_flops(model_config, lab_config.batch_size,
                                                       lab_config.max_len) / 1e9
        results[kind] = {
            "reference_ms": round(medians["reference"], 2),
            "seqrev_ms": round(medians["seqrev"], 2),
            "seqrev_all_cores_ms": round(medians["seqrev_all_cores"], 2),
            "speedup": round(medians["reference"] / medians["seqrev"], 2),
            "speedup_all_cores": round(medians["reference"] / medians["seqrev_all_cores"], 2),
            "gflop": round(gflop, 4),
            "floor_ms": round(floor_ms, 2),
            "floor_gflop_per_second": round(gflop / floor_ms * 1000.0, 1),
            "floor_multiple": round(medians["seqrev"] / floor_ms, 2),
            "floor_target": FLOOR_TARGET,
            "floor_met": medians["seqrev"] / floor_ms <= FLOOR_TARGET,
        }
    torch.set_num_threads(SEQREV_THREADS)
    return results


def _reference_stepper(kind: str) -> Callable[[], object]:
    """One lab training step at the lab's settings, on TRAIN_THREADS."""
    torch.manual_seed(0)
    step = _with_threads(TRAIN_THREADS, make_lab_trainer(lab_model(kind), random.Random(0)))
    for _ in range(5):
        step()
    return step


def exact_by_length(model) -> dict[int, float]:
    """Exact match on SCORED_PER_LENGTH fresh strings of every default training length and of
    BEYOND_RANGE (seeds 777 + length, which no training or evaluation uses)."""
    lengths = [*_DEFAULT_RANGE, *BEYOND_RANGE]
    return {n: round(evaluate_fresh(model, SCORED_PER_LENGTH, n, n, seed=777 + n,
                                    max_failures=0).exact_match, 4) for n in lengths}


def judge(kind: str, by_length: dict[int, float]) -> dict:
    """The target's verdict on one model's scores by length."""
    target = TARGETS[kind]
    within = [by_length[n] for n in TARGET_LENGTHS[kind]]
    below = [n for n in _DEFAULT_RANGE if by_length[n] < target]
    return {"target": target, "target_lengths": f"{TARGET_LENGTHS[kind][0]}-"
                                                f"{TARGET_LENGTHS[kind][-1]}",
            "worst_in_target_lengths": min(within), "first_length_below_target":
                below[0] if below else None, "at_target": min(within) >= target,
            "exact_by_length": {str(n): v for n, v in by_length.items()}}


def _subprocess(command: list[str], env: dict) -> float:
    """Wall seconds of ``command`` run from the repository root; raises if it fails."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()[-500:]}")
    return seconds


def _scratch_env(folder: str) -> dict:
    return {**os.environ, "SEQREV_CHECKPOINT_DIR": folder,
            "SEQREV_RUNS_DIR": str(Path(folder) / "runs")}


# What ``train`` runs in the time-to-accuracy section: its defaults for each model, exactly as
# a user types it. ``train`` and the lab's step both run on one thread (train's default): with
# two threads on a shared 2-core machine, every parallel region waits for a preempted thread,
# and an 800-step run once took 10 minutes, not 15 s.
TRAIN_THREADS = 1


def train_command(repeats: int) -> dict:
    """Time to accuracy of ``python -m seqrev train --model M --out X``, in reference steps.

    The command runs in a fresh process (start-up, training, the final evaluations and the
    save all count) into scratch folders. Around each run, 15 lab steps of the same model are
    timed here, so each wall time is divided by reference steps of the same moment's machine.
    Each saved checkpoint is then scored by ``exact_by_length`` and judged by ``judge``.
    """
    steppers = {kind: _reference_stepper(kind) for kind in TARGETS}
    reference_ms = {kind: [] for kind in TARGETS}
    walls = {kind: [] for kind in TARGETS}
    scores = {kind: [] for kind in TARGETS}
    with tempfile.TemporaryDirectory() as folder:
        env = _scratch_env(folder)
        for repeat in range(repeats):
            for kind in TARGETS:
                reference_ms[kind].extend(_timed(steppers[kind]) for _ in range(15))
                name = f"bench-{kind}-{repeat}"
                walls[kind].append(_subprocess([
                    sys.executable, "-m", "seqrev", "train", "--model", kind, "--out", name],
                    env))
                reference_ms[kind].extend(_timed(steppers[kind]) for _ in range(15))
                checkpoint = checkpoints.load_checkpoint(name, directory=folder)
                scores[kind].append(judge(kind, exact_by_length(checkpoint.model)))
    torch.set_num_threads(SEQREV_THREADS)
    results = {}
    for kind in TARGETS:
        ref, wall = statistics.median(reference_ms[kind]), statistics.median(walls[kind])
        ratio = wall * 1000.0 / ref
        worst = min(scores[kind], key=lambda verdict: verdict["worst_in_target_lengths"])
        results[kind] = {**worst,
            "command": f"python -m seqrev train --model {kind} --out X",
            "wall_seconds": round(wall, 2), "wall_seconds_all": [round(w, 2) for w in walls[kind]],
            "reference_step_ms": round(ref, 2), "reference_steps": round(ratio),
            "budget_reference_steps": REFERENCE_STEP_BUDGET[kind],
            "met": ratio <= REFERENCE_STEP_BUDGET[kind] and worst["at_target"],
        }
    return results


def default_race() -> dict:
    """The app's default race: both models, default settings, one worker process (the app's
    command, one thread), alternating steps on the same batches. Both must end at target, and
    the plain model's first length below 95% shows where one vector stops being enough."""
    plain_step = _reference_stepper("plain")
    reference_ms = [_timed(plain_step) for _ in range(15)]
    with tempfile.TemporaryDirectory() as folder:
        env = _scratch_env(folder)
        store = RunStore(Path(folder) / "runs")
        runs = [store.create_run(ModelConfig(kind=kind), TrainConfig(), group_id="gbench",
                                 source="app", status="queued") for kind in ("plain", "attention")]
        wall = _subprocess(worker_command([run.id for run in runs]), env)
        reference_ms += [_timed(plain_step) for _ in range(15)]
        torch.set_num_threads(SEQREV_THREADS)
        verdicts = {run.kind: judge(run.kind, exact_by_length(
            trainer_from_run(store, store.get(run.id)).model)) for run in runs}
    return {"wall_seconds": round(wall, 2), "steps": TrainConfig().steps,
            "plain_reference_step_ms": round(statistics.median(reference_ms), 2),
            "models": verdicts, "met": all(v["at_target"] for v in verdicts.values())}


def _shipped() -> dict[str, checkpoints.Checkpoint]:
    return {kind: checkpoints.load_checkpoint(name, directory=checkpoints.SHIPPED_DIR)
            for kind, name in (("plain", checkpoints.SHIPPED_PLAIN),
                               ("attention", checkpoints.SHIPPED_ATTENTION))}


def decode_latency(models: dict, quick: bool) -> dict:
    repeats = 10 if quick else 30
    letters = "QWERTYUIOPASDFGHJKLZXCVBNM" * 3
    results = {}
    for kind, checkpoint in models.items():
        model = checkpoint.model
        row = {f"greedy_{n}_ms": round(median_ms(
            lambda n=n, m=model: greedy_trace(m, letters[:n]), 3, repeats), 2)
            for n in (10, 32, 64)}
        row["beam5_10_ms"] = round(median_ms(
            lambda m=model: beam_search(m, letters[:10], 5), 3, repeats), 2)
        results[kind] = row
    return results


def analysis_latency(models: dict, quick: bool) -> dict:
    """The Attention page's batch comparison: 50 fresh strings of each length 1-20, both models."""
    lengths = list(range(1, 21))

    def compare() -> None:
        compare_models(models["plain"].model, models["attention"].model, lengths, 50, seed=5)

    return {"strings": 50 * len(lengths),
            "ms": round(median_ms(compare, 1, 3 if quick else 7), 1)}


def scaling(quick: bool) -> dict:
    """seqrev's ms per training step against length and hidden size (batch 64)."""
    repeats = 5 if quick else 15
    rows = []
    for kind in ("plain", "attention"):
        for length, hidden in ((10, 100), (20, 100), (40, 100), (10, 64), (10, 128), (10, 256)):
            config = TrainConfig(batch_size=64, min_len=length, max_len=length, eval_every=0)
            step = _seqrev_step(kind, config, ModelConfig(kind=kind, hidden_dim=hidden))
            rows.append({"model": kind, "length": length, "hidden": hidden,
                         "ms_per_step": round(median_ms(step, 3, repeats), 2)})
    return {"rows": rows}


def packed_sweep(quick: bool) -> dict:
    """Trials per minute, packed against one trial per task, on the shipped capacity grid
    (``bench/packed_sweep.py``): every hidden size, 3 seeds, 30 steps; quick: hidden 8 and
    16, 2 seeds, 10 steps."""
    from bench.packed_sweep import measure

    if quick:
        measured = measure(steps=10, seeds=2, eval_every=0, eval_per_length=2,
                           hidden_sizes=(8, 16), on_group=None)
    else:
        measured = measure(steps=30, seeds=3, eval_every=15, eval_per_length=20, on_group=None)
    keep = ("trials", "steps_per_trial", "seeds", "alone_trials_per_minute_wall",
            "packed_trials_per_minute_wall", "ratio_wall", "ratio_cpu", "target_ratio")
    return {**{key: measured[key] for key in keep},
            "met": measured["ratio_wall"] >= measured["target_ratio"],
            "ratio_wall_by_group": {f"{g['kind']} {g['hidden_dim']}": g["ratio_wall"]
                                    for g in measured["groups"]}}


def collect(quick: bool = False, device: torch.device | None = None) -> dict:
    _device["name"] = (device or torch.device("cpu")).type
    models = _shipped()
    results = {"machine": {**machine(), "device": _device["name"]}, "quick": quick,
               "training_step_lab_settings": training_step(quick)}
    if quick:
        results["time_to_accuracy"] = "skipped with --quick"
    else:
        results["time_to_accuracy"] = train_command(repeats=1)
        results["default_race"] = default_race()
    results["packed_sweep"] = packed_sweep(quick)
    results["decode_latency"] = decode_latency(models, quick)
    results["analysis_latency"] = analysis_latency(models, quick)
    results["scaling"] = scaling(quick)
    return results


def render(results: dict) -> str:
    m = results["machine"]
    lines = [f"seqrev benchmark, {m['date']}, {m['cpu']} ({m['cores']} cores), torch {m['torch']}"
             f", seqrev on {m['seqrev_threads']} thread(s), reference on "
             f"{m['reference_threads']}; vector units: {', '.join(m['vector_flags']) or '?'}",
             "",
             "| training step, lab settings | reference ms | seqrev ms | speedup | "
             "seqrev ms, all cores | speedup | GFLOP | floor ms | floor multiple |",
             "|---|---|---|---|---|---|---|---|---|"]
    for kind, row in results["training_step_lab_settings"].items():
        lines.append(f"| {kind} | {row['reference_ms']} | {row['seqrev_ms']} | "
                     f"{row['speedup']}x | {row['seqrev_all_cores_ms']} | "
                     f"{row['speedup_all_cores']}x | {row['gflop']} | {row['floor_ms']} | "
                     f"{row['floor_multiple']}x |")
    tta = results["time_to_accuracy"]
    lines.append("")
    if isinstance(tta, dict):
        beyond = " | ".join(f"exact, length {n}" for n in BEYOND_RANGE)
        lines += ["| `train`, fresh process to checkpoint | wall s | lab step ms | in lab steps "
                  f"| budget | target | worst exact in target lengths | first length below "
                  f"target | {beyond} | met |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for kind, row in tta.items():
            lines.append(f"| {kind} | {row['wall_seconds']} | {row['reference_step_ms']} | "
                         f"{row['reference_steps']} | {row['budget_reference_steps']} | "
                         f"{row['target']:.0%} at {row['target_lengths']} | "
                         f"{row['worst_in_target_lengths']:.1%} | "
                         f"{row['first_length_below_target'] or 'none'} | "
                         + " | ".join(f"{row['exact_by_length'][str(n)]:.1%}"
                                      for n in BEYOND_RANGE)
                         + f" | {'yes' if row['met'] else 'no'} |")
        lengths = list(next(iter(tta.values()))["exact_by_length"])
        lines += ["", "| exact match by length, 500 fresh strings each | "
                  + " | ".join(lengths) + " |", "|---|" + "---|" * len(lengths)]
        for kind, row in tta.items():
            lines.append(f"| `train --model {kind}` | " + " | ".join(
                f"{row['exact_by_length'][n]:.1%}" for n in lengths) + " |")
        for kind, row in results["default_race"]["models"].items():
            lines.append(f"| race: {kind} | " + " | ".join(
                f"{row['exact_by_length'][n]:.1%}" for n in lengths) + " |")
        race = results["default_race"]
        lines += ["", f"default race, {race['steps']} steps each in one worker: "
                      f"{race['wall_seconds']} s; both at target: "
                      f"{'yes' if race['met'] else 'no'}"]
        for kind, row in race["models"].items():
            lines.append(f"- {kind}: worst {row['worst_in_target_lengths']:.1%} at lengths "
                         f"{row['target_lengths']}, first length below "
                         f"{row['target']:.0%}: {row['first_length_below_target'] or 'none'}")
    else:
        lines.append(f"time to accuracy: {tta}")
    packed = results["packed_sweep"]
    lines += ["", f"packed sweep, {packed['trials']} trials x {packed['steps_per_trial']} steps: "
                  f"{packed['packed_trials_per_minute_wall']} trials/min packed against "
                  f"{packed['alone_trials_per_minute_wall']} alone, {packed['ratio_wall']}x "
                  f"(target {packed['target_ratio']}x, met: {'yes' if packed['met'] else 'no'}); "
                  "by group: " + ", ".join(f"{group} {ratio}x" for group, ratio
                                            in packed["ratio_wall_by_group"].items())]
    lines += ["", "| decode latency (ms) | greedy 10 | greedy 32 | greedy 64 | beam 5, 10 |",
              "|---|---|---|---|---|"]
    for kind, row in results["decode_latency"].items():
        lines.append(f"| {kind} | {row['greedy_10_ms']} | {row['greedy_32_ms']} | "
                     f"{row['greedy_64_ms']} | {row['beam5_10_ms']} |")
    analysis = results["analysis_latency"]
    lines += ["", f"batch comparison, {analysis['strings']} strings x both models: "
                  f"{analysis['ms']} ms", "",
              "| scaling: model | length | hidden | ms per step |", "|---|---|---|---|"]
    for row in results["scaling"]["rows"]:
        lines.append(f"| {row['model']} | {row['length']} | {row['hidden']} | "
                     f"{row['ms_per_step']} |")
    return "\n".join(lines)


def run_benchmark(quick: bool = False, as_json: bool = False,
                  device: torch.device | None = None) -> dict:
    results = collect(quick, device)
    print(json.dumps(results) if as_json else render(results))
    return results
