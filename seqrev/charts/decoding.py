"""Pictures of one decoded string: marked output, top-k bars, attention row, step table, beam tree.

Positions count from 0, like ``DecodeStep.position``. Everything here is data in, HTML / SVG /
DataFrame / ``plotly.graph_objects.Figure`` out. Words (titles, axes, legends, hover texts,
table headers) come through ``_()`` when a figure or table is built, so each builder writes in
the current language (``with use_language("zh_CN"):``).
"""

from __future__ import annotations

import html
from collections.abc import Collection

import pandas as pd
import plotly.graph_objects as go
import torch

from seqrev.charts.svg import Bar, bar_chart_svg
from seqrev.decoding.search import DecodeStep, DecodeTrace
from seqrev.i18n import N_, _, ngettext
from seqrev.tasks.vocab import EOS, expected_token, token_label

CHOSEN_RIGHT, CHOSEN_WRONG, EXPECTED, OTHER = "#1a7f37", "#cf222e", "#1a7f37", "#afb8c1"
ATTENTION, TARGET_EDGE = "#0969da", "#1a7f37"
RIGHT, WRONG, MISSING, EXTRA = "right", "wrong", "missing", "extra"
# a top-k bar's part, by (is it the chosen token, is it the expected one)
ROLES = {(True, True): N_("chosen, expected"), (True, False): N_("chosen"),
         (False, True): N_("expected"), (False, False): "-"}

_BOX = ("display:inline-block;min-width:1.6em;margin:0 2px 4px 0;padding:2px 4px;"
        "text-align:center;border-radius:4px;font-family:ui-monospace,SFMono-Regular,Menlo,"
        "Consolas,monospace;font-size:1.25em;line-height:1.3;")
_STYLES = {
    RIGHT: "background:#d5f5dc;border:2px solid #1a7f37;color:#0f5323;",
    WRONG: "background:#ffd8d6;border:2px solid #cf222e;color:#82071e;font-weight:700;",
    MISSING: "background:transparent;border:2px dashed #cf222e;color:#9a6e6e;",
    EXTRA: "background:#ffd8d6;border:2px solid #cf222e;color:#82071e;"
           "text-decoration:line-through;",
}
_HINT = "display:block;font-size:0.55em;line-height:1;color:#82071e;"


def letter_marks(produced: str, expected: str) -> list[tuple[int, str, str | None, str | None]]:
    """One ``(position, mark, produced letter, expected letter)`` per position of the longer string.

    ``mark`` is ``right``, ``wrong``, ``missing`` (output too short) or ``extra`` (too long).
    """
    marks = []
    for position in range(max(len(produced), len(expected))):
        got = produced[position] if position < len(produced) else None
        want = expected[position] if position < len(expected) else None
        if got is None:
            mark = MISSING
        elif want is None:
            mark = EXTRA
        else:
            mark = RIGHT if got == want else WRONG
        marks.append((position, mark, got, want))
    return marks


def _letter_box(position: int, mark: str, got: str | None, want: str | None) -> str:
    produced = _("position {position}: produced {got}, expected {want}")
    if mark == RIGHT:
        title, text, hint = produced.format(position=position, got=got, want=want), got, ""
    elif mark == WRONG:
        title, text, hint = produced.format(position=position, got=got, want=want), got, want
    elif mark == MISSING:
        title, text, hint = _("position {position}: nothing produced, expected {want}").format(
            position=position, want=want), want, ""
    else:
        title, text, hint = _("position {position}: produced {got}, expected the end").format(
            position=position, got=got), got, ""
    hint_html = f'<span style="{_HINT}">{html.escape(hint)}</span>' if hint else ""
    return (f'<span class="seqrev-letter seqrev-{mark}" data-mark="{mark}" role="img" '
            f'title="{html.escape(title)}" aria-label="{html.escape(title)}" '
            f'style="{_BOX}{_STYLES[mark]}">{html.escape(text or "")}{hint_html}</span>')


def marked_output_html(produced: str, expected: str) -> str:
    """Monospace letter boxes marking ``produced`` against ``expected``, position by position.

    Right letters are green; wrong ones red, with the expected letter small underneath;
    missing letters (output too short) are dashed boxes holding the expected letter; extra
    letters (output too long) are red and struck through. Each box has a ``title`` and
    ``aria-label`` such as "position 3: produced K, expected L", and a ``data-mark``.
    Render with ``st.html`` (or ``st.markdown(..., unsafe_allow_html=True)``).
    """
    marks = letter_marks(produced, expected)
    wrong = sum(mark != RIGHT for _, mark, _, _ in marks)
    summary = (_("all correct") if not wrong
               else ngettext("{wrong} of {n} position wrong", "{wrong} of {n} positions wrong",
                             len(marks)).format(wrong=wrong, n=len(marks)))
    boxes = "".join(_letter_box(*item) for item in marks)
    if not marks:
        boxes = ('<span style="color:#6e7781;font-style:italic">'
                 f'{html.escape(_("(empty output)"))}</span>')
    label = _("output {output}: {summary}").format(output=produced or _("(empty)"),
                                                   summary=summary)
    return (f'<div class="seqrev-marked" data-wrong="{wrong}" '
            f'aria-label="{html.escape(label)}" '
            f'style="display:flex;flex-wrap:wrap;align-items:flex-start">{boxes}</div>')


