"""The Attention page's Transformer section: the GRU's attention and the Transformer's for one
string, every head as a grid, one head enlarged with its what-if (force it onto a letter), its
self-attention, and one head's arithmetic.

The chosen head and its what-if live in the URL (``head=LAYER:HEAD``, ``head_attend=STEP:POS``,
``head_blend=B``, the CLI's ``--head``/``--attend``/``--blend``): ``heads_from_link`` keeps
them on a fresh visit, ``heads_link`` gives them back to the page's address bar."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.common import escape_markdown, selected
from pages.widgets import step_control
from seqrev.charts.attention import trace_heatmap
from seqrev.charts.heads import (
    changed_letters_html,
    head_grid_figure,
    head_heatmap_figure,
    head_override_figure,
    head_step_figure,
)
from seqrev.checkpoints.task import task_of
from seqrev.decoding.search import (
    AttentionOverride,
    DecodeTrace,
    OverrideError,
    check_blend,
    greedy_trace,
    parse_override,
)
from seqrev.i18n import N_, _, sentence_separator
from seqrev.inspection.analysis import letters_right, source_labels, step_labels
from seqrev.inspection.head_what_if import (
    BREAK,
    REPAIR,
    check_head,
    check_pick,
    default_pick,
    head_what_if,
)
from seqrev.inspection.heads import head_step, head_weights

LAYER_KEY, HEAD_KEY, HEAD_STEP_KEY = "att_heads_layer", "att_heads_head", "att_heads_step"
FORCE_STEP_KEY, FORCE_POSITION_KEY = "att_heads_force_step", "att_heads_force_position"
FORCE_BLEND_KEY, FORCE_SOURCE_KEY = "att_heads_force_blend", "att_heads_force_source"
LINK_KEY, WARNINGS_KEY = "att_heads_link", "att_heads_link_warnings"
LINK_PARAMS = ("head", "head_attend", "head_blend")
SELF_VIEWS = {"encoder": N_("Encoder: each input letter reads the input"),
              "decoder": N_("Decoder: each output step reads the steps before it")}


def heads_section(view) -> None:
    """Both models' attention for the typed string, then the Transformer's heads."""
    transformer = selected("transformer")
    if transformer is None:
        return
    model, source = transformer.model, view.source
    trace = greedy_trace(model, source, task=task_of(transformer))
    config = model.config
    apply_link(model, trace)
    st.markdown(_(
        "The Transformer (`{name}`) has no recurrence: {layers} layers of {heads} heads each "
        "score every input letter with a scaled dot product, `q·k/√d` with d = {d_head}. "
        "Below, the GRU's one attention and the mean of the Transformer's last-layer heads on "
        "the same string; then every head.").format(
            name=escape_markdown(transformer.name), layers=config.n_layers,
            heads=config.n_heads, d_head=config.d_head))
    left, right = st.columns(2)
    for column, run, title in ((left, view.trace, N_("GRU attention ({right} of {n} right)")),
                               (right, trace, N_("Transformer, last layer's mean "
                                                 "({right} of {n} right)"))):
        heading = _(title).format(right=letters_right(run.output, run.expected),
                                  n=len(run.expected))
        column.plotly_chart(trace_heatmap(run, title=heading), width="stretch",
                            key=f"att_heads_compare_{run is trace}")
    weights = head_weights(model, trace)
    pick_layer, pick_head = st.columns(2)
    st.session_state.setdefault(LAYER_KEY, config.n_layers - 1)
    layer = pick_layer.selectbox(_("Layer"), list(range(config.n_layers)), key=LAYER_KEY,
                                 on_change=forget_warnings)
    head = pick_head.selectbox(_("Head"), list(range(config.n_heads)), key=HEAD_KEY,
                               on_change=forget_warnings)
    rows, columns = step_labels(trace), source_labels(source)
    st.plotly_chart(head_grid_figure(
        weights.cross, rows, columns, chosen=(layer, head),
        title=_("Cross-attention of every head: rows are output steps, columns input letters")),
        width="stretch", key="att_heads_grid")
    st.plotly_chart(head_heatmap_figure(
        weights.cross[layer, head], rows, columns,
        _("Layer {layer}, head {head}: where each output step reads").format(
            layer=layer, head=head), _("step: output"), _("input letter")),
        width="stretch", key="att_heads_one")
    what_if_control(model, trace, layer, head)
    st.subheader(_("Self-attention"))
    for tab, part in zip(st.tabs([_(label) for label in SELF_VIEWS.values()]), SELF_VIEWS,
                         strict=True):
        labels = columns if part == "encoder" else rows
        with tab:
            st.plotly_chart(head_grid_figure(getattr(weights, part), labels, labels,
                                             chosen=(layer, head)),
                            width="stretch", key=f"att_heads_self_{part}")
    st.subheader(_("Inside one step, one head"))
    step = step_control(HEAD_STEP_KEY, len(trace.steps))
    numbers = head_step(model, trace, step, layer, head)
    st.markdown(_(
        "At step {step}, head {head} of layer {layer} compares its query q with each letter's "
        "key k_i: the dot products are multiplied by 1/√{d} = **{scale:.3f}** before the "
        "softmax, so that their spread does not grow with d and the softmax keeps a gradient. "
        "It reads input {winner} ({letter}) most, with weight {weight:.0%}.").format(
            step=step, head=head, layer=layer, d=numbers.d_head, scale=numbers.scale,
            winner=numbers.winner, letter=source[numbers.winner],
            weight=float(numbers.weights[numbers.winner])))
    st.plotly_chart(head_step_figure(numbers, columns), width="stretch",
                    key="att_heads_step_figure")
    table = pd.DataFrame({
        _("input"): columns, _("q·k"): numbers.dots.tolist(),
        _("q·k/√d"): numbers.scores.tolist(), _("weight"): numbers.weights.tolist()})
    st.dataframe(table, hide_index=True, key="att_heads_step_table", column_config={
        name: st.column_config.NumberColumn(format="%.4f") for name in table.columns[1:]})
    st.caption(_("The context this head hands on is Σ weight_i · v_i, a vector of {d} numbers: "
                 "{context}").format(d=numbers.d_head, context=", ".join(
                     f"{value:+.2f}" for value in numbers.context.tolist())))


def heads_from_link(params) -> None:
    """On a fresh visit, keep the link's head and what-if until the section can check them."""
    st.session_state[LINK_KEY] = {name: params[name] for name in LINK_PARAMS if name in params}


