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
import time
from collections.abc import Callable
from datetime import date

import torch

from bench.reference import lab_exact_match, lab_model, make_lab_trainer
from seqrev import checkpoints
from seqrev.analysis import compare_models
from seqrev.data import ReversalTask
from seqrev.decoding import beam_search, greedy_trace
from seqrev.evaluation import evaluate
from seqrev.models import ModelConfig
from seqrev.training import LAB_TRAINING, TrainConfig, Trainer

SEQREV_THREADS = 1  # what the app and the benchmark use for seqrev (see README)
TARGETS = {"attention": 0.99, "plain": 0.95}
BUDGET_SECONDS = {"attention": 90.0, "plain": 150.0}
_device = {"name": "cpu"}  # where seqrev trains in this run; set by collect()


def machine() -> dict:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"date": date.today().isoformat(), "cpu": model, "cores": os.cpu_count(),
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

    seqrev runs on SEQREV_THREADS (the app's choice) and, for comparison, on all cores.
    """
    rounds, per_round = (4, 5) if quick else (10, 10)
    lab_config = TrainConfig(**{**LAB_TRAINING.to_dict(), "eval_every": 0})
    cores = os.cpu_count() or 1
    results = {}
    for kind in ("plain", "attention"):
        torch.manual_seed(0)
        runners = {
            "reference": _with_threads(cores, make_lab_trainer(lab_model(kind),
                                                               random.Random(0))),
            "seqrev": _with_threads(SEQREV_THREADS, _seqrev_step(kind, lab_config)),
            "seqrev_all_cores": _with_threads(cores, _seqrev_step(kind, lab_config)),
        }
        for fn in runners.values():
            for _ in range(5):
                fn()
        times = {name: [] for name in runners}
        for _ in range(rounds):  # interleave so all see the same machine load
            for name, fn in runners.items():
                times[name].extend(_timed(fn) for _ in range(per_round))
        medians = {name: statistics.median(t) for name, t in times.items()}
        results[kind] = {
            "reference_ms": round(medians["reference"], 2),
            "seqrev_ms": round(medians["seqrev"], 2),
            "seqrev_all_cores_ms": round(medians["seqrev_all_cores"], 2),
            "speedup": round(medians["reference"] / medians["seqrev"], 2),
            "speedup_all_cores": round(medians["reference"] / medians["seqrev_all_cores"], 2),
        }
    torch.set_num_threads(SEQREV_THREADS)
    return results


def time_to_accuracy(kind: str, check_every: int = 50, steps: int | None = None) -> dict:
    """Wall seconds and steps until ``kind`` reaches its target on 1000 fresh length-10 strings.

    App defaults (TrainConfig()), evaluation time included; then the lab's code trains with the
    lab's settings for the same wall time and is scored on the same kind of strings.
    """
    torch.set_num_threads(SEQREV_THREADS)
    config = TrainConfig(eval_every=0, device=_device["name"])
    if steps is not None:  # the same defaults with a longer cosine schedule
        config = TrainConfig(**{**config.to_dict(), "steps": steps})
    trainer = Trainer(ModelConfig(kind=kind), config)
    fresh = ReversalTask(10, 10).eval_set(1000, seed=777)
    target, budget = TARGETS[kind], BUDGET_SECONDS[kind]
    started, reached, exact = time.perf_counter(), None, 0.0
    while not trainer.finished and time.perf_counter() - started < budget:
        trainer.run(max_steps=check_every)
        exact = evaluate(trainer.model, fresh, max_failures=0).exact_match
        if exact >= target:
            reached = time.perf_counter() - started
            break
    wall = time.perf_counter() - started
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    lab = lab_model(kind)
    lab_step = make_lab_trainer(lab, random.Random(0))
    lab_started, lab_steps = time.perf_counter(), 0
    while time.perf_counter() - lab_started < wall:
        lab_step()
        lab_steps += 1
    lab_exact, lab_char = lab_exact_match(lab, 1000, seed=777)
    torch.set_num_threads(SEQREV_THREADS)
    return {"target": target, "reached": reached is not None, "schedule_steps": config.steps,
            "seconds": round(reached if reached else wall, 1), "steps": trainer.step,
            "exact_match": round(exact, 4),
            "reference_same_budget": {"seconds": round(wall, 1), "steps": lab_steps,
                                      "exact_match": round(lab_exact, 4),
                                      "char_accuracy": round(lab_char, 4)}}


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


def collect(quick: bool = False, device: torch.device | None = None) -> dict:
    _device["name"] = (device or torch.device("cpu")).type
    models = _shipped()
    results = {"machine": {**machine(), "device": _device["name"]}, "quick": quick,
               "training_step_lab_settings": training_step(quick)}
    if quick:
        results["time_to_accuracy"] = "skipped with --quick"
    else:
        results["time_to_accuracy"] = {
            "attention": time_to_accuracy("attention"),
            "plain": time_to_accuracy("plain"),
            "plain, 4000-step schedule": time_to_accuracy("plain", steps=4000),
        }
    results["decode_latency"] = decode_latency(models, quick)
    results["analysis_latency"] = analysis_latency(models, quick)
    results["scaling"] = scaling(quick)
    return results


def render(results: dict) -> str:
    m = results["machine"]
    lines = [f"seqrev benchmark, {m['date']}, {m['cpu']} ({m['cores']} cores), torch {m['torch']}"
             f", seqrev on {m['seqrev_threads']} thread(s), reference on "
             f"{m['reference_threads']}", "",
             "| training step, lab settings | reference ms | seqrev ms | speedup | "
             "seqrev ms, all cores | speedup |", "|---|---|---|---|---|---|"]
    for kind, row in results["training_step_lab_settings"].items():
        lines.append(f"| {kind} | {row['reference_ms']} | {row['seqrev_ms']} | "
                     f"{row['speedup']}x | {row['seqrev_all_cores_ms']} | "
                     f"{row['speedup_all_cores']}x |")
    tta = results["time_to_accuracy"]
    lines.append("")
    if isinstance(tta, dict):
        lines += ["| time to accuracy (length 10, 1000 fresh) | target | seqrev | "
                  "lab code, same wall time |", "|---|---|---|---|"]
        for kind, row in tta.items():
            ref = row["reference_same_budget"]
            ours = (f"{row['seconds']} s, {row['steps']} steps" if row["reached"] else
                    f"not reached in {row['seconds']} s ({row['exact_match']:.1%})")
            kind = kind if kind.startswith("plain,") else f"{kind}, app defaults"
            lines.append(f"| {kind} | {row['target']:.0%} | {ours} | {ref['exact_match']:.1%} "
                         f"exact after {ref['steps']} steps |")
    else:
        lines.append(f"time to accuracy: {tta}")
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
