"""One definition of every setting: a field's CLI flag, label, help, range and widget kind.

``ModelConfig`` and ``TrainConfig`` attach a :class:`Setting` to each user-facing field with
``dataclasses.field(metadata=setting(...))``. Everything else is generated from that list:
the CLI's ``train`` flags, the Train page's widgets, the URL state, the run record and the
"same training from the command line" text. Adding a setting is one edit, on its field.
"""

from __future__ import annotations

import argparse
import math
import shlex
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields, replace
from typing import Any

WIDGETS = ("slider", "number", "select", "select_slider", "segmented")
GROUPS = ("model", "data", "optimisation", "run")


@dataclass(frozen=True)
class Setting:
    """How one config field is shown, typed, bounded and spelled on the command line."""

    name: str  # the dataclass field
    owner: str  # "model" (ModelConfig) or "train" (TrainConfig)
    kind: type  # int, float or str
    default: Any
    flag: str  # e.g. "--hidden-dim"
    label: str  # the widget's label
    help: str
    group: str  # which column of the Train page
    widget: str  # one of WIDGETS
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple | None = None  # the only accepted values (str settings)
    suggestions: tuple | None = None  # a select_slider's stops; any value in range is valid
    zero_means_none: bool = False  # 0 on the CLI, the page and the URL means None

    @property
    def query_key(self) -> str:
        """The URL parameter: the flag without its dashes (``hidden-dim``)."""
        return self.flag.removeprefix("--")

    @property
    def query_names(self) -> tuple[str, ...]:
        """Every spelling a URL may use: the flag's (``max-len``), with underscores, the field's."""
        return tuple(dict.fromkeys(
            (self.query_key, self.query_key.replace("-", "_"), self.name)))

    def range_text(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        low = _plain(self.minimum) if self.minimum is not None else "-inf"
        high = _plain(self.maximum) if self.maximum is not None else "inf"
        note = " (0 = off)" if self.zero_means_none else ""
        return f"{low} to {high}{note}"

    def check(self, value: Any) -> Any:
        """``value`` as this setting's type, or ValueError naming the setting and its range."""
        if value is None and self.zero_means_none:
            return None
        problem = f"{self.label} ({self.flag}) must be {self.range_text()}, got {value!r}"
        if self.kind is str:
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise ValueError(problem)
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(problem)
        if self.kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(problem)
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(problem)
        if self.minimum is not None and value < self.minimum:
            raise ValueError(problem)
        if self.maximum is not None and value > self.maximum:
            raise ValueError(problem)
        if self.zero_means_none and value == 0:
            return None
        return value

    def parse(self, text: str) -> Any:
        """Text from the CLI or a URL, checked; ValueError names the setting and its range."""
        text = str(text).strip()
        if self.kind is str:
            return self.check(text)
        if len(text) > 40:
            raise ValueError(f"{self.label} ({self.flag}) must be {self.range_text()}, got a "
                             f"{len(text)}-character value")
        try:
            number = int(text) if self.kind is int else float(text)
        except ValueError:
            if self.kind is int:
                try:  # "1e3" and "100.0" are whole numbers too
                    number = float(text)
                except ValueError:
                    number = None
            else:
                number = None
        if number is None or not text.isascii():
            raise ValueError(f"{self.label} ({self.flag}) must be {self.range_text()}, "
                             f"got {text!r}")
        return self.check(number)

    def format(self, value: Any) -> str:
        """The value as the CLI and the URL spell it (None -> "0" where 0 means off)."""
        if value is None and self.zero_means_none:
            return "0"
        return _plain(value)


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if not value.is_integer() or abs(value) >= 1e16 else str(int(value))
    return str(value)


def setting(flag: str, label: str, help: str, *, group: str, widget: str = "number",
            minimum: float | None = None, maximum: float | None = None,
            step: float | None = None, choices: Iterable | None = None,
            suggestions: Iterable | None = None, zero_means_none: bool = False) -> dict:
    """Field metadata that makes a config field a user-facing setting."""
    if widget not in WIDGETS or group not in GROUPS:
        raise ValueError(f"unknown widget {widget!r} or group {group!r}")
    return {"setting": dict(
        flag=flag, label=label, help=help, group=group, widget=widget, minimum=minimum,
        maximum=maximum, step=step, choices=tuple(choices) if choices else None,
        suggestions=tuple(suggestions) if suggestions else None,
        zero_means_none=zero_means_none)}


def settings_of(config_class: type, owner: str) -> list[Setting]:
    """The settings declared on ``config_class``'s fields, in field order."""
    found = []
    for config_field in fields(config_class):
        spec = config_field.metadata.get("setting")
        if spec is None:
            continue
        type_name = str(config_field.type).split("|")[0].strip()
        kind = {"int": int, "float": float, "str": str}.get(type_name)
        if kind is None:
            raise TypeError(f"{config_class.__name__}.{config_field.name}: unsupported type "
                            f"{config_field.type!r}")
        default = None if config_field.default is MISSING else config_field.default
        found.append(Setting(name=config_field.name, owner=owner, kind=kind, default=default,
                             **spec))
    return found


def range_problems(config: Any, owner: str) -> list[str]:
    """One message per field of ``config`` outside its setting's range (for __post_init__)."""
    problems = []
    for item in settings_of(type(config), owner):
        try:
            item.check(getattr(config, item.name))
        except ValueError as error:
            problems.append(f"{item.name}: {error}")
    return problems


def all_settings() -> list[Setting]:
    """Every setting of ModelConfig then TrainConfig."""
    from seqrev.models import ModelConfig
    from seqrev.training import TrainConfig

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
    from seqrev.models import ModelConfig
    from seqrev.training import TrainConfig

    model_config, train_config = base or (ModelConfig(), TrainConfig())
    known = by_name()
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
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
        convert.__name__ = item.label
        extra = f" ({item.range_text()})" if not item.choices else ""
        parser.add_argument(item.flag, dest=item.name, type=convert, default=argparse.SUPPRESS,
                            metavar=item.query_key.upper().replace("-", "_")
                            if not item.choices else "{" + ",".join(item.choices) + "}",
                            help=f"{item.help}{extra}".replace("%", "%%"))


def from_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line, by field name (absent flags left out)."""
    return {s.name: getattr(args, s.name) for s in all_settings() if hasattr(args, s.name)}


def command_line(model_config, train_config, out: str | None = None,
                 threads: int | None = None) -> str:
    """``python -m seqrev train ...`` spelling out every setting, so no default matters.

    ``threads`` pins torch's thread count, which a bit-for-bit rerun needs too.
    """
    parts = ["python", "-m", "seqrev", "train"]
    for item, value in zip(all_settings(), values_of(model_config, train_config).values(),
                           strict=True):
        parts += [item.flag, item.format(value)]
    if threads:
        parts += ["--threads", str(threads)]
    if out:
        parts += ["--out", out]
    return " ".join(shlex.quote(p) for p in parts)


def to_query(model_config, train_config, base=None) -> dict[str, str]:
    """URL parameters for the settings that differ from ``base`` (default: the app defaults)."""
    from seqrev.models import ModelConfig
    from seqrev.training import TrainConfig

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
            problems.append(f"The link's parameter {_short(key)!r} is not a setting.")
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
            problems.append(f"The link sets {item.label} twice ({given[item.name]!r} and "
                            f"{_short(key)!r}) to different values, so neither is used.")
            values[item.name] = _CONFLICT
            continue
        values[item.name], given[item.name] = value, key
    return {name: v for name, v in values.items() if v is not _CONFLICT}, problems


_CONFLICT = object()  # a setting the link spelled twice with different values


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def share_url(page_url: str, params: Mapping[str, str]) -> str:
    """``page_url`` (an absolute address, without a query) with ``params`` as its query."""
    base = page_url.split("?", 1)[0].split("#", 1)[0]
    return f"{base}?{urllib.parse.urlencode(params)}" if params else base
