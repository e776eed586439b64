"""The trainer: determinism, convergence, callbacks, stop from another thread, resume."""

import json
import threading
import time

import pytest
import torch

from seqrev.decoding.evaluation import evaluate_fresh
from seqrev.models.seq2seq import ModelConfig
from seqrev.training.trainer import LAB_TRAINING, TrainConfig, Trainer, preset

TINY_MODEL = ModelConfig(kind="attention", embedding_dim=16, hidden_dim=32)
TINY = TrainConfig(steps=20, batch_size=32, min_len=1, max_len=4, eval_every=10, eval_size=64)


def weights(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_same_seed_same_run_and_other_seed_differs():
    first, second = Trainer(TINY_MODEL, TINY), Trainer(TINY_MODEL, TINY)
    first.run()
    second.run()
    assert first.losses == second.losses
    assert all(torch.equal(a, b) for a, b in zip(weights(first).values(),
                                                 weights(second).values(), strict=True))
    third = Trainer(TINY_MODEL, TrainConfig(**{**TINY.to_dict(), "seed": 1}))
    third.run()
    assert third.losses != first.losses


def test_stop_and_resume_equals_an_uninterrupted_run():
    straight = Trainer(TINY_MODEL, TINY)
    straight.run()
    resumed = Trainer(TINY_MODEL, TINY)
    assert resumed.run(max_steps=7) == "stopped" and resumed.step == 7
    assert resumed.run() == "finished" and resumed.step == 20
    assert resumed.losses == straight.losses
    for a, b in zip(weights(resumed).values(), weights(straight).values(), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_callbacks_report_steps_evals_and_end():
    trainer = Trainer(TINY_MODEL, TINY)
    seen = {"step": [], "eval": [], "end": []}
    for event in seen:
        trainer.add_callback(event, seen[event].append)
    trainer.run()
    assert [e.step for e in seen["step"]] == list(range(1, 21))
    assert all(e.loss > 0 and e.steps_per_second > 0 for e in seen["step"])
    assert [e.step for e in seen["eval"]] == [10, 20]
    assert all(0 <= e.exact_match <= e.char_accuracy + 1e-9 <= 1 + 1e-9 for e in seen["eval"])
    assert seen["end"] == ["finished"]
    with pytest.raises(ValueError):
        trainer.add_callback("epoch", print)


def test_stop_event_from_another_thread_stops_between_steps():
    trainer = Trainer(TINY_MODEL, TrainConfig(**{**TINY.to_dict(), "steps": 100_000}))
    stop = threading.Event()
    thread = threading.Thread(target=trainer.run, kwargs={"stop": stop})
    thread.start()
    time.sleep(0.3)
    stop.set()
    thread.join(timeout=2.0)
    assert not thread.is_alive()
    assert 0 < trainer.step < 100_000


def test_tiny_convergence_on_fresh_strings():
    config = TrainConfig(steps=300, batch_size=64, learning_rate=1e-2, min_len=1, max_len=4,
                         eval_every=0)
    trainer = Trainer(TINY_MODEL, config)
    trainer.run()
    report = evaluate_fresh(trainer.model, 500, 1, 4, seed=99)
    assert report.exact_match >= 0.95, report.exact_match


def test_lab_preset_is_the_lab():
    model_config, train_config = preset("seed", "plain")
    assert (model_config.kind, model_config.embedding_dim, model_config.hidden_dim) == (
        "plain", 64, 100)
    assert train_config == LAB_TRAINING
    assert (train_config.batch_size, train_config.min_len, train_config.max_len) == (64, 10, 10)
    assert (train_config.learning_rate, train_config.steps) == (1e-3, 5000)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="min_len"):
        TrainConfig(min_len=5, max_len=2)
    with pytest.raises(ValueError, match="teacher_forcing"):
        TrainConfig(teacher_forcing=1.5)


def test_onecycle_warms_up_then_anneals_to_zero():
    config = TrainConfig(steps=200, learning_rate=2e-3, lr_schedule="onecycle", eval_every=0)
    trainer = Trainer(ModelConfig(kind="plain", hidden_dim=8, embedding_dim=4), config)
    rates = [trainer.learning_rate_at(step) for step in range(config.steps)]
    warmup = rates.index(max(rates)) + 1
    assert warmup == 10  # 5% of 200 steps
    assert rates[0] == pytest.approx(2e-3 / warmup)
    assert all(a < b for a, b in zip(rates[:warmup], rates[1:warmup], strict=False))
    assert max(rates) == pytest.approx(2e-3)
    assert all(a >= b for a, b in zip(rates[warmup - 1:], rates[warmup:], strict=False))
    assert 0 < rates[-1] < 1e-3 * 2e-3  # the last step: almost nothing left
    trainer.run(max_steps=3)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(rates[2])


def test_cosine_and_constant_schedules_unchanged():
    for schedule, last in (("cosine", 0.1), ("constant", 1.0)):
        config = TrainConfig(steps=100, learning_rate=1e-3, lr_schedule=schedule, eval_every=0)
        trainer = Trainer(ModelConfig(kind="plain", hidden_dim=8, embedding_dim=4), config)
        assert trainer.learning_rate_at(0) == pytest.approx(1e-3)
        assert trainer.learning_rate_at(100) == pytest.approx(last * 1e-3)


def test_zero_gradient_clipping_means_no_clipping_not_no_learning():
    assert TrainConfig(grad_clip=0).grad_clip is None
    assert TrainConfig(grad_clip=0.0) == TrainConfig(grad_clip=None)


def test_scaled_embedding_init_gives_letter_vectors_of_length_about_one():
    def letters(init: str) -> torch.Tensor:
        config = TrainConfig(embedding_init=init)
        return Trainer(ModelConfig(embedding_dim=64), config).model.embedding.weight.detach()

    scaled, unit = letters("scaled"), letters("unit")
    assert 0.8 < float(scaled.norm(dim=1).mean()) < 1.2
    assert 7.0 < float(unit.norm(dim=1).mean()) < 9.0
    assert torch.equal(scaled, letters("scaled"))
    assert LAB_TRAINING.embedding_init == "unit"


def test_a_config_saved_before_embedding_init_existed_reads_as_unit(tmp_path):
    from seqrev.runs.store import RunStore

    store = RunStore(tmp_path)
    run = store.create_run(ModelConfig(), TrainConfig(), source="cli")
    with store.transaction() as connection:
        row = connection.execute("SELECT train_config FROM runs WHERE id = ?", (run.id,))
        saved = json.loads(row.fetchone()[0])
        del saved["embedding_init"]
        connection.execute("UPDATE runs SET train_config = ? WHERE id = ?",
                           (json.dumps(saved), run.id))
    assert store.get(run.id).train_config.embedding_init == "unit"
    assert TrainConfig().embedding_init == "scaled"


def test_shipped_checkpoints_predate_embedding_init_and_read_as_unit():
    import seqrev.checkpoints.store as checkpoints

    for name in ("plain", "attention"):
        saved = checkpoints.read_sidecar(name)["train_config"]
        if "embedding_init" not in saved:
            assert checkpoints.load_checkpoint(name).train_config.embedding_init == "unit"
        else:
            assert checkpoints.load_checkpoint(name).train_config.embedding_init == saved[
                "embedding_init"]
