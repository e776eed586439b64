"""``python -m seqrev``: train, runs, eval, decode, sample, list and bench from the shell.

Bad input of any kind ends in one line on stderr and exit code 2, never a traceback.

Its messages follow the environment's language (LANGUAGE, LC_ALL, LC_MESSAGES, LANG, the
gettext way); the lab's printout lines and every ``--json`` output are the same in every
language.

A model trained on your own pairs has its paths in :mod:`seqrev.cli.pairs`; runs and ``train``
in :mod:`seqrev.cli.runs`; sweeps in :mod:`seqrev.cli.sweep`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping

import seqrev.checkpoints.store as checkpoints
import seqrev.cli.pairs as pairs_cli
import seqrev.cli.sweep as sweeps
from seqrev.cli.messages import COULD_NOT_WRITE, WROTE, scores_line
from seqrev.cli.overrides import decode_overrides
from seqrev.cli.runs import add_runs_parser, add_train_arguments, cmd_runs, cmd_train
from seqrev.decoding.evaluation import (
    evaluate_fresh,
    greedy_batch,
)
from seqrev.decoding.search import (
    decode_text,
    greedy_trace,
)
from seqrev.devices import DEVICE_CHOICES, resolve_device
from seqrev.errors import UsageError, one_line
from seqrev.i18n import N_, _, language_from_locale, use_language
from seqrev.i18n.catalog import DEFAULT_LANGUAGE
from seqrev.runs.store import RunStoreError
from seqrev.tasks.data import lab_line
from seqrev.tasks.registry import make_task
from seqrev.tasks.vocab import MAX_INPUT_LEN, InputError, decode, normalize, token_label

EXIT_USAGE = 2
DESCRIPTION = N_("train, runs, eval, decode, sample, list and bench from the shell")
ERROR = N_("error: {problem}")
# argparse's own one-line errors (Python 3.11's wording), each with its words in our catalogue
ARGPARSE_ERRORS = (
    (re.compile(r"^argument (?P<argument>.+?): (?P<problem>.*)$", re.DOTALL),
     N_("argument {argument}: {problem}")),
    (re.compile(r"^the following arguments are required: (?P<names>.*)$", re.DOTALL),
     N_("the following arguments are required: {names}")),
    (re.compile(r"^unrecognized arguments: (?P<names>.*)$", re.DOTALL),
     N_("unrecognized arguments: {names}")),
    (re.compile(r"^invalid choice: (?P<value>.*) \(choose from (?P<choices>.*)\)$", re.DOTALL),
     N_("invalid choice: {value} (choose from {choices})")),
    (re.compile(r"^expected one argument$"), N_("expected one argument")),
    (re.compile(r"^ambiguous option: (?P<option>\S+) could match (?P<matches>.*)$", re.DOTALL),
     N_("ambiguous option: {option} could match {matches}")),
    (re.compile(r"^invalid (?P<type>\w+) value: (?P<value>.*)$", re.DOTALL),
     N_("invalid {type} value: {value}")),
)


def language_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The CLI's language, read the gettext way: the first of LC_ALL, LC_MESSAGES and LANG
    that is set names the locale ("zh_CN.UTF-8" means Chinese, anything else English); under
    it, GNU's LANGUAGE list (ignored in the C locale) may name the language first."""
    environ = os.environ if environ is None else environ
    locale = next((environ[key] for key in ("LC_ALL", "LC_MESSAGES", "LANG")
                   if environ.get(key)), "")
    if locale.split(".")[0] in ("", "C", "POSIX"):
        return DEFAULT_LANGUAGE
    for item in str(environ.get("LANGUAGE") or "").split(":"):
        if item.lower().startswith(("zh", "en")):
            return language_from_locale(item)
    return language_from_locale(locale)


