"""Babel extraction of the settings' labels and help texts, for ``babel.cfg``.

A setting is declared once, ``setting("--flag", "Label", "Help...", group=...)`` on its config
field (``seqrev.settings``), and the Train page shows its label and help through ``_()``. Babel's
keyword specs cannot take both the 2nd and the 3rd argument of one call as two messages
(``setting:2,3`` means a singular and its plural), so :func:`extract_settings` reads the calls
itself: every message the Python extractor finds, plus the label and the help of each
``setting(...)`` call whose label or help is a literal string. A help built at import time
(the model kinds' or tasks' summaries joined) is not a literal and is left to the catalogue.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

SETTING = "setting"
TEXT_ARGUMENTS = (1, 2)  # setting(flag, label, help, ...): the label and the help


def _called_name(node: ast.Call) -> str | None:
    function = node.func
    if isinstance(function, ast.Name):
        return function.id
    return function.attr if isinstance(function, ast.Attribute) else None


def setting_texts(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of each literal label and help of a ``setting(...)`` call in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or _called_name(node) != SETTING:
            continue
        for index in TEXT_ARGUMENTS:
            if index < len(node.args):
                argument = node.args[index]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    yield argument.lineno, argument.value


def extract_settings(fileobj: IO[bytes], keywords: Mapping[str, Any],
                     comment_tags: Collection[str], options: Mapping[str, Any]
                     ) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel's Python extraction of ``fileobj``, plus its settings' labels and help texts."""
    from babel.messages.extract import extract_python

    yield from extract_python(fileobj, keywords, comment_tags, options)
    fileobj.seek(0)
    source = fileobj.read().decode(options.get("encoding", "utf-8"))
    for line, text in setting_texts(source):
        yield line, "_", text, []
