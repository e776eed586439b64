"""``python -m seqrev sweep``: run, resume, stop, list, show, export and bench sweeps.

The actions call seqrev.sweeps; bad input ends in one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import signal
import threading
import time

import seqrev.sweeps.driver as driver
from seqrev.cli.messages import WROTE
from seqrev.i18n import N_, _
from seqrev.sweeps.bench import benchmark
from seqrev.sweeps.spec import (
    GRID_LIMIT,
    TOTAL_STEPS_LIMIT,
    SweepError,
    SweepSpec,
    canonical_name,
    parse_grid,
    parse_value,
    validate,
)
from seqrev.sweeps.store import (
    SweepRecord,
    create_sweep,
    driving,
    get_sweep,
    list_sweeps,
    progress,
    request_stop,
    resolve_store,
    results,
)


def add_parser(commands, parser_class) -> None:
    """The ``sweep`` subcommand and its actions, on the CLI's subparsers."""
    sweep = commands.add_parser("sweep", help=_("capacity sweeps over a grid of settings, on Ray"))
    actions = sweep.add_subparsers(dest="sweep_command", required=True,
                                   parser_class=parser_class)
    run = actions.add_parser("run", help=_("create a sweep and run it"))
    run.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                     help=_("a setting and its values (repeat); A:B:STEP for a range"))
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help=_("a fixed setting for every trial (repeat)"))
    run.add_argument("--seeds", default="0", help=_("seeds, e.g. 0,1 or 0:4:1 (default 0)"))
    run.add_argument("--steps", type=int, default=300, help=_("steps per trial at most"))
    run.add_argument("--target", type=float,
                     help=_("stop a trial once held-out exact match reaches this (e.g. 0.99)"))
    run.add_argument("--eval-every", type=int, default=100)
    run.add_argument("--eval-per-length", type=int, default=200,
                     help=_("fresh strings per test length (1 .. 2x the training maximum)"))
    run.add_argument("--yes", action="store_true",
                     help=_("allow over {trials} trials or {steps} steps in all").format(
                         trials=f"{GRID_LIMIT:,}", steps=f"{TOTAL_STEPS_LIMIT:,}"))
    run.add_argument("--export", help=_("write the results CSV here when the sweep ends"))
    run.add_argument("--pack", type=int, default=32,
                     help=_("trials of one shape trained together as one task, at most "
                            "(default 32; 1 trains each trial alone)"))
    _driver_flags(run)
    resume = actions.add_parser("resume", help=_("carry on a stopped or interrupted sweep"))
    resume.add_argument("sweep_id")
    resume.add_argument("--export")
    _driver_flags(resume)
    stop = actions.add_parser("stop", help=_("stop a running sweep's trials cleanly"))
    stop.add_argument("sweep_id")
    actions.add_parser("list", help=_("sweeps in the run store"))
    show = actions.add_parser("show", help=_("a sweep's progress and capacity table"))
    show.add_argument("sweep_id")
    export = actions.add_parser("export", help=_("sweeps' results as one CSV (metrics only)"))
    export.add_argument("sweep_id", nargs="+")
    export.add_argument("--out", required=True)
    bench = actions.add_parser("bench", help=_("local Ray against the same trials in one process"))
    bench.add_argument("--steps", type=int, default=200)
    bench.add_argument("--cpus", type=int, default=1, help=_("CPUs of the local Ray"))
    bench.add_argument("--match-nice", action="store_true",
                       help=_("run the inline pass at the Ray workers' niceness (15)"))
    bench.add_argument("--json", action="store_true")


def _driver_flags(parser) -> None:
    parser.add_argument("--address", help=_("an existing Ray cluster (default: $RAY_ADDRESS, "
                                            "else a local Ray started here)"))
    parser.add_argument("--cpus", type=int, default=1,
                        help=_("CPUs of the local Ray = trials at once (default 1)"))
    parser.add_argument("--quiet", action="store_true")


