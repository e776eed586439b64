"""Translating a finished plotly figure's words: titles, axis titles, legend names, hover
templates, annotations and colour-bar titles.

For chart builders that do not take their words through ``_()`` yet (the Attention, Training
and Sweep pages' charts, whose modules other work owns): each text is looked up whole in the
catalogue, or matched against one of the templates in :mod:`seqrev.i18n.borrowed` (such as
"{kind} raw"), whose placeholders are translated in turn. Text with no entry stays as it is.
"""

from __future__ import annotations

import re
from functools import lru_cache

import plotly.graph_objects as go

from seqrev.i18n.borrowed import TEMPLATES
from seqrev.i18n.catalog import DEFAULT_LANGUAGE, _, current_language

_FIELD = re.compile(r"(?<!%)\{(\w+)(?::[^}]*)?\}")  # {name}, not plotly's %{x}
_TEXT_KEYS = ("text", "name", "hovertemplate", "texttemplate", "annotation_text")


@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[re.Pattern, str], ...]:
    """Each template as an anchored regex whose groups are its placeholders."""
    compiled = []
    for template in TEMPLATES:
        parts, last = [], 0
        for match in _FIELD.finditer(template):
            parts.append(re.escape(template[last:match.start()]))
            parts.append(f"(?P<{match.group(1)}>.+?)")
            last = match.end()
        parts.append(re.escape(template[last:]))
        compiled.append((re.compile("^" + "".join(parts) + "$", re.DOTALL), template))
    return tuple(compiled)


def translate_text(text: str) -> str:
    """``text`` through the catalogue: whole, or as one of the borrowed templates."""
    if not text or current_language() == DEFAULT_LANGUAGE:
        return text
    whole = _(text)
    if whole != text:
        return whole
    for pattern, template in _patterns():
        match = pattern.match(text)
        if match and _(template) != template:
            values = {name: translate_text(value) for name, value in match.groupdict().items()}
            return _FIELD.sub(lambda m, v=values: v[m.group(1)], _(template))
    return text


def _walk(node):
    if isinstance(node, dict):
        return {key: (translate_text(value) if key in _TEXT_KEYS and isinstance(value, str)
                      else _walk(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [_walk(item) for item in node]
    return node


def translate_figure(figure: go.Figure) -> go.Figure:
    """``figure`` with its words in the current language (the same figure in English)."""
    if current_language() == DEFAULT_LANGUAGE:
        return figure
    return go.Figure(_walk(figure.to_plotly_json()), skip_invalid=True)
