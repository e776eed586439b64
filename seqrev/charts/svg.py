"""Small charts drawn on the server as SVG, for the figures a page shows first.

Streamlit's Plotly component costs about 1.2 s in a fresh tab before its first chart appears
(docs/pages-speed.md); an SVG in the page's markdown arrives with its text. Used where a
chart needs no zoom or click: each bar still names itself on hover (an SVG ``<title>``).
Text is drawn in ``currentColor``, so it follows the app's light or dark theme.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 340, 230  # about a column's width in pixels when three models sit side by side
LEFT, RIGHT, TOP, BOTTOM = 38, 6, 30, 40
MOST_LABELS = 32
FONT = "'Source Sans Pro','Source Sans 3',sans-serif"
MONO = "ui-monospace,SFMono-Regular,Menlo,Consolas,monospace"
GRID = "rgba(128,128,128,0.25)"


@dataclass(frozen=True)
class Bar:
    """One bar: its axis label, height, fill and outline colours, the text above it (may be
    empty) and what hovering it says."""

    label: str
    value: float
    fill: str
    outline: str | None = None
    text: str = ""
    tooltip: str = ""


def _text(x: float, y: float, words: str, *, size: float, anchor: str = "middle",
          extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" text-anchor="{anchor}" '
            f'fill="currentColor" {extra}>{html.escape(words)}</text>')


def bar_chart_svg(bars: Sequence[Bar], *, title: str, x_title: str, y_title: str,
                  y_max: float = 1.12, css_class: str = "", monospace_labels: bool = False
                  ) -> str:
    """A titled vertical bar chart as one ``<svg>`` string, y from 0 to ``y_max`` with grid
    lines at 0, 0.5 and 1. Render it with ``st.markdown(svg, unsafe_allow_html=True)``:
    ``st.html`` sanitizes with an HTML-only profile and drops SVG."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(1, len(bars))

    def y_of(value: float) -> float:
        return TOP + plot_height * (1 - min(max(value, 0.0), y_max) / y_max)

    parts = [f"<title>{html.escape(title)}</title>",
             _text(4, 16, title, size=14, anchor="start", extra='font-weight="600"')]
    for tick in (0.0, 0.5, 1.0):
        y = y_of(tick)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID}"/>')
        parts.append(_text(LEFT - 5, y + 4, f"{tick:g}", size=11, anchor="end"))
    label_size = 13 if len(bars) <= 16 else 8
    label_every = -(-len(bars) // MOST_LABELS)  # past 32 bars, every second label
    label_font = f'font-family="{MONO}"' if monospace_labels else ""
    for index, bar in enumerate(bars):
        x, top = LEFT + slot * index + slot * 0.15, y_of(bar.value)
        width = slot * 0.7
        outline = (f'stroke="{bar.outline}" stroke-width="3"' if bar.outline else "")
        parts.append(f'<g class="seqrev-bar" data-label="{html.escape(bar.label)}">'
                     f"<title>{html.escape(bar.tooltip or bar.label)}</title>"
                     f'<rect x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" '
                     f'height="{TOP + plot_height - top:.1f}" fill="{bar.fill}" {outline}/>'
                     "</g>")
        if bar.text:
            parts.append(_text(x + width / 2, top - 4, bar.text, size=11))
        if index % label_every == 0:
            parts.append(_text(x + width / 2, TOP + plot_height + 15, bar.label,
                               size=label_size, extra=label_font))
    parts.append(_text(LEFT + plot_width / 2, HEIGHT - 5, x_title, size=12))
    parts.append(_text(12, TOP + plot_height / 2, y_title, size=12,
                       extra=f'transform="rotate(-90 12 {TOP + plot_height / 2:.1f})"'))
    return (f'<svg class="seqrev-chart {html.escape(css_class)}" role="img" '
            f'aria-label="{html.escape(title)}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
            f'style="max-width:{WIDTH * 1.6:.0f}px;font-family:{FONT}" '
            f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>')
