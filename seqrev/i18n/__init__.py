"""Text in the reader's language: gettext catalogues (domain ``seqrev``), one ``.po`` per
language under ``seqrev/locale``, compiled in memory by Babel at first use.

The current language is a context variable: a page (or the CLI, or a test) sets it with
:func:`use_language`, and every ``_()`` in the library reads it, so figures and sentences come
out in that language wherever they are built. English is the source language: a message with
no translation, or a catalogue that is missing or corrupt, reads in English and never raises.
"""

from seqrev.i18n.catalog import (
    DEFAULT_LANGUAGE,
    DOMAIN,
    LANGUAGES,
    LOCALE_DIR,
    N_,
    _,
    current_language,
    language_from_locale,
    ngettext,
    parse_language,
    pgettext,
    sentence_separator,
    translations,
    use_language,
)
from seqrev.i18n.numbers import decimal, percent

__all__ = ["DEFAULT_LANGUAGE", "DOMAIN", "LANGUAGES", "LOCALE_DIR", "N_", "_",
           "current_language", "decimal", "language_from_locale", "ngettext",
           "parse_language", "percent", "pgettext", "sentence_separator", "translations",
           "use_language"]