def spec_from_args(args) -> SweepSpec:
    """The SweepSpec that ``sweep run``'s flags ask for; SweepError on bad input."""
    grid = parse_grid(args.grid)
    seeds = parse_grid([f"seed={args.seeds}"])["seed"]
    if "seed" not in grid:
        grid["seed"] = seeds
    base = {}
    for item in args.set:
        if "=" not in item:
            raise SweepError(_("--set {item} is not NAME=VALUE").format(item=repr(item)))
        name, text = item.split("=", 1)
        base[canonical_name(name)] = parse_value(canonical_name(name), text)
    if not args.grid:
        raise SweepError(_("the grid is empty: give at least one --grid NAME=VALUES"))
    return SweepSpec(grid=grid, base=base, steps=args.steps, target=args.target,
                     eval_every=args.eval_every, eval_per_length=args.eval_per_length,
                     pack=args.pack)


# a trial's or sweep's event and end, as the progress lines say them
EVENTS = {"finished": N_("finished"), "stopped": N_("stopped"), "failed": N_("failed"),
          "retry": N_("retry"), "interrupted": N_("interrupted")}


def _printer(quiet: bool, total: int, done_before: int = 0) -> driver.DriverEvent:
    """Driver events as lines on stderr: each trial, then done / running / queued and an ETA."""
    import sys

    state = {"done": done_before, "started": time.perf_counter()}

    def emit(kind: str, data: dict) -> None:
        if kind in ("finished", "failed"):
            state["done"] += 1
        if quiet:
            return
        elapsed = time.perf_counter() - state["started"]
        if kind == "progress":
            per_trial = elapsed / max(state["done"] - done_before, 1)
            eta = per_trial * (data["queued"] + 0.5 * data["running"])
            line = "  " + _("{done} done, {running} running, {queued} queued; eta {eta} s").format(
                done=state["done"], running=data["running"], queued=data["queued"],
                eta=f"{eta:.0f}")
        elif kind == "start":
            line = _("sweep {sweep} on {where}").format(sweep=data["sweep"], where=data["where"])
        elif kind in ("finished", "stopped"):
            line = _("[{done}/{total}] {run} {event}: {steps} steps, {seconds} s ({elapsed} s "
                     "elapsed)").format(done=state["done"], total=total, run=data["run"],
                                        event=_(EVENTS[kind]), steps=data["steps"],
                                        seconds=f"{data['seconds']:.1f}",
                                        elapsed=f"{elapsed:.0f}")
        elif kind in ("failed", "retry"):
            line = _("[{done}/{total}] {run} {event}: {problem}").format(
                done=state["done"], total=total, run=data["run"], event=_(EVENTS[kind]),
                problem=data["error"])
        elif kind == "stopping":
            line = _("stopping {n} running trial(s)...").format(n=data["running"])
        else:
            line = _("sweep {status} after {seconds} s").format(
                status=_(EVENTS.get(data["status"], data["status"])), seconds=f"{elapsed:.0f}")
        print(line, file=sys.stderr, flush=True)

    return emit


def _shutdown_ray() -> None:
    import ray

    ray.shutdown()


def _drive(record: SweepRecord, args, store, address: str | None) -> int:
    import seqrev.inspection.capacity as capacity
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()

    previous = signal.signal(signal.SIGINT, on_signal)
    previous_term = signal.signal(signal.SIGTERM, on_signal)
    try:
        final = driver.run_sweep(record.id, store=store, address=address,
                                 num_cpus=args.cpus, stop=stop,
                                 on_event=_printer(args.quiet, record.n_trials,
                                                   progress(record.id, store).done))
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
    counts = progress(final.id, store)
    print(_("{sweep}\t{status}\t{done} finished, {failed} failed, {queued} to go\t{seconds} s"
            ).format(sweep=final.id, status=final.status, done=counts.done,
                     failed=counts.failed, queued=counts.queued,
                     seconds=f"{final.wall_seconds:.1f}"))
    if getattr(args, "export", None):
        capacity.save_results(results(final.id, store), args.export)
    return 0


