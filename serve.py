"""seqrev's server: ``streamlit run serve.py`` serves ``app.py`` and imports the pages'
libraries when it starts, so its first visitor does not wait for them (``pages/preload.py``).

``streamlit run app.py`` serves the same app and imports them on its first visitor's first
render instead. Streamlit finds ``app`` below (an ``st.App``) and runs it with uvicorn;
``uvicorn serve:app`` works too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from streamlit.logger import get_logger

LOG = get_logger("seqrev.serve")
ROUTER = Path(__file__).resolve().parent / "app.py"


@asynccontextmanager
async def import_before_the_first_visitor(_app: st.App) -> AsyncIterator[None]:
    from pages.preload import import_page_modules

    try:
        seconds = import_page_modules()
        LOG.info("imported the pages' modules in %.1f s", seconds)
    except Exception:  # the page that needs it shows the error, as without the preload
        LOG.exception("preloading the pages' modules failed")
    yield


app = st.App(ROUTER, lifespan=import_before_the_first_visitor)
