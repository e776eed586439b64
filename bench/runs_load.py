"""Load in a real browser: a fresh tab's Decode time while other tabs race, and server memory.

    python -m bench.runs_load [--tabs 1 3 6] [--json]

Starts ``streamlit run app.py`` on a free localhost port with a private run store, then for
each N: opens N tabs that each press Start (a race with the app's defaults), waits until a
run is training, and times how long a fresh tab's ``/decode?text=ABCDEFGHIJ`` takes to show
``JIHGFEDCBA``, against the same with nothing training, measured in the same run. It also
reports each running run's real steps/s against a run alone, and the server's memory after
30 tabs were opened and closed, and how long a reloaded training tab takes to show its run
again. Needs Debian's chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seqrev.runs.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def decode_seconds(context, server: str) -> float:
    tab = context.new_page()
    started = time.perf_counter()
    tab.goto(f"{server}/decode?text=ABCDEFGHIJ", wait_until="domcontentloaded")
    tab.get_by_text("JIHGFEDCBA").first.wait_for(timeout=180_000)
    seconds = time.perf_counter() - started
    tab.close()
    return seconds


def stop_everything(store: RunStore) -> None:
    for run in store.list_runs(statuses=["queued", "running"]):
        store.request_stop(run.id)
    deadline = time.time() + 30
    while store.list_runs(statuses=["running"]) and time.time() < deadline:
        time.sleep(0.2)


def real_speeds(store: RunStore, seconds: float = 8.0) -> list[float]:
    """Steps per wall second of each running run over a window of ``seconds``."""
    before = {r.id: r.steps_done for r in store.list_runs(statuses=["running"])}
    time.sleep(seconds)
    after = {r.id: r.steps_done for r in store.list_runs(statuses=["running"])}
    return [round((after[i] - before[i]) / seconds, 2) for i in before if i in after]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tabs", type=int, nargs="+", default=[1, 3, 6])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    runs_folder = Path(tempfile.mkdtemp()) / "runs"
    store = RunStore(runs_folder)
    port = _free_port()
    server_process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env={**os.environ, "SEQREV_RUNS_DIR": str(runs_folder)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = f"http://127.0.0.1:{port}"
    results: dict = {"cores": os.cpu_count()}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                 args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1300, "height": 900})
            time.sleep(3)
            decode_seconds(context, server)  # warm the checkpoint cache
            idle = [decode_seconds(context, server) for _ in range(3)]
            results["idle_decode_seconds"] = round(statistics.median(idle), 2)
            alone = None
            for count in args.tabs:
                tabs = []
                for _ in range(count):
                    tab = context.new_page()
                    tab.goto(f"{server}/train?steps=100000", wait_until="domcontentloaded")
                    tab.get_by_role("button", name="Start").click()
                    tab.get_by_text("Running: step").or_(
                        tab.get_by_text("Queued, position")).or_(
                        tab.get_by_text("Starting a worker")).first.wait_for(timeout=120_000)
                    tabs.append(tab)
                while not any(r.steps_done for r in store.list_runs(statuses=["running"])):
                    time.sleep(0.2)
                if "reattach_seconds" not in results:
                    started = time.perf_counter()
                    tabs[0].reload(wait_until="domcontentloaded")
                    tabs[0].get_by_text("Running: step").first.wait_for(timeout=60_000)
                    results["reattach_seconds"] = round(time.perf_counter() - started, 2)
                speeds = real_speeds(store)
                alone = alone or (statistics.mean(speeds) if speeds else None)
                seconds = decode_seconds(context, server)
                results[f"racing_tabs_{count}"] = {
                    "decode_seconds": round(seconds, 2),
                    "limit_seconds": round(3 * results["idle_decode_seconds"] + 2, 2),
                    "running_runs": len(store.list_runs(statuses=["running"])),
                    "queued_runs": len(store.list_runs(statuses=["queued"])),
                    "steps_per_second_each": speeds,
                    "against_one_alone": [round(s / alone, 2) for s in speeds] if alone else None,
                }
                for tab in tabs:
                    tab.close()
                stop_everything(store)
            before = _rss_mb(server_process.pid)
            for _ in range(30):
                tab = context.new_page()
                tab.goto(f"{server}/train", wait_until="domcontentloaded")
                tab.get_by_role("button", name="Start").wait_for(timeout=60_000)
                tab.close()
            time.sleep(5)
            results["server_rss_mb_before_30_tabs"] = round(before, 1)
            results["server_rss_mb_after_30_tabs"] = round(_rss_mb(server_process.pid), 1)
            browser.close()
    finally:
        stop_everything(store)
        server_process.terminate()
        server_process.wait(timeout=20)
    print(json.dumps(results, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
