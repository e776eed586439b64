"""What a checkpoint file may contain, checked before anything is allocated.

pydantic models for the metadata (generated from the config dataclasses' own settings, so a
range is defined once), a strict model of the safetensors header, and cheap size and nesting
checks that run before ``json.loads`` so that hostile JSON cannot exhaust the stack or memory.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import MISSING, fields
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    model_validator,
)

from seqrev.i18n import _
from seqrev.models.seq2seq import ModelConfig
from seqrev.settings import Setting, settings_of
from seqrev.tasks import pairs
from seqrev.tasks.vocab import MAX_INPUT_LEN, VOCAB_SIZE
from seqrev.training.trainer import SAVED_BEFORE, TrainConfig

MAX_METADATA_BYTES = 2_000_000  # a sidecar with 2000 loss points is about 60 KB
MAX_HEADER_BYTES = 4_000_000  # the safetensors header: tensor table plus the metadata string
MAX_JSON_DEPTH = 16  # the deepest real sidecar nests 4 levels
MAX_TENSORS = 512  # a GRU holds about 20; a Transformer of 8 layers, about 350
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


class SchemaError(ValueError):
    """Text or data that does not fit the checkpoint schema; the message is one line."""


def parse_json(text: str | bytes, what: str, max_bytes: int = MAX_METADATA_BYTES,
               max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` after size and nesting checks; NaN and Infinity literals are refused."""
    if len(text) > max_bytes:
        raise SchemaError(_("{what} is {size} bytes; the limit is {limit}").format(
            what=what, size=f"{len(text):,}", limit=f"{max_bytes:,}"))
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise SchemaError(_("{what} is not UTF-8 text").format(what=what)) from None
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > max_depth:
            raise SchemaError(_("{what} nests deeper than {depth} levels").format(
                what=what, depth=max_depth))

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not a number")

    try:
        return json.loads(text, parse_constant=refuse)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise SchemaError(_("{what} is not valid JSON ({problem})").format(
            what=what, problem=_first_line(error))) from None


def _first_line(error: Exception, limit: int = 160) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text if len(text) <= limit else text[:limit] + "…"


def describe(error: ValidationError) -> str:
    """The first problem of a pydantic error as one line: ``where: what``."""
    problems = error.errors(include_url=False, include_input=False)
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"]) or "top level"
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return _first_line(ValueError(f"{where}: {first['msg']}{more}"), 240)


# ---- the configs, generated from their dataclasses --------------------------------------
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]


def _annotation_of(item: Setting) -> Any:
    if item.kind is bool:
        return Annotated[bool, Field(strict=True)]
    if item.kind is str:
        return Literal[item.choices] if item.choices else Annotated[str, Field(max_length=64)]
    bounds = {"ge": item.minimum, "le": item.maximum}
    if item.kind is int:
        annotation: Any = Annotated[int, Field(strict=True, **bounds)]
    else:
        annotation = Annotated[float, Field(strict=True, allow_inf_nan=False, **bounds)]
    return annotation | None if item.zero_means_none else annotation


def _config_schema(config_class: type, owner: str) -> type[BaseModel]:
    """A pydantic model accepting exactly ``config_class``'s fields, with their ranges."""
    settings = {item.name: item for item in settings_of(config_class, owner)}
    specs: dict[str, Any] = {}
    for config_field in fields(config_class):
        default = None if config_field.default is MISSING else config_field.default
        default = SAVED_BEFORE.get(config_field.name, default) if owner == "train" else default
        if config_field.name in settings:
            annotation = _annotation_of(settings[config_field.name])
        elif config_field.name == "vocab_size":
            annotation = Literal[VOCAB_SIZE]
        elif config_field.name == "pairs_file":
            annotation = Annotated[str, Field(max_length=4096)]
        elif config_field.name == "pairs_sha256":
            annotation = Annotated[str, Field(pattern=r"^([0-9a-f]{64})?$")]
        elif isinstance(default, bool):
            annotation = Annotated[bool, Field(strict=True)]
        elif isinstance(default, int):
            annotation = Annotated[int, Field(strict=True, ge=0, le=2**63 - 1)]
        elif isinstance(default, float):
            annotation = Finite
        else:
            annotation = Annotated[str, Field(max_length=64)] | None
        specs[config_field.name] = (annotation, default)
    return create_model(f"{config_class.__name__}Schema",
                        __config__=ConfigDict(extra="forbid", strict=True), **specs)