def main(args) -> int:
    """Run one ``sweep`` action; bad input prints one line and returns 2."""
    import sys

    from seqrev.disk import DiskWriteError

    try:
        return _dispatch(args)
    except SweepError as error:
        print(_("error: {problem}").format(problem=error), file=sys.stderr)
        return 2
    except DiskWriteError as error:
        print(_("error: the sweep stopped: {problem}; finished trials are kept, resume it once "
                "there is space").format(problem=error), file=sys.stderr)
        return 1


def _dispatch(args) -> int:
    import seqrev.inspection.capacity as capacity
    from seqrev.runs.store import RunStoreError

    try:
        store = resolve_store()
        action = args.sweep_command
        if action == "run":
            spec = spec_from_args(args)
            validate(spec, yes=args.yes)
            address = driver.resolve_address(args.address)
            driver.start_ray(address, args.cpus)  # an unusable cluster fails here, before a record
            try:
                record = create_sweep(spec, yes=args.yes, address=address, store=store)
                print(_("sweep {sweep}: {n} trials").format(sweep=record.id, n=record.n_trials),
                      flush=True)
                with driving(record.id, store):
                    return _drive(record, args, store, address)
            finally:
                _shutdown_ray()
        if action == "resume":
            record = get_sweep(args.sweep_id, store)
            address = driver.resolve_address(args.address) or record.address
            with driving(record.id, store):  # SweepBusyError before Ray, if another drives it
                driver.start_ray(address, args.cpus)
                try:
                    return _drive(record, args, store, address)
                finally:
                    _shutdown_ray()
        if action == "stop":
            record = request_stop(args.sweep_id, store)
            print(f"{record.id}\t{record.status}")
            return 0
        if action == "list":
            for record in list_sweeps(store):
                counts = progress(record.id, store)
                axes = " ".join(f"{k}={','.join(map(str, v))}" for k, v in record.spec.grid.items())
                print(_("{sweep}\t{status}\t{done}/{total} finished\t{axes}").format(
                    sweep=record.id, status=record.status, done=counts.done, total=counts.total,
                    axes=axes))
            return 0
        if action == "show":
            return _show(args.sweep_id, store)
        if action == "export":
            frames = [results(sweep_id, store) for sweep_id in args.sweep_id]
            import pandas as pd

            path = capacity.save_results(pd.concat(frames, ignore_index=True), args.out)
            print(_(WROTE).format(path=path))
            return 0
        if action == "bench":
            measured = benchmark(steps=args.steps, cpus=args.cpus, match_nice=args.match_nice)
            if args.json:
                print(json.dumps(measured))
            else:
                for key, value in measured.items():
                    print(f"{key}\t{value}")
            return 0
    except RunStoreError as error:
        raise SweepError(str(error)) from None
    raise SweepError(_("unknown sweep action {action}").format(action=repr(args.sweep_command)))


def _show(sweep_id: str, store) -> int:
    import seqrev.inspection.capacity as capacity
    record = get_sweep(sweep_id, store)
    counts = progress(record.id, store)
    print(_("{sweep}\t{status}\t{done} finished, {running} running, {queued} queued, {failed} "
            "failed of {total}").format(sweep=record.id, status=record.status,
                                         done=counts.done, running=counts.running,
                                         queued=counts.queued, failed=counts.failed,
                                         total=counts.total))
    frame = results(record.id, store)
    if frame.empty:
        return 0
    table = capacity.longest_reached(frame)
    print(_("kind\thidden\tlongest length at >= 95% exact (within training)"))
    for row in table.itertuples():
        print(f"{row.kind}\t{row.hidden_dim}\t{row.longest}")
    return 0
