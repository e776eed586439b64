"""What every page shares: cached checkpoints, the sidebar's model choice, input checking.

This is the only UI module besides the page scripts; the computing stays in ``seqrev``.
"""

from __future__ import annotations

import re
import string

import streamlit as st

import seqrev.checkpoints.store as checkpoints
from seqrev.i18n import LANGUAGES, N_, _, current_language, ngettext, parse_language
from seqrev.i18n.catalog import language_from_locale, set_language, url_code
from seqrev.models.kinds import KINDS, model_kind
from seqrev.tasks.registry import DEFAULT_TASK, TaskError, describe
from seqrev.tasks.vocab import MAX_INPUT_LEN, InputError, normalize

PLAIN_KEY, ATTENTION_KEY = "plain_checkpoint", "attention_checkpoint"  # f"{kind}_checkpoint"
ROUTED_KEY, PENDING_PAGE_KEY = "_router_ran", "_pending_page"
LANGUAGE_KEY, LANGUAGE_PICKER_KEY = "_language", "_language_picker"
BAD_LANGUAGE = N_("There is no language “{value}” here: showing English. Use ?lang=zh for "
                  "简体中文 or ?lang=en for English.")
_MARKDOWN_SPECIAL = re.compile("([" + re.escape(string.punctuation) + "])")
# bare URLs, www. names and e-mail addresses are linked by GFM even when escaped: a zero-width
# space after the scheme's colon, after "www" and after "@" breaks those patterns
_AUTOLINK = re.compile(r"(?i)(\\:)(?=\\/\\/)|(www)(?=\\\.)|(\\@)")


def escape_markdown(text: object, max_len: int | None = None) -> str:
    """``text`` as literal characters inside st.markdown / st.error / st.caption messages.

    Backslash-escapes every ASCII punctuation character (CommonMark allows escaping all of
    them), so links ``[x](url)``, images ``![x](url)``, Streamlit directives ``:red[x]``,
    math ``$x$``, HTML tags, emphasis and code spans show as typed. Line breaks become spaces,
    so no block (heading, list, table) can start. ``max_len`` shortens long text with "…".
    """
    raw = str(text)
    if max_len is not None and len(raw) > max_len:
        raw = raw[:max_len] + "…"
    raw = re.sub(r"[\r\n\u2028\u2029]+", " ", raw)
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", raw)
    return _AUTOLINK.sub(lambda m: (m.group(0) + "\u200b"), escaped)


# the model kinds' words, for extraction: the kinds declare them in English
KIND_WORDS = (N_("plain"), N_("attention"), N_("Plain model"), N_("Attention model"))
NO_CHECKPOINT = {
    "plain": N_("No plain checkpoint is available: train one on the Train page."),
    "attention": N_("No attention checkpoint is available: train one on the Train page."),
}


def choose_language() -> str:
    """Set this run's language: ``?lang=`` first, then the one picked earlier in this session,
    then the browser's locale, English last; a ``?lang=`` naming no language is a warning.

    The choice is written back to the URL, so it is kept across pages and in share links.
    """
    raw = st.query_params.get("lang")
    language = parse_language(raw)
    if raw is not None and language is None:
        st.warning(_(BAD_LANGUAGE).format(value=escape_markdown(raw, 40)))
        del st.query_params["lang"]
    if language is not None:  # an explicit choice: kept for this session
        st.session_state[LANGUAGE_KEY] = language
    language = st.session_state.get(LANGUAGE_KEY)
    if language is None:
        return set_language(language_from_locale(st.context.locale))
    st.query_params["lang"] = url_code(language)
    return set_language(language)


def _on_language() -> None:
    language = st.session_state[LANGUAGE_PICKER_KEY]
    if language is None:  # a click on the selected language: keep it
        return
    st.session_state[LANGUAGE_KEY] = language
    st.query_params["lang"] = url_code(language)


def language_switch() -> None:
    """The sidebar's language switch; switching reruns the same page with the same input."""
    st.session_state[LANGUAGE_PICKER_KEY] = current_language()
    # a radio, not a segmented control: a button group reads each label for a leading emoji,
    # and a non-ASCII label ("简体中文") makes Streamlit load its emoji catalogue and regex on
    # every server's first render (~0.1-0.2 s, measured with bench/pages.py)
    st.radio("Language / 语言", list(LANGUAGES), key=LANGUAGE_PICKER_KEY,
             format_func=LANGUAGES.get, on_change=_on_language, horizontal=True,
             label_visibility="collapsed")


def with_language(query: dict) -> dict:
    """``query`` plus this session's ``lang``, for page links that replace the query."""
    language = st.session_state.get(LANGUAGE_KEY)
    return query | {"lang": url_code(language)} if language else dict(query)


def require_router(script: str) -> None:
    """Send a page run without ``app.py`` through the router, keeping its query string.

    On a fresh server the first request for a deep link (``/decode?text=ABC``) runs the page
    script alone, because Streamlit treats a ``pages/`` folder as the legacy page list until
    ``st.navigation`` has run once; then there is no page config and no sidebar.
    """
    if st.session_state.get(ROUTED_KEY):
        choose_language()  # again: a page can run without the router (AppTest's switch_page)
        return
    st.session_state[PENDING_PAGE_KEY] = (script, st.query_params.to_dict())
    st.switch_page("app.py")


@st.cache_resource(show_spinner=False, max_entries=32)
def load_checkpoint(name: str, version: tuple) -> checkpoints.Checkpoint:
    """One shared, never-mutated model per (name, file version): a re-saved name reloads."""
    return checkpoints.load_checkpoint(name)


