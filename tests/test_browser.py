"""A real browser: ``streamlit run serve.py`` on localhost, driven by Playwright and Chromium.

Screenshots of every page land in ``test-output/screenshots/``; the Chinese ones (``zh-*``) show
whole pages, for looking at cut-off or overlapping text. Needs Debian's chromium
(``apt-get install chromium``); without it the test is skipped and says so.
"""

from __future__ import annotations

import time

import pytest

from tests.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NEEDS_CHROMIUM,
    ROOT,
    copy_shipped_checkpoints,
    streamlit_server,
    whole_page_screenshot,
)

SHOTS = ROOT / "test-output" / "screenshots"

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``streamlit run serve.py`` on a free localhost port, with private checkpoints and runs."""
    checkpoint_dir = copy_shipped_checkpoints(tmp_path_factory.mktemp("checkpoints"))
    with streamlit_server(checkpoint_dir, tmp_path_factory.mktemp("runs")) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.errors = errors
        yield tab
        browser.close()


def _no_exception(tab) -> None:
    assert tab.locator("[data-testid='stException']").count() == 0, "a traceback is shown"


def _sidebar_has_model_pickers(tab) -> None:
    tab.get_by_text("Attention model").first.wait_for(timeout=30_000)


def test_deep_link_on_a_fresh_server_keeps_the_router(page, server):
    page.goto(f"{server}/decode?text=HELLOWORLD", wait_until="domcontentloaded")
    page.get_by_text("DLROWOLLEH").first.wait_for(timeout=60_000)
    _sidebar_has_model_pickers(page)
    assert page.locator("[data-testid='stSidebarNav']").inner_text().count("common") == 0
    _no_exception(page)


def test_home_page(page, server):
    page.goto(f"{server}/home", wait_until="domcontentloaded")
    page.get_by_text("watch a seq2seq model learn", exact=False).wait_for(timeout=60_000)
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=30_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)  # exact match by length
    page.wait_for_timeout(800)
    _no_exception(page)
    page.screenshot(path=str(SHOTS / "home.png"), full_page=True)
    _scroll_to(page, "One model, three tasks")
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)  # the task gallery
    page.wait_for_timeout(800)
    page.screenshot(path=str(SHOTS / "tasks.png"))


def _type(tab, label: str, text: str) -> None:
    box = tab.get_by_label(label)
    box.fill(text)
    box.press("Enter")


def test_decode_page(page, server):
    page.goto(f"{server}/decode", wait_until="domcontentloaded")
    page.get_by_label("Your string (letters A-Z, up to 64)").wait_for(timeout=60_000)
    _type(page, "Your string (letters A-Z, up to 64)", "abcdefghijklmnop")
    page.get_by_text("Lowercase letters were upper-cased").first.wait_for(timeout=30_000)
    page.get_by_text("PONMLKJIHGFEDCBA").first.wait_for(timeout=30_000)
    # the step view's charts are server-drawn SVG: both models' top-k bars, attention's row
    page.locator(".seqrev-topk").nth(1).wait_for(timeout=60_000)
    assert page.locator(".seqrev-topk").count() >= 2
    row = page.locator(".seqrev-attention-row").first
    assert row.locator(".seqrev-bar").count() == 16  # one bar per input letter
    box = page.locator(".seqrev-topk").first.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 100, box
    assert "p = " in page.locator(".seqrev-topk .seqrev-bar title").first.text_content()
    _no_exception(page)
    page.screenshot(path=str(SHOTS / "decode.png"), full_page=True)
    _type(page, "Your string (letters A-Z, up to 64)", "AB3!")
    page.locator("[data-testid='stAlert']").filter(has_text="'3'").wait_for(timeout=30_000)
    _no_exception(page)
    page.screenshot(path=str(SHOTS / "decode-bad-input.png"), full_page=True)


def test_attention_page(page, server):
    page.goto(f"{server}/attention", wait_until="domcontentloaded")
    page.get_by_text("letters come out right").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    page.wait_for_timeout(800)
    _no_exception(page)
    page.screenshot(path=str(SHOTS / "attention.png"), full_page=True)
    page.goto(f"{server}/attention?text=JJDDNZGZZFQWERTY&section=errors",
              wait_until="domcontentloaded")
    page.get_by_role("button", name="Compare").click()
    page.get_by_text("Exact match by input length").first.wait_for(timeout=60_000)
    _no_exception(page)
    page.screenshot(path=str(SHOTS / "attention-errors.png"), full_page=True)


def test_train_page_start_reload_reattach_and_stop(page, server):
    page.goto(f"{server}/train", wait_until="domcontentloaded")
    page.get_by_role("button", name="Start").click()
    page.get_by_text("Running: step").first.wait_for(timeout=60_000)
    assert "run=" in page.url and "token=" in page.url
    page.wait_for_timeout(4000)  # let the charts fill for the screenshot
    page.screenshot(path=str(SHOTS / "train-running.png"), full_page=True)
    started = time.perf_counter()
    page.reload(wait_until="domcontentloaded")
    page.get_by_text("Running: step").first.wait_for(timeout=30_000)
    reattached = time.perf_counter() - started
    print(f"reattached after a reload in {reattached:.2f} s")
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped: step").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Resume").wait_for(timeout=10_000)
    _no_exception(page)
    page.screenshot(path=str(SHOTS / "train-stopped.png"), full_page=True)


def test_runs_page(page, server):
    page.goto(f"{server}/runs", wait_until="domcontentloaded")
    page.get_by_text("Runs to compare").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    _no_exception(page)
    page.screenshot(path=str(SHOTS / "runs.png"), full_page=True)


# --- issue 9: inside attention, forced attention, state maps, two inputs on Decode -------------

def _scroll_to(tab, text: str) -> None:
    """Scroll so that ``text`` sits at the top of the window, then let plotly finish drawing."""
    target = tab.get_by_text(text, exact=False).first
    target.wait_for(timeout=30_000)
    target.evaluate("element => element.scrollIntoView({block: 'start'})")
    tab.wait_for_timeout(800)


def test_attention_inside_a_step_forced_and_states(page, server):
    string = "text=ATTENTIONISALLYOUNEED"
    page.goto(f"{server}/attention?{string}&attend=3:17&blend=1&section=whatif",
              wait_until="domcontentloaded")
    page.get_by_text("With the forced attention").first.wait_for(timeout=60_000)
    page.get_by_text("Step 3 wrote").first.wait_for(timeout=30_000)
    _no_exception(page)
    assert "attend=3%3A17" in page.url or "attend=3:17" in page.url
    _scroll_to(page, "What if it looked elsewhere?")
    page.screenshot(path=str(SHOTS / "attention-override.png"))
    page.goto(f"{server}/attention?{string}&section=step", wait_until="domcontentloaded")
    _scroll_to(page, "from query to context")
    page.screenshot(path=str(SHOTS / "attention-mechanism.png"))
    _scroll_to(page, "Check the winning score by hand")
    page.screenshot(path=str(SHOTS / "attention-mechanism-by-hand.png"))
    _no_exception(page)
    page.goto(f"{server}/attention?{string}&section=states", wait_until="domcontentloaded")
    page.get_by_text("Colour the reference states by").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    _scroll_to(page, "Where the states go")
    page.screenshot(path=str(SHOTS / "attention-states.png"))
    _no_exception(page)


def test_attention_heatmap_click_forces_that_cell(page, server):
    page.goto(f"{server}/attention?text=HELLOWORLD&section=whatif",
              wait_until="domcontentloaded")
    page.get_by_text("Nothing forced yet").first.wait_for(timeout=60_000)
    heatmap = page.locator(".js-plotly-plot").first
    heatmap.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # the page settles (charts below are still drawing)
    heatmap.scroll_into_view_if_needed(timeout=30_000)
    page.wait_for_timeout(500)
    # the cell of step 2, input 3: the plot area spans 10 columns and 11 rows
    area = heatmap.locator(".nsewdrag").first.bounding_box()
    x = area["x"] + area["width"] * (3 + 0.5) / 10
    y = area["y"] + area["height"] * (2 + 0.5) / 11
    forced = page.get_by_text("step 2 → input 3 (L)").first
    for attempt in range(3):  # a click before plotly has bound its handlers is lost
        page.mouse.click(x, y)
        try:
            forced.wait_for(timeout=15_000)
            break
        except Exception:
            if attempt == 2:
                raise
    assert "attend=2%3A3" in page.url or "attend=2:3" in page.url
    _no_exception(page)
    _scroll_to(page, "What if it looked elsewhere?")
    page.screenshot(path=str(SHOTS / "attention-click-forced.png"))


def test_decode_compare_two_inputs(page, server):
    page.goto(f"{server}/decode?text=ABCDEFGHIJKLMNOPQRS", wait_until="domcontentloaded")
    page.get_by_text("SRQPONMLKJIHGFEDCBA").first.wait_for(timeout=60_000)
    second = page.get_by_role("textbox", name="A second string, decoded beside the first")
    second.fill("ABCDEFGHIJKLMNOPQRZ")
    second.press("Enter")
    page.get_by_text("Inputs differ at position 18").first.wait_for(timeout=30_000)
    _no_exception(page)
    _scroll_to(page, "Compare two inputs")
    page.screenshot(path=str(SHOTS / "decode-compare.png"))
    second.fill("AB3")
    second.press("Enter")
    page.locator("[data-testid='stAlert']").filter(has_text="second string").wait_for(
        timeout=30_000)
    _no_exception(page)


# --- issue 15: the Lesson's chapters and the Sweep page, for the README's pictures -----------

@pytest.mark.parametrize("chapter", range(1, 8))
def test_lesson_chapter(page, server, chapter):
    page.goto(f"{server}/?chapter={chapter}", wait_until="domcontentloaded")
    page.get_by_text(f"Chapter {chapter} of 7", exact=False).first.wait_for(timeout=60_000)
    if chapter == 1:  # the lab's printout, as text
        page.get_by_text("Model generate", exact=False).first.wait_for(timeout=60_000)
    elif chapter != 5:  # the race chapter draws its charts only once a race has run
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.wait_for_timeout(800)
    _no_exception(page)
    page.screenshot(path=str(SHOTS / f"lesson-{chapter}.png"), full_page=True)


def test_sweep_page(page, server):
    page.goto(f"{server}/sweep", wait_until="domcontentloaded")
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.wait_for_timeout(800)
    _no_exception(page)
    page.screenshot(path=str(SHOTS / "sweep.png"), full_page=True)


# --- issue 19: the translated pages in Chinese, for looking at cut-off or overlapping text ---

@pytest.mark.parametrize("chapter", range(1, 8))
def test_lesson_chapter_in_chinese(page, server, chapter):
    page.goto(f"{server}/?chapter={chapter}&lang=zh", wait_until="domcontentloaded")
    page.get_by_text(f"第 {chapter} 章（共 7 章）", exact=False).first.wait_for(timeout=60_000)
    if chapter not in (1, 5):  # 1 is the printout's text; 5 draws charts once a race has run
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.wait_for_timeout(800)
    _no_exception(page)
    assert page.get_by_text("Chapter", exact=False).count() == 0
    whole_page_screenshot(page, SHOTS / f"zh-lesson-{chapter}.png")


def test_home_page_in_chinese(page, server):
    page.goto(f"{server}/home?lang=zh", wait_until="domcontentloaded")
    page.get_by_text("看序列到序列模型学会", exact=False).wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.wait_for_timeout(800)
    _no_exception(page)
    whole_page_screenshot(page, SHOTS / "zh-home.png")


PLOTLY, STEP_SVG = ".js-plotly-plot", ".seqrev-topk"


@pytest.mark.parametrize(("name", "address", "charts"), [
    ("train", "train", None), ("runs", "runs", None), ("decode", "decode", STEP_SVG),
    ("attention", "attention", PLOTLY), ("attention-heads", "attention?section=heads", PLOTLY),
    ("sweep", "sweep", PLOTLY)])
def test_page_in_chinese(page, server, name, address, charts):
    separator = "&" if "?" in address else "?"
    page.goto(f"{server}/{address}{separator}lang=zh", wait_until="domcontentloaded")
    page.locator("[data-testid='stMain'] h1").first.wait_for(timeout=60_000)
    if charts:
        page.locator(charts).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    _no_exception(page)
    assert page.get_by_text("简体中文").count() >= 1
    whole_page_screenshot(page, SHOTS / f"zh-{name}.png")


UPLOADER = "[data-testid='stFileUploaderDropzone']"
# what the dropzone draws: the button's words and the limits line, each as its English element
# (display: none in Chinese) and the ::after of its parent, which carries the translation
DROPZONE_TEXTS = """zone => {
  const button = zone.querySelector("[data-testid='stBaseButton-secondary'] "
                                    + "[data-testid='stMarkdownContainer']");
  const line = zone.querySelector("[data-testid='stFileUploaderDropzoneInstructions'] > div");
  const after = element => getComputedStyle(element, "::after").content;
  return {button: after(button), line: after(line), size: getComputedStyle(line, "::after")
          .fontSize, english: [button.querySelector("p"), line.querySelector("span")].map(
            element => ({text: element.textContent, shown: element.checkVisibility()}))};
}"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_train_uploader_dropzone_speaks_the_page_language(page, server, lang):
    page.goto(f"{server}/train?lang={lang}", wait_until="domcontentloaded")
    zone = page.locator(UPLOADER).first
    zone.wait_for(timeout=60_000)
    page.wait_for_timeout(800)
    texts = zone.evaluate(DROPZONE_TEXTS)
    assert [e["text"] for e in texts["english"]] == ["Upload",
                                                     "200MB per file • CSV, TSV, TAB, TXT"]
    if lang == "en":  # Streamlit's own words, untouched
        assert texts["button"] == texts["line"] == "none"
        assert all(e["shown"] for e in texts["english"])
        return
    assert texts["button"] == '"上传"'
    assert texts["line"] == '"每个文件最多 5 MB · CSV、TSV、TAB、TXT"'
    assert texts["size"] == "14px"  # Streamlit's small text, as the English line had
    assert not any(e["shown"] for e in texts["english"])
    assert page.get_by_role("button", name="上传").count() == 1
    _no_exception(page)
    zone.scroll_into_view_if_needed()
    page.locator("[data-testid='stFileUploader']").first.screenshot(
        path=str(SHOTS / "zh-train-uploader.png"))