ModelConfigSchema = _config_schema(ModelConfig, "model")
TrainConfigSchema = _config_schema(TrainConfig, "train")

# ---- the metadata -----------------------------------------------------------------------
Fraction = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0.0, le=1.0)]
Count = Annotated[int, Field(strict=True, ge=0, le=10**12)]
Seconds = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0.0, le=1e9)]
Length = Annotated[int, Field(strict=True, ge=1, le=MAX_INPUT_LEN)]
Text = Annotated[str, Field(max_length=20_000)]


class _Open(BaseModel):
    """Known fields are checked; unknown ones are kept (a newer writer may add some)."""

    model_config = ConfigDict(extra="allow", strict=True, protected_namespaces=())


class Score(_Open):
    n: Count
    exact_match: Fraction
    char_accuracy: Fraction


class RangeScore(Score):
    min_len: Length
    max_len: Length


class Evaluation(_Open):
    held_out: Score | None = None  # a pairs task's held-out rows
    length_10: Score | None = None
    training_range: RangeScore | None = None
    by_length: dict[Annotated[str, Field(pattern=r"^[1-9][0-9]{0,2}$")], Score] | None = Field(
        default=None, max_length=4 * MAX_INPUT_LEN)


class EvalPoint(_Open):
    step: Count
    exact_match: Fraction
    char_accuracy: Fraction
    fine_accuracy: Fraction | None = None
    elapsed: Seconds | None = None


class History(_Open):
    loss_stride: Annotated[int, Field(strict=True, ge=1, le=10**9)] = 1
    loss: list[Finite | None] = Field(default_factory=list, max_length=200_000)  # None: NaN
    eval: list[EvalPoint] = Field(default_factory=list, max_length=200_000)


Symbols = Annotated[str, Field(min_length=1, max_length=pairs.MAX_FIELD)]