def top_tokens(probabilities: torch.Tensor, k: int, also: tuple[int | None, ...] = ()
               ) -> list[tuple[int, float]]:
    """The ``k`` likeliest ``(token, probability)`` pairs plus any tokens in ``also``, sorted."""
    k = max(1, min(int(k), probabilities.shape[0]))
    values, indices = probabilities.topk(k)  # (k,), (k,)
    pairs = dict(zip(indices.tolist(), values.tolist(), strict=True))
    for token in also:
        if token is not None and token not in pairs:
            pairs[token] = float(probabilities[token])
    return sorted(pairs.items(), key=lambda pair: (-pair[1], pair[0]))


def topk_svg(step: DecodeStep, expected: int | None = None, k: int = 5) -> str:
    """Bars of the ``k`` likeliest next tokens at ``step`` as SVG, chosen and expected
    highlighted.

    The chosen token (green if it is the expected one, red if not) and the expected token
    (green outline) are always drawn, even when they fall outside the top ``k``.
    """
    bars = []
    for token, probability in top_tokens(step.probabilities, k, (step.chosen_token, expected)):
        role = ROLES[token == step.chosen_token, token == expected]
        label = token_label(token)
        if token == step.chosen_token:
            fill = CHOSEN_RIGHT if token == expected else CHOSEN_WRONG
        else:
            fill = OTHER
        tooltip = f"{label}: p = {probability:.4f}" + ("" if role == "-" else f" ({_(role)})")
        bars.append(Bar(label, probability, fill, EXPECTED if token == expected else None,
                        f"{probability:.2f}", tooltip))
    values = {"step": step.position, "chosen": token_label(step.chosen_token),
              "expected": None if expected is None else token_label(expected)}
    if expected is None:
        title = _("Step {step}: next token, chose {chosen}")
    elif step.chosen_token == expected:
        title = _("Step {step}: next token, chose {chosen} (right)")
    else:
        title = _("Step {step}: next token, chose {chosen} (expected {expected})")
    return bar_chart_svg(bars, title=title.format(**values), x_title=_("next token"),
                         y_title=_("probability"), css_class="seqrev-topk")


def attention_row_svg(step: DecodeStep, source: str, outline: Collection[int] = ()) -> str:
    """Bars of ``step``'s attention over the input letters as SVG; the letters it should read
    (``outline``, the task's alignment at this step: for reversal ``{S-1-t}``) get a green
    outline, and the most-attended bar is labelled with its weight.
    """
    if step.attention is None:
        raise ValueError("this step has no attention weights (a plain model)")
    weights = step.attention.tolist()  # (S,)
    peak = max(range(len(weights)), key=weights.__getitem__)
    hover = _("input {position}: {letter}, weight {weight:.4f}")
    bars = [Bar(letter, weight, ATTENTION, TARGET_EDGE if position in outline else None,
                f"{weight:.2f}" if position == peak else "",
                hover.format(position=position, letter=letter, weight=weight))
            for position, (letter, weight) in enumerate(zip(source, weights, strict=True))]
    title = (_("Step {step}: attention; outlined: the letter to read") if outline
             else _("Step {step}: attention; no letter left: <eos> is due"))
    return bar_chart_svg(bars, title=title.format(step=step.position),
                         x_title=_("input letter"), y_title=_("weight"),
                         css_class="seqrev-attention-row", monospace_labels=True)


def step_table(trace: DecodeTrace, k: int = 3) -> pd.DataFrame:
    """One row per decoder step: fed, chosen and expected tokens, the top ``k``, and attention.

    The column headers are in the current language."""
    rows = []
    for step in trace.steps:
        expected = expected_token(trace.expected, step.position)
        top = top_tokens(step.probabilities, k)
        row = {
            _("position"): step.position,
            _("fed"): token_label(step.fed_token),
            _("chosen"): token_label(step.chosen_token),
            _("expected"): "" if expected is None else token_label(expected),
            _("right?"): step.chosen_token == expected,
            _("p(chosen)"): round(float(step.probabilities[step.chosen_token]), 4),
            _("top {k}").format(k=len(top)): " · ".join(f"{token_label(t)} {p:.2f}"
                                                        for t, p in top),
        }
        if step.attention is not None:
            peak = int(step.attention.argmax())
            row[_("attends to")] = _("{letter} (input {position})").format(
                letter=trace.source[peak], position=peak)
            row[_("attention weight")] = round(float(step.attention[peak]), 4)
        rows.append(row)
    return pd.DataFrame(rows)