def translate_argparse(message: str) -> str:
    """One of argparse's error messages in the current language (as it is in English)."""
    for pattern, template in ARGPARSE_ERRORS:
        match = pattern.match(message)
        if match:
            fields = {key: translate_argparse(value) if key == "problem" else value
                      for key, value in match.groupdict().items()}
            return _(template).format(**fields)
    return message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise UsageError(translate_argparse(message))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("expected a whole number, got {text}").format(
            text=repr(text))) from None
    if value < 1:
        raise argparse.ArgumentTypeError(_("expected a number >= 1, got {value}").format(
            value=value))
    return value


def _build_parser() -> _Parser:
    parser = _Parser(prog="python -m seqrev", description=_(DESCRIPTION))
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help=_("train a model, recorded as a run; --out saves "
                                                "it"))
    add_train_arguments(train)
    train.add_argument("--pairs", metavar="FILE",
                       help=_("train on your own input/output pairs, a CSV or TSV file (at most "
                              "26 symbols, 64 per string); 10%% of its inputs are held out and "
                              "scored, never trained on (seqrev/tasks/pairs.py)"))
    add_runs_parser(commands)

    evaluate = commands.add_parser("eval", help=_("accuracy of a checkpoint on fresh strings"))
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--n", type=_positive, default=1000)
    evaluate.add_argument("--min-len", type=_positive, default=10)
    evaluate.add_argument("--max-len", type=_positive)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--device", choices=DEVICE_CHOICES, default="cpu")
    evaluate.add_argument("--json", action="store_true", help=_("one JSON object on stdout"))
    evaluate.add_argument("--export", metavar="CSV",
                          help=_("pairs checkpoints: write every held-out row with the model's "
                                 "output as CSV (cells that could start a formula get a ')"))

    decode = commands.add_parser("decode", help=_("reverse your own strings, in the lab's "
                                                  "format"))
    decode.add_argument("--checkpoint", required=True)
    decode.add_argument("--beam", type=_positive, default=1, help=_("beam width (1 = greedy)"))
    decode.add_argument("--device", choices=DEVICE_CHOICES, default="cpu")
    decode.add_argument("--attend", action="append", default=[], metavar="STEP:POS",
                        help=_("force the attention at decode STEP onto input position POS "
                               "(both from 0; repeat for more steps; greedy, attention models)"))
    decode.add_argument("--blend", default="1", metavar="B",
                        help=_("with --attend: weights = (1-B) * the model's + B * forced "
                               "(0-1)"))
    decode.add_argument("--head", default=None, metavar="LAYER:HEAD",
                        help=_("with --attend on a Transformer: the cross-attention head to "
                               "force (both from 0; default: the last layer's head 0)"))
    decode.add_argument("--json", action="store_true",
                        help=_("one JSON object: the lab line's fields and, per step, the "
                               "attention weights actually used"))
    decode.add_argument("text", nargs="+")

    sample = commands.add_parser("sample", help=_("the lab's test printout on random strings"))
    sample.add_argument("--checkpoint", required=True)
    sample.add_argument("--n", type=_positive, default=10)
    sample.add_argument("--length", type=_positive, default=10)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--device", choices=DEVICE_CHOICES, default="cpu")

    report = commands.add_parser("report", help=_("a lab report: one HTML file that opens "
                                                  "offline"))
    report.add_argument("--checkpoint", required=True)
    report.add_argument("--out", required=True, help=_("the HTML file to write"))
    report.add_argument("--seed", type=int, help=_("draws the sample strings (default: random)"))

    commands.add_parser("list", help=_("checkpoints available in checkpoints/"))

    bench = commands.add_parser("bench", help=_("speed against the lab's implementation"))
    bench.add_argument("--quick", action="store_true", help=_("a smaller run for CI (< 1 min)"))
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--device", choices=DEVICE_CHOICES, default="cpu")
    sweeps.add_parser(commands, _Parser)
    return parser


def _load(name: str, device: str) -> checkpoints.Checkpoint:
    try:
        return checkpoints.load_checkpoint(name, device=resolve_device(device))
    except ValueError as error:
        raise UsageError(str(error)) from None


