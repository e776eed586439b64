"""``train`` and ``runs``: every training run is recorded in the run store.

``train`` creates a run, prints ``run ID`` first, trains in the foreground and, with
``--out``, saves a checkpoint. ``train --run ID`` is the worker the app launches;
``train --resume ID`` carries a stopped, interrupted or failed run on. ``runs`` lists, shows
and stops runs.

Exit codes: 0 done (finished or stopped), 1 the run failed (a full disk, a diverged or broken
run: the one-line cause is printed and stored), 2 bad input or an unusable store.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from datetime import UTC, datetime

import seqrev.checkpoints.store as checkpoints
import seqrev.training.settings as settings
from seqrev.errors import UsageError
from seqrev.i18n import N_, _
from seqrev.models.seq2seq import ModelConfig
from seqrev.runs.history import MILESTONES, format_duration, milestones_line
from seqrev.runs.scheduler import launch_pending, try_launch_pending
from seqrev.runs.store import RunNotFound, RunRecord, RunStore, RunStoreError
from seqrev.runs.worker import Worker, install_stop_signals, save_run_checkpoint, set_threads
from seqrev.training.trainer import PRESETS, TrainConfig, Trainer, preset

RESUMABLE = ("stopped", "interrupted", "failed")
EXIT_RUN_FAILED = 1
# an app's worker yields the CPU to the server: on a 2-core machine with three races training,
# a page waits for the server's turn, not for a trainer's time slice
WORKER_NICENESS = 10
# how a run ended, in the summary line (the run store and --json keep the English word)
OUTCOMES = {"finished": N_("finished"), "stopped": N_("stopped"), "failed": N_("failed"),
            "interrupted": N_("interrupted")}
RUNS_HEADER = N_("id          status       model      steps           exact   wall      started")


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("expected a whole number, got {text}").format(
            text=repr(text))) from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(_("expected 1 to 256 threads, got {value}").format(
            value=value))
    return value


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """``train``'s flags: the preset, one per setting (from ``seqrev.settings``), and the run's."""
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default",
                        help=_("start from these settings; the flags below override them"))
    settings.add_arguments(parser)
    parser.add_argument("--threads", type=_threads, default=1,
                        help=_("torch CPU threads (default 1: at these sizes a second thread "
                               "saves about 10%% on an idle machine and costs many times that "
                               "when another process holds a core; docs/speed.md)"))
    parser.add_argument("--out", help=_("save the trained model as this checkpoint"))
    parser.add_argument("--overwrite", action="store_true",
                        help=_("replace an existing checkpoint"))
    parser.add_argument("--quiet", action="store_true", help=_("no progress bar"))
    parser.add_argument("--resume", metavar="ID",
                        help=_("carry a stopped or interrupted run on"))
    parser.add_argument("--run", action="append", metavar="ID", help=argparse.SUPPRESS)


def train_configs(args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig]:
    """The configs that ``train``'s flags ask for, over the chosen preset."""
    values = settings.from_arguments(args)
    base = preset(args.preset, values.get("kind", ModelConfig().kind))
    if "min_len" in values and "max_len" not in values and values["min_len"] > base[1].max_len:
        values["max_len"] = values["min_len"]
    try:
        return settings.build_configs(values, base)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _open_store() -> RunStore:
    return RunStore()


def _progress_printer(total: int, stream=sys.stderr):
    state = {"exact": None, "last": 0.0, "start": time.perf_counter()}

    def on_eval(event) -> None:
        state["exact"] = event.exact_match

    def on_step(event) -> None:
        now = time.perf_counter()
        if now - state["last"] < 0.2 and event.step < total:
            return
        state["last"] = now
        done = event.step / total
        elapsed = now - state["start"]
        bar = "#" * int(30 * done) + "-" * (30 - int(30 * done))
        exact = ("" if state["exact"] is None
                 else " " + _("exact {exact}").format(exact=f"{state['exact']:.3f}"))
        stream.write("\r" + _("[{bar}] {step}/{total} loss {loss}{exact} {seconds}s ").format(
            bar=bar, step=event.step, total=total, loss=f"{event.loss:.4f}", exact=exact,
            seconds=f"{elapsed:.0f}"))
        stream.flush()

    return on_step, on_eval


def _execute(store: RunStore, runs: list[RunRecord], quiet: bool) -> tuple[str, Worker]:
    try:
        worker = Worker(store, runs)
    except RunStoreError as error:
        raise UsageError(_("the run can't start: {problem}").format(problem=error)) from None
    except (ValueError, RuntimeError) as error:
        for run in runs:
            store.set_status(run.id, "failed", error=str(error).splitlines()[0])
        raise UsageError(str(error).splitlines()[0]) from None
    install_stop_signals(worker)

    def attach(run_id: str, trainer: Trainer) -> None:
        if not quiet and len(runs) == 1:
            on_step, on_eval = _progress_printer(trainer.config.steps)
            trainer.add_callback("step", on_step)
            trainer.add_callback("eval", on_eval)

    outcome = worker.run(attach)
    if not quiet:
        sys.stderr.write("\n")
    return outcome, worker


