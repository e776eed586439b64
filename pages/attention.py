"""Attention: where each output letter looks, and why the plain model fails without it.

One section at a time (``?section=heatmap|step|whatif|states|errors``), computed only when
picked; the sections themselves are in ``pages/attention_sections.py``.
"""

from __future__ import annotations

import streamlit as st

from pages.attention_heads import heads_from_link, heads_link
from pages.attention_sections import (
    BLEND_KEY,
    DEFAULT_SECTION,
    FORCE_POSITION_KEY,
    FORCE_STEP_KEY,
    INPUT_KEY,
    LINK_ERRORS_KEY,
    OVERRIDES_KEY,
    RENDER,
    SECTION_KEY,
    SECTION_WARNING_KEY,
    SECTIONS,
    STEP_KEY,
    View,
    clear_overrides,
    set_input,
)
from pages.common import (
    checked_input,
    escape_markdown,
    require_router,
    selected,
    selected_name,
    trained_on_pairs,
)
from seqrev.checkpoints.task import task_of
from seqrev.decoding.search import (
    AttentionOverride,
    OverrideError,
    check_blend,
    check_overrides,
    greedy_trace,
    parse_overrides,
)
from seqrev.i18n import N_, _
from seqrev.inspection.analysis import heatmap_reading, letters_right, trace_numbers
from seqrev.tasks.vocab import MAX_INPUT_LEN

require_router("pages/attention.py")

DEFAULT_INPUT = "ATTENTIONISALLYOUNEED"  # 21 letters: past where the shipped plain model holds
EXAMPLES = {  # button label: (string, tooltip)
    "ATTENTION…": ("ATTENTIONISALLYOUNEED", N_("21 letters, longer than training")),
    "MISSISSIPPIAN": ("MISSISSIPPIAN", N_("repeated letters")),
    "ABCDEFGHIJKL": ("ABCDEFGHIJKL", N_("a run of the alphabet")),
    "ZUPEIDWNVG": ("ZUPEIDWNVG", N_("the lab's sample answer")),
    "JJDDNZGZZF": ("JJDDNZGZZF", N_("the lab's wrong sample")),
    N_("24 letters"): ("QWERTYUIOPASDFGHJKLZXCVB", N_("longer than most training strings")),
}
NO_SECTION = N_("There is no section “{value}” on this page (the sections are: {known}), so it "
                "opens on the heatmap.")


def section_from_link(raw: str | None) -> tuple[str, str | None]:
    """The section a link asks for, and a warning naming a value that is not one."""
    if raw is None or raw == "":
        return DEFAULT_SECTION, None
    if raw in SECTIONS:
        return raw, None
    return DEFAULT_SECTION, _(NO_SECTION).format(value=raw, known=_(", ").join(SECTIONS))


def init_from_link() -> None:
    """On a fresh visit, fill the input, section and overrides from the address bar."""
    if INPUT_KEY in st.session_state:
        return
    params = st.query_params
    st.session_state[INPUT_KEY] = params.get("text", DEFAULT_INPUT)
    section, warning = section_from_link(params.get("section"))
    st.session_state[SECTION_KEY] = section
    st.session_state[SECTION_WARNING_KEY] = warning
    heads_from_link(params)
    errors, blend, overrides = [], 1.0, []
    try:
        blend = check_blend(params.get("blend", "1"))
    except OverrideError as error:
        errors.append(_("Ignored blend in the link: {error}.").format(error=error))
    try:
        overrides = parse_overrides(params.get("attend", ""), blend)
    except OverrideError as error:
        errors.append(_("Ignored attend in the link: {error}.").format(error=error))
    st.session_state[BLEND_KEY] = blend
    st.session_state[OVERRIDES_KEY] = sorted((o.step, o.position) for o in overrides)
    st.session_state[LINK_ERRORS_KEY] = errors
    if st.session_state[OVERRIDES_KEY]:  # open on the first forced step
        first_step, first_position = st.session_state[OVERRIDES_KEY][0]
        st.session_state[STEP_KEY] = first_step
        st.session_state[FORCE_STEP_KEY] = first_step
        st.session_state[FORCE_POSITION_KEY] = first_position


def sync_link(text: str, section: str, overrides: list[tuple[int, int]], blend: float) -> None:
    link = {"text": text, "section": section}
    if overrides:
        link |= {"attend": ",".join(f"{t}:{p}" for t, p in overrides), "blend": f"{blend:g}"}
    if section == "heads":
        link |= heads_link()
    if st.query_params.to_dict() != link:
        st.query_params.from_dict(link)


