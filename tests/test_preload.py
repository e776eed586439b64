"""serve.py's server imports, when it starts, what the pages import at their top; never a page."""

import re
import subprocess
import sys
from pathlib import Path

from streamlit.web.server.app_discovery import discover_asgi_app

from pages.preload import top_level_imports

ROOT = Path(__file__).resolve().parent.parent


def test_top_level_imports_reads_both_forms_and_skips_function_imports(tmp_path):
    script = tmp_path / "page.py"
    script.write_text("from __future__ import annotations\nimport os.path as p\n"
                      "from seqrev.charts import attention, headline_table\n"
                      "def f():\n    import pandas\n")
    assert top_level_imports(script) == ["os.path", "seqrev.charts", "seqrev.charts.attention",
                                         "seqrev.charts.headline_table"]


def test_preload_imports_the_pages_libraries_and_runs_no_page():
    code = ("import sys; from pages.preload import import_page_modules; import_page_modules(); "
            "print(sorted(m for m in sys.modules if m.startswith('pages.')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    imported = set(eval(done.stdout.strip().splitlines()[-1]))
    assert {"pages.common", "pages.widgets", "pages.preload"} <= imported
    routed = re.findall(r'"pages/(\w+)\.py"', (ROOT / "app.py").read_text(encoding="utf-8"))
    page_scripts = {f"pages.{stem}" for stem in routed}
    assert page_scripts and not imported & page_scripts  # a page script only runs on a visit


def test_streamlit_run_serve_py_finds_the_app():
    found = discover_asgi_app(ROOT / "serve.py")
    assert found.is_asgi_app and found.app_name == "app"
