"""Loading the catalogues and looking messages up in the current language."""

from __future__ import annotations

import contextlib
import gettext
import io
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

DOMAIN = "seqrev"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DEFAULT_LANGUAGE = "en"
# language code -> its name in that language (what the sidebar's switch shows)
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
# what ?lang= may say, for each language
URL_CODES = {"en": "en", "zh": "zh_CN", "zh_cn": "zh_CN", "zh-cn": "zh_CN", "zh_hans": "zh_CN",
             "zh-hans": "zh_CN"}

_language: ContextVar[str] = ContextVar("seqrev_language", default=DEFAULT_LANGUAGE)
log = logging.getLogger(__name__)


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for "mark, don't translate")
    """Mark ``message`` for extraction; it is translated where it is shown, with ``_()``."""
    return message


def parse_language(value: str | None) -> str | None:
    """``?lang=`` as a language code ("en", "zh_CN"); None when it names no language here."""
    if value is None:
        return None
    return URL_CODES.get(str(value).strip().lower())


def language_from_locale(locale: str | None) -> str:
    """The language for a browser locale such as "zh-CN" or "en-US"; English otherwise."""
    return "zh_CN" if str(locale or "").lower().startswith("zh") else DEFAULT_LANGUAGE


def url_code(language: str) -> str:
    """What ``?lang=`` says for ``language``: "en" or "zh"."""
    return "zh" if language == "zh_CN" else "en"


def current_language() -> str:
    """The language ``_()`` translates into here and now."""
    return _language.get()


@contextlib.contextmanager
def use_language(language: str) -> Iterator[str]:
    """Translate into ``language`` inside the block (an unknown code means English)."""
    token = _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield _language.get()
    finally:
        _language.reset(token)


def set_language(language: str) -> str:
    """Translate into ``language`` from now on in this context (a page run); returns it."""
    _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    return _language.get()


def po_path(language: str, locale_dir: Path | None = None) -> Path:
    return (locale_dir or LOCALE_DIR) / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_po(path: Path) -> gettext.GNUTranslations:
    """``path`` (a ``.po`` file) compiled in memory; OSError or ValueError when it can't be."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        catalog = read_po(handle, abort_invalid=True)
    if not any(message.id for message in catalog):  # e.g. a truncated file Babel reads as empty
        raise ValueError(f"{path} holds no messages")
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@lru_cache(maxsize=8)
def translations(language: str, locale_dir: Path | None = None) -> gettext.NullTranslations:
    """``language``'s compiled catalogue, once per process; English (the messages as written)
    plus one logged warning when the catalogue is missing or cannot be read."""
    if language == DEFAULT_LANGUAGE and not po_path(language, locale_dir).exists():
        return gettext.NullTranslations()
    try:
        return compile_po(po_path(language, locale_dir))
    except Exception as error:  # any bad file means English, never a traceback on a page
        log.warning("seqrev: the %s catalogue could not be read (%s: %s); showing English",
                    language, type(error).__name__, error)
        return gettext.NullTranslations()


def _(message: str) -> str:
    """``message`` in the current language (as written when it has no translation)."""
    if not message:
        return message
    return translations(_language.get()).gettext(message)


def pgettext(context: str, message: str) -> str:
    """``message`` in the current language, told apart by ``context`` from the same English
    word elsewhere ("score": the score function, or one score s_i)."""
    return translations(_language.get()).pgettext(context, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n``, by the current language's plural rule."""
    return translations(_language.get()).ngettext(singular, plural, n)


def sentence_separator() -> str:
    """What goes between two sentences: a space, or nothing in Chinese (。 ends them)."""
    return "" if _language.get().startswith("zh") else " "
