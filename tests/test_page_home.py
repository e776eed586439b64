"""Home page (AppTest): renders on the shipped checkpoints and shows their own numbers."""

import json

from streamlit.testing.v1 import AppTest

import seqrev.checkpoints.store as checkpoints
from tests.apptest_support import open_page


def test_home_shows_both_models_numbers():
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    pickers = [s.label for s in at.sidebar.selectbox]  # AppTest drops them on a page switch
    at.switch_page("pages/home.py").run()  # the Lesson is the first page
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["model"]) == [checkpoints.SHIPPED_PLAIN, checkpoints.SHIPPED_ATTENTION,
                                    checkpoints.SHIPPED_TRANSFORMER]
    sidecar = checkpoints.read_sidecar(checkpoints.SHIPPED_ATTENTION, checkpoints.SHIPPED_DIR)
    row = table[table["kind"] == "attention"].iloc[0]
    assert row["exact 10"] == sidecar["evaluation"]["length_10"]["exact_match"]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    lines = {trace["name"]: trace for trace in spec["data"]}
    expected = sidecar["evaluation"]["by_length"]
    assert lines["attention"]["x"] == sorted(int(k) for k in expected)
    assert lines["attention"]["y"] == [expected[str(x)]["exact_match"]
                                       for x in lines["attention"]["x"]]
    assert "plain" in lines and "transformer" in lines
    assert pickers == ["Plain model", "Attention model", "Transformer"]


def test_home_offers_each_selected_models_lab_report():
    at = open_page("pages/home.py")
    assert [b.proto.label for b in at.get("download_button")] == [
        f"Lab report of {checkpoints.SHIPPED_PLAIN} (HTML)",
        f"Lab report of {checkpoints.SHIPPED_ATTENTION} (HTML)",
        f"Lab report of {checkpoints.SHIPPED_TRANSFORMER} (HTML)"]


def test_a_deep_link_to_home_goes_through_the_router():
    """/home on a fresh server runs the page alone; it hands itself to app.py, query kept."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from pages.common import PENDING_PAGE_KEY

    page = Path(__file__).resolve().parent.parent / "pages" / "home.py"
    at = AppTest.from_file(str(page), default_timeout=60)
    at.query_params["x"] = "1"
    at.run()
    assert at.session_state[PENDING_PAGE_KEY] == ("pages/home.py", {"x": "1"})
    assert not at.dataframe  # nothing drawn without the router's page config and sidebar