def out_name(args) -> str | None:
    """``--out`` as a checkpoint name, or None; UsageError if it is bad or exists without
    ``--overwrite``."""
    if not args.out:
        return None
    try:
        name = checkpoints.sanitize_name(args.out)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if checkpoints.exists(name) and not args.overwrite:
        raise UsageError(_("checkpoint {name} exists; pass --overwrite to replace it").format(
            name=repr(name)))
    return name


def cmd_train(args: argparse.Namespace, configs: tuple | None = None) -> int:
    """Train in the foreground (new, ``--resume`` or the app's ``--run`` worker); ``configs``
    (a new run's model and train configs, e.g. on a file of pairs) instead of the flags'."""
    set_threads(args.threads)
    store = _open_store()
    if args.run:
        return _run_worker(store, args)
    name = out_name(args)
    if args.resume:
        runs = _resumable(store, args.resume, saving=name is not None)
    else:
        model_config, train_config = configs or train_configs(args)
        runs = [store.create_run(model_config, train_config, source="cli", status="running")]
    print(f"run {runs[0].id}", flush=True)
    outcome, worker = _execute(store, runs, args.quiet)
    run = store.get(runs[0].id)
    cause = run.error if outcome != "failed" or run.status == "failed" else worker.failure
    print(_("{outcome}: {done} of {total} steps in {duration}").format(
        outcome=_(OUTCOMES.get(outcome, outcome)), done=run.steps_done, total=run.steps_total,
        duration=format_duration(run.wall_seconds))
          + (_("; held-out exact match {exact}").format(exact=f"{run.exact_match:.1%}")
             if run.exact_match is not None else "")
          + (_(" ({cause})").format(cause=cause) if cause else ""))
    if outcome == "failed":
        return EXIT_RUN_FAILED
    if name and outcome == "finished":
        try:
            record = save_run_checkpoint(store, run, name, overwrite=args.overwrite,
                                         trainer=worker.trainers[run.id])
        except checkpoints.CheckpointError as error:
            if error.disk_error is None:
                raise
            return _checkpoint_failed(store, run, name, str(error.disk_error))
        _print_saved(name, run, record)
    elif name:
        print(_("not saved as {name}: the run did not finish (resume it with train --resume "
                "{run} --out {name})").format(name=name, run=run.id))
    return 0


def _print_saved(name: str, run: RunRecord, record: dict) -> None:
    """What the saved checkpoint scored: the held-out rows of a pairs file, else length 10 and
    the training range."""
    evaluation = record["evaluation"]
    if "held_out" in evaluation:
        held_out, pairs = evaluation["held_out"], record["pairs"]
        print(_("saved checkpoint {name} ({kind}, alphabet {alphabet})").format(
            name=name, kind=run.kind, alphabet=repr(pairs["alphabet"])))
        print(_("held-out rows of {file}: {n} (never trained on), exact {exact}, char {char}"
                ).format(file=" ".join(str(pairs["name"]).split()), n=held_out["n"],
                         exact=f"{held_out['exact_match']:.1%}",
                         char=f"{held_out['char_accuracy']:.1%}"))
        return
    config = run.train_config
    print(_("saved checkpoint {name} ({kind})").format(name=name, kind=run.kind))
    print(_("length 10: exact {exact}, char {char}; lengths {low}-{high}: exact {range_exact}"
            ).format(exact=f"{evaluation['length_10']['exact_match']:.1%}",
                     char=f"{evaluation['length_10']['char_accuracy']:.1%}",
                     low=config.min_len, high=config.max_len,
                     range_exact=f"{evaluation['training_range']['exact_match']:.1%}"))


def _checkpoint_failed(store: RunStore, run: RunRecord, name: str, cause: str) -> int:
    """The run trained but its checkpoint could not be written: failed, resumable to save."""
    with contextlib.suppress(RunStoreError):  # a full store: the line below still says it
        store.set_status(run.id, "failed", error=cause)
    print(_("failed: {cause}; the trained state is kept (train --resume {run} --out {name} "
            "saves it once there is space)").format(cause=cause, run=run.id, name=name))
    return EXIT_RUN_FAILED


