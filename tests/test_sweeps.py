"""Sweeps without Ray: grid parsing and validation, the sweep table, bad CLI input, capacity."""

from __future__ import annotations

import socket
import sys

import pandas as pd
import pytest

import seqrev.inspection.capacity as capacity
from seqrev.charts.sweep import capacity_curve_chart, capacity_heatmap, seed_spread_chart
from seqrev.cli.main import main
from seqrev.cli.sweep import _printer
from seqrev.runs.store import RunStore
from seqrev.sweeps.spec import SweepError, SweepSpec, build_configs, parse_grid, validate
from seqrev.sweeps.store import (
    SweepNotFound,
    create_sweep,
    get_sweep,
    list_sweeps,
    progress,
    request_stop,
    results,
)
from seqrev.sweeps.trial import run_inline


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREV_RUNS_DIR", str(tmp_path / "runs"))
    return RunStore(tmp_path / "runs")


def _tiny(**grid) -> SweepSpec:
    return SweepSpec(grid=grid or {"hidden_dim": (16,)},
                     base={"embedding_dim": 8, "max_len": 4}, steps=20, eval_every=10,
                     eval_per_length=20)


def test_parse_grid_names_aliases_ranges_and_duplicates():
    grid = parse_grid(["hidden-dim=16,32,16", "model=plain,attention", "lr=1e-3",
                       "max_len=4:10:3"])
    assert grid == {"hidden_dim": (16, 32), "kind": ("plain", "attention"),
                    "learning_rate": (0.001,), "max_len": (4, 7, 10)}


@pytest.mark.parametrize(("items", "message"), [
    (["bogus=1"], "unknown setting 'bogus'"),
    (["hidden_dim="], "no values"),
    (["hidden_dim"], "is not NAME=VALUES"),
    (["hidden_dim=0"], "hidden_dim"),
    (["hidden_dim=abc"], "hidden_dim"),
    (["kind=plain,lstm"], "kind"),
    (["learning_rate=5"], "learning_rate"),
    (["max_len=9:3:1"], "STOP >= START"),
])
def test_parse_grid_rejects_bad_items(items, message):
    with pytest.raises(SweepError, match=message):
        parse_grid(items)


def test_validate_rejects_empty_grid_bad_combination_and_huge_grid():
    with pytest.raises(SweepError, match="empty"):
        validate(SweepSpec(grid={}))
    with pytest.raises(SweepError, match="min_len"):
        validate(SweepSpec(grid={"max_len": (3, 8)}, base={"min_len": 5}))
    huge = SweepSpec(grid={"hidden_dim": tuple(range(1, 201)),
                           "seed": tuple(range(51))})
    assert huge.size == 10_200
    with pytest.raises(SweepError, match="--yes"):
        validate(huge)
    assert len(validate(huge, yes=True)) == 10_200


def test_trials_expand_the_grid_over_the_base_and_build_configs():
    spec = _tiny(hidden_dim=(16, 24), kind=("plain", "attention"))
    trials = spec.trials()
    assert spec.size == len(trials) == 4
    assert trials[1] == {"embedding_dim": 8, "max_len": 4, "hidden_dim": 16, "kind": "attention"}
    model_config, train_config = build_configs(spec, trials[1])
    assert (model_config.kind, model_config.hidden_dim, model_config.embedding_dim) == (
        "attention", 16, 8)
    assert (train_config.steps, train_config.min_len, train_config.max_len) == (20, 1, 4)
    assert SweepSpec.from_json(spec.to_json()) == spec


def test_create_sweep_records_the_spec_and_makes_no_runs_until_it_runs(store):
    record = create_sweep(_tiny(hidden_dim=(16, 24)), store=store)
    assert get_sweep(record.id, store).spec == record.spec
    assert record.status == "created" and record.n_trials == 2
    assert store.list_runs() == []  # the run store's own queue must never claim a trial
    counts = progress(record.id, store)
    assert (counts.done, counts.running, counts.queued, counts.total) == (0, 0, 2, 2)
    assert [s.id for s in list_sweeps(store)] == [record.id]


def test_bad_sweep_makes_nothing(store):
    with pytest.raises(SweepError):
        create_sweep(SweepSpec(grid={"max_len": (3,)}, base={"min_len": 9}),
                     store=store)
    assert list_sweeps(store) == [] and store.list_runs() == []


def test_unknown_sweep_id(store):
    with pytest.raises(SweepNotFound, match="no sweep with id 'nope'"):
        get_sweep("nope", store)
    with pytest.raises(SweepNotFound):
        request_stop("nope", store)


