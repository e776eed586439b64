"""Faults, measured (issue 17): a full disk at each write point, kill -9 then an immediate
resume, two drivers racing for one sweep, and the temp files kills leave behind.

    python -m bench.faults [--disk-trials 10] [--kill-trials 20] [--race-trials 20]
                           [--tmpfs-trials 3] [--json PATH]

- A full disk is injected as OSError(ENOSPC) at the write call (state, checkpoint) or as real
  SQLite refusing to grow or write (metrics, sweep results), at a random moment of a tiny run,
  through the real CLI in this process. With ``--tmpfs-trials`` (needs root and unshare) the
  same CLI also trains on a real 2 MB tmpfs in a private mount namespace.
- Kills are real SIGKILLs of a child ``train``: half at a random moment, half in the middle of
  a state write. The resume is the CLI's own acceptance (``train --resume``'s claim), timed from
  the kill.
- The race runs the real ``sweep resume`` CLI twice at the same instant, with Ray's start
  replaced by a 1.5 s pause and the trials by nothing, so 20 races don't start Ray 40 times on
  a shared machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

import seqrev.cli.main as cli
import seqrev.cli.runs as cli_runs
from seqrev.runs.store import RunStore
from seqrev.sweeps.spec import SweepSpec
from seqrev.sweeps.store import create_sweep, progress, trial_runs
from seqrev.sweeps.trial import run_inline, write_result
from tests.fault_support import (
    FILLER_STEP,
    KILL_PATCHES,
    ROOT,
    TINY_FLAGS,
    FullStore,
    inject_at,
)

EXPECTED = {"metrics": "disk full while recording the metrics",
            "state": "disk full while saving the resumable state",
            "checkpoint": "disk full while saving checkpoint 'tiny'",
            "sweep results": "disk full while saving the sweep's results"}


def _cli(argv: list[str]) -> tuple[int | None, str, str, bool]:
    """Run the CLI here; (code, stdout, stderr, traceback?) where an escaping exception counts."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = cli.main(argv)
    except BaseException:  # noqa: BLE001 (a traceback is what is being counted)
        return None, out.getvalue(), err.getvalue(), True
    return code, out.getvalue(), err.getvalue(), "Traceback" in err.getvalue()


def disk_trial(point: str, rng: random.Random) -> dict:
    """One full disk at ``point``; right status and cause, traceback, rows lost, resumed."""
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        root = Path(folder)
        patch.setenv("SEQREV_RUNS_DIR", str(root / "runs"))
        patch.setenv("SEQREV_CHECKPOINT_DIR", str(root / "checkpoints"))
        import seqrev.checkpoints.store as checkpoints

        patch.setattr(checkpoints, "CHECKPOINT_DIR", root / "checkpoints")
        patch.setattr("seqrev.runs.worker.STATE_SECONDS", 0.0)
        patch.setattr("seqrev.runs.worker.FLUSH_SECONDS", 0.0)
        store = RunStore(root / "runs")
        if point == "sweep results":
            return _sweep_disk_trial(store, patch)
        full = FullStore(patch)
        counter = {"on": True}
        argv = ["train", *TINY_FLAGS]
        at = rng.randint(3, 25)
        if point in ("state", "checkpoint"):
            counter = inject_at(patch, point, after=at if point == "state" else 1)
        if point == "checkpoint":
            argv += ["--out", "tiny"]
        if point == "metrics":
            from seqrev.training.trainer import Trainer

            original_run = Trainer.run

            def run_and_fill(trainer, *args, **kwargs):
                if trainer.step == at and full.mode is None:
                    full.fill(store, store.list_runs()[0].id)
                return original_run(trainer, *args, **kwargs)

            patch.setattr(Trainer, "run", run_and_fill)
        code, out, err, traceback = _cli(argv)
        full.mode = None
        counter["on"] = False
        (run,) = store.list_runs()
        stored = [s for s in store.history(run.id).steps["step"] if s < FILLER_STEP]
        right = run.status == "failed" and run.error == EXPECTED[point] and code == 1
        lost = 0 if stored == list(range(1, len(stored) + 1)) else 1
        if point == "metrics":
            patch.setattr(Trainer, "run", original_run)
        resume = ["train", "--resume", run.id, "--quiet"] + (
            ["--out", "tiny"] if point == "checkpoint" else [])
        code2, _, _, traceback2 = _cli(resume)
        steps_after = store.history(run.id).steps["step"].tolist()
        resumed = (code2 == 0 and store.get(run.id).status == "finished"
                   and steps_after == list(range(1, 31)))
        return {"right_status_and_cause": right, "tracebacks": int(traceback or traceback2),
                "stored_rows_lost": lost, "resumed": resumed,
                "one_line": len([line for line in out.splitlines() if line.startswith(
                    ("failed", "error"))]) == 1}


