"""Reusable page widgets: the decode-step slider with a Play button, sized table columns, and
the task gallery that the Lesson and Home both show.

State for ``step_control(key, ...)`` lives in ``st.session_state``:
``key`` is the current step (an int, not a widget key, so it can be set at any time),
``key + "__slider"`` is the slider widget, ``key + "__playing"`` the Play flag and
``key + "__hold"`` skips one advance (set when Play restarts or a tick has just rerun the app).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

import seqrev.teaching.task_gallery as task_gallery
from pages.common import escape_markdown
from seqrev.charts.task_gallery import task_gallery_figure
from seqrev.i18n import N_, _, current_language, use_language
from seqrev.tables import ColumnSpec

PLAY_INTERVAL_S = 0.8


def page_url(page_path: str) -> str:
    """This page's full address as the browser has it, so a link can be pasted in an e-mail.

    Without a browser (AppTest, or a client too old to send its address) it falls back to
    the Host header, then to this server on localhost.
    """
    url = st.context.url
    if url:
        return url.rstrip("/")
    host = st.context.headers.get("Host")
    origin = f"http://{host}" if host else f"http://localhost:{st.get_option('server.port')}"
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return "/".join(part for part in (origin, base, page_path.strip("/")) if part)


def report_download(store, run, key: str) -> None:
    """A download button for ``run``'s lab report, built only when it is clicked."""
    from seqrev.runs.store import RunStoreError
    from seqrev.teaching.report import has_report, run_report, unavailable_report

    if not has_report(store, run):
        return

    def build() -> str:
        try:
            return run_report(store, run)
        except (ValueError, OSError, RunStoreError) as error:  # its state went away meanwhile
            return unavailable_report(run.id, error)

    st.download_button(
        _("Lab report of the {kind} model (HTML)").format(kind=_(run.kind)), data=build,
        file_name=f"seqrev-{run.id}-lab-report.html", mime="text/html", on_click="ignore",
        icon=":material/description:", key=key, help=_(REPORT_HELP))


def checkpoint_report_download(checkpoint, key: str, container=st) -> None:
    """A download button for a loaded checkpoint's lab report, built only when it is clicked."""
    from seqrev.teaching.report import build_report, from_checkpoint

    container.download_button(
        _("Lab report of {name} (HTML)").format(name=checkpoint.name),
        data=lambda: build_report(from_checkpoint(checkpoint)),
        file_name=f"seqrev-{checkpoint.name}-lab-report.html", mime="text/html",
        on_click="ignore", icon=":material/description:", key=key,
        help=_(REPORT_HELP))


REPORT_HELP = N_("One HTML file that opens offline: the settings, the curves, exact match by "
               "length, an attention heatmap and ten lines in the lab's printout format on "
               "fresh strings.")


def column_config(columns: list[ColumnSpec], pinned: str | None = None) -> dict:
    """``st.dataframe``'s column_config for the library's column specs."""
    config = {}
    for spec in columns:
        options = {"label": _(spec.header), "help": _(spec.help), "width": spec.width,
                   "pinned": spec.name == pinned or None}
        config[spec.name] = (st.column_config.NumberColumn(format=spec.number_format, **options)
                             if spec.number_format else st.column_config.Column(**options))
    return config


def _keys(key: str) -> tuple[str, str, str]:
    return f"{key}__slider", f"{key}__playing", f"{key}__hold"


def _on_slide(key: str) -> None:
    slider_key, playing_key = _keys(key)[:2]
    st.session_state[key] = st.session_state[slider_key]
    st.session_state[playing_key] = False


def _on_play(key: str, last: int) -> None:
    playing_key, hold_key = _keys(key)[1:]
    if st.session_state.get(playing_key):
        st.session_state[playing_key] = False
        return
    if st.session_state.get(key, 0) >= last:
        st.session_state[key] = 0
    st.session_state[playing_key] = True
    st.session_state[hold_key] = True  # show the current step first, advance on the next tick


def _advance(key: str, last: int) -> bool:
    """Move a playing control one step on; returns whether the step changed."""
    playing_key, hold_key = _keys(key)[1:]
    if not st.session_state.get(playing_key):
        return False
    if st.session_state.pop(hold_key, False):
        return False
    step = min(int(st.session_state.get(key, 0)) + 1, last)
    st.session_state[key] = step
    if step >= last:
        st.session_state[playing_key] = False
    return True


def step_control(key: str, n_steps: int, label: str = N_("Decode step")) -> int:
    """A step slider over ``0..n_steps-1`` with Play/Pause; returns the current step.

    While playing, a ``run_every`` fragment moves the step on every ``PLAY_INTERVAL_S`` seconds
    and reruns the app; so does any other full rerun (e.g. ``AppTest.run()``). Playing stops
    at the last step; the step is clamped when ``n_steps`` changes.
    """
    slider_key, playing_key = _keys(key)[:2]
    last = max(int(n_steps) - 1, 0)
    _advance(key, last)
    step = min(max(int(st.session_state.get(key, 0)), 0), last)
    st.session_state[key] = step
    if last == 0:
        st.session_state[playing_key] = False
        st.caption(_("{label}: 0 (only one step)").format(label=_(label)))
        return 0
    st.session_state[slider_key] = step
    playing = bool(st.session_state.get(playing_key))
    play_column, slider_column = st.columns([1, 5], vertical_alignment="bottom")
    with play_column:
        st.button(_("Pause") if playing else _("Play"), key=f"{key}__play",
                  icon=":material/pause:" if playing else ":material/play_arrow:",
                  on_click=_on_play, args=(key, last), width="stretch",
                  help=_("Walk through the steps automatically"))
    with slider_column:
        st.slider(_(label), 0, last, key=slider_key, on_change=_on_slide, args=(key,))
    if playing:
        _ticker(key, last)
    return step


def _ticker(key: str, last: int) -> None:
    """A timer that advances the step and reruns the whole app, so every chart follows."""
    hold_key = _keys(key)[2]
    inline_key = f"{key}__inline"

    @st.fragment(run_every=PLAY_INTERVAL_S)
    def tick() -> None:
        if st.session_state.pop(inline_key, False):
            return  # called by the full run that has just advanced: wait for the timer
        if _advance(key, last):
            st.session_state[hold_key] = True  # the rerun below must not advance again
            st.rerun()

    st.session_state[inline_key] = True
    tick()


@st.cache_resource(show_spinner=False, max_entries=4)
def _gallery(checkpoint_ids: tuple[str, ...], language: str
             ) -> tuple[task_gallery.Gallery, go.Figure | None]:
    """The gallery's panels and figure, built once per checkpoints and language and shared
    (the pages only draw them, never change them): the figure alone took ~0.15 s a run."""
    with use_language(language):
        view = task_gallery.gather()
        return view, task_gallery_figure(view.panels) if view.panels else None


def gallery_section(key: str) -> None:
    """The same mechanism on three tasks; a panel that can't be drawn is an st.info."""
    st.subheader(_(task_gallery.HEADING))
    view, figure = _gallery(task_gallery.identities(), current_language())
    for problem in view.problems:
        st.info(escape_markdown(problem, 300))
    if figure is not None:
        st.markdown(_(task_gallery.SENTENCE).format(text=task_gallery.GALLERY_TEXT))
        st.plotly_chart(figure, width="stretch", key=key)