def forget_section_warning() -> None:
    st.session_state[SECTION_WARNING_KEY] = None


st.title(_("Attention: where each output letter looks"))
if trained_on_pairs(selected_name("attention")) or trained_on_pairs(selected_name("plain")):
    st.info(_("A sidebar model was trained on your own pairs: its attention, in the file's "
              "symbols, is on the Decode page. This page's sections explain the letter tasks, "
              "whose outline the task says; pick two models of one of those to use it."),
            icon=":material/table_rows:")
    st.page_link("pages/decode.py", label=_("Decode your pairs"),
                 icon=":material/arrow_forward:")
    st.stop()
plain, attention = selected("plain"), selected("attention")
if attention is None or plain is None:
    st.stop()
task = task_of(attention)
st.markdown(_(
    "The attention model here was trained on **{spec}** — {description}. So {rule}: the "
    "heatmap's green outline. The **plain** model cannot look back: everything it knows about "
    "the input passes through one 100-number vector, and long strings no longer fit. The "
    "**attention** model scores every encoder state against its own previous state at each "
    "step (bilinear: `(W h_i)·q`) and reads the letters through those weights. Start with the "
    "heatmap; pick a section to go deeper.").format(
        spec=task.spec, description=escape_markdown(_(task.description)),
        rule=_(task.outline_rule)))
if task_of(plain).spec != task.spec:
    st.warning(_("The plain model (`{name}`) was trained on {plain_task}, not {task}: its output "
                 "is scored against its own task, and the errors section needs two models of "
                 "one task (pick them in the sidebar).").format(
                     name=escape_markdown(plain.name), plain_task=task_of(plain).spec,
                     task=task.spec), icon=":material/rule:")

init_from_link()
st.session_state.setdefault(OVERRIDES_KEY, [])
st.session_state.setdefault(BLEND_KEY, 1.0)
if st.session_state.get(SECTION_WARNING_KEY):
    st.warning(escape_markdown(st.session_state[SECTION_WARNING_KEY]),
               icon=":material/link_off:")
text = st.text_input(_("Input string (letters A-Z, up to {n})").format(n=MAX_INPUT_LEN),
                     key=INPUT_KEY, on_change=clear_overrides)
columns = st.columns(len(EXAMPLES))
for column, (label, (example, note)) in zip(columns, EXAMPLES.items(), strict=True):
    column.button(_(label), help=f"{example}: {_(note)}", on_click=set_input, args=(example,),
                  width="stretch", key=f"att_example_{example}")
source = checked_input(text)
if source and st.session_state[OVERRIDES_KEY]:
    try:
        check_overrides([AttentionOverride(t, p) for t, p in st.session_state[OVERRIDES_KEY]],
                        len(source), True)
    except OverrideError as error:
        st.session_state[LINK_ERRORS_KEY] = [
            *st.session_state.get(LINK_ERRORS_KEY, []),
            _("Dropped the overrides: {error}.").format(error=error)]
        st.session_state[OVERRIDES_KEY] = []
for message in st.session_state.get(LINK_ERRORS_KEY, []):
    st.error(escape_markdown(message))

view = View(plain, attention, source, None, None, None)
if source:
    view.trace = greedy_trace(attention.model, source, task=task)
    view.plain_trace = greedy_trace(plain.model, source, task=task_of(plain))
    view.numbers = trace_numbers(view.trace)
    st.info(heatmap_reading(view.numbers, letters_right(view.trace.output, view.trace.expected),
                            len(view.trace.expected)), icon=":material/visibility:")

if st.session_state.get(SECTION_KEY) not in SECTIONS:
    st.session_state[SECTION_KEY] = DEFAULT_SECTION
# the labels in this run's language (a format_func may be called after the run, as AppTest does)
section_labels = {key: _(label) for key, label in SECTIONS.items()}
section = st.radio(_("Section"), list(SECTIONS), key=SECTION_KEY, horizontal=True,
                   format_func=section_labels.get, on_change=forget_section_warning,
                   label_visibility="collapsed")
sync_link(text, section, st.session_state[OVERRIDES_KEY], st.session_state[BLEND_KEY])
if source or section == "errors":
    RENDER[section](view)
else:
    st.info(_("This section needs a string: type one above, or open the plain model's errors "
              "to see many fresh strings."))
