"""The app's settings: every field of ModelConfig then TrainConfig, and what follows from them.

The CLI's ``train`` flags, the URL state and the "same from the command line" text are all
generated here from the fields' :class:`~seqrev.settings.Setting` metadata.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from seqrev.i18n import _
from seqrev.models.seq2seq import ModelConfig
from seqrev.settings import GROUPS, WIDGETS, Setting, settings_of, share_url
from seqrev.training.trainer import SET_BY_PAIRS, TrainConfig

__all__ = ["GROUPS", "WIDGETS", "Setting", "add_arguments", "all_settings", "build_configs",
           "by_name", "command_line", "from_arguments", "from_query", "share_url", "to_query",
           "values_of"]


def all_settings() -> list[Setting]:
    """Every setting of ModelConfig then TrainConfig."""
    return settings_of(ModelConfig, "model") + settings_of(TrainConfig, "train")


def by_name() -> dict[str, Setting]:
    return {s.name: s for s in all_settings()}


def values_of(model_config, train_config) -> dict[str, Any]:
    """Every setting's value in a pair of configs, by field name."""
    return {s.name: getattr(model_config if s.owner == "model" else train_config, s.name)
            for s in all_settings()}


def build_configs(values: Mapping[str, Any], base=None):
    """``(ModelConfig, TrainConfig)`` from ``values`` by field name over ``base`` (a pair).

    Each value is range-checked by its Setting, then the configs check how fields combine.
    Raises ValueError naming the setting at fault.
    """
    model_config, train_config = base or (ModelConfig(), TrainConfig())
    known = by_name()
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(_("unknown settings {names}").format(names=sorted(unknown)))
    checked = {name: known[name].check(value) for name, value in values.items()}
    model_changes = {n: v for n, v in checked.items() if known[n].owner == "model"}
    train_changes = {n: v for n, v in checked.items() if known[n].owner == "train"}
    return replace(model_config, **model_changes), replace(train_config, **train_changes)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per setting; each defaults to None so a preset can fill it."""
    for item in all_settings():
        def convert(text: str, item: Setting = item) -> Any:
            try:
                return item.parse(text)
            except ValueError as error:
                raise argparse.ArgumentTypeError(str(error)) from None
        convert.__name__ = _(item.label)
        extra = f" ({item.range_text()})" if not item.choices else ""
        metavar = ("{" + ",".join(map(item.format, item.choices)) + "}" if item.choices
                   else item.query_key.upper().replace("-", "_"))
        # a bool setting alone (--bidirectional) means true; --bidirectional false spells it out
        flag_alone = {"nargs": "?", "const": True} if item.kind is bool else {}
        parser.add_argument(item.flag, dest=item.name, type=convert, default=argparse.SUPPRESS,
                            metavar=metavar, help=f"{_(item.help)}{extra}".replace("%", "%%"),
                            **flag_alone)


def from_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line, by field name (absent flags left out)."""
    return {s.name: getattr(args, s.name) for s in all_settings() if hasattr(args, s.name)}


def command_line(model_config, train_config, out: str | None = None,
                 threads: int | None = None) -> str:
    """``python -m seqrev train ...`` spelling out every setting, so no default matters.

    ``threads`` pins torch's thread count, which a bit-for-bit rerun needs too. A run on a
    file of pairs gives ``--pairs FILE`` in place of the settings the file decides.
    """
    parts = ["python", "-m", "seqrev", "train"]
    pairs_file = getattr(train_config, "pairs_file", "")
    for item, value in zip(all_settings(), values_of(model_config, train_config).values(),
                           strict=True):
        if pairs_file and item.name in SET_BY_PAIRS:
            continue
        if item.owner == "model" and not item.applies_to(model_config.kind):
            continue  # a GRU's command names no Transformer setting, and the other way round
        parts += [item.flag, item.format(value)]
    if pairs_file:
        parts += ["--pairs", pairs_file]
    if threads:
        parts += ["--threads", str(threads)]
    if out:
        parts += ["--out", out]
    return " ".join(shlex.quote(p) for p in parts)


def to_query(model_config, train_config, base=None) -> dict[str, str]:
    """URL parameters for the settings that differ from ``base`` (default: the app defaults)."""
    reference = values_of(*(base or (ModelConfig(), TrainConfig())))
    return {s.query_key: s.format(v)
            for s, v in zip(all_settings(), values_of(model_config, train_config).values(),
                            strict=True)
            if v != reference[s.name]}


def from_query(params: Mapping[str, str], other_keys: Iterable[str] = ()
               ) -> tuple[dict[str, Any], list[str]]:
    """Settings read from URL parameters, and one message per parameter that was refused.

    A setting may be spelled as its flag (``lr``, ``max-len``), with underscores (``max_len``)
    or as its field (``learning_rate``). ``other_keys`` are the page's own parameters; any
    other unknown parameter is named in a message. A setting spelled twice with different
    values is refused.
    """
    spellings = {name: item for item in all_settings() for name in item.query_names}
    skip = set(other_keys)
    values, given, problems = {}, {}, []
    for key, raw in params.items():
        if key in skip:
            continue
        item = spellings.get(key)
        if item is None:
            problems.append(_("The link's parameter {key} is not a setting.").format(
                key=repr(_short(key))))
            continue
        try:
            value = item.parse(raw)
        except ValueError as error:
            problems.append(str(error))
            continue
        earlier = values.get(item.name, value)
        if earlier is _CONFLICT:
            continue
        if earlier != value:
            problems.append(_("The link sets {label} twice ({first} and {second}) to different "
                              "values, so neither is used.").format(
                                  label=_(item.label), first=repr(given[item.name]),
                                  second=repr(_short(key))))
            values[item.name] = _CONFLICT
            continue
        values[item.name], given[item.name] = value, key
    return {name: v for name, v in values.items() if v is not _CONFLICT}, problems


_CONFLICT = object()  # a setting the link spelled twice with different values


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
