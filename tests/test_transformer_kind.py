"""The Transformer as a model kind: trained, saved, loaded, decoded and refused like the GRUs."""

import json

import pytest
import torch
from safetensors.torch import save as save_to_bytes

import seqrev.checkpoints.store as checkpoints
from seqrev.checkpoints.store import CheckpointError, load_checkpoint, save_checkpoint
from seqrev.decoding.evaluation import evaluate
from seqrev.decoding.search import (
    AttentionOverride,
    OverrideError,
    beam_search,
    forced_trace,
    greedy_trace,
)
from seqrev.models.seq2seq import ModelConfig
from seqrev.sweeps.packed_training import alone_reason
from seqrev.tasks.registry import make_task
from seqrev.tasks.vocab import EOS, encode
from seqrev.training.settings import command_line
from seqrev.training.trainer import TrainConfig, Trainer

SMALL = ModelConfig(kind="transformer", d_model=16, n_heads=4, n_layers=2, ff_dim=32)


@pytest.fixture(scope="module")
def trained():
    """A small Transformer after 150 steps on lengths 1 to 6 (it reverses some strings)."""
    trainer = Trainer(SMALL, TrainConfig(steps=150, max_len=6, learning_rate=3e-3,
                                         eval_every=0, eval_size=50))
    trainer.run()
    return trainer


def test_the_trainer_lowers_the_transformers_loss(trained):
    assert sum(trained.losses[-10:]) / 10 < trained.losses[0] - 0.5


def test_a_saved_transformer_loads_with_its_config_and_the_same_logits(trained, tmp_path):
    save_checkpoint("tiny-transformer", trained.model, trained.config, directory=tmp_path)
    checkpoint = load_checkpoint("tiny-transformer", directory=tmp_path)
    assert checkpoint.model_config == SMALL
    batch = make_task("reverse", 1, 6).eval_set(20, 5)
    trained.model.eval()
    with torch.no_grad():
        expected = trained.model(batch.source, batch.lengths, batch.decoder_input)
        got = checkpoint.model(batch.source, batch.lengths, batch.decoder_input)
    assert torch.equal(expected, got)
    report = evaluate(checkpoint.model, batch)
    assert report.exact_match == evaluate(trained.model, batch).exact_match


@pytest.mark.parametrize(("changes", "problem"), [
    ({"n_heads": 3}, "3 heads do not divide the width 16"),
    ({"n_layers": 0}, "n_layers"),
    ({"d_model": 4096}, "d_model"),
])
def test_a_checkpoint_with_an_impossible_shape_is_a_named_error(trained, tmp_path, changes,
                                                                 problem):
    metadata = {"format_version": 2, "model_config": SMALL.to_dict() | changes,
                "train_config": None}
    blob = save_to_bytes(dict(trained.model.state_dict()), metadata={
        "format": "seqrev", "version": "2", checkpoints.METADATA_KEY: json.dumps(metadata)})
    (tmp_path / "bent.safetensors").write_bytes(blob)
    with pytest.raises(CheckpointError, match="bent") as error:
        load_checkpoint("bent", directory=tmp_path)
    assert problem in str(error.value)


def test_greedy_beam_and_forced_decoding_agree_and_record_every_head(trained):
    model = trained.model
    greedy = greedy_trace(model, "ABCD")
    assert greedy.attention_matrix().shape == (len(greedy.steps), 4)
    for step in greedy.steps:
        assert step.heads.shape == (2, 4, 4)  # (layers, heads, S)
        assert torch.allclose(step.heads.sum(dim=-1), torch.ones(2, 4), atol=1e-5)
        assert torch.allclose(step.attention, step.heads[-1].mean(dim=0), atol=1e-6)
    tokens = [step.chosen_token for step in greedy.steps]
    forced = forced_trace(model, "ABCD", tokens)
    assert forced.output == greedy.output
    assert abs(forced.log_prob - greedy.log_prob) < 1e-4
    assert beam_search(model, "ABCD", width=1).output == greedy.output
    assert greedy_trace(model, "ABCD", prefix="D").steps[0].chosen_token == encode("D")[0]


def test_an_override_at_blend_zero_equals_the_model_and_at_one_moves_the_head(trained):
    model = trained.model
    alone = greedy_trace(model, "ABCDE")
    untouched = greedy_trace(model, "ABCDE", overrides=[AttentionOverride(1, 4, 0.0, 0, 2)])
    assert untouched.output == alone.output
    assert torch.allclose(untouched.steps[1].probabilities, alone.steps[1].probabilities,
                          atol=1e-6)
    pushed = greedy_trace(model, "ABCDE", overrides=[AttentionOverride(0, 3, 1.0, 1, 2)])
    assert pushed.steps[0].heads[1, 2, 3] == pytest.approx(1.0)
    assert torch.allclose(pushed.steps[0].model_attention, alone.steps[0].heads[1, 2],
                          atol=1e-6)


@pytest.mark.parametrize(("override", "message"), [
    (AttentionOverride(0, 1, 1.0, layer=2), "layer 2 is out of range 0-1"),
    (AttentionOverride(0, 1, 1.0, head=4), "head 4 is out of range 0-3"),
])
def test_an_override_of_a_missing_head_is_refused_in_one_line(trained, override, message):
    with pytest.raises(OverrideError, match=message):
        greedy_trace(trained.model, "ABC", overrides=[override])


def test_a_transformers_command_names_only_its_own_settings_and_a_grus_none_of_them():
    transformer = command_line(SMALL, TrainConfig())
    assert "--d-model 16 --heads 4 --layers 2" in transformer
    assert "--hidden-dim" not in transformer and "--score" not in transformer
    gru = command_line(ModelConfig(kind="attention"), TrainConfig())
    assert "--hidden-dim 100" in gru and "--d-model" not in gru and "--heads" not in gru


def test_a_transformer_trial_trains_alone_in_a_sweep():
    assert "Transformer" in alone_reason(SMALL, TrainConfig())


def test_eos_is_a_token_the_transformer_can_write(trained):
    logits = trained.model.step(torch.tensor([EOS]), *reversed(trained.model.encode(
        *_one("AB"))))
    assert logits.logits.shape[-1] == trained.model.config.vocab_size


def _one(text):
    from seqrev.tasks.data import batch_from_strings
    batch = batch_from_strings([text])
    return batch.source, batch.lengths


def test_a_sweep_grid_takes_the_transformer_and_its_own_settings():
    from seqrev.sweeps.packed_sweep import plan_packs
    from seqrev.sweeps.spec import SweepSpec, parse_grid, validate

    grid = parse_grid(["kind=attention,transformer", "heads=1,4"])
    configs = validate(SweepSpec(grid=grid, base={"max_len": 6}, steps=5))
    kinds = {(model.kind, model.n_heads) for model, _ in configs}
    assert kinds == {("attention", 1), ("attention", 4), ("transformer", 1),
                     ("transformer", 4)}
    with pytest.raises(ValueError, match="heads"):
        validate(SweepSpec(grid=parse_grid(["kind=transformer", "heads=3"]), steps=5))
    packs = plan_packs(configs, max_pack=32, budget=2**40)
    transformer_packs = [pack for pack in packs if configs[pack[0]][0].kind == "transformer"]
    assert [len(pack) for pack in transformer_packs] == [1, 1]  # each trains alone
