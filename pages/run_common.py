"""What the Train and Runs pages share: the run store, control tokens and who may act.

Pages only launch, stop and read runs; the training happens in worker processes.
"""

from __future__ import annotations

import hashlib
import os
import secrets

import streamlit as st

import seqrev.runs.scheduler as scheduler
from seqrev.i18n import _
from seqrev.runs.store import RunRecord, RunStore, RunStoreError

OWNER_KEY = "run_owner"  # this session's owner key, when the browser sends no cookie
XSRF_COOKIE = "_streamlit_xsrf"  # set once per browser by the server; survives reloads
TOKENS_KEY = "run_tokens"  # run id -> control token, for the runs this browser controls
SHARED_ENV = "SEQREV_SHARED"  # set to 1 on a shared server behind a local proxy


def open_store() -> RunStore | None:
    """The run store, or None after an st.error saying why it can't be used."""
    try:
        store = RunStore()
    except RunStoreError as error:
        st.error(_("The run store can't be used, so training is unavailable: {error}. "
                   "Decoding with saved checkpoints still works.").format(error=error))
        return None
    return store


@st.cache_resource(show_spinner=False)
def startup_once() -> str | None:
    """Once per server start: runs whose worker died are marked interrupted, queued runs start.

    Returns the problem, if the store can't be used; pages that need it say so themselves.
    """
    try:
        return scheduler.try_launch_pending(RunStore())
    except RunStoreError as error:
        return str(error)


def tokens() -> dict[str, str]:
    return st.session_state.setdefault(TOKENS_KEY, {})


def remember_token(store: RunStore, run: RunRecord, token: str | None) -> bool:
    """Keep ``token`` for ``run`` (and its race) if it controls it; True if it does."""
    if not token or not store.check_token(run.id, token):
        return False
    for member in store.group(run):
        tokens()[member.id] = token
    return True


def is_local_user() -> bool:
    """A browser on this machine, on a server not marked shared: it controls every run."""
    return local_connection(st.context.ip_address, os.environ.get(SHARED_ENV, ""))


def local_connection(ip_address: object, shared: str) -> bool:
    """Streamlit reports a loopback connection as ``None``; anything else is another machine."""
    return shared.strip() in ("", "0") and ip_address is None


def can_control(store: RunStore, run: RunRecord) -> bool:
    """Whether this browser may stop, resume, save or delete ``run``."""
    return is_local_user() or store.check_token(run.id, tokens().get(run.id))


def owner_key() -> str:
    """Who starts a run, for the per-owner queue limit (``scheduler.submit``).

    A browser on this machine is this machine's user (like the CLI); another browser is
    known by its XSRF cookie, which a reload or a new tab keeps, else by its session.
    """
    if is_local_user():
        return scheduler.local_owner()
    try:
        cookie = st.context.cookies.get(XSRF_COOKIE)
    except (AttributeError, RuntimeError):
        cookie = None
    if not cookie:
        cookie = st.session_state.setdefault(OWNER_KEY, secrets.token_hex(16))
    return "browser:" + hashlib.sha256(str(cookie).encode()).hexdigest()[:16]
