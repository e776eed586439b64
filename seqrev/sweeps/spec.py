"""What a sweep is: a grid of training settings (seeds included), fixed settings and a budget.

:class:`SweepSpec` is the sweep as data. :func:`parse_grid` reads a grid from the command
line's or the page's text, and :func:`validate` checks a spec before anything is recorded:
every setting and value, every trial's configs, and the size guard (``--yes``).

The sweepable settings come from seqrev.training.settings (the names, flags, ranges and
messages of ``train``'s own flags), less ``NOT_SWEPT``; there is no second table of them here.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from seqrev.i18n import N_, _
from seqrev.models.seq2seq import ModelConfig
from seqrev.training.settings import Setting, all_settings
from seqrev.training.trainer import TrainConfig

GRID_LIMIT = 10_000  # more trials than this need --yes
TOTAL_STEPS_LIMIT = 5_000_000  # more training steps in all (trials x steps) need --yes too
SHORTHANDS = {"hidden": "hidden_dim", "embedding": "embedding_dim"}  # besides the flags' names
NOT_SWEPT = ("device", "eval_size")  # trials train on the CPU, held out at the default size
UNKNOWN_SETTING = N_("unknown setting {name}; sweepable: {names}")
NO_VALUES = N_("{name}: no values given")


class SweepError(ValueError):
    """Bad sweep input or an unusable cluster; ``str()`` is one line for the CLI and the page."""


# -- settings and grids -------------------------------------------------------------------


def sweepable() -> dict[str, Setting]:
    """Every setting a grid or ``--set`` may name, by field name, in the train flags' order."""
    return {s.name: s for s in all_settings() if s.name not in NOT_SWEPT}


def canonical_name(name: str) -> str:
    """A setting's field name from any spelling: ``--lr``, ``max-len``, ``model``, ``hidden``."""
    name = name.strip().lstrip("-").replace("-", "_").lower()
    flags = {s.query_key.replace("-", "_"): s.name for s in all_settings()}
    return SHORTHANDS.get(name) or flags.get(name, name)


def parse_value(name: str, text: str) -> Any:
    """One grid value of setting ``name`` from text, range-checked; SweepError if not."""
    knobs = sweepable()
    if name not in knobs:
        raise SweepError(_(UNKNOWN_SETTING).format(name=repr(name),
                                                    names=", ".join(sorted(knobs))))
    try:
        return knobs[name].parse(text)
    except (ValueError, TypeError) as error:
        raise SweepError(f"{name}: {error}") from None


def parse_grid(items: Iterable[str]) -> dict[str, tuple]:
    """``["hidden_dim=16,32", "kind=plain,attention"]`` -> ``{name: values}``, checked.

    Names may be field names or flag spellings (``hidden-dim``); ``a:b:step`` is a range
    (inclusive) for whole numbers. Raises SweepError on an unknown name or a bad value.
    """
    grid: dict[str, tuple] = {}
    for item in items:
        if "=" not in item:
            raise SweepError(_("grid item {item} is not NAME=VALUES").format(item=repr(item)))
        raw_name, raw_values = item.split("=", 1)
        name = canonical_name(raw_name)
        texts = [t for t in (part.strip() for part in raw_values.split(",")) if t]
        if not texts:
            raise SweepError(_(NO_VALUES).format(name=name))
        values: list[Any] = []
        for text in texts:
            if text.count(":") == 2:
                values.extend(_expand_range(name, text))
            else:
                values.append(parse_value(name, text))
        grid[name] = tuple(dict.fromkeys(values))  # dedupe, keep order
    return grid


