"""Packed training against each trial trained alone, a trial failing inside a pack, and packs
split by their estimated memory."""

from __future__ import annotations

import math

import pytest
import torch

import seqrev.sweeps.packed_sweep as packed_sweep
from seqrev.models.fused_recurrence import attention_gru_sequence, gru_sequence
from seqrev.models.seq2seq import ModelConfig
from seqrev.sweeps.driver import plan_trial_packs
from seqrev.sweeps.packed_recurrence import packed_attention_gru_sequence, packed_gru_sequence
from seqrev.sweeps.packed_training import PackedTrainer, pack_key
from seqrev.sweeps.spec import SweepError, SweepSpec, validate
from seqrev.training.trainer import TrainConfig, Trainer

TOLERANCE = 1e-4


def _trials(kind: str) -> list[tuple[ModelConfig, TrainConfig]]:
    """Three trials of one shape: own seeds, rates, schedules, clipping, lengths and budgets."""
    model = ModelConfig(kind=kind, hidden_dim=8, embedding_dim=6)
    common = {"batch_size": 16, "min_len": 1, "eval_every": 10, "eval_size": 60}
    return [
        (model, TrainConfig(seed=0, learning_rate=1e-2, lr_schedule="onecycle", grad_clip=5.0,
                            max_len=4, steps=25, **common)),
        (model, TrainConfig(seed=1, learning_rate=3e-3, lr_schedule="constant", grad_clip=None,
                            max_len=7, steps=15, **common)),
        (model, TrainConfig(seed=2, learning_rate=7e-3, lr_schedule="cosine", grad_clip=0.5,
                            max_len=5, steps=25, **common)),
    ]


