"""Server time of each Lesson chapter's first render and of a rerun, on the shipped checkpoints.

One process: every chapter is rendered once untimed, so the libraries it uses are imported (a
running server has them). Then, per chapter and sample, Streamlit's caches are cleared and
AppTest renders the chapter in a fresh session ("first": nothing cached, the checkpoints
loaded again) and reruns it once ("rerun"). Medians of ``--repeats`` samples.
``bench/pages.py`` times chapter 1 in a fresh process, imports included.

    python -m bench.lesson [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    import seqrev.teaching.lesson as lesson

    def render(number: int) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.switch_page("pages/lesson.py")
        at.query_params["chapter"] = str(number)
        return at

    for chapter in lesson.CHAPTERS:  # warm-up: the imports a running server has done
        render(chapter.number).run()
    load_before = os.getloadavg()
    results = {}
    for chapter in lesson.CHAPTERS:
        samples = []
        for _ in range(args.repeats):
            st.cache_data.clear()
            st.cache_resource.clear()
            at = render(chapter.number)
            start = time.perf_counter()
            at.run()
            first = time.perf_counter() - start
            start = time.perf_counter()
            at.run()
            samples.append({"first_s": first, "rerun_s": time.perf_counter() - start,
                            "errors": [str(e.value)[:200] for e in at.exception]})
        results[chapter.number] = {
            "title": chapter.title,
            "first_s": statistics.median(s["first_s"] for s in samples),
            "rerun_s": statistics.median(s["rerun_s"] for s in samples),
            "errors": sorted({e for s in samples for e in s["errors"]})}
    report = {"repeats": args.repeats, "cpus": os.cpu_count(), "load_before": load_before,
              "load_after": os.getloadavg(), "chapters": results}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{'chapter':<45} first (s)  rerun (s)")
    for number, row in results.items():
        print(f"{number}. {row['title']:<42} {row['first_s']:9.2f}  {row['rerun_s']:9.2f}"
              + (f"  errors: {row['errors']}" if row["errors"] else ""))
    print(f"median of {args.repeats}; load average before {load_before[0]:.2f}, after "
          f"{report['load_after'][0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