def _expand_range(name: str, text: str) -> list[Any]:
    try:
        start, stop, step = (int(part) for part in text.split(":"))
    except ValueError:
        raise SweepError(_("{name}: range {text} must be START:STOP:STEP whole numbers").format(
            name=name, text=repr(text))) from None
    if step < 1 or stop < start:
        raise SweepError(_("{name}: range {text} needs STEP >= 1 and STOP >= START").format(
            name=name, text=repr(text)))
    if (stop - start) // step > GRID_LIMIT:
        raise SweepError(_("{name}: range {text} has more than {limit} values").format(
            name=name, text=repr(text), limit=GRID_LIMIT))
    return [parse_value(name, str(v)) for v in range(start, stop + 1, step)]


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: a grid of settings (seeds included), fixed settings, and a budget."""

    grid: dict[str, tuple]  # setting name -> values; "seed" is an axis like any other
    base: dict[str, Any] = field(default_factory=dict)  # fixed settings over the defaults
    steps: int = 300  # optimizer steps per trial at most
    target: float | None = None  # stop a trial early once held-out exact match >= target
    eval_every: int = 100  # held-out evaluations (drive the early stop)
    eval_per_length: int = 200  # fresh strings per test length in the final evaluation
    threads: int = 1  # torch threads inside each trial
    pack: int = 32  # trials of one shape trained together in one task at most (1: each alone)

    @property
    def size(self) -> int:
        size = 1
        for values in self.grid.values():
            size *= len(values)
        return size

    def trials(self) -> list[dict[str, Any]]:
        """Each trial's settings (grid values over ``base``), in grid order."""
        names = list(self.grid)
        return [{**self.base, **dict(zip(names, combo, strict=True))}
                for combo in itertools.product(*(self.grid[n] for n in names))]

    def to_json(self) -> str:
        data = asdict(self)
        data["grid"] = {k: list(v) for k, v in self.grid.items()}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> SweepSpec:
        data = json.loads(text)
        data["grid"] = {k: tuple(v) for k, v in data["grid"].items()}
        return cls(**data)


def build_configs(spec: SweepSpec, settings: dict[str, Any]) -> tuple[ModelConfig, TrainConfig]:
    """The configs of one trial; ValueError if the configs reject the combination."""
    knobs = sweepable()
    model_values = {n: v for n, v in settings.items() if knobs[n].owner == "model"}
    train_values = {n: v for n, v in settings.items() if knobs[n].owner == "train"}
    train_values.setdefault("steps", spec.steps)
    train_values.setdefault("eval_every", spec.eval_every)
    train_values.setdefault("min_len", 1)  # capacity: every length up to max_len
    return ModelConfig(**model_values), TrainConfig(**train_values)


def size_problem(spec: SweepSpec) -> str | None:
    """Why the sweep is too big to start without a confirmation (``--yes``, the page's tick),
    or None: more than GRID_LIMIT trials, or more than TOTAL_STEPS_LIMIT steps in all."""
    if spec.size > GRID_LIMIT:
        return _("the grid has {size} trials, over {limit}").format(
            size=f"{spec.size:,}", limit=f"{GRID_LIMIT:,}")
    total = spec.size * spec.steps
    if total > TOTAL_STEPS_LIMIT:
        return _("the sweep trains {total} steps in all ({size} trials x {steps} steps), over "
                 "{limit}").format(total=f"{total:,}", size=f"{spec.size:,}",
                                   steps=f"{spec.steps:,}", limit=f"{TOTAL_STEPS_LIMIT:,}")
    return None


def validate(spec: SweepSpec, *, yes: bool = False) -> list[tuple[ModelConfig, TrainConfig]]:
    """Every trial's configs, or SweepError before anything is made.

    Rejects an empty grid or axis, unknown settings, values out of range, impossible
    combinations (e.g. min_len > max_len) and more than GRID_LIMIT trials without ``yes``.
    """
    if not spec.grid:
        raise SweepError(_("the grid is empty: give at least one NAME=VALUES"))
    knobs = sweepable()
    for name, values in {**spec.grid, **{k: (v,) for k, v in spec.base.items()}}.items():
        if name not in knobs:
            raise SweepError(_(UNKNOWN_SETTING).format(name=repr(name),
                                                        names=", ".join(sorted(knobs))))
        if not values:
            raise SweepError(_(NO_VALUES).format(name=name))
        for value in values:
            try:
                knobs[name].check(value)
            except (ValueError, TypeError) as error:
                raise SweepError(str(error)) from None
    if spec.steps < 1 or spec.eval_every < 0 or spec.eval_per_length < 1 or spec.threads < 1:
        raise SweepError(_("steps, eval_per_length and threads must be at least 1"))
    if spec.target is not None and not 0 < spec.target <= 1:
        raise SweepError(_("target must be in (0, 1], got {target}").format(target=spec.target))
    if spec.pack < 1:
        raise SweepError(_("pack must be at least 1 (1 trains each trial alone), got {pack}"
                           ).format(pack=spec.pack))
    problem = size_problem(spec)
    if problem and not yes:
        raise SweepError(_("{problem}; pass --yes to run it anyway").format(problem=problem))
    configs = []
    for settings in spec.trials():
        try:
            configs.append(build_configs(spec, settings))
        except (ValueError, TypeError) as error:
            shown = ", ".join(f"{k}={v}" for k, v in settings.items() if k in spec.grid)
            raise SweepError(_("trial ({settings}): {problem}").format(settings=shown,
                                                                        problem=error)) from None
    return configs
