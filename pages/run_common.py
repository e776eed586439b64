"""What the Train and Runs pages share: the run store, control tokens, who may act, and a
stopgap for the few library messages still raised in English.

Pages only launch, stop and read runs; the training happens in worker processes.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Sequence
from functools import lru_cache

import streamlit as st

import seqrev.runs.scheduler as scheduler
from seqrev.i18n import _, current_language
from seqrev.i18n.catalog import DEFAULT_LANGUAGE
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


_FIELD = re.compile(r"(?<!%)\{(\w+)(?::[^}]*)?\}")  # {name} or {name:.0f}


@lru_cache(maxsize=16)
def template_patterns(templates: tuple[str, ...]) -> tuple[tuple[re.Pattern, str], ...]:
    """Each template as an anchored regex whose groups are its placeholders."""
    compiled = []
    for template in templates:
        parts, last = [], 0
        for match in _FIELD.finditer(template):
            parts += [re.escape(template[last:match.start()]), f"(?P<{match.group(1)}>.+?)"]
            last = match.end()
        parts.append(re.escape(template[last:]))
        compiled.append((re.compile("^" + "".join(parts) + "$", re.DOTALL), template))
    return tuple(compiled)


def translate_message(text: str, templates: Sequence[str]) -> str:
    """A message the library still writes in English, in the reader's language: looked up
    whole, or matched against one of ``templates`` (its own wording with {placeholders}, tried
    in order) whose parts are translated in turn. English, and text with no entry (a message
    the library already wrote in the reader's language), stay as they are.

    Only for messages raised outside the pages' reach that do not take ``_()`` yet (the Train
    page's ENGLISH_MESSAGES, the Sweep page's RAY_ERRORS); the rest of the library translates
    its own messages where it builds them."""
    if not text or current_language() == DEFAULT_LANGUAGE:
        return text
    whole = _(text)
    if whole != text:
        return whole
    for pattern, template in template_patterns(tuple(templates)):
        match = pattern.match(text)
        if match and _(template) != template:
            values = {name: translate_message(value, templates)
                      for name, value in match.groupdict().items()}
            return _FIELD.sub(lambda m, v=values: v[m.group(1)], _(template))
    return text
