"""The benchmark's quick mode runs end to end and reports every section (no timing asserted)."""

import json
import subprocess
import sys


def test_bench_quick_json_has_every_section():
    result = subprocess.run([sys.executable, "-m", "seqrev", "bench", "--quick", "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for kind in ("plain", "attention"):
        step = report["training_step_lab_settings"][kind]
        assert step["reference_ms"] > 0 and step["seqrev_ms"] > 0
        assert abs(step["speedup"] - step["reference_ms"] / step["seqrev_ms"]) < 0.02
        assert step["floor_ms"] > 0 and step["gflop"] > 0
        assert abs(step["floor_multiple"] - step["seqrev_ms"] / step["floor_ms"]) < 0.02
        multiple = step["seqrev_ms"] / step["floor_ms"]
        if abs(multiple - step["floor_target"]) > 0.01:  # the flag uses unrounded medians
            assert step["floor_met"] == (multiple <= step["floor_target"])
        latency = report["decode_latency"][kind]
        assert set(latency) == {"greedy_10_ms", "greedy_32_ms", "greedy_64_ms", "beam5_10_ms"}
    assert report["analysis_latency"]["strings"] == 1000
    assert {(r["model"], r["length"], r["hidden"]) for r in report["scaling"]["rows"]} >= {
        ("plain", 40, 100), ("attention", 10, 256)}
    assert report["machine"]["cores"] >= 1
    packed = report["packed_sweep"]
    assert packed["trials"] == 2 * 2 * 4 * 2  # kinds x hidden 8, 16 x training lengths x seeds
    assert packed["target_ratio"] == 10.0
    assert packed["met"] == (packed["ratio_wall"] >= packed["target_ratio"])
    assert set(packed["ratio_wall_by_group"]) == {"attention 8", "attention 16", "plain 8",
                                                  "plain 16"}


def test_step_products_count_the_lab_step_by_hand():
    from bench.floor import step_flops, step_products
    from seqrev.models.seq2seq import ModelConfig

    b, s, e, h, v = 64, 10, 64, 100, 29
    t, g = s + 1, 3 * h
    # forward + two backward products (d_input, d_weight) of the same size for every linear map
    plain = 3 * 2 * (b * s * e * g + s * b * h * g + b * t * e * g + t * b * h * g + b * t * h * v)
    assert step_flops(ModelConfig(kind="plain", embedding_dim=e), b, s) == plain
    attention = plain + 3 * 2 * (t * b * h * g + b * s * h * h) + 2 * b * (
        4 * t * h * s + 2 * s * t * h)
    assert step_flops(ModelConfig(kind="attention", embedding_dim=e), b, s) == attention
    names = [p.name for p in step_products(ModelConfig(kind="attention", score="dot"), b, s)]
    assert "attention keys W h forward" not in names and "scores forward" in names


def test_floor_step_does_the_products_into_preallocated_outputs():
    import torch

    from bench.floor import floor_step, step_products
    from seqrev.models.seq2seq import ModelConfig

    config = ModelConfig(kind="attention", hidden_dim=8, embedding_dim=4)
    run = floor_step(config, 3, 5)
    run()
    with torch.autograd.profiler.profile() as prof:
        run()
    names = [event.name for event in prof.function_events]
    products = step_products(config, 3, 5)
    assert names.count("aten::mm") == sum(p.count for p in products if p.batch == 1)
    assert names.count("aten::bmm") == sum(p.count for p in products if p.batch > 1)
    assert not {"aten::empty", "aten::empty_strided", "aten::copy_"} & set(names)


def test_bench_times_train_with_each_models_own_defaults_on_one_thread():
    from bench.run import TARGETS, TRAIN_THREADS
    from seqrev.cli.main import _build_parser
    from seqrev.cli.runs import train_configs
    from seqrev.training.trainer import DEFAULT_STEPS, preset

    assert set(TARGETS) == {"plain", "attention"}
    for kind in TARGETS:
        args = _build_parser().parse_args(["train", "--model", kind, "--out", "x"])
        assert args.threads == TRAIN_THREADS
        model_config, train_config = train_configs(args)
        assert (model_config, train_config) == preset("default", kind)
        assert train_config.steps == DEFAULT_STEPS[kind]


def test_bench_subprocess_failure_is_an_error_naming_the_command(tmp_path):
    import pytest

    from bench.run import _scratch_env, _subprocess

    with pytest.raises(RuntimeError, match="exit"):
        _subprocess([sys.executable, "-c", "import sys; sys.exit('exit 3')"],
                    _scratch_env(str(tmp_path)))