def beam_tree_figure(trace: DecodeTrace, current_step: int | None = None,
                     model_name: str = "") -> go.Figure:
    """The beam search tree: one node per kept candidate, edges parent -> child.

    x is the decoder step and y the candidate's rank at that step. The best path is drawn
    thick and its nodes ringed; finished candidates (``<eos>``) are squares. Hover gives each
    candidate's token and cumulative log-probability. ``current_step`` is shaded. The title
    names ``model_name``; the legend sits above the plot, clear of the x-axis title.
    """
    if not trace.beam_steps:
        raise ValueError("this trace has no beam steps (greedy decoding)")
    on_path = {(t, index) for t, index in enumerate(trace.best_path)}
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    path_x: list[float] = [-1]
    path_y: list[float] = [0]
    nodes = {"x": [], "y": [], "text": [], "hover": [], "symbol": [], "color": []}
    hover = _("step {step}, rank {rank}: {token}<br>cumulative log-prob {log_prob:.3f}<br>{state}")
    states = {True: _("finished"), False: _("live")}
    for t, candidates in enumerate(trace.beam_steps):
        for index, candidate in enumerate(candidates):
            parent_y = 0 if candidate.parent < 0 else candidate.parent
            edge_x += [t - 1, t, None]
            edge_y += [parent_y, index, None]
            label = token_label(candidate.token)
            nodes["x"].append(t)
            nodes["y"].append(index)
            nodes["text"].append("eos" if candidate.token == EOS else label)
            nodes["hover"].append(hover.format(step=t, rank=index, token=label,
                                               log_prob=candidate.log_prob,
                                               state=states[bool(candidate.finished)]))
            nodes["symbol"].append("square" if candidate.finished else "circle")
            nodes["color"].append("#fff1e5" if candidate.finished else "#ddf4ff")
            if (t, index) in on_path:
                path_x.append(t)
                path_y.append(index)
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=edge_x, y=edge_y, mode="lines", name=_("kept candidates"),
                                line={"color": "#afb8c1", "width": 1}, hoverinfo="skip"))
    figure.add_trace(go.Scatter(x=path_x, y=path_y, mode="lines", name=_("best path"),
                                line={"color": CHOSEN_RIGHT, "width": 4}, hoverinfo="skip"))
    figure.add_trace(go.Scatter(
        x=[-1], y=[0], mode="markers+text", text=["<sos>"], textposition="top center",
        marker={"size": 12, "color": "#57606a"}, name=_("start"), hoverinfo="skip",
        showlegend=False,
    ))
    steps = len(trace.beam_steps)
    size = max(8, min(24, 640 // (steps + 2)))  # shrink the nodes of long trees to fit
    figure.add_trace(go.Scatter(
        x=nodes["x"], y=nodes["y"], mode="markers+text" if size >= 16 else "markers",
        text=nodes["text"],
        textfont={"family": "monospace", "size": [9 if t == "eos" else 13 for t in nodes["text"]]},
        hovertext=nodes["hover"],
        hoverinfo="text", name=_("candidates"),
        marker={"size": size, "symbol": nodes["symbol"], "color": nodes["color"],
                "line": {"color": "#57606a", "width": 1}},
    ))
    path_nodes = [(t, trace.best_path[t]) for t in range(len(trace.best_path))]
    figure.add_trace(go.Scatter(
        x=[t for t, _ in path_nodes], y=[i for _, i in path_nodes], mode="markers",
        name=_("chosen path"), hoverinfo="skip",
        marker={"size": size + 6, "color": "rgba(0,0,0,0)",
                "line": {"color": CHOSEN_RIGHT, "width": 3}},
    ))
    width = max(len(c) for c in trace.beam_steps)
    if current_step is not None and 0 <= current_step < len(trace.beam_steps):
        figure.add_vrect(x0=current_step - 0.45, x1=current_step + 0.45, layer="below",
                         fillcolor="#0969da", opacity=0.08, line_width=0)
    values = {"model": model_name, "width": width, "output": trace.output or _("(empty)"),
              "log_prob": trace.log_prob}
    title = (_("{model}: beam search, width {width}, best path {output} (log-prob "
               "{log_prob:.3f}); squares emitted <eos>") if model_name else
             _("Beam search, width {width}: best path {output} (log-prob {log_prob:.3f}); "
               "squares emitted <eos>")).format(**values)
    figure.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left", "y": 0.98, "yanchor": "top",
               "yref": "container"},
        xaxis={"title": _("decoder step"), "dtick": 1 if steps <= 30 else 2, "zeroline": False,
               "range": [-1.6, steps - 0.4]},
        yaxis={"title": _("rank in beam"), "range": [width - 0.4, -0.6], "dtick": 1,
               "zeroline": False},
        height=max(300, 130 + 45 * width), margin={"l": 60, "r": 10, "t": 90, "b": 50},
        legend={"orientation": "h", "x": 0.0, "xanchor": "left", "y": 1.02,
                "yanchor": "bottom"},
    )
    return figure
