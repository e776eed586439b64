"""``decode --attend STEP:POS [--blend B] [--head LAYER:HEAD]``: the what-if overrides of the
command line, parsed and checked against every text before anything decodes."""

from __future__ import annotations

from dataclasses import replace

from seqrev.decoding.overrides import (
    AttentionOverride,
    OverrideError,
    check_blend,
    check_overrides,
    head_override,
    parse_override,
)
from seqrev.decoding.search import is_transformer
from seqrev.errors import UsageError
from seqrev.i18n import _


def decode_overrides(args, checkpoint, texts: list[str]) -> list[AttentionOverride]:
    """``--attend``/``--blend`` parsed and checked against every text, or a UsageError."""
    try:
        blend = check_blend(args.blend)
    except OverrideError as error:
        raise UsageError(f"--blend: {error}") from None
    try:
        overrides = [parse_override(value, blend) for value in args.attend]
        if overrides and not checkpoint.model.has_attention:
            raise OverrideError(_("checkpoint {name} is a plain model: it has no attention to "
                                  "override").format(name=repr(checkpoint.name)))
        if overrides and args.beam > 1:
            raise OverrideError(_("works with greedy decoding only; leave out --beam"))
        for text in texts:
            check_overrides(overrides, len(text), True)
    except OverrideError as error:
        raise UsageError(f"--attend: {error}") from None
    return _on_head(args, checkpoint, texts, overrides)


def _on_head(args, checkpoint, texts: list[str], overrides: list[AttentionOverride]
             ) -> list[AttentionOverride]:
    """``overrides`` aimed at ``--head LAYER:HEAD`` (a Transformer's), or a UsageError."""
    model = checkpoint.model
    if args.head is None:
        return overrides
    if not is_transformer(model):
        raise UsageError(_("--head: checkpoint {name} is not a Transformer: it has one "
                           "attention, not heads").format(name=repr(checkpoint.name)))
    parts = args.head.strip().split(":")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise UsageError(_("--head: {text} is not LAYER:HEAD (two whole numbers, e.g. 1:0)"
                           ).format(text=repr(args.head[:40])))
    layer, head = (int(part) for part in parts)
    aimed = [replace(o, layer=layer, head=head) for o in overrides]
    try:
        for override in aimed:
            for text in texts:
                model.check_override(head_override(model, override), len(text))
    except ValueError as error:
        raise UsageError(f"--head: {error}") from None
    return aimed