def _largest_gap(first, second) -> float:
    return max(float((a - b).detach().abs().max()) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("kind", ["plain", "attention"])
def test_each_packed_trial_matches_the_same_trial_trained_alone(kind):
    configs = _trials(kind)
    pack = PackedTrainer(configs)
    left = []
    pack.add_callback("leave", lambda index, status: left.append((index, status)))
    pack.run()
    assert sorted(left) == [(0, "finished"), (1, "finished"), (2, "finished")]
    assert left[0] == (1, "finished")  # the 15-step trial leaves first; the others go on
    for trial, (model_config, train_config) in zip(pack.trials, configs, strict=True):
        alone = Trainer(model_config, train_config)
        alone.run()
        packed = trial.trainer
        assert packed.step == alone.step == train_config.steps
        assert len(packed.losses) == len(alone.losses)
        assert max(abs(a - b) for a, b in zip(packed.losses, alone.losses, strict=True)) < TOLERANCE
        assert _largest_gap(packed.model.parameters(), alone.model.parameters()) < TOLERANCE
        assert [e.step for e in packed.eval_history] == [e.step for e in alone.eval_history]
        for ours, theirs in zip(packed.eval_history, alone.eval_history, strict=True):
            assert ours.exact_match == pytest.approx(theirs.exact_match, abs=1 / 60 + 1e-9)


def test_packed_recurrences_match_the_single_model_ones_slice_by_slice():
    torch.manual_seed(0)
    pack, batch, steps, source_len, size = 3, 4, 5, 6, 7

    def leaf(*shape):
        return torch.randn(*shape, dtype=torch.float64, requires_grad=True)

    gates, h0, weight, bias = leaf(pack, batch, steps, 3 * size), leaf(pack, batch, size), \
        leaf(pack, 3 * size, size), leaf(pack, 3 * size)
    memory, keys, context = leaf(pack, batch, source_len, size), \
        leaf(pack, batch, source_len, size), leaf(pack, 3 * size, size)
    mask = torch.ones(pack, batch, source_len, dtype=torch.bool)
    mask[:, :, 4:] = False
    mask[1, 0, 2:] = False
    inputs = (gates, h0, memory, keys, context, weight, bias)
    states, _ = packed_attention_gru_sequence(gates, h0, memory, keys, mask, context, weight,
                                              bias)
    plain = packed_gru_sequence(gates, h0, weight, bias)
    weights = torch.randn_like(states)
    ((states + plain) * weights).sum().backward()
    for p in range(pack):
        own = [x[p].detach().clone().requires_grad_() for x in inputs]
        one, _ = attention_gru_sequence(own[0], own[1], own[2], own[3], mask[p], own[4],
                                        own[5], own[6])
        two = gru_sequence(own[0], own[1], own[5], own[6])
        ((one + two) * weights[p]).sum().backward()
        assert float((one - states[p]).detach().abs().max()) < 1e-12
        assert _largest_gap([x.grad for x in own], [x.grad[p] for x in inputs]) < 1e-12


def test_a_trial_whose_loss_turns_nan_fails_with_its_cause_and_the_others_go_on():
    configs = _trials("attention")
    pack = PackedTrainer(configs)
    with torch.no_grad():
        pack.model.parameters["output.weight"][1].fill_(math.nan)  # trial 1 is poisoned
    pack.run()
    failed = pack.trials[1]
    assert failed.status == "failed"
    assert "loss became nan at step 1" in failed.error
    assert failed.trainer.step == 1 and failed.trainer.losses == [failed.trainer.losses[0]]
    for index in (0, 2):
        alone = Trainer(*configs[index])
        alone.run()
        trial = pack.trials[index]
        assert trial.status == "finished" and trial.error is None
        gaps = [abs(a - b) for a, b in zip(trial.trainer.losses, alone.losses, strict=True)]
        assert max(gaps) < TOLERANCE


def test_a_pack_needs_one_shape():
    model = ModelConfig(kind="plain", hidden_dim=8, embedding_dim=6)
    with pytest.raises(ValueError, match="one packable shape"):
        PackedTrainer([(model, TrainConfig()), (ModelConfig(kind="plain", hidden_dim=16,
                                                            embedding_dim=6), TrainConfig())])
    assert pack_key(model, TrainConfig(teacher_forcing=0.5)) is None
    assert pack_key(ModelConfig(score="additive"), TrainConfig()) is None


def test_the_memory_estimate_grows_with_pack_size_hidden_size_and_the_longest_length():
    small = (ModelConfig(kind="attention", hidden_dim=16), TrainConfig(min_len=1, max_len=8))
    wide = (ModelConfig(kind="attention", hidden_dim=64), TrainConfig(min_len=1, max_len=8))
    long = (ModelConfig(kind="attention", hidden_dim=16), TrainConfig(min_len=1, max_len=16))
    one = packed_sweep.estimate_pack_bytes([small])
    assert packed_sweep.estimate_pack_bytes([small] * 4) == 4 * one
    assert packed_sweep.estimate_pack_bytes([wide]) > one
    # a short trial packed with a long one is padded to the long one's length
    assert packed_sweep.estimate_pack_bytes([small, long]) == 2 * packed_sweep.estimate_pack_bytes(
        [long])
    # at least what the step provably holds: the logits (batch, T, V) and the parameters
    model, train = wide
    logits = train.batch_size * (train.max_len + 1) * model.vocab_size * 4
    assert packed_sweep.estimate_trial_bytes(model, train) > logits + 16 * \
        packed_sweep.parameter_count(model)


def test_parameter_count_is_the_models():
    from seqrev.models.seq2seq import build_model

    for config in (ModelConfig(kind="plain", hidden_dim=12, embedding_dim=5),
                   ModelConfig(kind="attention", hidden_dim=12, embedding_dim=5),
                   ModelConfig(kind="attention", hidden_dim=12, embedding_dim=5, score="dot")):
        expected = sum(p.numel() for p in build_model(config).parameters())
        assert packed_sweep.parameter_count(config) == expected


def test_packs_are_split_to_fit_the_memory_budget_and_never_mix_shapes():
    plain8 = ModelConfig(kind="plain", hidden_dim=8)
    configs = [(plain8, TrainConfig(seed=s, min_len=1, max_len=m))
               for m in (4, 8) for s in range(3)]
    configs += [(ModelConfig(kind="plain", hidden_dim=16), TrainConfig(seed=0))]
    configs += [(plain8, TrainConfig(teacher_forcing=0.5))]
    one = packed_sweep.estimate_trial_bytes(plain8, TrainConfig(min_len=1, max_len=8))
    roomy = packed_sweep.plan_packs(configs, budget=10**12)
    assert [sorted(pack) for pack in roomy] == [[0, 1, 2, 3, 4, 5], [6], [7]]  # no key: alone
    assert [configs[i][1].max_len for i in roomy[0]] == [8, 8, 8, 4, 4, 4]  # longest first
    tight = packed_sweep.plan_packs(configs, budget=int(2.5 * one))
    assert sorted(i for pack in tight for i in pack) == list(range(8))
    for pack in tight:
        assert len(pack) <= 2
        assert len({pack_key(*configs[i]) for i in pack}) == 1
        if len(pack) > 1:
            assert packed_sweep.estimate_pack_bytes([configs[i] for i in pack]) <= 2.5 * one
    assert all(len(pack) == 1 for pack in packed_sweep.plan_packs(configs, budget=1))
    assert max(map(len, packed_sweep.plan_packs(configs, max_pack=4, budget=10**12))) == 4


def test_at_large_hidden_sizes_only_trials_of_one_length_range_share_a_pack():
    wide = ModelConfig(kind="attention", hidden_dim=packed_sweep.MIX_LENGTHS_BELOW)
    configs = [(wide, TrainConfig(seed=s, min_len=1, max_len=m)) for m in (4, 8) for s in range(2)]
    assert sorted(map(sorted, packed_sweep.plan_packs(configs, budget=10**12))) == [[0, 1], [2, 3]]


def _payloads(configs, target=None) -> list[dict]:
    return [{"run_id": f"r{i}", "model_config": m.to_dict(), "train_config": t.to_dict(),
             "target": target, "eval_per_length": 10, "threads": 1}
            for i, (m, t) in enumerate(configs)]


def test_train_pack_returns_one_trial_result_per_payload():
    configs = _trials("plain")
    results = packed_sweep.train_pack(_payloads(configs))
    assert [r["run_id"] for r in results] == ["r0", "r1", "r2"]
    single_keys = {"run_id", "status", "steps", "evals", "steps_done", "train_seconds",
                   "wall_seconds", "reached_target_at", "lengths", "host", "pid"}
    for result, (_, train) in zip(results, configs, strict=True):
        assert single_keys <= set(result)
        assert result["status"] == "finished" and result["steps_done"] == train.steps
        assert len(result["steps"]) == train.steps
        assert [row["test_length"] for row in result["lengths"]] == list(
            range(1, 2 * train.max_len + 1))


def test_a_stop_from_the_coordinator_stops_that_trial_only(monkeypatch):
    monkeypatch.setattr(packed_sweep, "HEARTBEAT_SECONDS", 0.0)  # ask at every step
    asked = []

    def ask(run_id: str, step: int, elapsed: float) -> bool:
        asked.append((run_id, step))
        return run_id == "r2" and step >= 3

    results = packed_sweep.train_pack(_payloads(_trials("plain")), ask=ask)
    assert ("r0", 1) in asked
    assert results[2]["status"] == "stopped" and results[2]["steps_done"] == 3
    assert results[2]["lengths"] is None  # a stopped trial is not scored, as alone
    assert [r["status"] for r in results[:2]] == ["finished", "finished"]


def test_trials_reaching_the_target_leave_the_pack_scored_and_the_other_goes_on():
    model = ModelConfig(kind="plain", hidden_dim=8, embedding_dim=6)
    configs = [(model, TrainConfig(seed=seed, learning_rate=2e-2, lr_schedule="constant",
                                   min_len=1, max_len=longest, steps=100, eval_every=10,
                                   eval_size=60, batch_size=16))
               for seed, longest in ((0, 1), (1, 1), (2, 8))]
    results = packed_sweep.train_pack(_payloads(configs, target=0.3))
    for result in results[:2]:  # one letter: learned within 100 steps
        assert result["reached_target_at"] is not None
        assert result["steps_done"] == result["reached_target_at"] < 100
        assert result["evals"][-1].exact_match >= 0.3
        assert result["status"] == "finished" and len(result["lengths"]) == 2
    assert results[2]["reached_target_at"] is None and results[2]["steps_done"] == 100


def test_a_pack_that_runs_out_of_memory_is_halved_and_every_trial_still_trains(monkeypatch):
    configs = _trials("plain")
    original = PackedTrainer.train_step
    sizes = []

    def allocation_limit(self):
        sizes.append(len(self.active))
        if len(self.trials) > 1:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to "
                               "allocate 123 bytes")
        return original(self)

    monkeypatch.setattr(PackedTrainer, "train_step", allocation_limit)
    results = packed_sweep.train_pack(_payloads(configs), budget=10**12)
    assert [r["status"] for r in results] == ["finished"] * 3
    assert [r["steps_done"] for r in results] == [t.steps for _, t in configs]
    assert sizes[0] == 3  # tried as one pack first, then halved down to single trials


