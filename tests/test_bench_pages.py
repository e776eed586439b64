"""bench/pages.py runs end to end on one page (no timing asserted)."""

import json
import subprocess
import sys

from bench.pages import available_pages, default_pages, median


def test_one_page_one_sample_reports_both_times():
    result = subprocess.run([sys.executable, "-m", "bench.pages", "--pages", "home",
                             "--repeats", "1"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    home = report["pages"]["home"]
    assert home["first_s"] > 0 and home["rerun_s"] > 0
    assert home["samples"][0]["errors"] == []
    assert "home" in result.stdout.splitlines()[1]


def test_pages_and_median():
    assert {"home", "decode", "attention"} <= set(default_pages()) <= set(available_pages())
    assert median([3.0, None, 1.0, 2.0]) == 2.0 and median([None]) is None
