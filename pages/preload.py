"""What a seqrev server imports when it starts (``serve.py``), before its first visitor.

Every module that ``app.py`` and the scripts in ``pages/`` import at their top. The page
scripts run again on every visit, but the libraries they import (torch, pandas, plotly,
pydantic, seqrev's own modules) are imported once per server process. ``streamlit run app.py``
leaves that to the first visitor's first render; ``streamlit run serve.py`` does it before
the server answers. The list is read from the scripts themselves, so a new import is
preloaded without being written down twice; imports inside functions wait for their first use.

Plotly imports its figure classes, and reads its table of property validators (a 2 MB JSON),
only when a process builds its first figure (about 0.35 s here), and ``make_subplots`` imports
its own modules on its first call: so the preload builds one empty figure and one empty grid,
which draw nothing and hold no data. And Streamlit looks at the call stack once per process,
on the first element it draws (its check for a script run without ``streamlit run``);
``inspect`` then maps every loaded module's file to its module, a ``realpath`` each (about
0.09 s with the ~2,200 modules preloaded): the preload fills that map now.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = (ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")))


def top_level_imports(path: Path) -> list[str]:
    """The modules ``path`` imports at its top, in order; ``from a import b`` gives ``a``, and
    ``a.b`` too where ``b`` may be a submodule."""
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif (isinstance(node, ast.ImportFrom) and node.module and not node.level
              and node.module != "__future__"):
            found += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return found


def import_page_modules() -> float:
    """Import every module the app's scripts import at their top; the seconds it took."""
    start = time.perf_counter()
    for path in SCRIPTS:
        for name in top_level_imports(path):
            parent, _, leaf = name.rpartition(".")
            package = importlib.import_module(parent) if parent else None
            if package is not None and (hasattr(package, leaf)
                                        or not hasattr(package, "__path__")):
                continue  # `from a import b` where b is a name (or a module imported already)
            importlib.import_module(name)
    load_plotly_figures()
    inspect.getmodule(None, str(ROOT / "app.py"))  # a file no module has: maps them all
    return time.perf_counter() - start


def load_plotly_figures() -> None:
    """Make plotly load what it loads on a process's first figure (see above)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    go.Figure()
    make_subplots(rows=1, cols=2)