def _resumable(store: RunStore, run_id: str, saving: bool = False) -> list[RunRecord]:
    """Claim ``run_id`` (and its race) for this process; UsageError if it can't resume.

    With ``saving`` (``--out``), a finished run whose checkpoint was never written (its save
    was killed) may "resume" too: it is at its last step, so it only saves.
    """
    store.reap()  # a worker killed a moment ago: its run is interrupted now, not in 10 s
    run = _get(store, run_id)
    group = store.group(run)
    allowed = (*RESUMABLE, "finished") if saving and len(group) == 1 and not run.checkpoint \
        else RESUMABLE
    for member in group:
        if member.status not in allowed:
            raise UsageError(_("run {run} is {status}; only a stopped, interrupted or failed "
                               "run can be resumed").format(run=member.id, status=member.status))
    for member in group:
        if not store.set_status(member.id, "running", only_from=allowed):
            raise UsageError(_("run {run} was resumed by another process just now").format(
                run=member.id))
        store.attach_worker(member.id, os.getpid())
    return [store.get(m.id) for m in group]


def _run_worker(store: RunStore, args: argparse.Namespace) -> int:
    with contextlib.suppress(OSError):  # a platform without nice trains at normal priority
        os.nice(WORKER_NICENESS)
    runs = [_get(store, run_id) for run_id in args.run]
    outcome, _worker = _execute(store, runs, quiet=True)
    launch_pending(store)  # hand the freed slot to the next queued run
    return 1 if outcome == "failed" else 0


def _get(store: RunStore, run_id: str) -> RunRecord:
    try:
        return store.get(run_id)
    except RunNotFound:
        raise UsageError(_("no run {run} (python -m seqrev runs lists them)").format(
            run=repr(run_id))) from None


def add_runs_parser(commands) -> None:
    """``runs [--json]``, ``runs show ID [--json]``, ``runs stop ID``."""
    runs = commands.add_parser("runs", help=_("training runs recorded in the run store"))
    runs.add_argument("--json", action="store_true", help=_("one JSON array on stdout"))
    actions = runs.add_subparsers(dest="runs_command", parser_class=type(runs))
    show = actions.add_parser("show", help=_("one run with its history"))
    show.add_argument("id")
    show.add_argument("--json", action="store_true", dest="show_json")
    stop = actions.add_parser("stop", help=_("stop a queued or running run"))
    stop.add_argument("id")
    delete = actions.add_parser("delete", help=_("remove a run and its history"))
    delete.add_argument("id")


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def cmd_runs(args: argparse.Namespace) -> int:
    store = _open_store()
    problem = try_launch_pending(store)  # reading must work on a full disk too
    if problem:
        print(_("warning: could not update the queue ({problem}); showing runs as stored"
                ).format(problem=problem), file=sys.stderr)
    command = getattr(args, "runs_command", None)
    if command == "show":
        return _show(store, args.id, args.show_json)
    if command == "stop":
        _get(store, args.id)
        status = store.request_stop(args.id)
        print(_("run {run}: {status}").format(
            run=args.id, status=_("stop requested") if status == "running" else status))
        return 0
    if command == "delete":
        run = _get(store, args.id)
        if run.status == "running":
            raise UsageError(_("run {run} is running; stop it first").format(run=run.id))
        store.delete(run.id)
        print(_("deleted run {run}").format(run=run.id))
        return 0
    runs = store.list_runs()
    if args.json:
        print(json.dumps([r.to_dict() for r in runs]))
        return 0
    print(_(RUNS_HEADER))
    for run in runs:
        exact = "-" if run.exact_match is None else f"{run.exact_match:.1%}"
        print(f"{run.id}  {run.status:<11}  {run.kind:<9}  "
              f"{run.steps_done:>6}/{run.steps_total:<6}  {exact:>6}  "
              f"{format_duration(run.wall_seconds):>8}  {_when(run.started)}")
    return 0


def _show(store: RunStore, run_id: str, as_json: bool) -> int:
    run = _get(store, run_id)
    history = store.history(run.id)
    if as_json:
        print(json.dumps({**run.to_dict(),
                          "history": {"steps": history.steps.to_dict(orient="list"),
                                      "evals": history.evals.to_dict(orient="list")}}))
        return 0
    for key, value in run.to_dict().items():
        if key not in ("model_config", "train_config", "extra"):
            print(f"{key}: {value}")
    print(_("command: {command}").format(
        command=settings.command_line(run.model_config, run.train_config)))
    print(milestones_line({target: store.first_reaching(target, [run.id]).get(run.id)
                           for target in MILESTONES}))
    print(_("step   exact    char"))
    for row in history.evals.itertuples():
        print(f"{row.step:<6} {row.exact_match:6.1%} {row.char_accuracy:6.1%}")
    return 0


def store_errors() -> tuple[type[Exception], ...]:
    """Exceptions the CLI reports as one line, exit code 2."""
    return (RunStoreError,)