def test_other_errors_inside_a_pack_are_not_taken_for_memory(monkeypatch):
    def broken(self):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(PackedTrainer, "train_step", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        packed_sweep.train_pack(_payloads(_trials("plain")), budget=10**12)


def test_the_sweep_plans_packs_from_its_spec_and_rejects_a_bad_pack_size():
    spec = SweepSpec(grid={"hidden_dim": (8, 16), "max_len": (3, 4), "seed": (0, 1)},
                     base={"kind": "plain"}, steps=10)
    todo = list(enumerate(spec.trials()))
    packs = plan_trial_packs(spec, todo)
    assert sorted(len(pack) for pack in packs) == [4, 4]
    for pack in packs:
        assert len({settings["hidden_dim"] for _, settings in pack}) == 1
    alone = SweepSpec(grid=spec.grid, base=spec.base, steps=10, pack=1)
    assert plan_trial_packs(alone, todo) == [[item] for item in todo]
    with pytest.raises(SweepError, match="pack must be at least 1"):
        validate(SweepSpec(grid=spec.grid, steps=10, pack=0))
    old = SweepSpec.from_json(spec.to_json().replace(', "pack": 32', ""))
    assert old.pack == 32  # a sweep saved before packing reads with the default


@pytest.mark.parametrize("kind", ["plain", "attention"])
def test_the_packed_final_evaluation_equals_each_trials_own(kind):
    from seqrev.inspection.capacity import evaluate_lengths
    from seqrev.sweeps.packed_eval import evaluate_lengths_packed

    model = ModelConfig(kind=kind, hidden_dim=16, embedding_dim=8)
    trainers = [Trainer(model, TrainConfig(seed=seed, min_len=1, max_len=longest, steps=150,
                                           eval_every=0, batch_size=32))
                for seed, longest in ((0, 3), (1, 5), (2, 2))]
    for trainer in trainers:
        trainer.run()
    alone = [evaluate_lengths(t.model, t.config.max_len, 30) for t in trainers]
    together = evaluate_lengths_packed([t.model for t in trainers],
                                       [t.config.max_len for t in trainers], 30)
    assert together == alone
    assert sum(row["exact_match"] for rows in alone for row in rows) > 0  # not all-wrong


def test_the_cli_refuses_a_pack_size_below_one_in_one_line():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "seqrev", "sweep", "run", "--grid",
                             "hidden_dim=8", "--pack", "0"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: pack must be at least 1 (1 trains each trial alone), got 0"]
