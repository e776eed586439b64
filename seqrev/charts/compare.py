"""Two inputs decoded by one model, side by side (Seq2Seq-Vis's comparison mode).

Data in (two traces), a DataFrame / HTML / plotly Figure out. A step "differs" when the two
runs wrote different tokens there, or only one of them got that far. Words (headers, titles,
hover texts) come through ``_()`` when a table or figure is built, in the current language.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from seqrev.charts.decoding import CHOSEN_WRONG, OTHER
from seqrev.decoding.search import DecodeTrace
from seqrev.i18n import N_, _
from seqrev.inspection.alignment import CHANGED, ONLY_FIRST, ONLY_SECOND, SAME, align_letters
from seqrev.tasks.vocab import token_label

FIRST_COLOR, SECOND_COLOR = "#0969da", "#bf8700"
DIFFER_FILL = "rgba(207, 34, 46, 0.12)"
RUN_NAMES = {"first": N_("first"), "second": N_("second")}
# comparison_table's headers, by run: what it wrote, its probability, the input it read most
WROTE = {"first": N_("first wrote"), "second": N_("second wrote")}
PROBABILITY = {"first": N_("first p"), "second": N_("second p")}
READS = {"first": N_("first reads"), "second": N_("second reads")}
STATUS_WORDS = {SAME: N_("same"), CHANGED: N_("changed"), ONLY_FIRST: N_("only first"),
                ONLY_SECOND: N_("only second")}


def differing_steps(first: DecodeTrace, second: DecodeTrace) -> list[int]:
    """Steps where the runs wrote different tokens, or where only one run had a step."""
    a = [s.chosen_token for s in first.steps]
    b = [s.chosen_token for s in second.steps]
    return [t for t in range(max(len(a), len(b))) if t >= len(a) or t >= len(b) or a[t] != b[t]]


def differing_positions(first: str, second: str) -> list[int]:
    """Input positions where the two strings differ (every position past the shorter one)."""
    return [i for i in range(max(len(first), len(second)))
            if i >= len(first) or i >= len(second) or first[i] != second[i]]


def _top(trace: DecodeTrace, t: int) -> str:
    step = trace.steps[t]
    if step.attention is None:
        return ""
    position = int(step.attention.argmax())
    return f"{position}: {trace.source[position]}"


def comparison_table(first: DecodeTrace, second: DecodeTrace) -> pd.DataFrame:
    """One row per step: each run's written token and its probability (and most-read input
    letter, for an attention model), and whether the step differs. Headers in the current
    language: ``_("differs")``, ``_(PROBABILITY["first"])`` and so on."""
    differ = set(differing_steps(first, second))
    attention = first.steps and first.steps[0].attention is not None
    rows = []
    for t in range(max(len(first.steps), len(second.steps))):
        row: dict = {_("step"): t, _("differs"): t in differ}
        for name, trace in (("first", first), ("second", second)):
            wrote, probability, reads = _(WROTE[name]), _(PROBABILITY[name]), _(READS[name])
            if t < len(trace.steps):
                step = trace.steps[t]
                row[wrote] = token_label(step.chosen_token)
                row[probability] = float(step.probabilities[step.chosen_token])
                if attention:
                    row[reads] = _top(trace, t)
            else:
                row[wrote], row[probability] = "", None
                if attention:
                    row[reads] = ""
        rows.append(row)
    return pd.DataFrame(rows)


_CELL = ("min-width:1.6em;padding:2px 4px;text-align:center;border-radius:4px;"
         "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:1.05em;")


def comparison_html(first: DecodeTrace, second: DecodeTrace) -> str:
    """Both outputs as a two-row table, one column per step, so the steps line up; steps that
    differ framed in red. Scrolls sideways when long."""
    differ = set(differing_steps(first, second))
    n = max(len(first.steps), len(second.steps))
    header = "".join(f'<th style="font-weight:400;color:#57606a;font-size:0.75em">{t}</th>'
                     for t in range(n))
    rows = [f'<tr><th style="font-weight:400;color:#57606a;font-size:0.75em">'
            f'{html.escape(_("step"))}</th>{header}</tr>']
    for name, trace in (("first", first), ("second", second)):
        cells = []
        for t in range(n):
            text = token_label(trace.steps[t].chosen_token) if t < len(trace.steps) else "·"
            edge = f"2px solid {CHOSEN_WRONG}" if t in differ else f"1px solid {OTHER}"
            fill = DIFFER_FILL if t in differ else "transparent"
            title = (_("step {step}: {name} run wrote {token} (differs)") if t in differ else
                     _("step {step}: {name} run wrote {token}")).format(
                         step=t, name=_(RUN_NAMES[name]), token=text)
            cells.append(f'<td title="{html.escape(title)}" style="{_CELL}border:{edge};'
                         f'background:{fill}">{html.escape(text)}</td>')
        rows.append(f'<tr><th style="font-weight:400;color:#57606a;text-align:left;'
                    f'padding-right:6px">{html.escape(_(RUN_NAMES[name]))}</th>'
                    f'{"".join(cells)}</tr>')
    return ('<div style="overflow-x:auto"><table style="border-collapse:separate;'
            f'border-spacing:2px;border:none">{"".join(rows)}</table></div>')


def aligned_html(first: str, second: str, names: tuple[str, str] | None = None) -> str:
    """Both outputs lined up letter by letter (``seqrev.inspection.alignment``),
    not step by step: a letter only one output has faces a gap (–), so one dropped letter
    frames one column, not the rest. Changed letters and gaps are framed in red; each cell's
    title names its output position. ``names`` default to "first" and "second", translated."""
    columns = align_letters(first, second)
    names = names or (_(RUN_NAMES["first"]), _(RUN_NAMES["second"]))
    rows = []
    for row, name in enumerate(names):
        cells = []
        for column in columns:
            letter = column.first if row == 0 else column.second
            index = column.first_index if row == 0 else column.second_index
            differs = column.status != SAME
            edge = f"2px solid {CHOSEN_WRONG}" if differs else f"1px solid {OTHER}"
            fill = DIFFER_FILL if differs else "transparent"
            status = _(STATUS_WORDS.get(column.status, column.status))
            title = (_("{name}: no letter here ({status})") if letter is None else
                     _("{name}: letter {index} is {letter} ({status})")).format(
                         name=name, index=index, letter=letter, status=status)
            cells.append(f'<td title="{html.escape(title)}" data-status="'
                         f'{html.escape(column.status)}" style="{_CELL}border:{edge};'
                         f'background:{fill}">{html.escape(letter or "–")}</td>')
        rows.append(f'<tr><th style="font-weight:400;color:#57606a;text-align:left;'
                    f'padding-right:6px">{html.escape(name)}</th>{"".join(cells)}</tr>')
    return ('<div class="seqrev-aligned" style="overflow-x:auto"><table style="border-collapse:'
            f'separate;border-spacing:2px;border:none">{"".join(rows)}</table></div>')


def comparison_figure(first: DecodeTrace, second: DecodeTrace, title: str = "") -> go.Figure:
    """Probability of the written token at each step for both runs; differing steps shaded."""
    figure = go.Figure()
    for name, trace, color in (("first", first, FIRST_COLOR), ("second", second, SECOND_COLOR)):
        written = [token_label(s.chosen_token) for s in trace.steps]
        run = _(RUN_NAMES[name])
        figure.add_trace(go.Scatter(
            x=list(range(len(trace.steps))),
            y=[float(s.probabilities[s.chosen_token]) for s in trace.steps],
            customdata=written, name=_("{name}: {source}").format(name=run, source=trace.source),
            mode="lines+markers", line={"color": color},
            hovertemplate=_("{name}: step %{{x}} wrote %{{customdata}} (p %{{y:.3f}})"
                            "<extra></extra>").format(name=run)))
    shapes = [{"type": "rect", "xref": "x", "yref": "paper", "x0": t - 0.5, "x1": t + 0.5,
               "y0": 0, "y1": 1, "fillcolor": DIFFER_FILL, "line": {"width": 0},
               "layer": "below"} for t in differing_steps(first, second)]
    figure.update_layout(
        title={"text": title or _("Probability of each written token (shaded: steps that "
                                  "differ)"),
               "x": 0.0, "xanchor": "left"},
        shapes=shapes, height=360, margin={"l": 10, "r": 10, "t": 60, "b": 10},
        xaxis={"title": _("decode step"), "dtick": 1,
               "range": [-0.5, max(len(first.steps), len(second.steps)) - 0.5]},
        yaxis={"title": "p", "range": [0, 1.05]},
        legend={"orientation": "h", "yanchor": "top", "y": -0.25, "xanchor": "left", "x": 0.0},
        plot_bgcolor="white",
    )
    return figure
