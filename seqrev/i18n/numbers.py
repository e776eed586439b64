"""Numbers and percentages written the way the current language writes them."""

from __future__ import annotations

from babel.numbers import format_decimal, format_percent

from seqrev.i18n.catalog import current_language


def percent(value: float, digits: int = 0) -> str:
    """``value`` (0.25) as a percentage ("25%"), in the current language."""
    pattern = "#,##0%" if digits <= 0 else "#,##0." + "0" * digits + "%"
    return format_percent(value, pattern, locale=current_language())


def decimal(value: float, digits: int = 1) -> str:
    """``value`` with ``digits`` decimals and the language's separators."""
    pattern = "#,##0" if digits <= 0 else "#,##0." + "0" * digits
    return format_decimal(value, pattern, locale=current_language())