def _task_of(checkpoint):
    """The task the checkpoint was trained on; reversal for one saved without a config."""
    return make_task(checkpoint.train_config.task if checkpoint.train_config else "reverse")


def cmd_eval(args) -> int:
    max_len = args.max_len or args.min_len
    if max_len < args.min_len:
        raise UsageError(_("--max-len {max_len} is below --min-len {min_len}").format(
            max_len=max_len, min_len=args.min_len))
    if max_len > MAX_INPUT_LEN:
        raise UsageError(_("--max-len {max_len} is over the limit of {limit}").format(
            max_len=max_len, limit=MAX_INPUT_LEN))
    checkpoint = _load(args.checkpoint, args.device)
    pairs = checkpoints.pairs_task(checkpoint)
    if pairs is not None:
        return pairs_cli.eval_pairs(args, checkpoint, pairs)
    if args.export:
        raise UsageError(_("--export writes a pairs checkpoint's held-out rows; {name} was "
                           "not trained on pairs").format(name=repr(checkpoint.name)))
    report = evaluate_fresh(checkpoint.model, args.n, args.min_len, max_len, args.seed,
                            task=_task_of(checkpoint).spec)
    if args.json:
        print(json.dumps({"checkpoint": checkpoint.name, "seed": args.seed,
                          "min_len": args.min_len, "max_len": max_len, **report.to_dict()}))
        return 0
    print(_("{name}: {n} fresh strings, lengths {low}-{high}, seed {seed}").format(
        name=checkpoint.name, n=report.n, low=args.min_len, high=max_len, seed=args.seed))
    print(scores_line(report))
    print(_("accuracy by output position: {values}").format(
        values=" ".join(f"{v:.2f}" for v in report.per_position)))
    print(_(BY_LENGTH_HEADER))
    for length, row in report.by_length.items():
        print(f"{length:6d} {row['n']:6d} {row['exact_match']:7.2%} "
              f"{row['char_accuracy']:7.2%} {row['fine_accuracy']:7.2%}")
    for failure in report.failures[:10]:
        print(lab_line(failure["input"], failure["produced"], failure["expected"]))
    return 0


BY_LENGTH_HEADER = N_("length      n   exact    char    fine")


def _decode_record(trace) -> dict:
    """The lab line's fields and every step, for ``decode --json``."""
    steps = [{"step": s.position, "fed": token_label(s.fed_token),
              "wrote": token_label(s.chosen_token),
              "probability": round(float(s.probabilities[s.chosen_token]), 6),
              "attention": None if s.attention is None else [round(w, 6) for w in
                                                             s.attention.tolist()],
              "forced_position": s.forced_position,
              "blend": s.blend if s.overridden else None} for s in trace.steps]
    return {"input": trace.source, "should_get": trace.expected,
            "model_generate": trace.output, "result": trace.correct, "method": trace.method,
            "steps": steps}


def cmd_decode(args) -> int:
    checkpoint = _load(args.checkpoint, args.device)  # first: a pairs model reads its symbols
    pairs = checkpoints.pairs_task(checkpoint)
    if pairs is not None:
        return pairs_cli.decode_pairs(args, checkpoint, pairs,
                                      lambda texts: decode_overrides(args, checkpoint, texts))
    try:
        texts = [normalize(t) for t in args.text]
    except InputError as error:
        raise UsageError(str(error)) from None
    overrides = decode_overrides(args, checkpoint, texts)
    traces = [greedy_trace(checkpoint.model, text, overrides=overrides) if overrides
              else decode_text(checkpoint.model, text, args.beam) for text in texts]
    if args.json:
        print(json.dumps({"checkpoint": checkpoint.name, "beam": args.beam,
                          "attend": [o.label() for o in overrides],
                          "blend": overrides[0].blend if overrides else None,
                          "strings": [_decode_record(trace) for trace in traces]}))
        return 0
    task = _task_of(checkpoint)
    for trace in traces:
        print(lab_line(trace.source, trace.output, task.target(trace.source)))
    return 0