class PairsSplit(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    rule: Literal["sha256-input-v1"]
    share: Fraction
    min: Count
    max: Count


class PairsRecord(BaseModel):
    """What a model trained on a file of pairs keeps: the file, its alphabet, the split and
    the held-out rows themselves (at most HELD_OUT_MAX, so a checkpoint scores on its own)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    version: Literal[1]
    name: Annotated[str, Field(min_length=1, max_length=255)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    format: Literal["csv", "tsv"]
    header: bool
    rows: Annotated[int, Field(strict=True, ge=2, le=pairs.MAX_ROWS)]
    alphabet: Annotated[str, Field(min_length=1, max_length=pairs.MAX_SYMBOLS)]
    split: PairsSplit
    train_rows: Annotated[int, Field(strict=True, ge=1, le=pairs.MAX_ROWS)]
    held_out_rows: Annotated[int, Field(strict=True, ge=1, le=pairs.HELD_OUT_MAX)]
    held_out: list[Annotated[list[Symbols], Field(min_length=2, max_length=2)]] = Field(
        min_length=1, max_length=pairs.HELD_OUT_MAX)

    @model_validator(mode="after")
    def _consistent(self) -> PairsRecord:
        if len(set(self.alphabet)) != len(self.alphabet):
            raise ValueError("the alphabet repeats a symbol")
        if len(self.held_out) != self.held_out_rows:
            raise ValueError(f"held_out holds {len(self.held_out)} rows, held_out_rows says "
                             f"{self.held_out_rows}")
        if self.train_rows + self.held_out_rows != self.rows:
            raise ValueError("train_rows and held_out_rows do not add up to rows")
        outside = {ch for row in self.held_out for text in row for ch in text} - set(
            self.alphabet)
        if outside:
            raise ValueError(f"held-out rows use {len(outside)} symbols outside the alphabet")
        return self


class Metadata(_Open):
    """A checkpoint's metadata (the sidecar): configs, history, evaluation, provenance."""

    format_version: Literal[1, 2]
    name: Annotated[str, Field(max_length=64)] | None = None
    model_config_: ModelConfigSchema = Field(alias="model_config")  # type: ignore[valid-type]
    train_config: TrainConfigSchema | None = None  # type: ignore[valid-type]
    weights_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    versions: dict[Annotated[str, Field(max_length=40)],
                   Annotated[str, Field(max_length=200)] | Count] | None = Field(
        default=None, max_length=32)
    command: Text | None = None
    steps_done: Count | None = None
    training_seconds: Seconds | None = None
    history: History | None = None
    evaluation: Evaluation | None = None
    renamed_from: Annotated[str, Field(max_length=200)] | None = None
    pairs: PairsRecord | None = None  # only for the task "pairs"

    @model_validator(mode="after")
    def _pairs_match(self) -> Metadata:
        train = self.train_config
        on_pairs = train is not None and train.task == pairs.PAIRS_TASK
        if on_pairs and self.pairs is None:
            raise ValueError("pairs: a model trained on pairs needs its pairs record")
        if self.pairs is not None and not on_pairs:
            raise ValueError("pairs: a pairs record belongs to a model trained on pairs")
        if on_pairs and train.pairs_sha256 and train.pairs_sha256 != self.pairs.sha256:
            raise ValueError("pairs: the record's sha256 is not the training file's")
        return self


def check_metadata(data: Any) -> dict[str, Any]:
    """``data`` if it fits :class:`Metadata`, else SchemaError naming the first bad field."""
    if not isinstance(data, dict):
        raise SchemaError(_("metadata is a JSON {type}, not an object").format(
            type=type(data).__name__))
    try:
        Metadata.model_validate(data)
    except ValidationError as error:
        raise SchemaError(describe(error)) from None
    return data


# ---- the safetensors header -------------------------------------------------------------
DTYPE_BYTES = {"F32": 4}  # every seqrev checkpoint stores float32


class TensorEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    dtype: Literal["F32"]
    shape: list[Annotated[int, Field(strict=True, ge=0, le=1_000_000)]] = Field(max_length=4)
    data_offsets: list[Annotated[int, Field(strict=True, ge=0)]] = Field(
        min_length=2, max_length=2)


_TENSOR_TABLE = TypeAdapter(
    dict[Annotated[str, Field(max_length=200)], TensorEntry])
_HEADER_METADATA = TypeAdapter(
    dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=MAX_HEADER_BYTES)]])


def check_header(header: Any, data_bytes: int) -> tuple[dict[str, TensorEntry], dict[str, str]]:
    """The tensor table and the ``__metadata__`` map of a parsed safetensors header.

    Checks types, that each tensor's byte range matches its shape, and that the ranges tile
    the ``data_bytes`` after the header exactly.
    """
    if not isinstance(header, dict):
        raise SchemaError(_("the safetensors header is not a JSON object"))
    header = dict(header)
    try:
        metadata = _HEADER_METADATA.validate_python(header.pop("__metadata__", None) or {})
        if len(header) > MAX_TENSORS:
            raise SchemaError(_("the file holds {n} tensors; at most {limit}").format(
                n=len(header), limit=MAX_TENSORS))
        table = _TENSOR_TABLE.validate_python(header)
    except ValidationError as error:
        raise SchemaError(f"safetensors header: {describe(error)}") from None
    covered = 0
    for key, entry in sorted(table.items(), key=lambda item: item[1].data_offsets):
        begin, end = entry.data_offsets
        size = math.prod(entry.shape) * DTYPE_BYTES[entry.dtype]
        if begin != covered or end - begin != size:
            raise SchemaError(_("tensor {key}: byte range {begin}-{end} does not fit its shape "
                                "{shape} or the tensors before it").format(
                                    key=repr(key), begin=begin, end=end, shape=entry.shape))
        covered = end
    if covered != data_bytes:
        raise SchemaError(_("the tensors cover {covered} bytes but the file holds {size} after "
                            "the header").format(covered=f"{covered:,}", size=f"{data_bytes:,}"))
    return table, metadata