def _version(name: str) -> tuple:
    """The folder and the identity, size and time of ``name``'s files (the cache key)."""
    stamps: list = [str(checkpoints.CHECKPOINT_DIR)]
    for suffix in (".safetensors", ".json"):
        try:
            info = (checkpoints.CHECKPOINT_DIR / f"{name}{suffix}").stat()
            stamps.append((info.st_ino, info.st_size, info.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def picker_key(kind: str) -> str:
    """The session key of the sidebar's checkpoint picker for model ``kind``."""
    return f"{kind}_checkpoint"


def checkpoint_choices(kind: str) -> list[str]:
    """Names of saved checkpoints of ``kind`` ("plain" or "attention"), shipped first."""
    names = []
    for name in checkpoints.list_checkpoints():
        try:
            sidecar = checkpoints.read_sidecar(name)
        except checkpoints.CheckpointError:
            continue
        if (sidecar.get("model_config") or {}).get("kind") == kind:
            names.append(name)
    shipped = model_kind(kind).shipped
    return sorted(names, key=lambda n: (n != shipped, n))


def task_caption(name: str) -> str | None:
    """"Task: sort, the letters in alphabetical order" for the checkpoint ``name``; None if its
    sidecar cannot be read."""
    try:
        config = checkpoints.read_sidecar(name).get("train_config") or {}
    except checkpoints.CheckpointError:
        return None
    spec = str(config.get("task") or DEFAULT_TASK)
    try:
        return _("Task: **{spec}**, {description}").format(
            spec=escape_markdown(spec), description=escape_markdown(_(describe(spec))))
    except (KeyError, TaskError):
        return _("Task: {spec} (unknown here)").format(spec=escape_markdown(spec, 40))


def selected_name(kind: str) -> str | None:
    """The name picked in the sidebar for ``kind`` (the first choice before the sidebar ran)."""
    name = st.session_state.get(picker_key(kind))
    if name is None:
        choices = checkpoint_choices(kind)
        name = choices[0] if choices else None
    return name


def shown_kinds() -> list[str]:
    """The kinds a page shows: the lab's two always (a missing one is an error to see), the
    Transformer where a checkpoint of it is there to pick."""
    return [kind for kind in KINDS if kind in ("plain", "attention") or selected_name(kind)]


def trained_on_pairs(name: str | None) -> bool:
    """Whether the checkpoint ``name`` was trained on a file of pairs (read from its sidecar)."""
    if name is None:
        return False
    try:
        return checkpoints.read_sidecar(name).get("pairs") is not None
    except checkpoints.CheckpointError:
        return False


def selected(kind: str) -> checkpoints.Checkpoint | None:
    """The checkpoint picked in the sidebar for ``kind``; shows an st.error if it won't load."""
    name = selected_name(kind)
    if name is None:
        st.error(_(NO_CHECKPOINT[kind]) if kind in NO_CHECKPOINT else
                 _("No {kind} checkpoint is available: train one on the Train page.").format(
                     kind=kind))
        return None
    try:
        return load_checkpoint(name, _version(name))
    except checkpoints.CheckpointError as error:
        st.error(_("Could not load the {kind} checkpoint: {error}").format(
            kind=_(kind), error=escape_markdown(error)))
        return None


def shipped(kind: str) -> checkpoints.Checkpoint | None:
    """The shipped checkpoint of ``kind``; shows an st.error if it won't load."""
    return shipped_checkpoint(model_kind(kind).shipped, kind)


def shipped_checkpoint(name: str, kind: str = "attention") -> checkpoints.Checkpoint | None:
    """The shipped checkpoint ``name``; shows an st.error if it won't load."""
    try:
        return load_checkpoint(name, _version(name))
    except checkpoints.CheckpointError as error:
        st.error(_("Could not load the shipped {kind} checkpoint: {error}").format(
            kind=_(kind), error=escape_markdown(error)))
        return None


def checked_input(text: str) -> str | None:
    """The upper-cased input, or None after an st.error / st.info saying what is wrong."""
    if not text:
        st.info(_("Type a string of letters A-Z (up to {n}).").format(n=MAX_INPUT_LEN))
        return None
    try:
        cleaned = normalize(text)
    except InputError as error:
        st.error(_("Cannot decode “{text}”: {error}.").format(text=escape_markdown(text, 40),
                                                             error=escape_markdown(error)))
        return None
    if cleaned != text:
        st.caption(_("Lowercase letters were upper-cased: {text}").format(
            text=escape_markdown(cleaned)))
    return cleaned


def sidebar() -> None:
    """The model pickers every page shares."""
    with st.sidebar:
        language_switch()
        st.subheader(_("Models"))
        for kind in KINDS.values():
            key, choices = picker_key(kind.name), checkpoint_choices(kind.name)
            if not choices:
                st.warning(_("No {kind} checkpoint yet.").format(kind=_(kind.name)))
                continue
            if st.session_state.get(key) not in choices:
                st.session_state[key] = choices[0]
            st.selectbox(_(kind.title), choices, key=key)
            caption = task_caption(st.session_state[key])
            if caption:
                st.caption(caption)
        skipped_files_note()


def skipped_files_note() -> None:
    """A collapsed note naming each checkpoint file that was skipped, and why."""
    problems = checkpoints.list_checkpoint_problems()
    if not problems:
        return
    label = ngettext("{n} checkpoint file skipped", "{n} checkpoint files skipped",
                     len(problems)).format(n=len(problems))
    with st.expander(label, expanded=False, icon=":material/warning:"):
        for file_name, problem in problems:
            st.caption(f"**{escape_markdown(file_name, 80)}**: {escape_markdown(problem, 400)}")
