"""One way for the AppTest page tests to open a page through the app's router."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_page(page: str, query: dict | None = None, timeout: float = 60) -> AppTest:
    """Run the app, switch to ``page`` (e.g. ``pages/decode.py``) with ``query`` in the URL."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    at.switch_page(page)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    at.run()
    assert not at.exception
    return at