def _sweep_disk_trial(store: RunStore, patch) -> dict:
    spec = SweepSpec(grid={"hidden_dim": (4,), "kind": ("plain", "attention"),
                           "seed": (0, 1)},
                     base={"embedding_dim": 4, "max_len": 3, "batch_size": 8}, steps=10,
                     eval_every=5, eval_per_length=10)
    record = create_sweep(spec, store=store)
    full = FullStore(patch)
    original = write_result
    fill_at = random.randint(1, 3)
    written = []

    def fills(store_, run, result, attempts):
        written.append(run.id)
        if len(written) == fill_at + 1:
            full.mode = "grow"
            full.fill(store_, run.id)
        return original(store_, run, result, attempts)

    patch.setattr("seqrev.sweeps.trial.write_result", fills)
    patch.setattr("seqrev.sweeps.driver.start_ray", lambda *a, **k: "stub")
    patch.setattr("seqrev.sweeps.driver.run_sweep",
                  lambda sweep_id, store, **kw: run_inline(sweep_id, store))
    code, _, err, traceback = _cli(["sweep", "resume", record.id])
    full.mode = None
    patch.setattr("seqrev.sweeps.trial.write_result", original)
    runs = trial_runs(record.id, store)
    failed = [r for r in runs.values() if r.status == "failed"]
    right = (code == 1 and len(failed) == 1 and failed[0].error == EXPECTED["sweep results"]
             and EXPECTED["sweep results"] in err)
    finished_before = sum(r.status == "finished" for r in runs.values())
    lost = 0 if finished_before == fill_at else 1
    run_inline(record.id, store)
    resumed = progress(record.id, store).done == spec.size
    return {"right_status_and_cause": right, "tracebacks": int(traceback),
            "stored_rows_lost": lost, "resumed": resumed, "one_line": err.count("\n") == 1}


def tmpfs_trial() -> dict | None:
    """The CLI on a real 2 MB tmpfs (private mount namespace); None where it can't mount."""
    script = textwrap.dedent(f'''
        M=$(mktemp -d); mount -t tmpfs -o size=2m tmpfs "$M" || exit 99
        export SEQREV_RUNS_DIR=$M/runs SEQREV_CHECKPOINT_DIR=$M/ck
        cd {ROOT}
        python -m seqrev train --steps 3000 --quiet --hidden-dim 100 --embedding-dim 64 \
            >"$M/out" 2>"$M/err"; echo "rc=$?"
        cat "$M/out"; echo "--stderr--"; cat "$M/err"
        python -m seqrev runs --json; echo
        umount "$M"
    ''')
    result = subprocess.run(["unshare", "-m", "bash", "-c", script], capture_output=True,
                            text=True, timeout=600, check=False)
    if "rc=" not in result.stdout:
        return None
    text = result.stdout
    runs = json.loads(text.strip().splitlines()[-1])
    stderr = text.split("--stderr--", 1)[1]
    return {"rc": int(text.split("rc=", 1)[1].split()[0]), "status": runs[0]["status"],
            "error": runs[0]["error"], "tracebacks": int("Traceback" in stderr),
            "line": [line for line in text.splitlines() if line.startswith("failed")][:1]}