def cmd_sample(args) -> int:
    if args.length > MAX_INPUT_LEN:
        raise UsageError(_("--length {length} is over the limit of {limit}").format(
            length=args.length, limit=MAX_INPUT_LEN))
    checkpoint = _load(args.checkpoint, args.device)
    if checkpoints.pairs_task(checkpoint) is not None:
        raise UsageError(_("{name} was trained on pairs: sample's random strings have no "
                           "outputs to compare with; use eval (its held-out rows)").format(
                               name=repr(checkpoint.name)))
    task = _task_of(checkpoint)
    batch = make_task(task.spec, args.length, args.length).eval_set(args.n, args.seed)
    outputs = greedy_batch(checkpoint.model, batch)
    for row in range(args.n):
        source = decode(batch.source[row])
        print(lab_line(source, decode(outputs[row]), task.target(source)))
    return 0


def cmd_report(args) -> int:
    from seqrev.teaching.report import build_report, from_checkpoint

    checkpoint = _load(args.checkpoint, "cpu")
    if checkpoints.pairs_task(checkpoint) is not None:
        raise UsageError(_("{name} was trained on pairs: the lab report is for the letter "
                           "tasks; use eval").format(name=repr(checkpoint.name)))
    document = build_report(from_checkpoint(checkpoint), seed=args.seed)
    try:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(document)
    except OSError as error:
        raise UsageError(_(COULD_NOT_WRITE).format(path=args.out, problem=error.strerror)
                         ) from None
    print(_(WROTE).format(path=args.out))
    return 0


SKIPPED = N_("{name}\tskipped: {problem}")


def cmd_list() -> int:
    """One line per healthy checkpoint, then one per skipped file saying why; exits 0."""
    for name in checkpoints.list_checkpoints():
        try:
            sidecar = checkpoints.read_sidecar(name)  # already checked against the schema
        except checkpoints.CheckpointError as error:  # replaced since it was listed
            print(_(SKIPPED).format(name=name, problem=one_line(error.problem)))
            continue
        evaluation = sidecar.get("evaluation") or {}
        held_out = evaluation.get("held_out")
        ten = evaluation.get("length_10") or {}
        exact = f"{ten['exact_match']:.1%}" if "exact_match" in ten else "?"
        scored = (_("held-out exact {exact}").format(exact=f"{held_out['exact_match']:.1%}")
                  if held_out else _("length-10 exact {exact}").format(exact=exact))
        print(f"{name}\t{sidecar['model_config'].get('kind', '?')}\t{scored}")
    for file_name, problem in checkpoints.list_checkpoint_problems():
        shown = file_name if file_name.isprintable() else ascii(file_name)
        print(_(SKIPPED).format(name=shown, problem=one_line(problem)))
    return 0


def cmd_bench(args) -> int:
    try:
        from bench.run import run_benchmark
    except ImportError:
        raise UsageError(_("the benchmark needs the repository's bench/ folder; run from the "
                           "repository root")) from None
    run_benchmark(quick=args.quick, as_json=args.json, device=resolve_device(args.device))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command in the environment's language; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    with use_language(language_from_environment()):
        return _run(argv)


def _run(argv: list[str]) -> int:
    try:
        args = _build_parser().parse_args(argv)
        if args.command == "train":
            pairs = pairs_cli.pairs_configs(args) if args.pairs is not None else None
            return cmd_train(args, pairs)
        if args.command == "runs":
            return cmd_runs(args)
        if args.command == "sweep":
            return sweeps.main(args)
        handlers = {"eval": cmd_eval, "decode": cmd_decode, "sample": cmd_sample,
                    "bench": cmd_bench, "report": cmd_report}
        return cmd_list() if args.command == "list" else handlers[args.command](args)
    except (UsageError, checkpoints.CheckpointError, RunStoreError) as error:
        print(_(ERROR).format(problem=one_line(error)), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(_(ERROR).format(problem=_("interrupted")), file=sys.stderr)
        return 130

