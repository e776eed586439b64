"""The what-if for one Transformer head: push it onto one input letter at one step, decode on,
and compare with the model's own run.

The override is the decoders' own (:class:`AttentionOverride` aimed at a layer and head); this
module only picks a starting choice, checks a choice against the run, and reads the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqrev.decoding.search import (
    AttentionOverride,
    DecodeTrace,
    OverrideError,
    check_blend,
    greedy_trace,
)
from seqrev.i18n import _
from seqrev.inspection.alignment import align_letters, summarize
from seqrev.inspection.what_if import default_force, textbook_position
from seqrev.tasks.vocab import token_label

REPAIR, BREAK = "repair", "break"


@dataclass(frozen=True)
class HeadPick:
    """Where the what-if controls start: a step, the input letter to force, and why."""

    step: int
    position: int
    kind: str  # REPAIR: the step writes a wrong letter, force the outline's; BREAK: a far one


def default_pick(trace: DecodeTrace) -> HeadPick:
    """The first wrong step and the textbook outline's letter there (can one head repair it?);
    for a right output, step 3 and the farthest letter unlike the right one (can it break it?)."""
    expected, output = trace.expected, trace.output
    for step, letter in enumerate(expected):
        if step >= len(output) or output[step] != letter:
            position = textbook_position(trace.alignment, step)
            if position is not None and step < len(trace.steps):
                return HeadPick(step, position, REPAIR)
            break
    step, outline = default_force(len(trace.source), None, trace.alignment)
    step = min(step, len(trace.steps) - 1)
    right = expected[step] if step < len(expected) else None
    candidates = [i for i, letter in enumerate(trace.source) if letter != right] or [outline]
    return HeadPick(step, max(candidates, key=lambda i: (abs(i - outline), -i)), BREAK)


def check_pick(model, trace: DecodeTrace, override: AttentionOverride) -> AttentionOverride:
    """``override`` if it can apply to ``trace``'s run, else OverrideError naming the value."""
    check_blend(override.blend)
    last = len(trace.steps) - 1
    if not 0 <= override.step <= last:
        raise OverrideError(_("step {step} is out of range: the model's own run has steps "
                              "0-{last}").format(step=override.step, last=last))
    if not 0 <= override.position < len(trace.source):
        raise OverrideError(_("position {position} is out of range: the input has positions "
                              "0-{last}").format(position=override.position,
                                                 last=len(trace.source) - 1))
    check_head(model, override.layer, override.head)
    return override


def check_head(model, layer: int | None, head: int | None) -> None:
    """OverrideError naming ``layer`` or ``head`` unless the model has that head."""
    config = model.config
    for name, value, limit in ((_("layer"), layer, config.n_layers),
                               (_("head"), head, config.n_heads)):
        if value is None or not 0 <= value < limit:
            raise OverrideError(_("{name} {value} is out of range 0-{last}").format(
                name=name, value=value, last=limit - 1))


@dataclass(frozen=True)
class HeadWhatIf:
    """One head forced at one step: both runs, that head's row before and after, the others."""

    override: AttentionOverride  # layer and head set
    own: DecodeTrace
    forced: DecodeTrace
    own_row: torch.Tensor  # (S,) the head's own weights at the step
    used_row: torch.Tensor  # (S,) the weights it read with after the override
    others: torch.Tensor  # (layers * heads - 1, S) every other head's weights at the step
    outline: int | None  # the input letter the textbook outline reads at the step

    @property
    def n_heads(self) -> int:
        return self.others.shape[0] + 1

    @property
    def written(self) -> tuple[str, str]:
        """What the step wrote in the model's own run and in the forced one."""
        step = self.override.step
        return (token_label(self.own.steps[step].chosen_token),
                token_label(self.forced.steps[step].chosen_token))

    @property
    def changed_letters(self) -> int:
        """Letters that differ between the two outputs, lined up by letter."""
        return summarize(align_letters(self.own.output, self.forced.output)).differing

    def others_on(self, position: int) -> float:
        """The other heads' mean weight on input ``position`` at the step."""
        return float(self.others[:, position].mean())


def head_what_if(model, trace: DecodeTrace, override: AttentionOverride) -> HeadWhatIf:
    """Decode ``trace``'s string again with ``override`` (aimed at a head) and read both runs."""
    check_pick(model, trace, override)
    forced = greedy_trace(model, trace.source, overrides=[override], task=trace.task)
    step, layer, head = override.step, override.layer, override.head
    heads = forced.steps[step].heads  # (layers, heads, S): what every head read with
    flat = heads.flatten(0, 1)  # (layers * heads, S)
    chosen = layer * heads.shape[1] + head
    others = torch.cat([flat[:chosen], flat[chosen + 1:]])  # (layers * heads - 1, S)
    return HeadWhatIf(override, trace, forced, trace.steps[step].heads[layer, head],
                      heads[layer, head], others, textbook_position(trace.alignment, step))