def kill_trial(root: Path, trial: int) -> dict:
    """kill -9 a training child (randomly, or mid state write), then resume at once."""
    env = {**os.environ, "SEQREV_RUNS_DIR": str(root)}
    mid_write = trial % 2 == 1
    patch = KILL_PATCHES["state"] if mid_write else "from seqrev import worker\n" \
        "worker.STATE_SECONDS = 0.05\n"
    prelude = ("import os, signal, sys\ndef die():\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    argv = ["train", *TINY_FLAGS[:1], "400", *TINY_FLAGS[2:]]
    code = prelude + patch + f"\nfrom seqrev.cli.main import main\nsys.exit(main({argv!r}))\n"
    store = RunStore(root)
    before = {r.id for r in store.list_runs()}
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_id = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        new = [r for r in store.list_runs() if r.id not in before]
        if new and new[0].steps_done >= 3:
            run_id = new[0].id
            if not mid_write:
                time.sleep(random.uniform(0.0, 1.0))
                child.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    child.wait()
    killed_at = time.monotonic()
    if run_id is None:
        run_id = [r for r in store.list_runs() if r.id not in before][0].id
    folder = store.run_folder(run_id)
    temp_after_kill = len(list(folder.glob(".state.*.tmp")))
    refused, seconds = 0, None
    try:
        cli_runs._resumable(store, run_id)
        seconds = time.monotonic() - killed_at
    except Exception:  # noqa: BLE001 (a refusal of any kind is what is counted)
        refused = 1
    store.set_status(run_id, "stopped")
    return {"refused": refused, "seconds_to_accepted": seconds,
            "temp_files_right_after_kill": temp_after_kill,
            "temp_files_after_resume": len(list(folder.glob(".state.*.tmp"))),
            "killed_mid_write": mid_write}


_RACER = textwrap.dedent('''
    import os, sys, time
    import seqrev.cli.main as cli
    import seqrev.cli.sweep as sweep_cli
    import seqrev.sweeps.driver as driver
    driver.start_ray = lambda *a, **k: time.sleep(1.5) or "stub"
    sweep_cli._drive = lambda record, args, store, address: print("drove", flush=True) or 0
    sweep_cli._shutdown_ray = lambda: None
    print("ready", flush=True)
    while not os.path.exists(sys.argv[2]):
        time.sleep(0.002)
    sys.exit(cli.main(["sweep", "resume", sys.argv[1]]))
''')


def race_trial(root: Path, trial: int) -> dict:
    """Two real ``sweep resume`` at the same instant: how many drove, and any tracebacks."""
    store = RunStore(root)
    spec = SweepSpec(grid={"hidden_dim": (4,)}, steps=10)
    record = create_sweep(spec, store=store)
    go = root / f"go-{trial}"
    env = {**os.environ, "SEQREV_RUNS_DIR": str(root)}
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, record.id, str(go)], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(2)]
    for racer in racers:
        racer.stdout.readline()
    go.touch()
    outcomes = [(racer.communicate(timeout=120), racer.returncode) for racer in racers]
    drove = sum("drove" in out for (out, _), _ in outcomes)
    refused = [err for (_, err), code in outcomes if code == 2]
    return {"live_drivers": drove, "tracebacks": sum("Traceback" in err for (_, err), _ in
                                                      outcomes),
            "refusals_one_line_naming_pid": sum(e.count("\n") == 1 and "pid " in e
                                                for e in refused)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--disk-trials", type=int, default=10)
    parser.add_argument("--kill-trials", type=int, default=20)
    parser.add_argument("--race-trials", type=int, default=20)
    parser.add_argument("--tmpfs-trials", type=int, default=3)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    random.seed(17)
    rng = random.Random(17)
    report: dict = {"machine": os.uname().nodename, "cpus": os.cpu_count(),
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    disk = {}
    for point in EXPECTED:
        trials = [disk_trial(point, rng) for _ in range(args.disk_trials)]
        disk[point] = {"trials": len(trials),
                       **{key: sum(int(t[key]) for t in trials) for key in trials[0]}}
        print(point, disk[point], flush=True)
    report["full_disk"] = disk
    tmpfs = [t for t in (tmpfs_trial() for _ in range(args.tmpfs_trials)) if t]
    report["tmpfs_2mb"] = tmpfs
    print("tmpfs", tmpfs, flush=True)
    with tempfile.TemporaryDirectory() as folder:
        kills = [kill_trial(Path(folder), trial) for trial in range(args.kill_trials)]
    seconds = sorted(k["seconds_to_accepted"] for k in kills if k["seconds_to_accepted"])
    report["kill_then_resume"] = {
        "trials": len(kills), "refused": sum(k["refused"] for k in kills),
        "seconds_to_accepted_median": round(seconds[len(seconds) // 2], 3) if seconds else None,
        "seconds_to_accepted_max": round(seconds[-1], 3) if seconds else None,
        "killed_mid_write": sum(k["killed_mid_write"] for k in kills),
        "temp_files_right_after_kill": sum(k["temp_files_right_after_kill"] for k in kills),
        "temp_files_left": sum(k["temp_files_after_resume"] for k in kills)}
    print("kills", report["kill_then_resume"], flush=True)
    with tempfile.TemporaryDirectory() as folder:
        races = [race_trial(Path(folder), trial) for trial in range(args.race_trials)]
    report["two_drivers"] = {
        "trials": len(races),
        "sweeps_with_two_live_drivers": sum(r["live_drivers"] > 1 for r in races),
        "sweeps_with_no_driver": sum(r["live_drivers"] == 0 for r in races),
        "tracebacks": sum(r["tracebacks"] for r in races),
        "refusals_one_line_naming_pid": sum(r["refusals_one_line_naming_pid"] for r in races)}
    print("races", report["two_drivers"], flush=True)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
