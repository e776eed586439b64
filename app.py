"""seqrev's router: page config, the page list, and the sidebar every page shares."""

from pathlib import Path

import streamlit as st
import torch

from pages.common import PENDING_PAGE_KEY, ROUTED_KEY, choose_language, sidebar
from pages.run_common import startup_once
from seqrev.i18n import N_, _

FAVICON = str(Path(__file__).resolve().parent / "assets" / "favicon.png")
PAGES = (  # (script, title, icon); the titles are translated on every run
    ("pages/lesson.py", N_("Lesson"), ":material/school:"),
    ("pages/home.py", N_("Home"), ":material/home:"),
    ("pages/train.py", N_("Train"), ":material/model_training:"),
    ("pages/runs.py", N_("Runs"), ":material/table_chart:"),
    ("pages/decode.py", N_("Decode"), ":material/text_rotation_none:"),
    ("pages/attention.py", N_("Attention"), ":material/grid_on:"),
    ("pages/sweep.py", N_("Sweep"), ":material/grid_view:"),
)


def run() -> None:
    choose_language()  # first: the page title is in the chosen language
    # a file, not a Material icon (the browser fetches that favicon from fonts.gstatic.com,
    # and nothing here may download) nor an emoji (that loads Streamlit's emoji catalogue and
    # regex on the first render): reversal's anti-diagonal, 4 x 4
    st.set_page_config(page_title=_("seqrev: seq2seq and attention"), page_icon=FAVICON,
                       layout="wide")
    # one torch thread: the server keeps the second core, and these tiny matrices gain
    # little from two (measured in the README's benchmark)
    torch.set_num_threads(1)
    page = st.navigation([st.Page(script, title=_(title), icon=icon, default=index == 0)
                          for index, (script, title, icon) in enumerate(PAGES)])
    st.session_state[ROUTED_KEY] = True
    pending = st.session_state.pop(PENDING_PAGE_KEY, None)
    if pending:  # a deep link that arrived before the router ran: go where it asked
        script, query = pending
        st.switch_page(script, query_params=query)
    startup_once()
    sidebar()
    page.run()


run()