def heads_link() -> dict[str, str]:
    """The chosen head and its what-if as URL parameters (the link's, until they are read)."""
    if st.session_state.get(LINK_KEY):
        return dict(st.session_state[LINK_KEY])
    state = st.session_state
    if FORCE_STEP_KEY not in state or LAYER_KEY not in state:
        return {}
    return {"head": f"{state[LAYER_KEY]}:{state.get(HEAD_KEY, 0)}",
            "head_attend": f"{state[FORCE_STEP_KEY]}:{state[FORCE_POSITION_KEY]}",
            "head_blend": f"{state[FORCE_BLEND_KEY]:g}"}


def forget_warnings() -> None:
    st.session_state[WARNINGS_KEY] = []


def _head_from_text(text: str, model) -> tuple[int, int]:
    parts = text.strip().split(":")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise OverrideError(_("{text} is not LAYER:HEAD (two whole numbers, e.g. 1:0)").format(
            text=repr(text[:40])))
    layer, head = (int(part) for part in parts)
    check_head(model, layer, head)
    return layer, head


def apply_link(model, trace: DecodeTrace) -> None:
    """The link's head and what-if, checked against the model and this run: good values set
    the controls, bad ones become warnings that name them."""
    link = st.session_state.pop(LINK_KEY, None)
    if not link:
        return
    warnings, state = [], st.session_state
    if "head" in link:
        try:
            state[LAYER_KEY], state[HEAD_KEY] = _head_from_text(link["head"], model)
        except OverrideError as error:
            warnings.append(_("Ignored head in the link: {error}.").format(error=error))
    blend = 1.0
    if "head_blend" in link:
        try:
            blend = check_blend(link["head_blend"])
            state[FORCE_BLEND_KEY] = blend
        except OverrideError as error:
            warnings.append(_("Ignored head_blend in the link: {error}.").format(error=error))
    if "head_attend" in link:
        try:
            override = parse_override(link["head_attend"], blend)
            check_pick(model, trace, AttentionOverride(override.step, override.position, blend,
                                                       0, 0))
            state[FORCE_STEP_KEY], state[FORCE_POSITION_KEY] = override.step, override.position
            state[FORCE_SOURCE_KEY] = trace.source
        except OverrideError as error:
            warnings.append(_("Ignored head_attend in the link: {error}.").format(error=error))
    state[WARNINGS_KEY] = warnings


