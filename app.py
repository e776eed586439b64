"""seqrev's router: page config, the page list, and the sidebar every page shares."""

import streamlit as st
import torch

from pages.common import PENDING_PAGE_KEY, ROUTED_KEY, sidebar
from pages.run_common import startup_once

PAGES = [
    st.Page("pages/lesson.py", title="Lesson", icon=":material/school:", default=True),
    st.Page("pages/home.py", title="Home", icon=":material/home:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/table_chart:"),
    st.Page("pages/decode.py", title="Decode", icon=":material/text_rotation_none:"),
    st.Page("pages/attention.py", title="Attention", icon=":material/grid_on:"),
    st.Page("pages/sweep.py", title="Sweep", icon=":material/grid_view:"),
]


def run() -> None:
    # a Material icon, not an emoji: an emoji favicon loads Streamlit's emoji catalogue and its
    # regex on the first render (~0.2 s, measured by bench/pages.py)
    st.set_page_config(page_title="seqrev: seq2seq and attention",
                       page_icon=":material/swap_horiz:", layout="wide")
    # one torch thread: the server keeps the second core, and these tiny matrices gain
    # little from two (measured in the README's benchmark)
    torch.set_num_threads(1)
    page = st.navigation(PAGES)
    st.session_state[ROUTED_KEY] = True
    pending = st.session_state.pop(PENDING_PAGE_KEY, None)
    if pending:  # a deep link that arrived before the router ran: go where it asked
        script, query = pending
        st.switch_page(script, query_params=query)
    startup_once()
    sidebar()
    page.run()


run()
