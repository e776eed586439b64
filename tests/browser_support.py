"""What the real-browser tests share: Debian's Chromium, ``streamlit run serve.py`` (the README's
command) and screenshots of whole pages."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from seqrev.checkpoints.store import SHIPPED_NAMES

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
NEEDS_CHROMIUM = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="needs Debian's chromium: apt-get install chromium")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def copy_shipped_checkpoints(folder: Path) -> Path:
    """Every shipped checkpoint: the pair and the task models."""
    for path in (ROOT / "checkpoints").glob("*"):
        if path.is_file() and path.stem in SHIPPED_NAMES:
            shutil.copy(path, folder / path.name)
    return folder


@contextmanager
def streamlit_server(checkpoint_dir: Path, runs_dir: Path) -> Iterator[str]:
    """``streamlit run serve.py`` on a free localhost port with private folders; its URL."""
    port = free_port()
    env = {**os.environ, "SEQREV_CHECKPOINT_DIR": str(checkpoint_dir),
           "SEQREV_RUNS_DIR": str(runs_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("streamlit did not start within 60 s")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


# the element that scrolls: Streamlit's main area scrolls inside a page of the window's height,
# so a "full page" screenshot of the window holds only its first screen
SCROLLER = "[data-testid='stMain']"
TALLEST = 16_000  # px: a screenshot taller than this is cut there (Chromium's own limit is higher)


def whole_page_screenshot(tab, path: Path, settle_ms: int = 1200) -> int:
    """Screenshot the whole of the page, its main area unrolled: the viewport is made as tall
    as the main area's content for the shot, then set back. Returns the height shot (px)."""
    viewport = tab.viewport_size or {"width": 1400, "height": 1000}
    height = tab.evaluate(
        "(selector) => { const main = document.querySelector(selector);"
        " return main ? Math.ceil(main.scrollHeight) : document.body.scrollHeight; }", SCROLLER)
    tall = max(viewport["height"], min(int(height) + 40, TALLEST))
    tab.set_viewport_size({"width": viewport["width"], "height": tall})
    try:
        tab.wait_for_timeout(settle_ms)  # charts and columns lay out again at the new size
        tab.screenshot(path=str(path), full_page=True)
    finally:
        tab.set_viewport_size(viewport)
    return tall
