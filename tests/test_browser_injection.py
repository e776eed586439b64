"""Hole 4 in a real browser: link and file-name text shows as typed, never as a link or image.

AppTest sees the Markdown source only; this checks what Chromium renders and fetches.
Needs Debian's chromium (``apt-get install chromium``); without it the test is skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LINK = "[Session expired: click to log in](https://evil.example/login)"
IMAGE = "![x](http://img.invalid/p.png)"
BAD_FILE = "[free prize](https:evil.example)"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="needs Debian's chromium: apt-get install chromium"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on a free port, beside a badly named checkpoint file."""
    folder = tmp_path_factory.mktemp("checkpoints")
    for path in (ROOT / "checkpoints").glob("*"):
        if path.stem in ("plain", "attention"):
            shutil.copy(path, folder / path.name)
    (folder / f"{BAD_FILE}.safetensors").write_bytes(b"not a checkpoint")
    port = _free_port()
    env = {**os.environ, "SEQREV_CHECKPOINT_DIR": str(folder),
           "SEQREV_RUNS_DIR": str(tmp_path_factory.mktemp("runs"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
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
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def test_links_images_and_file_names_render_as_text(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        requested: list[str] = []
        tab.on("request", lambda request: requested.append(request.url))
        tab.goto(f"{server}/decode?text={quote(IMAGE)}&beam={quote(LINK)}")
        warning = tab.get_by_text("in the link", exact=False).first
        warning.wait_for(timeout=90_000)
        tab.get_by_text("Cannot decode", exact=False).first.wait_for(timeout=30_000)
        shown = warning.inner_text().replace("\u200b", "")
        assert f"beam={LINK[:40]}…" in shown  # shortened to 40 characters, as typed
        errors = tab.get_by_text("Cannot decode", exact=False).first.inner_text()
        assert IMAGE in errors.replace("\u200b", "")
        tab.get_by_text("checkpoint file skipped", exact=False).first.click()
        tab.get_by_text("not a valid checkpoint name", exact=False).first.wait_for(
            timeout=30_000)
        note = tab.get_by_text("not a valid checkpoint name", exact=False).first.inner_text()
        assert BAD_FILE in note.replace("\u200b", "")
        assert tab.locator("a[href*='evil.example']").count() == 0
        assert tab.locator("img[src*='img.invalid']").count() == 0
        hosts = {urlparse(url).hostname for url in requested}
        assert hosts == {"127.0.0.1"}, hosts  # the image was never fetched
        browser.close()
