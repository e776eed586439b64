"""Table columns that fit: a short header, its full meaning on hover, a width in pixels.

A page's table is a ``pandas.DataFrame`` plus one :class:`ColumnSpec` per column, built here so
that tests can check what a browser would cut: a header wider than its column is drawn as
"exact match, t…", and columns wider together than the page push the last ones out of sight.
The page only turns the specs into ``st.column_config`` entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Measured in Chromium on the Runs page in a 1400 px wide window: the wide layout leaves the
# main column 870 px beside the sidebar.
TABLE_WIDTH = 860
CHAR_PX = 7.5  # an average character of the table's 14 px font
CELL_PADDING_PX = 22  # both sides of a cell, and room for the header's sort arrow


@dataclass(frozen=True)
class ColumnSpec:
    """How one table column is shown: header, tooltip, width and number format."""

    name: str  # the DataFrame column
    header: str  # what the column's top says: short enough to fit ``width``
    help: str  # the whole meaning, shown on hover
    width: int  # pixels
    number_format: str | None = None  # "percent", "%.1f", ... (None: shown as it is)


def text_width(text: str) -> float:
    """About how many pixels ``text`` takes in a table cell, padding included."""
    return len(text) * CHAR_PX + CELL_PADDING_PX


def total_width(columns: Iterable[ColumnSpec]) -> int:
    return sum(column.width for column in columns)


def cut_headers(columns: Iterable[ColumnSpec]) -> list[str]:
    """Headers that would not fit their column (the browser would end them with "…")."""
    return [column.header for column in columns if text_width(column.header) > column.width]
