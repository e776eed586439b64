"""Real Chromium: how long each page takes to draw its main figure, idle and with 3 races.

    python -m bench.figure_load [--repeats 3] [--races 3] [--start serve|app] [--json]

Starts ``streamlit run serve.py`` (the README's command; ``--start app`` for app.py) on a free
localhost port with a private run store and ``SEQREV_MAX_RUNNING`` set to the number of races,
so that every race trains at once. For each page it opens a fresh tab and times from ``goto``
until the page's main figure (or, where a page has none before a run exists, its main element)
is visible: once on the fresh server (the first visitor pays for loading the checkpoints), then
``--repeats`` times idle, then ``--repeats`` times while the races train. Goal (issue 15): at
most 2.5 s idle, and within 3x idle + 2 s under load. Needs Debian's chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.runs_load import CHROMIUM_ARGS, ROOT, _free_port, stop_everything
from seqrev.runs.store import RunStore

# page: (path, how to find its main element: css, button or text, and what)
PAGES = {
    "lesson": ("/?chapter=1", "text", "Model generate"),
    "home": ("/home", "css", "[data-testid='stDataFrame']"),
    "train": ("/train", "button", "Start"),
    "runs": ("/runs", "css", "[data-testid='stDataFrame'], [data-testid='stAlert']"),
    "decode": ("/decode", "css", ".js-plotly-plot"),
    "attention": ("/attention", "css", ".js-plotly-plot"),
    "sweep": ("/sweep", "css", ".js-plotly-plot"),
}


def figure_seconds(context, server: str, page: str) -> float:
    """Seconds from opening ``page`` in a fresh tab to its main figure being visible."""
    path, kind, target = PAGES[page]
    tab = context.new_page()
    started = time.perf_counter()
    tab.goto(f"{server}{path}", wait_until="domcontentloaded")
    locator = (tab.locator(target) if kind == "css" else
               tab.get_by_role("button", name=target) if kind == "button" else
               tab.get_by_text(target, exact=False))
    locator.first.wait_for(state="visible", timeout=180_000)
    seconds = time.perf_counter() - started
    tab.close()
    return round(seconds, 2)


def start_races(context, server: str, count: int, store: RunStore) -> list:
    tabs = []
    for _ in range(count):
        tab = context.new_page()
        tab.goto(f"{server}/train?steps=100000", wait_until="domcontentloaded")
        tab.get_by_role("button", name="Start").click()
        tab.get_by_text("Running: step").or_(tab.get_by_text("Queued, position")).or_(
            tab.get_by_text("Starting a worker")).first.wait_for(timeout=120_000)
        tabs.append(tab)
    deadline = time.time() + 120
    while (sum(1 for r in store.list_runs(statuses=["running"]) if r.steps_done) < 2 * count
           and time.time() < deadline):  # a race is two runs
        time.sleep(0.5)
    return tabs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--races", type=int, default=3)
    parser.add_argument("--start", choices=("serve", "app"), default="serve",
                        help="the script streamlit runs: serve.py preloads the pages' modules")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    runs_folder = Path(tempfile.mkdtemp()) / "runs"
    store = RunStore(runs_folder)
    port = _free_port()
    env = {**os.environ, "SEQREV_RUNS_DIR": str(runs_folder),
           "SEQREV_MAX_RUNNING": str(args.races)}
    server_process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", f"{args.start}.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = f"http://127.0.0.1:{port}"
    results: dict = {"cores": os.cpu_count(), "load_average_at_start": os.getloadavg()[0],
                     "races": args.races, "start": f"{args.start}.py", "pages": {}}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                 args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            time.sleep(3)
            for page in PAGES:
                results["pages"][page] = {"first_visit": figure_seconds(context, server, page)}
            for page in PAGES:
                idle = [figure_seconds(context, server, page) for _ in range(args.repeats)]
                results["pages"][page]["idle"] = statistics.median(idle)
            tabs = start_races(context, server, args.races, store)
            results["running_runs"] = len(store.list_runs(statuses=["running"]))
            for page in PAGES:
                loaded = [figure_seconds(context, server, page) for _ in range(args.repeats)]
                row = results["pages"][page]
                row["with_races"] = statistics.median(loaded)
                row["load_limit"] = round(3 * row["idle"] + 2, 2)
                row["idle_met"] = row["idle"] <= 2.5
                row["load_met"] = row["with_races"] <= row["load_limit"]
            for tab in tabs:
                tab.close()
            browser.close()
    finally:
        stop_everything(store)
        server_process.terminate()
        server_process.wait(timeout=20)
    if args.json:
        print(json.dumps(results))
        return
    print(f"{results['start']}, {results['cores']} cores, {results['races']} races "
          f"({results.get('running_runs')} runs training)")
    print("| page | first visit s | idle s | with races s | limit s | idle met | load met |")
    print("|---|---|---|---|---|---|---|")
    for page, row in results["pages"].items():
        print(f"| {page} | {row['first_visit']} | {row['idle']} | {row['with_races']} | "
              f"{row['load_limit']} | {'yes' if row['idle_met'] else 'no'} | "
              f"{'yes' if row['load_met'] else 'no'} |")


if __name__ == "__main__":
    main()
