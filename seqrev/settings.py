"""One definition of every setting: a field's CLI flag, label, help, range and widget kind.

This module is the machinery and knows no config; ``seqrev.training.settings`` lists the
app's settings (ModelConfig's then TrainConfig's) and derives the CLI, URL and command line.

``ModelConfig`` and ``TrainConfig`` attach a :class:`Setting` to each user-facing field with
``dataclasses.field(metadata=setting(...))``. Everything else is generated from that list:
the CLI's ``train`` flags, the Train page's widgets, the URL state, the run record and the
"same training from the command line" text. Adding a setting is one edit, on its field.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

from seqrev.i18n import _

WIDGETS = ("slider", "number", "select", "select_slider", "segmented")
GROUPS = ("model", "data", "optimisation", "run")
TRUE_WORDS = ("true", "1", "yes", "on")  # how the CLI and a URL may spell a bool setting
FALSE_WORDS = ("false", "0", "no", "off")


@dataclass(frozen=True)
class Setting:
    """How one config field is shown, typed, bounded and spelled on the command line."""

    name: str  # the dataclass field
    owner: str  # "model" (ModelConfig) or "train" (TrainConfig)
    kind: type  # int, float, str or bool
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
    validate: Any = None  # a str setting's own check: raises ValueError saying what is wrong
    kinds: tuple[str, ...] = ()  # the model kinds it shapes; () = every kind

    def applies_to(self, kind: str) -> bool:
        """Whether the setting shapes a model of ``kind`` (a training setting shapes all)."""
        return not self.kinds or kind in self.kinds

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
        """The values the setting takes, in words of the current language."""
        if self.kind is bool:
            return _("true or false")
        if self.choices:
            return _("one of {choices}").format(choices=", ".join(map(str, self.choices)))
        low = _plain(self.minimum) if self.minimum is not None else "-inf"
        high = _plain(self.maximum) if self.maximum is not None else "inf"
        if self.zero_means_none:
            return _("{low} to {high} (0 = off)").format(low=low, high=high)
        return _("{low} to {high}").format(low=low, high=high)

    def _refusal(self, got: str) -> str:
        """"Label (--flag) must be RANGE, got ...", in the current language."""
        return _("{label} ({flag}) must be {range}, got {value}").format(
            label=_(self.label), flag=self.flag, range=self.range_text(), value=got)

    def check(self, value: Any) -> Any:
        """``value`` as this setting's type, or ValueError naming the setting and its range."""
        if value is None and self.zero_means_none:
            return None
        problem = self._refusal(repr(value))
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError(problem)
            return value
        if self.kind is str:
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise ValueError(problem)
            if self.validate:
                try:
                    self.validate(value)
                except ValueError as error:
                    raise ValueError(_("{label} ({flag}): {problem}").format(
                        label=_(self.label), flag=self.flag, problem=error)) from None
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
        if self.kind is bool:
            word = text.lower()
            if word not in TRUE_WORDS + FALSE_WORDS:
                raise ValueError(self._refusal(repr(text[:40])))
            return word in TRUE_WORDS
        if len(text) > 40:
            raise ValueError(_("{label} ({flag}) must be {range}, got a {n}-character value"
                               ).format(label=_(self.label), flag=self.flag,
                                        range=self.range_text(), n=len(text)))
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
            raise ValueError(self._refusal(repr(text)))
        return self.check(number)

    def format(self, value: Any) -> str:
        """The value as the CLI and the URL spell it (None -> "0" where 0 means off)."""
        if value is None and self.zero_means_none:
            return "0"
        if isinstance(value, bool):
            return "true" if value else "false"
        return _plain(value)


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if not value.is_integer() or abs(value) >= 1e16 else str(int(value))
    return str(value)


def setting(flag: str, label: str, help: str, *, group: str, widget: str = "number",
            minimum: float | None = None, maximum: float | None = None,
            step: float | None = None, choices: Iterable | None = None,
            suggestions: Iterable | None = None, zero_means_none: bool = False,
            validate: Any = None, kinds: Iterable[str] = ()) -> dict:
    """Field metadata that makes a config field a user-facing setting."""
    if widget not in WIDGETS or group not in GROUPS:
        raise ValueError(f"unknown widget {widget!r} or group {group!r}")
    return {"setting": dict(
        flag=flag, label=label, help=help, group=group, widget=widget, minimum=minimum,
        maximum=maximum, step=step, choices=tuple(choices) if choices else None,
        suggestions=tuple(suggestions) if suggestions else None,
        zero_means_none=zero_means_none, validate=validate, kinds=tuple(kinds))}


def settings_of(config_class: type, owner: str) -> list[Setting]:
    """The settings declared on ``config_class``'s fields, in field order."""
    found = []
    for config_field in fields(config_class):
        spec = config_field.metadata.get("setting")
        if spec is None:
            continue
        type_name = str(config_field.type).split("|")[0].strip()
        kind = {"int": int, "float": float, "str": str, "bool": bool}.get(type_name)
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


def share_url(page_url: str, params: Mapping[str, str]) -> str:
    """``page_url`` (an absolute address, without a query) with ``params`` as its query."""
    base = page_url.split("?", 1)[0].split("#", 1)[0]
    return f"{base}?{urllib.parse.urlencode(params)}" if params else base