def test_run_inline_writes_trials_as_runs_and_skips_finished_ones(store):
    record = create_sweep(_tiny(hidden_dim=(16, 24), kind=("plain",)), store=store)
    run_inline(record.id, store)
    runs = store.list_runs(sweep_id=record.id)
    assert [r.status for r in runs] == ["finished", "finished"]
    assert {r.source for r in runs} == {"sweep"} and runs[0].steps_done == 20
    assert not store.history(runs[0].id).evals.empty
    frame = results(record.id, store)
    assert sorted(frame["test_length"].unique()) == list(range(1, 9))  # up to 2 x max_len
    assert set(frame["hidden_dim"]) == {16, 24}
    store.set_status(runs[1].id, "stopped")
    run_inline(record.id, store)
    again = store.list_runs(sweep_id=record.id)
    assert again[0].id == runs[0].id  # finished: not redone
    assert again[1].id != runs[1].id and again[1].status == "finished"
    assert len(again) == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("argv", "message"), [
    (["sweep", "run"], "grid is empty"),
    (["sweep", "run", "--grid", "bogus=1"], "unknown setting"),
    (["sweep", "run", "--grid", "hidden_dim=9999"], "hidden_dim"),
    (["sweep", "run", "--grid", "hidden_dim=1:200:1", "--grid", "max_len=1:60:1"], "--yes"),
    (["sweep", "show", "nope"], "no sweep with id"),
    (["sweep", "resume", "nope"], "no sweep with id"),
    (["sweep", "stop", "nope"], "no sweep with id"),
])
def test_cli_bad_input_is_one_line_and_exit_2(store, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert list_sweeps(store) == [] and store.list_runs() == []


def test_cli_unreachable_address_names_it_and_makes_nothing(store, capsys):
    address = f"127.0.0.1:{_free_port()}"
    assert main(["sweep", "run", "--grid", "hidden_dim=16", "--address", address]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach Ray at") and address in err
    assert err.count("\n") == 1
    assert list_sweeps(store) == [] and store.list_runs() == []


def test_cli_starts_without_ray():
    code = "import sys, seqrev.cli.main; sys.exit('ray' in sys.modules)"
    import subprocess

    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _frame() -> pd.DataFrame:
    rows = []
    for kind, capacity_of in (("plain", {16: 3, 32: 6}), ("attention", {16: 8, 32: 8})):
        for hidden, reach in capacity_of.items():
            for seed in (0, 1):
                for length in range(1, 17):
                    exact = 1.0 if length <= reach else 0.2
                    rows.append({"kind": kind, "hidden_dim": hidden, "max_len": 8,
                                 "seed": seed, "test_length": length, "exact_match": exact,
                                 "char_accuracy": exact})
    return pd.DataFrame(rows)


def test_capacity_curve_and_longest_reached():
    frame = _frame()
    curve = capacity.capacity_curve(frame).set_index(["kind", "test_length"])["hidden_dim"]
    assert curve[("plain", 3)] == 16 and curve[("plain", 4)] == 32
    assert pd.isna(curve[("plain", 7)])
    assert curve[("attention", 8)] == 16
    assert ("attention", 9) not in curve.index  # within training only (max_len 8)
    longest = capacity.longest_reached(frame).set_index(["kind", "hidden_dim"])
    assert longest.loc[("plain", 32), "longest"] == 6
    assert longest.loc[("plain", 32), "hidden_per_letter"] == pytest.approx(32 / 6)
    assert longest.loc[("attention", 16), "tested_up_to"] == 8
    beyond = capacity.aggregate(frame, within_training=False)
    assert beyond["test_length"].max() == 16 and beyond["trials"].max() == 2


def test_longest_by_seed_reads_each_seed_alone_and_the_spread_spans_them():
    frame = _frame()
    # seed 1 of plain at hidden 32 falls at length 4, so it reaches 3 where seed 0 reaches 6
    falls = ((frame["kind"] == "plain") & (frame["hidden_dim"] == 32) & (frame["seed"] == 1)
             & (frame["test_length"] == 4))
    frame.loc[falls, "exact_match"] = 0.5
    by_seed = capacity.longest_by_seed(frame).set_index(["kind", "hidden_dim", "seed"])
    assert by_seed.loc[("plain", 32, 0), "longest"] == 6
    assert by_seed.loc[("plain", 32, 1), "longest"] == 3
    assert by_seed.loc[("attention", 16, 1), "longest"] == 8
    spread = capacity.seed_spread(capacity.longest_by_seed(frame)).set_index(
        ["kind", "hidden_dim"])
    row = spread.loc[("plain", 32)]
    assert (row["seeds"], row["lowest"], row["median"], row["highest"]) == (2, 3, 4.5, 6)
    assert row["per_seed"] == [6, 3]
    assert spread.loc[("plain", 16), "lowest"] == spread.loc[("plain", 16), "highest"] == 3
    # the mean over seeds at length 4 is 0.75, under 95%: the averaged reading says 3
    mean_reading = capacity.longest_reached(frame).set_index(["kind", "hidden_dim"])
    assert mean_reading.loc[("plain", 32), "longest"] == 3


def test_longest_by_seed_without_a_seed_column_is_one_seed():
    by_seed = capacity.longest_by_seed(_frame().drop(columns="seed"))
    assert set(by_seed["seed"]) == {0}
    assert capacity.seed_spread(by_seed)["seeds"].max() == 1
    assert capacity.longest_by_seed(_frame().iloc[0:0]).empty


def test_seed_spread_chart_draws_a_range_bar_and_a_dot_per_seed():
    frame = _frame()
    by_seed = capacity.longest_by_seed(frame)
    chart = seed_spread_chart(capacity.seed_spread(by_seed), by_seed)
    medians = {trace.name: trace for trace in chart.data if trace.error_y.array is not None}
    assert set(medians) == {"plain", "attention"}
    assert list(medians["plain"].y) == [3, 6]
    assert list(medians["plain"].error_y.array) == [0, 0]
    dots = [trace for trace in chart.data if trace.name.endswith("one seed")]
    assert sum(len(trace.y) for trace in dots) == len(by_seed) == 8
    empty = seed_spread_chart(capacity.seed_spread(by_seed.iloc[0:0]), by_seed.iloc[0:0])
    assert not empty.data and "no finished trials" in empty.layout.annotations[0].text


def test_test_lengths_go_to_twice_the_training_maximum_capped():
    assert capacity.test_lengths(5) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert capacity.test_lengths(40)[-1] == 64


def test_results_round_trip_and_bad_files(tmp_path):
    frame = _frame()
    path = capacity.save_results(frame, tmp_path / "r.csv")
    assert capacity.load_results(path).shape == frame.shape
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="lack columns"):
        capacity.load_results(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="cannot read"):
        capacity.load_results(tmp_path / "missing.csv")


def test_shipped_results_load_and_cover_both_models():
    frame = capacity.load_results()
    assert set(frame["kind"]) == {"plain", "attention"}
    assert (frame["test_length"] <= 2 * frame["max_len"]).all()
    assert capacity.SHIPPED_RESULTS.stat().st_size < 400_000


def test_charts_draw_both_models_and_empty_states():
    frame = _frame()
    table = capacity.aggregate(frame)
    heatmap = capacity_heatmap(table, "plain", train_max=8)
    assert heatmap.data[0].type == "heatmap"
    assert list(heatmap.data[0].y) == ["16", "32"] and len(heatmap.data[0].x) == 16
    curve = capacity_curve_chart(capacity.capacity_curve(frame), hidden_sizes=[16, 32])
    names = [trace.name for trace in curve.data]
    assert "plain" in names and "attention" in names
    assert any("none reaches" in name for name in names)
    empty = capacity_heatmap(table.iloc[0:0], "plain")
    assert not empty.data and "no finished trials" in empty.layout.annotations[0].text


def test_cli_list_show_and_export_of_two_sweeps(store, tmp_path, capsys):
    ids = []
    for hidden in (16, 24):
        record = create_sweep(_tiny(hidden_dim=(hidden,)), store=store)
        run_inline(record.id, store)
        ids.append(record.id)
    assert main(["sweep", "list"]) == 0
    listed = capsys.readouterr().out
    assert all(f"{i}\tfinished\t1/1 finished" in listed for i in ids)
    assert main(["sweep", "show", ids[0]]) == 0
    assert "1 finished, 0 running, 0 queued, 0 failed of 1" in capsys.readouterr().out
    out = tmp_path / "both.csv"
    assert main(["sweep", "export", *ids, "--out", str(out)]) == 0
    frame = capacity.load_results(out)
    assert sorted(frame["sweep_id"].unique()) == sorted(ids)
    assert list(frame.columns) == list(capacity.COLUMNS)


def test_cli_progress_lines_count_earlier_trials_and_give_an_eta(capsys):
    emit = _printer(quiet=False, total=5, done_before=2)
    emit("start", {"sweep": "s1", "where": "a local Ray with 1 CPU(s)"})
    emit("finished", {"run": "r1", "steps": 20, "seconds": 1.0})
    emit("progress", {"running": 1, "queued": 1})
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "sweep s1 on a local Ray with 1 CPU(s)"
    assert lines[1].startswith("[3/5] r1 finished: 20 steps")
    assert lines[2].startswith("  3 done, 1 running, 1 queued; eta ")
