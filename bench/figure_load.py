"""Real Chromium: how long each page takes to draw its main figure, idle and with 3 races.

    python -m bench.figure_load [--repeats 3] [--races 3] [--start serve|app] [--json]
                                [--watched]

Starts ``streamlit run serve.py`` (the README's command; ``--start app`` for app.py) on a free
localhost port with a private run store and ``SEQREV_MAX_RUNNING`` set to the number of races,
so that every race trains at once. For each page it opens a fresh tab and times from ``goto``
until the page's main figure (or, where a page has none before a run exists, its main element)
is visible: once on the fresh server (the first visitor pays for loading the checkpoints), then
``--repeats`` times idle, then ``--repeats`` times while the races train, with the tabs that
started them closed (the races go on in their workers), and with ``--watched`` again with three
tabs open on them. Playwright draws every tab of a context as a foreground tab, so each open race
tab redraws its live charts on the same cores, which a browser's background tabs would not.
Before the app, it times the same wait on two bare Streamlit pages on their own server: one
line of text, and one line of text with one small plotly bar chart (what Streamlit's plotly
component costs a fresh tab here). Goal (issue 15): at most 2.5 s idle, and within 3x idle + 2 s
under load. Needs Debian's chromium.
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

# bare pages: name -> (script, main element)
FLOOR_PAGES = {
    "bare text": ('import streamlit as st\nst.title("Floor")\nst.markdown("One line of text.")\n',
                  ("/", "text", "One line of text.")),
    "bare plotly chart": (
        'import plotly.graph_objects as go\nimport streamlit as st\nst.title("Floor")\n'
        'st.markdown("One line of text.")\n'
        'st.plotly_chart(go.Figure(go.Bar(x=list("ABCDE"), y=[5, 4, 3, 2, 1])))\n',
        ("/", "css", ".js-plotly-plot")),
}

# page: (path, how to find its main element: css, button or text, and what)
PAGES = {
    "lesson": ("/?chapter=1", "text", "Model generate"),
    "home": ("/home", "css", "[data-testid='stDataFrame']"),
    "train": ("/train", "button", "Start"),
    "runs": ("/runs", "css", "[data-testid='stDataFrame'], [data-testid='stAlert']"),
    "decode": ("/decode", "css", ".seqrev-topk"),  # its step view: server-drawn SVG
    "attention": ("/attention", "css", ".js-plotly-plot"),
    "sweep": ("/sweep", "css", ".js-plotly-plot"),
}


def figure_seconds(context, server: str, page: str, pages: dict = PAGES) -> float:
    """Seconds from opening ``page`` in a fresh tab to its main figure being visible."""
    path, kind, target = pages[page]
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


def start_server(script: str, port: int, env: dict, folder: Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def floor_seconds(context, repeats: int) -> dict:
    """Median seconds to the main element of each bare page (after one first visit)."""
    folder = Path(tempfile.mkdtemp())
    floors = {}
    for name, (script, target) in FLOOR_PAGES.items():
        (folder / "floor.py").write_text(script)
        port = _free_port()
        process = start_server("floor.py", port, dict(os.environ), folder)
        try:
            time.sleep(3)
            server, pages = f"http://127.0.0.1:{port}", {name: target}
            figure_seconds(context, server, name, pages)
            floors[name] = statistics.median(
                figure_seconds(context, server, name, pages) for _ in range(repeats))
        finally:
            process.terminate()
            process.wait(timeout=20)
    return floors


def timed_under_races(context, server: str, repeats: int, pages: dict = PAGES) -> dict:
    return {page: statistics.median(figure_seconds(context, server, page)
                                    for _ in range(repeats)) for page in pages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--races", type=int, default=3)
    parser.add_argument("--start", choices=("serve", "app"), default="serve",
                        help="the script streamlit runs: serve.py preloads the pages' modules")
    parser.add_argument("--watched", action="store_true",
                        help="also time the pages with the race tabs left open")
    parser.add_argument("--pages", default=",".join(PAGES),
                        help="comma-separated pages to time (default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    chosen = [page.strip() for page in args.pages.split(",") if page.strip()]
    unknown = sorted(set(chosen) - set(PAGES))
    if unknown or not chosen:
        parser.error(f"unknown page {', '.join(unknown) or '(none)'}; "
                     f"choose from {', '.join(PAGES)}")
    pages = {page: PAGES[page] for page in chosen}
    from playwright.sync_api import sync_playwright

    runs_folder = Path(tempfile.mkdtemp()) / "runs"
    store = RunStore(runs_folder)
    port = _free_port()
    env = {**os.environ, "SEQREV_RUNS_DIR": str(runs_folder),
           "SEQREV_MAX_RUNNING": str(args.races)}
    server_process = start_server(f"{args.start}.py", port, env)
    server = f"http://127.0.0.1:{port}"
    results: dict = {"cores": os.cpu_count(), "load_average_at_start": os.getloadavg()[0],
                     "races": args.races, "start": f"{args.start}.py", "pages": {}}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                 args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            results["floor"] = floor_seconds(context, args.repeats)
            for page in pages:
                results["pages"][page] = {"first_visit": figure_seconds(context, server, page)}
            for page in pages:
                idle = [figure_seconds(context, server, page) for _ in range(args.repeats)]
                results["pages"][page]["idle"] = statistics.median(idle)
            tabs = start_races(context, server, args.races, store)
            results["running_runs"] = len(store.list_runs(statuses=["running"]))
            watched = (timed_under_races(context, server, args.repeats, pages) if args.watched
                       else {})
            for tab in tabs:
                tab.close()
            loaded = timed_under_races(context, server, args.repeats, pages)
            results["running_after_tabs_closed"] = len(store.list_runs(statuses=["running"]))
            for page, row in results["pages"].items():
                row["with_races"] = loaded[page]
                if watched:
                    row["with_races_watched"] = watched[page]
                row["load_limit"] = round(3 * row["idle"] + 2, 2)
                row["idle_met"] = row["idle"] <= 2.5
                row["load_met"] = row["with_races"] <= row["load_limit"]
            browser.close()
    finally:
        stop_everything(store)
        server_process.terminate()
        server_process.wait(timeout=20)
    if args.json:
        print(json.dumps(results))
        return
    print(f"{results['start']}, {results['cores']} cores, {results['races']} races "
          f"({results.get('running_runs')} runs training, "
          f"{results.get('running_after_tabs_closed')} after their tabs closed)")
    for name, seconds in results["floor"].items():
        print(f"{name} (its own server), idle: {seconds} s")
    watched = " | with races, tabs open s" if args.watched else ""
    print(f"| page | first visit s | idle s | with races s{watched} | limit s | idle met | "
          "load met |")
    print("|---|---|---|---|---|---|---|" + ("---|" if args.watched else ""))
    for page, row in results["pages"].items():
        open_tabs = f" | {row['with_races_watched']}" if args.watched else ""
        print(f"| {page} | {row['first_visit']} | {row['idle']} | {row['with_races']}{open_tabs} | "
              f"{row['load_limit']} | {'yes' if row['idle_met'] else 'no'} | "
              f"{'yes' if row['load_met'] else 'no'} |")


if __name__ == "__main__":
    main()
