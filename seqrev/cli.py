"""``python -m seqrev``: train, eval, decode, sample, list and bench from the shell.

Bad input of any kind ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import replace

import torch

from seqrev import checkpoints
from seqrev.attention_scores import SCORE_FUNCTIONS
from seqrev.data import ReversalTask
from seqrev.decoding import decode_text
from seqrev.devices import DEVICE_CHOICES, resolve_device
from seqrev.evaluation import evaluate_fresh, greedy_batch
from seqrev.models import MODEL_KINDS, ModelConfig
from seqrev.training import PRESETS, TrainConfig, Trainer, preset
from seqrev.vocab import MAX_INPUT_LEN, InputError, decode, normalize

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise UsageError(message)


def lab_line(source: str, produced: str) -> str:
    """The lab's printout for one string."""
    expected = source[::-1]
    return (f"Input: ['{source}'], Should get: {expected}, Model generate: {produced} "
            f"| The result is {produced == expected}")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _build_parser() -> _Parser:
    parser = _Parser(prog="python -m seqrev", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a model and save it as a checkpoint")
    train.add_argument("--model", choices=MODEL_KINDS, default="attention")
    train.add_argument("--preset", choices=sorted(PRESETS), default="default",
                       help="start from these settings; the flags below override them")
    train.add_argument("--score", choices=SCORE_FUNCTIONS)
    train.add_argument("--embedding-dim", type=_positive)
    train.add_argument("--hidden-dim", type=_positive)
    train.add_argument("--steps", type=_positive)
    train.add_argument("--batch-size", type=_positive)
    train.add_argument("--lr", type=float, dest="learning_rate")
    train.add_argument("--lr-schedule", choices=("constant", "cosine"))
    train.add_argument("--min-len", type=_positive)
    train.add_argument("--max-len", type=_positive)
    train.add_argument("--teacher-forcing", type=float)
    train.add_argument("--grad-clip", type=float, help="0 turns clipping off")
    train.add_argument("--seed", type=int)
    train.add_argument("--eval-every", type=int)
    train.add_argument("--eval-size", type=_positive)
    train.add_argument("--device", choices=DEVICE_CHOICES)
    train.add_argument("--threads", type=_positive, help="torch CPU threads (default: torch's)")
    train.add_argument("--out", required=True, help="checkpoint name to write")
    train.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    evaluate = commands.add_parser("eval", help="accuracy of a checkpoint on fresh strings")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--n", type=_positive, default=1000)
    evaluate.add_argument("--min-len", type=_positive, default=10)
    evaluate.add_argument("--max-len", type=_positive)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--device", choices=DEVICE_CHOICES, default="cpu")
    evaluate.add_argument("--json", action="store_true", help="one JSON object on stdout")

    decode = commands.add_parser("decode", help="reverse your own strings, in the lab's format")
    decode.add_argument("--checkpoint", required=True)
    decode.add_argument("--beam", type=_positive, default=1, help="beam width (1 = greedy)")
    decode.add_argument("--device", choices=DEVICE_CHOICES, default="cpu")
    decode.add_argument("text", nargs="+")

    sample = commands.add_parser("sample", help="the lab's test printout on random strings")
    sample.add_argument("--checkpoint", required=True)
    sample.add_argument("--n", type=_positive, default=10)
    sample.add_argument("--length", type=_positive, default=10)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--device", choices=DEVICE_CHOICES, default="cpu")

    commands.add_parser("list", help="checkpoints available in checkpoints/")

    bench = commands.add_parser("bench", help="speed against the lab's implementation")
    bench.add_argument("--quick", action="store_true", help="a smaller run for CI (< 1 min)")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--device", choices=DEVICE_CHOICES, default="cpu")
    return parser


def _train_configs(args) -> tuple[ModelConfig, TrainConfig]:
    model_config, train_config = preset(args.preset, args.model)
    model_changes = {k: v for k, v in {
        "score": args.score, "embedding_dim": args.embedding_dim, "hidden_dim": args.hidden_dim,
    }.items() if v is not None}
    train_changes = {k: getattr(args, k) for k in (
        "steps", "batch_size", "learning_rate", "lr_schedule", "min_len", "max_len",
        "teacher_forcing", "seed", "eval_every", "eval_size", "device",
    ) if getattr(args, k) is not None}
    if args.grad_clip is not None:
        train_changes["grad_clip"] = args.grad_clip if args.grad_clip > 0 else None
    if args.min_len is not None and args.max_len is None and args.min_len > train_config.max_len:
        train_changes["max_len"] = args.min_len
    try:
        return replace(model_config, **model_changes), replace(train_config, **train_changes)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _progress_printer(total: int, stream=sys.stderr):
    state = {"exact": None, "last": 0.0}

    def on_eval(event) -> None:
        state["exact"] = event.exact_match

    def on_step(event) -> None:
        now = time.perf_counter()
        if now - state["last"] < 0.2 and event.step < total:
            return
        state["last"] = now
        done = event.step / total
        bar = "#" * int(30 * done) + "-" * (30 - int(30 * done))
        eta = event.elapsed / done - event.elapsed if done else 0.0
        exact = "" if state["exact"] is None else f" exact {state['exact']:.3f}"
        stream.write(f"\r[{bar}] {event.step}/{total} loss {event.loss:.4f}{exact} "
                     f"{event.elapsed:.0f}s eta {eta:.0f}s ")
        stream.flush()

    return on_step, on_eval


def _command_line(argv: list[str]) -> str:
    return "python -m seqrev " + " ".join(shlex.quote(a) for a in argv)


def cmd_train(args, argv: list[str]) -> int:
    try:
        name = checkpoints.sanitize_name(args.out)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if checkpoints.exists(name) and not args.overwrite:
        raise UsageError(f"checkpoint {name!r} exists; pass --overwrite to replace it")
    model_config, train_config = _train_configs(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        trainer = Trainer(model_config, train_config)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not args.quiet:
        on_step, on_eval = _progress_printer(train_config.steps)
        trainer.add_callback("step", on_step)
        trainer.add_callback("eval", on_eval)
    trainer.run()
    if not args.quiet:
        sys.stderr.write("\n")
    record = checkpoints.training_record(trainer, _command_line(argv))
    path = checkpoints.save_checkpoint(name, trainer.model, train_config, record,
                                       overwrite=args.overwrite)
    evaluation = record["evaluation"]
    print(f"saved {path} ({model_config.kind}, {trainer.step} steps, "
          f"{trainer.elapsed:.1f} s)")
    print(f"length 10: exact {evaluation['length_10']['exact_match']:.1%}, "
          f"char {evaluation['length_10']['char_accuracy']:.1%}; "
          f"lengths {train_config.min_len}-{train_config.max_len}: "
          f"exact {evaluation['training_range']['exact_match']:.1%}")
    return 0


def _load(name: str, device: str) -> checkpoints.Checkpoint:
    try:
        return checkpoints.load_checkpoint(name, device=resolve_device(device))
    except ValueError as error:
        raise UsageError(str(error)) from None


def cmd_eval(args) -> int:
    max_len = args.max_len or args.min_len
    if max_len < args.min_len:
        raise UsageError(f"--max-len {max_len} is below --min-len {args.min_len}")
    if max_len > MAX_INPUT_LEN:
        raise UsageError(f"--max-len {max_len} is over the limit of {MAX_INPUT_LEN}")
    checkpoint = _load(args.checkpoint, args.device)
    report = evaluate_fresh(checkpoint.model, args.n, args.min_len, max_len, args.seed)
    if args.json:
        print(json.dumps({"checkpoint": checkpoint.name, "seed": args.seed,
                          "min_len": args.min_len, "max_len": max_len, **report.to_dict()}))
        return 0
    print(f"{checkpoint.name}: {report.n} fresh strings, lengths {args.min_len}-{max_len}, "
          f"seed {args.seed}")
    print(f"exact match {report.exact_match:.2%}  char accuracy {report.char_accuracy:.2%}  "
          f"fine accuracy {report.fine_accuracy:.2%}")
    print("accuracy by output position: "
          + " ".join(f"{v:.2f}" for v in report.per_position))
    print("length      n   exact    char    fine")
    for length, row in report.by_length.items():
        print(f"{length:6d} {row['n']:6d} {row['exact_match']:7.2%} "
              f"{row['char_accuracy']:7.2%} {row['fine_accuracy']:7.2%}")
    for failure in report.failures[:10]:
        print(lab_line(failure["input"], failure["produced"]))
    return 0


def cmd_decode(args) -> int:
    try:
        texts = [normalize(t) for t in args.text]
    except InputError as error:
        raise UsageError(str(error)) from None
    checkpoint = _load(args.checkpoint, args.device)
    for text in texts:
        print(lab_line(text, decode_text(checkpoint.model, text, args.beam).output))
    return 0


def cmd_sample(args) -> int:
    if args.length > MAX_INPUT_LEN:
        raise UsageError(f"--length {args.length} is over the limit of {MAX_INPUT_LEN}")
    checkpoint = _load(args.checkpoint, args.device)
    batch = ReversalTask(args.length, args.length).eval_set(args.n, args.seed)
    outputs = greedy_batch(checkpoint.model, batch)
    for row in range(args.n):
        print(lab_line(decode(batch.source[row]), decode(outputs[row])))
    return 0


def cmd_list() -> int:
    for name in checkpoints.list_checkpoints():
        try:
            sidecar = checkpoints.read_sidecar(name)
            config = sidecar.get("model_config", {})
            ten = sidecar.get("evaluation", {}).get("length_10", {})
            exact = f"{ten['exact_match']:.1%}" if "exact_match" in ten else "?"
            print(f"{name}\t{config.get('kind', '?')}\tlength-10 exact {exact}")
        except checkpoints.CheckpointError as error:
            print(f"{name}\tunreadable: {error.problem}")
    return 0


def cmd_bench(args) -> int:
    try:
        from bench.run import run_benchmark
    except ImportError:
        raise UsageError("the benchmark needs the repository's bench/ folder; "
                         "run from the repository root") from None
    run_benchmark(quick=args.quick, as_json=args.json, device=resolve_device(args.device))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = _build_parser().parse_args(argv)
        if args.command == "train":
            return cmd_train(args, argv)
        handlers = {"eval": cmd_eval, "decode": cmd_decode, "sample": cmd_sample,
                    "bench": cmd_bench}
        return cmd_list() if args.command == "list" else handlers[args.command](args)
    except (UsageError, checkpoints.CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
