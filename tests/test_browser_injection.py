"""Hole 4 in a real browser: link and file-name text shows as typed, never as a link or image.

AppTest sees the Markdown source only; this checks what Chromium renders and fetches.
Needs Debian's chromium (``apt-get install chromium``); without it the test is skipped.
"""

from __future__ import annotations

from urllib.parse import quote, urlparse

import pytest

from tests.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NEEDS_CHROMIUM,
    copy_shipped_checkpoints,
    streamlit_server,
)

LINK = "[Session expired: click to log in](https://evil.example/login)"
IMAGE = "![x](http://img.invalid/p.png)"
BAD_FILE = "[free prize](https:evil.example)"

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on a free port, beside a badly named checkpoint file."""
    folder = copy_shipped_checkpoints(tmp_path_factory.mktemp("checkpoints"))
    (folder / f"{BAD_FILE}.safetensors").write_bytes(b"not a checkpoint")
    with streamlit_server(folder, tmp_path_factory.mktemp("runs")) as url:
        yield url


def test_links_images_and_file_names_render_as_text(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
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
