"""Kill -9 a training worker at a random moment, N times: runs lost, metrics lost, corruption.

    python -m bench.crash_safety [--trials 20] [--json]

Each trial starts ``python -m seqrev train`` (lab sizes) in a fresh process, kills it with
SIGKILL after a random 1-4 s, and then checks the store: the run must still be there, turn
``interrupted`` when reaped, keep every step it had recorded, and the database must pass
SQLite's integrity check. "Metrics lost" is the time from the kill back to the run's last
recorded write. The last trial's run is resumed to its end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seqrev.runs.store import RunStore
from seqrev.runs.worker import Worker

ROOT = Path(__file__).resolve().parent.parent


def one_trial(store: RunStore, rng: random.Random) -> dict:
    child = subprocess.Popen(
        [sys.executable, "-m", "seqrev", "train", "--model", rng.choice(["plain", "attention"]),
         "--steps", "100000", "--eval-every", "100", "--threads", "1", "--quiet"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "SEQREV_RUNS_DIR": str(store.root)})
    run_id = child.stdout.readline().split()[1]
    while store.get(run_id).steps_done == 0:
        time.sleep(0.05)
    time.sleep(rng.uniform(1.0, 4.0))
    os.kill(child.pid, signal.SIGKILL)
    killed = time.time()
    child.wait()
    before = store.get(run_id)
    recorded = len(store.history(run_id).steps)
    reaped = store.reap(stale_after=0.0)
    after = store.get(run_id)
    with sqlite3.connect(store.db_path) as connection:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
    return {"run": run_id, "steps_recorded": recorded, "steps_done": before.steps_done,
            "metrics_lost_seconds": round(killed - before.updated, 3),
            "interrupted": run_id in reaped and after.status == "interrupted",
            "history_kept": len(store.history(run_id).steps) == recorded,
            "integrity": integrity}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(Path(folder) / "runs")
        trials = [one_trial(store, rng) for _ in range(args.trials)]
        last = store.get(trials[-1]["run"])
        store.set_status(last.id, "running")
        resumed_from = last.steps_done
        from dataclasses import replace

        # resume to a near end: the run's own 100000 steps would take hours
        short = replace(last, train_config=replace(last.train_config,
                                                   steps=last.steps_done + 50))
        outcome = Worker(store, [short]).run()
        summary = {
            "trials": len(trials),
            "runs_lost": sum(1 for t in trials if not t["interrupted"]),
            "history_lost": sum(1 for t in trials if not t["history_kept"]),
            "corrupt": sum(1 for t in trials if t["integrity"] != "ok"),
            "metrics_lost_seconds_median":
                statistics.median(t["metrics_lost_seconds"] for t in trials),
            "metrics_lost_seconds_max": max(t["metrics_lost_seconds"] for t in trials),
            "resumed": {"from_step": resumed_from, "outcome": outcome},
            "trial_details": trials,
        }
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            if key != "trial_details":
                print(f"{key}: {value}")


if __name__ == "__main__":
    main()
