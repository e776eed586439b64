"""The small Transformer against the GRU attention model: time to 99%, length generalization,
and a step's time, in one run.

Run from the repository root: ``python -m bench.transformer_lengths [--steps 4000]``.

Both models train on reversal of lengths 1..16 (the app's default range), batch 64, and are
scored every ``--eval-every`` steps on 100 fresh strings per length (seed 4242 + length).
"Time to 99%" is the first evaluation where every length 1..16 is at 99% exact or more, in
steps, in seconds of training (evaluations excluded) and in lab reference steps (the lab's
own attention step, timed in this run by ``bench.reference``, as ``bench/run.py`` does). At
the end each model is scored on 1,000 fresh strings per length 1..32 (2x the training range):
exact match (coarse) and per-letter accuracy (fine), Grefenstette et al.'s two measures.

The GRU attention model trains with seqrev's Trainer at the app's defaults (``ModelConfig``
and ``TrainConfig`` defaults, its own default budget: the tuned schedule, curriculum and
learning rate). The Transformer is not yet a kind the Trainer builds (issue 20), so a
minimal loop here trains it: d_model 64, 4 heads, 2 layers, ff 128, sinusoidal positions,
Adam at 1e-3 with clipping at 1, batch 64 of lengths 1..16 drawn uniformly; not tuned.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time

import torch
import torch.nn.functional as F

from bench.reference import lab_model, make_lab_trainer
from seqrev.models.kinds import model_kind
from seqrev.models.seq2seq import ModelConfig
from seqrev.models.transformer import TransformerConfig, build_transformer
from seqrev.tasks.registry import make_task
from seqrev.tasks.vocab import EOS, PAD, SOS
from seqrev.training.trainer import TrainConfig, Trainer

TRAIN_LENGTHS = (1, 16)
TARGET = 0.99


def greedy_tokens(model, batch, steps: int) -> torch.Tensor:
    """Greedy decoding through the model's own encode/step: (batch, steps) tokens written."""
    memory, state = model.encode(batch.source, batch.lengths)
    tokens = torch.full((batch.source.shape[0],), SOS)
    written = []
    for _ in range(steps):
        out = model.step(tokens, state, memory)
        state = out.state if hasattr(out, "state") else out.hidden
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


def transformer_stepper(model, lr: float):
    """One training step of the Transformer (Adam, clip 1, batch 64 of lengths 1..16)."""
    task = make_task("reverse", *TRAIN_LENGTHS)
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step() -> None:
        batch = task.sample(64, generator)
        logits = model(batch.source, batch.lengths, batch.decoder_input)  # (64, T, vocab)
        loss = F.cross_entropy(logits.flatten(0, 1), batch.target.flatten(), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return step


def train(name: str, model, step, steps: int, eval_every: int) -> dict:
    """Run ``step`` up to ``steps`` times, scoring every ``eval_every``; stop at 99% everywhere."""
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
            if worst >= TARGET:
                reached = {"step": number, "train_seconds": round(sum(step_times), 1)}
                break
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
    parser.add_argument("--steps", type=int, default=6000, help="the Transformer's budget")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    torch.manual_seed(0)
    transformer = build_transformer(TransformerConfig(d_model=64, n_heads=4, n_layers=2,
                                                      ff_dim=128))
    gru_steps = model_kind("attention").default_steps
    gru = Trainer(ModelConfig(kind="attention"), TrainConfig(steps=gru_steps, eval_every=0))
    runs = {"transformer": (transformer, transformer_stepper(transformer, 1e-3), args.steps),
            "attention": (gru.model, gru.train_step, gru_steps)}
    results = {}
    for name, (model, step, steps) in runs.items():
        trained = train(name, model, step, steps, args.eval_every)
        final = by_length(model, range(1, 2 * TRAIN_LENGTHS[1] + 1), 1000)
        trained["exact_by_length"] = {n: round(e, 3) for n, (e, _) in final.items()}
        trained["fine_by_length"] = {n: round(f, 3) for n, (_, f) in final.items()}
        trained["parameters"] = sum(p.numel() for p in model.parameters())
        results[name] = trained
    lab_ms = lab_step_ms()
    for row in results.values():
        reached = row["reached_99"]
        row["reached_99_lab_steps"] = (None if reached is None else
                                       round(1000 * reached["train_seconds"] / lab_ms))
    measured = {"lab_attention_step_ms": round(lab_ms, 2), "models": results,
                "step_time_ratio": round(results["transformer"]["median_step_ms"]
                                         / results["attention"]["median_step_ms"], 2),
                "load_average_before": [round(v, 2) for v in load_before],
                "load_average_after": [round(v, 2) for v in os.getloadavg()]}
    text = json.dumps(measured, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as out:
            out.write(text + "\n")


if __name__ == "__main__":
    main()