def what_if_control(model, trace: DecodeTrace, layer: int, head: int) -> None:
    """Force the chosen head onto one letter at one step; both outputs and its row after."""
    source, state = trace.source, st.session_state
    st.subheader(_("What if this head looked elsewhere?"))
    for warning in state.get(WARNINGS_KEY, []):
        st.warning(escape_markdown(warning), icon=":material/link_off:")
    pick = default_pick(trace)
    if (state.get(FORCE_SOURCE_KEY) != source  # a new string (or model): its teaching choice
            or not 0 <= state.get(FORCE_STEP_KEY, -1) < len(trace.steps)):
        state[FORCE_STEP_KEY], state[FORCE_POSITION_KEY] = pick.step, pick.position
        state[FORCE_SOURCE_KEY] = source
    state.setdefault(FORCE_BLEND_KEY, 1.0)
    rows, columns = step_labels(trace), source_labels(source)
    pick_step, pick_position, pick_blend = st.columns([2, 3, 3], vertical_alignment="bottom")
    step = pick_step.selectbox(_("Output step"), range(len(trace.steps)), key=FORCE_STEP_KEY,
                               format_func=rows.__getitem__, on_change=forget_warnings)
    outline = trace.outline_at(step)
    marked = _(" (textbook outline)")
    labels = [label + (marked if i in outline else "") for i, label in enumerate(columns)]
    position = pick_position.selectbox(_("Force it onto input letter"), range(len(source)),
                                       key=FORCE_POSITION_KEY, format_func=labels.__getitem__,
                                       on_change=forget_warnings)
    blend = pick_blend.slider(_("Blend: 0 = the model as it is, 1 = this head fully forced"),
                              0.0, 1.0, step=0.05, key=FORCE_BLEND_KEY, on_change=forget_warnings)
    n_heads = model.config.n_layers * model.config.n_heads
    values = {"step": step, "position": position, "letter": source[position], "n": n_heads,
              "written": rows[step].split(": ", 1)[1],
              "expected": trace.expected[step] if step < len(trace.expected) else "<eos>"}
    if (step, position) == (pick.step, pick.position) and pick.kind == REPAIR:
        st.markdown(_("At step {step} the Transformer writes **{written}** where the answer has "
                      "**{expected}**, input {position}: its heads read elsewhere. Force this "
                      "head onto input {position}: if one head of {n} can carry the letter, "
                      "step {step} will write {expected}.").format(**values))
    elif (step, position) == (pick.step, pick.position) and pick.kind == BREAK:
        st.markdown(_("At step {step} the Transformer writes **{expected}**, the right letter. "
                      "Force this head onto input {position} ({letter}), far from the outline: "
                      "if one head of {n} decides the letter, step {step} will write {letter}; "
                      "if the other heads outvote it, nothing changes.").format(**values))
    result = head_what_if(model, trace, AttentionOverride(step, position, blend, layer, head))
    st.html(changed_letters_html(result.own.output, result.forced.output,
                                 _("the model's own run"), _("with the head forced")))
    st.plotly_chart(head_override_figure(
        result.own_row, result.used_row, columns, position,
        _("Layer {layer}, head {head} at step {step}: its weights before and after").format(
            layer=layer, head=head, step=step)), width="stretch", key="att_heads_force_figure")
    before, now = result.written
    values |= {"before": before, "now": now, "changed": result.changed_letters,
               "others": n_heads - 1, "share": result.others_on(position)}
    if blend == 0:
        st.caption(_("At blend 0 the head keeps its own weights: this is the model's own "
                     "decode."))
    elif result.changed_letters or before != now:
        st.caption(_("One head of {n} was enough: step {step} now writes {now} instead of "
                     "{before}, and {changed} letter(s) of the output differ. The other "
                     "{others} heads put {share:.0%} of their weight on input {position} on "
                     "average.").format(**values))
    else:
        sentence = _("The output did not change: one head of {n} does not outvote the other "
                     "{others}, which put {share:.0%} of their weight on input {position} on "
                     "average.").format(**values)
        if result.outline is not None and result.others_on(result.outline) >= 0.5:
            sentence += sentence_separator() + _(
                "They read the outline's letter, input {outline} ({letter}), with "
                "{share:.0%}.").format(outline=result.outline, letter=source[result.outline],
                                       share=result.others_on(result.outline))
        st.caption(sentence)
