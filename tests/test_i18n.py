"""The catalogues: complete, placeholders intact, English on any failure, plurals and numbers."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

import seqrev.i18n.catalog as catalog
from seqrev.i18n import (
    LANGUAGES,
    _,
    decimal,
    language_from_locale,
    ngettext,
    parse_language,
    percent,
    use_language,
)

ROOT = Path(__file__).resolve().parent.parent
_PLOTLY = re.compile(r"%\{[^}]*\}")  # plotly's own hover fields, e.g. %{y:.1%}


def _catalog(language: str):
    with catalog.po_path(language).open("rb") as handle:
        return read_po(handle)


def _fields(text: str) -> set[str]:
    """The names of the {placeholders} in ``text``, plotly's %{x} fields apart."""
    return set(re.findall(r"\{(\w*)[^{}]*\}", _PLOTLY.sub("", text)))


def _plotly_fields(text: str) -> set[str]:
    return set(_PLOTLY.findall(text))


def _messages(language: str):
    return [message for message in _catalog(language) if message.id]


@pytest.fixture(autouse=True)
def _fresh_catalogues():
    catalog.translations.cache_clear()
    yield
    catalog.translations.cache_clear()


def test_the_catalogues_hold_every_message_babel_extracts(tmp_path):
    from babel.messages.frontend import CommandLineInterface

    pot = tmp_path / "seqrev.pot"
    CommandLineInterface().run(["pybabel", "extract", "-F", str(ROOT / "babel.cfg"), "-k", "N_",
                                "-o", str(pot), "--omit-header", str(ROOT)])
    with pot.open("rb") as handle:
        extracted = {message.id for message in read_po(handle) if message.id}
    for language in LANGUAGES:
        held = {message.id for message in _messages(language)}
        assert extracted <= held, f"{language} lacks {sorted(map(str, extracted - held))[:5]}"


def test_every_message_has_a_chinese_translation_with_its_placeholders_intact():
    messages = _messages("zh_CN")
    assert len(messages) > 150
    for message in messages:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"no translation for {ids[0]!r}"
        assert not message.fuzzy, f"fuzzy translation for {ids[0]!r}"
        for translated in strings:
            assert _fields(translated) == _fields(ids[0]), (ids[0], translated)
            assert _plotly_fields(translated) == _plotly_fields(ids[0]), (ids[0], translated)
            # Markdown emphasis and code spans come in pairs in the translation as well
            assert translated.count("**") % 2 == 0 and translated.count("`") % 2 == 0, translated


def test_a_message_reads_in_the_chosen_language_and_english_without_a_translation():
    with use_language("zh_CN"):
        assert _("Lesson") != "Lesson"
        assert _("no such message, anywhere") == "no such message, anywhere"
    with use_language("en"):
        assert _("Lesson") == "Lesson"
    with use_language("xx"):  # an unknown language is English
        assert _("Lesson") == "Lesson"


@pytest.mark.parametrize("content", [b"", b"msgid \"x\nmsgstr", b"\xff\xfe\x00garbage \"\"\""])
def test_a_corrupt_or_missing_catalogue_is_english_and_one_warning(tmp_path, monkeypatch, caplog,
                                                                   content):
    broken = tmp_path / "zh_CN" / "LC_MESSAGES"
    broken.mkdir(parents=True)
    if content:
        (broken / "seqrev.po").write_bytes(content)
    monkeypatch.setattr(catalog, "LOCALE_DIR", tmp_path)
    with caplog.at_level(logging.WARNING, logger="seqrev.i18n.catalog"), use_language("zh_CN"):
        assert _("Lesson") == "Lesson"
        assert _("Lesson") == "Lesson"  # asked twice: read and warned once
        assert ngettext("{n} file", "{n} files", 2) == "{n} files"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "zh_CN" in warnings[0].getMessage()


def test_a_missing_catalogue_folder_is_english_and_one_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(catalog, "LOCALE_DIR", tmp_path / "nowhere")
    with caplog.at_level(logging.WARNING, logger="seqrev.i18n.catalog"), use_language("zh_CN"):
        assert _("Lesson") == "Lesson"
        assert _("Home") == "Home"
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_plurals_follow_each_languages_rule():
    singular, plural = "{n} checkpoint file skipped", "{n} checkpoint files skipped"
    with use_language("en"):
        assert ngettext(singular, plural, 1).format(n=1) == "1 checkpoint file skipped"
        assert ngettext(singular, plural, 3).format(n=3) == "3 checkpoint files skipped"
    with use_language("zh_CN"):  # Chinese has one form for every count
        one, three = ngettext(singular, plural, 1), ngettext(singular, plural, 3)
        assert one == three and "{n}" in one and not re.search("[A-Za-z]{3}", one)


def test_numbers_and_percentages_per_language():
    with use_language("en"):
        assert percent(0.25) == "25%"
        assert percent(0.125, 1) == "12.5%"
        assert decimal(12345.678, 1) == "12,345.7"
    with use_language("zh_CN"):
        assert percent(0.25) == "25%"
        assert decimal(12345.678, 2) == "12,345.68"


@pytest.mark.parametrize(("raw", "language"), [("zh", "zh_CN"), ("ZH", "zh_CN"), ("zh-CN", "zh_CN"),
                                               ("en", "en"), (" en ", "en"), ("fr", None),
                                               ("", None), (None, None),
                                               ("[x](http://e.com)", None)])
def test_parse_language_takes_only_the_languages_here(raw, language):
    assert parse_language(raw) == language


@pytest.mark.parametrize(("locale", "language"), [("zh-CN", "zh_CN"), ("zh-TW", "zh_CN"),
                                                  ("en-US", "en"), ("fr-FR", "en"), (None, "en"),
                                                  ("", "en")])
def test_the_browser_locale_decides_with_english_as_fallback(locale, language):
    assert language_from_locale(locale) == language


def test_a_finished_figure_is_translated_in_chinese_and_unchanged_in_english():
    import plotly.graph_objects as go

    from seqrev.i18n.figures import translate_figure

    figure = go.Figure(layout={"title": {"text": "Training loss"},
                               "xaxis": {"title": {"text": "step"}}})
    with use_language("zh_CN"):
        translated = translate_figure(figure)
    assert translated.layout.title.text != "Training loss"
    assert translated.layout.xaxis.title.text != "step"
    with use_language("en"):
        assert translate_figure(figure).layout.title.text == "Training loss"


def test_every_settings_label_and_help_is_extracted_and_reads_in_chinese():
    from seqrev.i18n.extract import setting_texts
    from seqrev.training.settings import all_settings

    declared = all_settings()  # the Transformer's settings are ModelConfig's too
    sources = [*(ROOT / "seqrev/models").glob("*.py"), *(ROOT / "seqrev/training").glob("*.py")]
    extracted = {text for path in sources for _line, text in setting_texts(path.read_text())}
    literal = {text for item in declared for text in (item.label, item.help)
               if text in extracted}
    assert {"Hidden size (GRU)", "Attention heads", "Teacher forcing"} <= literal
    assert extracted <= literal  # only whole labels and help texts, no fragment of a join
    han = re.compile(r"[\u4e00-\u9fff]")
    with use_language("zh_CN"):
        for item in declared:  # a help built at import time is in the catalogue whole
            assert han.search(_(item.label)) and han.search(_(item.help)), item.name
