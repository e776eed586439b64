"""Server time of each page's first render, for a fresh server and for a second visit.

Each sample runs in a fresh Python process (so Streamlit's in-memory caches start empty): the
process first imports what a server has imported before its first visitor (``--start``), then
times AppTest's first run of the page on the shipped checkpoints ("first") and one rerun
("rerun"). The median of ``--repeats`` samples per page is printed as a table and as JSON.

``--start`` says which server the first visitor arrives at:

- ``serve`` (the default): ``streamlit run serve.py``, which imports every module the app's
  scripts import at their top when it starts (``pages/preload.py``);
- ``app``: ``streamlit run app.py``, which has imported only Streamlit's own server (and,
  through it, plotly's top package), so the first render also imports torch, pandas, ...;
- ``libraries``: streamlit, plotly and torch, what this benchmark pre-imported until
  2026-12-03, to compare with the numbers measured before then.

    python -m bench.pages                 # every page, 5 samples each
    python -m bench.pages --pages decode attention --repeats 3
    python -m bench.pages --start app     # the first visitor of `streamlit run app.py`
    python -m bench.pages --pages attention-states attention-errors   # sections, stored
    python -m bench.pages --pages attention-states attention-errors --no-stored

The goal on an idle machine: first render <= 1.0 s, rerun <= 0.3 s. The machine's load
average is printed beside the numbers; on a shared machine they are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"home": "pages/home.py", "train": "pages/train.py", "runs": "pages/runs.py",
         "decode": "pages/decode.py", "attention": "pages/attention.py",
         "sweep": "pages/sweep.py", "lesson": "pages/lesson.py",
         # the Attention page's sections that read the stored analysis
         "attention-states": "pages/attention.py", "attention-errors": "pages/attention.py"}
QUERIES = {"attention-states": {"section": "states"}, "attention-errors": {"section": "errors"}}
DEFAULT_PAGES = ["home", "train", "runs", "decode", "attention", "sweep", "lesson"]
GOAL_FIRST_S, GOAL_RERUN_S = 1.0, 0.3


def available_pages() -> list[str]:
    """The page names whose script exists (the Lesson page may not yet)."""
    return [name for name, script in PAGES.items() if (ROOT / script).exists()]


def default_pages() -> list[str]:
    return [name for name in DEFAULT_PAGES if name in available_pages()]


def scan_components_as_a_server_starts(at) -> None:
    """Scan the installed packages for Streamlit components before the clock starts.

    A server does this once, when it starts (``Runtime.__init__``); AppTest does it inside its
    first run, where it would add ~0.5 s (the scan reads every installed package's metadata)
    to a page render that a real first visitor never waits for.
    """
    from streamlit.components.v2.component_manager import BidiComponentManager

    if getattr(at, "_bidi_component_manager", False) is None:  # AppTest's lazy slot
        manager = BidiComponentManager()
        manager.discover_and_register_components(start_file_watching=False)
        at._bidi_component_manager = manager


STARTS = ("serve", "app", "libraries")


def import_as_a_server_starts(start: str) -> None:
    """Import what a server started by ``start`` (see the module's docstring) has imported
    before its first visitor arrives."""
    import streamlit.web.bootstrap  # noqa: F401  `streamlit run` itself
    import streamlit.web.server.server  # noqa: F401

    if start == "serve":
        from pages.preload import import_page_modules

        import_page_modules()
    elif start == "libraries":
        import plotly  # noqa: F401
        import torch  # noqa: F401


def one_sample(page: str, timeout: float, start_kind: str = "serve") -> dict:
    """Time the first run and one rerun of ``page`` in this (fresh) process."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    import_as_a_server_starts(start_kind)

    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    scan_components_as_a_server_starts(at)
    at.switch_page(PAGES[page])
    for name, value in QUERIES.get(page, {}).items():
        at.query_params[name] = value
    start = time.perf_counter()
    at.run()
    first = time.perf_counter() - start
    start = time.perf_counter()
    at.run()
    rerun = time.perf_counter() - start
    errors = [str(e.value)[:200] for e in at.exception]
    return {"first_s": first, "rerun_s": rerun, "errors": errors}


def sample_in_fresh_process(page: str, timeout: float, no_stored: bool,
                            start: str = "serve") -> dict:
    env = dict(os.environ)
    if no_stored:
        env["SEQREV_ANALYSIS_CACHE"] = "off"
    done = subprocess.run(
        [sys.executable, "-m", "bench.pages", "--child", page, "--timeout", str(timeout),
         "--start", start],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout * 3)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"first_s": None, "rerun_s": None,
                "errors": [done.stderr.strip().splitlines()[-1:] or "no output"]}
    return json.loads(lines[-1])


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", nargs="+", choices=list(PAGES), default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--no-stored", action="store_true",
                        help="ignore the analysis stored beside the checkpoints")
    parser.add_argument("--start", choices=STARTS, default="serve",
                        help="which server the first visitor arrives at (see above)")
    parser.add_argument("--child", choices=list(PAGES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(one_sample(args.child, args.timeout, args.start)))
        return 0
    pages = [p for p in (args.pages or default_pages()) if p in available_pages()]
    load_before = os.getloadavg()
    results = {}
    for page in pages:
        samples = [sample_in_fresh_process(page, args.timeout, args.no_stored, args.start)
                   for _ in range(args.repeats)]
        results[page] = {
            "first_s": median([s["first_s"] for s in samples]),
            "rerun_s": median([s["rerun_s"] for s in samples]),
            "samples": samples,
        }
        print(f"  {page}: done", file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    print(f"{'page':<17} {'first render (s)':>17} {'rerun (s)':>10}")
    for page, result in results.items():
        first, rerun = result["first_s"], result["rerun_s"]
        print(f"{page:<17} {first if first is None else f'{first:.2f}':>17} "
              f"{rerun if rerun is None else f'{rerun:.2f}':>10}")
    print(f"median of {args.repeats} fresh processes started as --start {args.start}; "
          f"load average before "
          f"{load_before[0]:.2f}, after {load_after[0]:.2f}; "
          f"goal {GOAL_FIRST_S} s first, {GOAL_RERUN_S} s rerun on an idle machine")
    print(json.dumps({"repeats": args.repeats, "no_stored": args.no_stored, "start": args.start,
                      "cpus": os.cpu_count(), "load_before": load_before,
                      "load_after": load_after, "pages": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
