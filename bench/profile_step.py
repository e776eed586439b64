"""Where a training step's time goes: ``python -m bench.profile_step plain|attention``.

One thread, the lab's settings, ``torch.profiler`` over 50 steps after 30 of warm-up. Prints
the step time, the matrix products' share of the self time, ATen calls per step and the top
ops. The README's "Why the floor multiple is not met" quotes its output.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import torch
from torch.profiler import ProfilerActivity, profile

from seqrev.training.trainer import LAB_MODEL, LAB_TRAINING, Trainer

PRODUCTS = {"aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::baddbmm",
            "aten::baddbmm_"}
STEPS = 50


def main(kind: str) -> None:
    torch.set_num_threads(1)
    trainer = Trainer(replace(LAB_MODEL, kind=kind), replace(LAB_TRAINING, eval_every=0))
    for _ in range(30):
        trainer.train_step()
    started = time.perf_counter()
    for _ in range(STEPS):
        trainer.train_step()
    step_ms = (time.perf_counter() - started) / STEPS * 1000
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(STEPS):
            trainer.train_step()
    events = profiler.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    products = sum(e.self_cpu_time_total for e in events if e.key in PRODUCTS)
    calls = sum(e.count for e in events if e.key.startswith("aten::"))
    print(f"{kind}: {step_ms:.2f} ms a step unprofiled; matrix products {products / total:.0%} "
          f"of self time; {calls / STEPS:.0f} ATen calls a step")
    print(events.table(sort_by="self_cpu_time_total", row_limit=22, max_name_column_width=30))


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("plain", "attention"):
        sys.exit("usage: python -m bench.profile_step plain|attention")
    main(sys.argv[1])
