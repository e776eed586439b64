"""Every model kind at its own defaults: time to 99%, length generalization, and a step's
time against the GRU attention model's, in one run.

Run from the repository root: ``python -m bench.transformer_lengths [--kinds ...]``.

Every kind trains on reversal of lengths 1..16 (the app's default range), batch 64, and are
scored every ``--eval-every`` steps on 100 fresh strings per length (seed 4242 + length).
"Time to 99%" is the first evaluation where every length 1..16 is at 99% exact or more, in
steps, in seconds of training (evaluations excluded) and in lab reference steps (the lab's
own attention step, timed in this run by ``bench.reference``, as ``bench/run.py`` does). At
the end each model is scored on 1,000 fresh strings per length 1..32 (2x the training range):
exact match (coarse) and per-letter accuracy (fine), Grefenstette et al.'s two measures.

Each kind trains with seqrev's Trainer at its own defaults (``preset("default", kind)``: the
tuned schedule, curriculum and learning rate, and the kind's own budget), on the same batches.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time

import torch

from bench.reference import lab_model, make_lab_trainer
from seqrev.models.kinds import KIND_NAMES
from seqrev.tasks.registry import make_task
from seqrev.tasks.vocab import EOS, PAD, SOS
from seqrev.training.trainer import Trainer, preset

TRAIN_LENGTHS = (1, 16)
TARGET = 0.99


def greedy_tokens(model, batch, steps: int) -> torch.Tensor:
    """Greedy decoding through the model's own encode/step: (batch, steps) tokens written."""
    memory, state = model.encode(batch.source, batch.lengths)
    tokens = torch.full((batch.source.shape[0],), SOS)
    written = []
    for _ in range(steps):
        out = model.step(tokens, state, memory)
        state = out.state
        tokens = out.logits.argmax(dim=1)  # (batch,)
        written.append(tokens)
    return torch.stack(written, dim=1)  # (batch, steps)


def score(model, length: int, n: int) -> tuple[float, float]:
    """Exact match and per-letter accuracy on ``n`` fresh strings of ``length``."""
    batch = make_task("reverse", length, length).eval_set(n, seed=4242 + length)
    with torch.no_grad():
        produced = greedy_tokens(model, batch, batch.target.shape[1])  # (n, length + 1)
    letters = batch.target != PAD
    same = (produced == batch.target) | ~letters  # (n, length + 1)
    exact = same.all(dim=1).float().mean().item()
    fine = ((produced == batch.target) & letters & (batch.target != EOS)).sum().item() / (
        n * length)
    return exact, fine


def by_length(model, lengths, n: int) -> dict[int, tuple[float, float]]:
    model.eval()
    scores = {length: score(model, length, n) for length in lengths}
    model.train()
    return scores


def train(name: str, model, step, steps: int, eval_every: int) -> dict:
    """Run ``step`` ``steps`` times, scoring every ``eval_every``; note the first 99% everywhere."""
    step_times, reached, history = [], None, []
    for number in range(1, steps + 1):
        started = time.perf_counter()
        step()
        step_times.append(time.perf_counter() - started)
        if number % eval_every == 0 or number == steps:
            scores = by_length(model, range(1, TRAIN_LENGTHS[1] + 1), 100)
            worst = min(exact for exact, _ in scores.values())
            history.append({"step": number, "worst_exact": round(worst, 3),
                            "train_seconds": round(sum(step_times), 1)})
            print(json.dumps({"model": name, **history[-1]}), flush=True)
            if worst >= TARGET and reached is None:
                reached = {"step": number, "train_seconds": round(sum(step_times), 1)}
    return {"reached_99": reached, "history": history,
            "median_step_ms": round(1000 * statistics.median(step_times), 2),
            "steps": len(step_times)}


def lab_step_ms() -> float:
    step = make_lab_trainer(lab_model("attention"), random.Random(0))
    for _ in range(3):
        step()
    times = []
    for _ in range(15):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=list(KIND_NAMES), choices=KIND_NAMES)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    results = {}
    for kind in args.kinds:
        model_config, train_config = preset("default", kind)
        trainer = Trainer(model_config, train_config)
        trained = train(kind, trainer.model, trainer.train_step, train_config.steps,
                        args.eval_every)
        final = by_length(trainer.model, range(1, 2 * TRAIN_LENGTHS[1] + 1), 1000)
        trained["exact_by_length"] = {n: round(e, 3) for n, (e, _) in final.items()}
        trained["fine_by_length"] = {n: round(f, 3) for n, (_, f) in final.items()}
        trained["parameters"] = sum(p.numel() for p in trainer.model.parameters())
        results[kind] = trained
    lab_ms = lab_step_ms()
    for row in results.values():
        reached = row["reached_99"]
        row["reached_99_lab_steps"] = (None if reached is None else
                                       round(1000 * reached["train_seconds"] / lab_ms))
    measured = {"lab_attention_step_ms": round(lab_ms, 2), "models": results,
                "step_time_over_attention": {
                    kind: round(row["median_step_ms"] / results["attention"]["median_step_ms"], 2)
                    for kind, row in results.items()} if "attention" in results else None,
                "load_average_before": [round(v, 2) for v in load_before],
                "load_average_after": [round(v, 2) for v in os.getloadavg()]}
    text = json.dumps(measured, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as out:
            out.write(text + "\n")


if __name__ == "__main__":
    main()
