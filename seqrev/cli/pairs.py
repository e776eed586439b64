"""The CLI for a model trained on your own pairs: ``train --pairs FILE``, and ``eval`` and
``decode`` on its checkpoint, in the file's symbols.

``eval`` scores exactly the held-out rows the checkpoint keeps (none trained on) and can export
them; ``decode`` reads and writes the file's symbols, with the file's output as the expected
one where the checkpoint knows it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import seqrev.cli.runs as runs_cli
import seqrev.training.settings as settings
from seqrev.cli.messages import COULD_NOT_WRITE, WROTE, scores_line
from seqrev.decoding.evaluation import greedy_by_length, score_outputs
from seqrev.decoding.search import beam_search, greedy_trace
from seqrev.errors import UsageError, one_line
from seqrev.i18n import _
from seqrev.tasks.data import lab_line
from seqrev.tasks.pairs import PairsError, load_task, write_csv
from seqrev.tasks.vocab import MAX_INPUT_LEN, decode
from seqrev.training.pairs_config import on_pairs
from seqrev.training.trainer import SET_BY_PAIRS


def pairs_configs(args):
    """The configs for ``train --pairs FILE``: the flags, over the file's task and lengths;
    the file is checked before any run or file is made."""
    if args.resume or args.run:
        raise UsageError(_("--pairs starts a new run; a resumed run keeps its own file"))
    given = settings.from_arguments(args)
    clash = [settings.by_name()[n].flag for n in SET_BY_PAIRS if n in given]
    if clash:
        raise UsageError(_("--pairs takes the task, the lengths and the held-out set from the "
                           "file; leave out {flags}").format(flags=", ".join(clash)))
    path = Path(args.pairs).expanduser().resolve()
    try:
        task = load_task(str(path))
    except PairsError as error:
        raise UsageError(f"--pairs: {error}") from None
    model_config, train_config = runs_cli.train_configs(args)
    try:
        return model_config, on_pairs(train_config, path, task)
    except ValueError as error:
        raise UsageError(str(error)) from None


def eval_pairs(args, checkpoint, task) -> int:
    """Score exactly the held-out rows the checkpoint keeps; none of them was trained on."""
    batch = task.eval_set()
    outputs = greedy_by_length(checkpoint.model, batch)  # (rows, steps)
    report = score_outputs(batch, outputs, max_failures=len(batch.lengths))
    produced = [task.to_symbols(decode(row)) for row in outputs]
    if args.export:
        export_rows(args.export, [(source, output, made, str(made == output).lower())
                                   for (source, output), made in zip(task.held_out, produced,
                                                                     strict=True)])
    info = task.source_info
    failures = [{key: task.to_symbols(value) for key, value in failure.items()}
                for failure in report.failures]
    if args.json:
        print(json.dumps({"checkpoint": checkpoint.name, "scored": "held-out rows",
                          "pairs": {"name": info.get("name"), "sha256": info.get("sha256"),
                                    "held_out_rows": len(task.held_out)},
                          **report.to_dict(), "failures": failures}))
        return 0
    print(_("{name}: the {n} held-out rows of {file} (sha256 {sha}, none trained on; --n, "
            "--min-len, --max-len and --seed do not apply)").format(
                name=checkpoint.name, n=report.n, file=one_line(info.get("name")),
                sha=str(info.get("sha256"))[:12]))
    print(scores_line(report))
    for failure in failures[:10]:
        print(_("input {input}: expected {expected}, produced {produced}").format(
            input=repr(failure["input"]), expected=repr(failure["expected"]),
            produced=repr(failure["produced"])))
    if args.export:
        print(_(WROTE).format(path=args.export))
    return 0


def export_rows(path: str, rows) -> None:
    buffer = io.StringIO()
    write_csv(rows, buffer, header=("input", "expected", "produced", "correct"))
    try:
        Path(path).write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as error:
        raise UsageError(_(COULD_NOT_WRITE).format(path=path, problem=error.strerror)
                         ) from None


def decode_pairs(args, checkpoint, task, overrides_for: Callable[[list[str]], list]) -> int:
    """Decode text in the file's symbols; the expected output is the file's, where it has one."""
    try:
        letters = [task.to_letters(text) for text in args.text]
    except PairsError as error:
        raise UsageError(str(error)) from None
    for text in letters:
        if not 1 <= len(text) <= MAX_INPUT_LEN:
            raise UsageError(_("an input has {n} symbols; give 1 to {limit}").format(
                n=len(text), limit=MAX_INPUT_LEN))
    overrides = overrides_for(letters)
    results = []
    for source, text in zip(args.text, letters, strict=True):
        trace = (greedy_trace(checkpoint.model, text, MAX_INPUT_LEN + 1, overrides=overrides)
                 if args.beam <= 1 or overrides else
                 beam_search(checkpoint.model, text, args.beam, MAX_INPUT_LEN + 1))
        expected = task.known_output(source)
        results.append({"input": source, "should_get": expected,
                        "model_generate": task.to_symbols(trace.output),
                        "result": None if expected is None else
                        task.to_symbols(trace.output) == expected, "method": trace.method})
    if args.json:
        print(json.dumps({"checkpoint": checkpoint.name, "beam": args.beam,
                          "attend": [o.label() for o in overrides], "strings": results}))
        return 0
    for result in results:
        if result["should_get"] is None:
            print(f"Input: [{result['input']!r}], Should get: ? (the checkpoint keeps only "
                  f"its held-out rows), Model generate: {result['model_generate']}")
        else:
            print(lab_line(result["input"], result["model_generate"], result["should_get"]))
    return 0
