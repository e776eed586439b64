"""Your own pairs: a task read from a CSV or TSV file of input/output strings.

The file. One pair per line, two fields: the input, then the output. UTF-8 (a leading BOM is
dropped), at most 5 MB and 100,000 rows; blank lines are skipped. ``.tsv`` and ``.tab`` files
are split on tabs, with no quoting; ``.csv`` files are read as CSV (``"`` quotes a field that
holds a comma); any other name is TSV if its first line holds a tab, else CSV. The first row
is a header, and skipped, when its two fields are ``input``/``output`` (or ``source``/
``target``, ``in``/``out``, ``x``/``y``; any case). A symbol is one Unicode code point; a
space inside a field is a symbol, but one at either end of a field is refused (``a, b`` is a
typo far more often than a wanted space), and so are tabs, line breaks and other control or
format characters. Each field holds 1 to 64 symbols.

The alphabet. The models keep their 29-symbol vocabulary: the file's distinct symbols (inputs
and outputs together, at most 26), sorted by code point, take the letter slots in order, so
symbol i is the letter ``A + i``. :meth:`PairsTask.to_letters` and :meth:`PairsTask.to_symbols`
convert between the file's text and the models' letters.

The split (rule ``sha256-input-v1``). Rows are grouped by input, so duplicated inputs never
straddle the split. The groups are ordered by the SHA-256 of the input's UTF-8 bytes and taken
into the held-out set in that order, each only if it keeps the held-out rows at most 500,
until the held-out set holds 10% of the rows (at least 1). Training samples only the other
rows; the held-out set is the evaluation set, always all of it.

The alignment is unknown: which input symbols an output step reads is not in the file, so
:meth:`PairsTask.alignment` returns None.

Export: :func:`write_csv` writes rows as CSV with each cell that a spreadsheet would run as a
formula (starting with ``= + - @``, a tab or a carriage return) prefixed with ``'``.

Longer than one screen because a task whose data is a user's file is one idea with many parts
that must agree: the parser (a named refusal per rule), the split, the alphabet, the batches
and the checkpoint's record.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import os
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TextIO

import torch

from seqrev.i18n import N_, _
from seqrev.tasks.base import LetterTask
from seqrev.tasks.data import Batch
from seqrev.tasks.vocab import EOS, FIRST_LETTER, LETTERS, MAX_INPUT_LEN, PAD, SOS, decode

PAIRS_TASK = "pairs"  # the task setting's value for a model trained on a file
MAX_FILE_BYTES = 5_000_000
MAX_ROWS = 100_000
MAX_SYMBOLS = len(LETTERS)  # the letter slots
MAX_FIELD = MAX_INPUT_LEN
SPLIT_RULE = "sha256-input-v1"
HELD_OUT_SHARE = 0.1
HELD_OUT_MIN, HELD_OUT_MAX = 1, 500
UNKNOWN_SYMBOL = "\ufffd"  # shown for a letter slot the file's alphabet does not use
RECORD_VERSION = 1
HEADERS = {("input", "output"), ("source", "target"), ("in", "out"), ("x", "y")}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FIELDS = {"input": N_("input"), "output": N_("output")}  # a row's two fields, named in errors
TOO_BIG = N_("{name} is {size} bytes; the limit is {limit}")
CANNOT_READ = N_("cannot read {name}: {problem}")


class PairsError(ValueError):
    """A pairs file (or a pairs record) that cannot be used; the message is one line."""


Row = tuple[str, str]


@dataclass(frozen=True, eq=False)
class PairsTable:
    """A parsed pairs file: its rows (in file symbols) and where they came from."""

    rows: tuple[Row, ...]
    line_numbers: tuple[int, ...]  # the file line of each row
    name: str  # the file's name, without its folder
    sha256: str  # of the file's bytes
    file_format: str  # "csv" or "tsv"
    format_reason: str  # how the format was chosen, in words
    header: bool  # whether a header row was skipped


def _detect_format(name: str, text: str) -> tuple[str, str]:
    suffix = Path(name).suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "tsv", f"by its {suffix} extension"
    if suffix == ".csv":
        return "csv", "by its .csv extension"
    first = text.split("\n", 1)[0]
    return ("tsv", "its first line holds a tab") if "\t" in first else (
        "csv", "its first line holds no tab")


def _records(text: str, file_format: str):
    """(line number, fields) per non-blank line; PairsError on CSV that cannot be parsed."""
    if file_format == "tsv":
        for number, line in enumerate(text.split("\n"), start=1):
            line = line.removesuffix("\r")
            if line:
                yield number, line.split("\t")
        return
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise PairsError(_("line {line}: not valid CSV ({problem})").format(
                line=reader.line_num, problem=error)) from None
        if fields:
            yield start, fields
        start = reader.line_num + 1


def _bad_symbol(ch: str) -> bool:
    return ch != " " and (ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co",
                                                                       "Cn", "Zl", "Zp"))


def _field_problem(text: str, what: str, known: set[str]) -> str | None:
    """What is wrong with one field, if anything; ``known`` holds symbols already accepted.
    ``what`` is "input" or "output"."""
    what = _(FIELDS[what])
    if not text:
        return _("the {what} is empty").format(what=what)
    for ch in set(text) - known:
        if _bad_symbol(ch):
            ch = next(c for c in text if _bad_symbol(c))  # the first one
            return _("the {what} holds the control or space character {code}").format(
                what=what, code=f"U+{ord(ch):04X}")
    if text[0] == " " or text[-1] == " ":
        return _("the {what} starts or ends with a space, which is ambiguous; remove it").format(
            what=what)
    if len(text) > MAX_FIELD:
        return _("the {what} has {n} symbols; the limit is {limit}").format(
            what=what, n=len(text), limit=MAX_FIELD)
    return None


def parse_pairs(data: bytes, name: str = "pairs.csv") -> PairsTable:
    """The rows of a pairs file's bytes; PairsError in one line (with the line) otherwise."""
    name = Path(str(name)).name or "pairs"
    if len(data) > MAX_FILE_BYTES:
        raise PairsError(_(TOO_BIG).format(name=name, size=f"{len(data):,}",
                                            limit=f"{MAX_FILE_BYTES:,}"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise PairsError(_("line {line}: {name} is not UTF-8 text (byte {byte})").format(
            line=line, name=name, byte=error.start)) from None
    text = text.removeprefix("\ufeff")
    file_format, reason = _detect_format(name, text)
    rows: list[Row] = []
    numbers: list[int] = []
    header = False
    symbols: set[str] = set()
    for line, fields in _records(text, file_format):
        if len(fields) != 2:
            raise PairsError((_("line {line}: expected 2 fields (input, output) separated by "
                                "a tab, found {n}") if file_format == "tsv" else
                              _("line {line}: expected 2 fields (input, output) separated by "
                                "a comma, found {n}")).format(line=line, n=len(fields)))
        if not rows and not header and (fields[0].strip().lower(),
                                        fields[1].strip().lower()) in HEADERS:
            header = True
            continue
        for text_field, what in zip(fields, ("input", "output"), strict=True):
            problem = _field_problem(text_field, what, symbols)
            if problem:
                raise PairsError(_("line {line}: {problem}").format(line=line, problem=problem))
        symbols.update(fields[0], fields[1])
        if len(symbols) > MAX_SYMBOLS:
            raise PairsError(_("line {line}: the file uses more than {limit} distinct symbols "
                               "({n} so far); the models have {limit} letter slots").format(
                                   line=line, limit=MAX_SYMBOLS, n=len(symbols)))
        if len(rows) == MAX_ROWS:
            raise PairsError(_("line {line}: the file has more than {limit} rows").format(
                line=line, limit=f"{MAX_ROWS:,}"))
        rows.append((fields[0], fields[1]))
        numbers.append(line)
    if not rows:
        raise PairsError((_("{name} is empty: no input/output rows after its header") if header
                          else _("{name} is empty: no input/output rows")).format(name=name))
    if len({source for source, _output in rows}) < 2:
        raise PairsError(_("{name} has one distinct input; at least 2 are needed to hold one "
                           "out").format(name=name))
    return PairsTable(tuple(rows), tuple(numbers), name, hashlib.sha256(data).hexdigest(),
                      file_format, reason, header)


def split_rows(rows: tuple[Row, ...]) -> tuple[tuple[Row, ...], tuple[Row, ...]]:
    """(training rows, held-out rows) by the rule ``sha256-input-v1`` (the module docstring)."""
    groups: dict[str, list[int]] = {}
    for index, (source, _output) in enumerate(rows):
        groups.setdefault(source, []).append(index)
    wanted = max(HELD_OUT_MIN, min(HELD_OUT_MAX, int(len(rows) * HELD_OUT_SHARE)))
    held: set[int] = set()
    for source in sorted(groups, key=lambda s: hashlib.sha256(s.encode()).hexdigest()):
        if len(held) >= wanted:
            break
        if len(held) + len(groups[source]) <= HELD_OUT_MAX:
            held.update(groups[source])
    if not held:
        raise PairsError(_("every input repeats over {limit} times; no input can be held out"
                           ).format(limit=HELD_OUT_MAX))
    return (tuple(r for i, r in enumerate(rows) if i not in held),
            tuple(r for i, r in enumerate(rows) if i in held))


def alphabet_of(rows) -> str:
    """The rows' distinct symbols in code-point order: symbol i takes letter slot ``A + i``."""
    return "".join(sorted(set("".join(source + output for source, output in rows))))


def _padded(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Letter ids (n, longest), PAD after each, and the lengths (n,) of ``texts`` (A–Z)."""
    lengths = torch.tensor([len(t) for t in texts], dtype=torch.long)  # (n,)
    width = int(lengths.max())
    flat = "".join(t.ljust(width, "@") for t in texts).encode("ascii")  # "@" pads: "A" - 1
    codes = torch.frombuffer(bytearray(flat), dtype=torch.uint8).long().view(-1, width)
    ids = codes - ord("A") + FIRST_LETTER  # (n, S) the pad comes out as FIRST_LETTER - 1
    return ids.masked_fill(codes == ord("@"), PAD), lengths


def batch_from_pairs(source: torch.Tensor, lengths: torch.Tensor, output: torch.Tensor,
                     output_lengths: torch.Tensor) -> Batch:
    """A batch whose targets have their own lengths: ``T`` is the longest output + 1.

    ``source`` (batch, S) and ``output`` (batch, O) are right-padded letter ids.
    """
    width = int(output_lengths.max())
    letters = output[:, :width]  # (batch, O)
    pad_column = torch.full((len(letters), 1), PAD, dtype=letters.dtype)
    target = torch.cat([letters, pad_column], dim=1)  # (batch, T)
    target.scatter_(1, output_lengths.unsqueeze(1), EOS)
    decoder_input = torch.cat([torch.full_like(pad_column, SOS), letters], dim=1)  # (batch, T)
    return Batch(source[:, : int(lengths.max())], lengths, decoder_input, target)


@dataclass(frozen=True)
class PairsTask(LetterTask):
    """Input/output pairs from a file, in the letter slots of the file's alphabet.

    ``min_len`` and ``max_len`` are the shortest and longest training input. ``train_rows``
    and ``held_out`` are in the file's symbols; a task rebuilt from a checkpoint's record has
    no training rows, only its held-out set.
    """

    alphabet: str = "AB"
    train_rows: tuple[Row, ...] = ()
    held_out: tuple[Row, ...] = ()
    source_info: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    name = PAIRS_TASK
    description = N_("your own input/output pairs, read from a CSV or TSV file")
    outline_rule = N_("unknown: the file does not say which input symbols an output reads")
    uses_file: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= len(self.alphabet) <= MAX_SYMBOLS or len(set(self.alphabet)) != len(
                self.alphabet):
            raise PairsError(_("the alphabet must be 1 to {limit} distinct symbols").format(
                limit=MAX_SYMBOLS))
        unknown = set(alphabet_of(self.train_rows + self.held_out)) - set(self.alphabet)
        if unknown:
            raise PairsError(_("the rows use symbols outside the alphabet: {symbols}").format(
                symbols=", ".join(map(repr, sorted(unknown)[:5]))))
        if not self.held_out:
            raise PairsError(_("the held-out set is empty"))
        object.__setattr__(self, "_outputs", {self.to_letters(s): self.to_letters(o)
                                              for s, o in reversed(self.train_rows
                                                                   + self.held_out)})

    # ---- text both ways ----
    @functools.cached_property
    def _slots(self) -> tuple[frozenset[str], dict[int, str]]:
        return frozenset(self.alphabet), str.maketrans(dict(zip(self.alphabet, LETTERS,
                                                               strict=False)))

    def to_letters(self, text: str) -> str:
        """File symbols as the models' letters (symbol i -> ``A + i``); PairsError on others."""
        known, table = self._slots
        if not known.issuperset(text):
            unknown = sorted(set(text) - known, key=text.index)
            raise PairsError(_("not in the file's alphabet: {symbols}").format(
                symbols=", ".join(repr(ch) for ch in unknown[:5])))
        return text.translate(table)

    def to_symbols(self, letters: str) -> str:
        """The models' letters as file symbols; a slot the alphabet leaves empty shows as �."""
        return "".join(self.alphabet[i] if (i := ord(ch) - ord("A")) < len(self.alphabet)
                       else UNKNOWN_SYMBOL for ch in letters)

    # ---- what a task says ----
    def target(self, source: str) -> str:
        """The file's output for ``source`` (in letters; the first row's if it repeats)."""
        try:
            return self._outputs[source]  # type: ignore[attr-defined]
        except KeyError:
            raise PairsError(_("{input} is not an input of the file").format(
                input=repr(self.to_symbols(source)))) from None

    def known_output(self, text: str) -> str | None:
        """The output the rows give ``text`` (both in file symbols), or None if none does."""
        try:
            found = self._outputs.get(self.to_letters(text))  # type: ignore[attr-defined]
        except PairsError:
            return None
        return None if found is None else self.to_symbols(found)

    def alignment(self, source: str) -> None:
        """Unknown: a file of pairs does not say which input symbols each output step reads."""
        return None

    def target_letters(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        raise TypeError("a pairs task's outputs have their own lengths; use batch()")

    def batch(self, source: torch.Tensor, lengths: torch.Tensor) -> Batch:
        """The batch for right-padded ``source`` rows that are inputs of the file."""
        outputs = [self.target(decode(row[: int(n)])) for row, n in zip(source, lengths,
                                                                       strict=True)]
        output, output_lengths = _padded(outputs)
        return batch_from_pairs(source, lengths, output, output_lengths)

    def rows_batch(self, rows: tuple[Row, ...]) -> Batch:
        """The batch of ``rows`` (file symbols), in their order."""
        source, lengths = _padded([self.to_letters(s) for s, _ in rows])
        output, output_lengths = _padded([self.to_letters(o) for _, o in rows])
        return batch_from_pairs(source, lengths, output, output_lengths)

    @functools.cached_property
    def _train_tensors(self) -> tuple[torch.Tensor, ...]:
        if not self.train_rows:
            raise PairsError(_("this pairs task holds no training rows (it was rebuilt from a "
                               "checkpoint's held-out record)"))
        source, lengths = _padded([self.to_letters(s) for s, _ in self.train_rows])
        output, output_lengths = _padded([self.to_letters(o) for _, o in self.train_rows])
        return source, lengths, output, output_lengths

    def sample(self, batch_size: int, generator: torch.Generator,
               device: torch.device | str = "cpu") -> Batch:
        """``batch_size`` training rows drawn uniformly, with replacement, with ``generator``."""
        source, lengths, output, output_lengths = self._train_tensors
        picked = torch.randint(len(lengths), (batch_size,), generator=generator)  # (batch,)
        batch = batch_from_pairs(source[picked], lengths[picked], output[picked],
                                 output_lengths[picked])
        return batch.to(device) if str(device) != "cpu" else batch

    def eval_set(self, n: int = 0, seed: int = 0) -> Batch:
        """Every held-out row, in the split's order, whatever ``n`` and ``seed`` say."""
        return self.rows_batch(self.held_out)

    # ---- the checkpoint's record ----
    def record(self) -> dict[str, Any]:
        """What a checkpoint keeps to decode and score later: alphabet, file, split, held-out."""
        return {"version": RECORD_VERSION, **self.source_info, "alphabet": self.alphabet,
                "split": {"rule": SPLIT_RULE, "share": HELD_OUT_SHARE, "min": HELD_OUT_MIN,
                          "max": HELD_OUT_MAX},
                "train_rows": len(self.train_rows), "held_out_rows": len(self.held_out),
                "held_out": [list(row) for row in self.held_out]}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> PairsTask:
        """The held-out half of a task from its checkpoint record; PairsError if malformed."""
        try:
            held_out = tuple((str(s), str(o)) for s, o in record["held_out"])
            info = {k: record[k] for k in ("name", "sha256", "format", "header", "rows")}
            lengths = [len(s) for s, _ in held_out]
            return cls(min(lengths), max(lengths), 0.0, str(record["alphabet"]), (), held_out,
                       info)
        except (KeyError, TypeError, ValueError) as error:
            raise PairsError(_("malformed pairs record ({problem})").format(problem=error)
                             ) from None


def task_from_table(table: PairsTable) -> PairsTask:
    """The task over ``table``'s rows, split into training and held-out rows."""
    train, held_out = split_rows(table.rows)
    lengths = [len(s) for s, _ in train]
    info = {"name": table.name, "sha256": table.sha256, "format": table.file_format,
            "header": table.header, "rows": len(table.rows)}
    return PairsTask(min(lengths), max(lengths), 0.0, alphabet_of(table.rows), train, held_out,
                     info)


def read_pairs_file(path: str | os.PathLike) -> PairsTable:
    """Read and parse the file at ``path``; PairsError (one line) if it can't be used."""
    path = Path(path)
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # never block on a FIFO
    except OSError as error:
        raise PairsError(_(CANNOT_READ).format(name=path.name, problem=error.strerror
                                                or _("I/O error"))) from None
    with os.fdopen(handle, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise PairsError(_("{name} is not a regular file").format(name=path.name))
        if info.st_size > MAX_FILE_BYTES:
            raise PairsError(_(TOO_BIG).format(name=path.name, size=f"{info.st_size:,}",
                                                limit=f"{MAX_FILE_BYTES:,}"))
        try:
            data = stream.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            raise PairsError(_(CANNOT_READ).format(name=path.name, problem=error.strerror
                                                    or _("I/O error"))) from None
    return parse_pairs(data, path.name)


@functools.lru_cache(maxsize=4)
def load_task(path: str, sha256: str = "") -> PairsTask:
    """The task over the file at ``path``; with ``sha256``, PairsError unless the file has it."""
    table = read_pairs_file(path)
    if sha256 and table.sha256 != sha256:
        raise PairsError(_("{name} has changed since the run was set up (its SHA-256 is "
                           "{found}…, the run's {wanted}…)").format(
                               name=table.name, found=table.sha256[:12], wanted=sha256[:12]))
    return task_from_table(table)


# ---- export ----
def neutralise(cell: str) -> str:
    """``cell`` made safe for a spreadsheet: a leading ``'`` if it could start a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def write_csv(rows, stream: TextIO, header: tuple[str, ...] = ("input", "output")) -> None:
    """Write ``header`` and ``rows`` (sequences of cells) as CSV, every cell neutralised."""
    writer = csv.writer(stream, lineterminator="\r\n")  # quotes a field holding \r or \n
    writer.writerow([neutralise(str(cell)) for cell in header])
    for row in rows:
        writer.writerow([neutralise(str(cell)) for cell in row])
