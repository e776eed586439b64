"""The bidirectional GRU encoder: shapes, old checkpoints, training, decoding and the CLI."""

import json

import pytest
import torch

import seqrev.checkpoints.store as checkpoints
from seqrev.checkpoints.store import CheckpointError, load_checkpoint, save_checkpoint
from seqrev.cli.main import main
from seqrev.decoding.search import AttentionOverride, beam_search, greedy_trace
from seqrev.models.seq2seq import ModelConfig, build_model
from seqrev.sweeps.packed_training import alone_reason
from seqrev.tasks.data import batch_from_strings
from seqrev.training.trainer import LAB_MODEL, TrainConfig, Trainer


def tiny(kind="attention", bidirectional=True, score="bilinear"):
    torch.manual_seed(0)
    return build_model(ModelConfig(kind=kind, embedding_dim=8, hidden_dim=12, score=score,
                                   bidirectional=bidirectional))


@pytest.mark.parametrize("kind", ["plain", "attention"])
def test_shapes(kind):
    model = tiny(kind)
    batch = batch_from_strings(["ABC", "HELLO"])
    memory, first = model.encode(batch.source, batch.lengths)
    assert memory.states.shape == (2, 5, 24) and first.shape == (2, 12)
    assert model.bridge.weight.shape == (12, 24)
    if kind == "attention":
        assert model.score.attention_w.weight.shape == (12, 24)
        assert memory.keys.shape == (2, 5, 12)
    logits = model(batch.source, batch.lengths, batch.decoder_input)
    assert logits.shape == (2, 6, model.config.vocab_size)


def test_padding_does_not_reach_the_backward_direction():
    model = tiny().eval()
    alone = batch_from_strings(["ABC"])
    padded = batch_from_strings(["ABC", "HELLOWORLD"])
    with torch.no_grad():
        one, first = model.encode(alone.source, alone.lengths)
        two, first2 = model.encode(padded.source, padded.lengths)
    torch.testing.assert_close(one.states[0], two.states[0, :3])
    torch.testing.assert_close(first[0], first2[0])


def test_the_lab_preset_and_old_configs_stay_unidirectional():
    assert LAB_MODEL.bidirectional is False
    assert ModelConfig().bidirectional is False
    model = build_model(LAB_MODEL)
    assert not hasattr(model, "bridge")
    assert all("reverse" not in name for name in model.state_dict())


def test_shipped_checkpoints_load_unidirectional_and_score_as_before():
    for name in (checkpoints.SHIPPED_PLAIN, checkpoints.SHIPPED_ATTENTION):
        loaded = load_checkpoint(name, checkpoints.SHIPPED_DIR)
        assert loaded.model_config.bidirectional is False
        assert "bidirectional" not in json.loads(
            (checkpoints.SHIPPED_DIR / f"{name}.json").read_text())["model_config"]


def test_bidirectional_checkpoint_round_trips_and_bad_shapes_are_named(tmp_path):
    model = tiny()
    save_checkpoint("bidi", model, TrainConfig(steps=1), directory=tmp_path)
    loaded = load_checkpoint("bidi", tmp_path)
    assert loaded.model_config.bidirectional is True
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[key])
    # bidirectional weights under a config that says unidirectional: refused by name
    model.config = ModelConfig(kind="attention", embedding_dim=8, hidden_dim=12)
    save_checkpoint("mislabelled", model, TrainConfig(steps=1), directory=tmp_path)
    with pytest.raises(CheckpointError, match="mislabelled"):
        load_checkpoint("mislabelled", tmp_path)


def test_dot_scores_refuse_bidirectional_keys():
    with pytest.raises(ValueError, match="bidirectional"):
        ModelConfig(score="dot", bidirectional=True)


def test_a_tiny_bidirectional_model_learns_short_strings():
    torch.manual_seed(0)
    config = ModelConfig(kind="attention", embedding_dim=16, hidden_dim=32, bidirectional=True)
    trainer = Trainer(config, TrainConfig(steps=300, batch_size=32, learning_rate=1e-2,
                                          min_len=1, max_len=3, eval_every=0, seed=0))
    trainer.run()
    model = trainer.model.eval()
    right = sum(greedy_trace(model, text).output == text[::-1]
                for text in ("AB", "CAT", "XYZ", "QR", "DOG", "MEN", "BU", "FLY"))
    assert right >= 4  # chance is about 1 in 26**2


def test_decoding_beam_and_override_work():
    model = tiny().eval()
    trace = greedy_trace(model, "HELLO")
    assert trace.steps and trace.steps[0].attention is not None
    assert abs(float(trace.steps[0].attention.sum()) - 1) < 1e-5
    assert beam_search(model, "HELLO", width=3)
    same = greedy_trace(model, "HELLO", overrides=[AttentionOverride(0, 2, blend=0.0)])
    assert same.output == trace.output
    forced = greedy_trace(model, "HELLO", overrides=[AttentionOverride(0, 4, blend=1.0)])
    assert float(forced.steps[0].attention[4]) == pytest.approx(1.0)


def test_the_packed_sweep_trains_bidirectional_trials_alone():
    config = ModelConfig(bidirectional=True)
    assert "bidirectional" in alone_reason(config, TrainConfig())


def test_cli_train_bidirectional(checkpoint_dir):
    assert main(["train", "--model", "attention", "--bidirectional", "--steps", "3",
                 "--batch-size", "8", "--hidden-dim", "8", "--embedding-dim", "4",
                 "--eval-every", "0", "--out", "bidi-cli", "--quiet"]) == 0
    sidecar = json.loads((checkpoint_dir / "bidi-cli.json").read_text())
    assert sidecar["model_config"]["bidirectional"] is True
    assert "--bidirectional" in sidecar["command"]
    assert load_checkpoint("bidi-cli", checkpoint_dir).model_config.bidirectional


def test_the_shipped_bidirectional_model_reads_the_outline_the_shipped_one_reads_right_of():
    """The issue's question, on fresh strings: +1 for the shipped model, 0 for bidirectional."""
    from seqrev.inspection.outline_offsets import fresh_strings, offset_masses
    from seqrev.tasks.registry import make_task

    task = make_task("reverse", 2, 16)
    strings = fresh_strings(task, 40, seed=5)
    assert len(set(strings)) == 40 and all(2 <= len(s) <= 16 for s in strings)
    one_way = offset_masses(checkpoints.load_checkpoint("attention").model, task, strings)
    both_ways = offset_masses(checkpoints.load_checkpoint("attention-bidirectional").model,
                              task, strings)
    assert one_way[1] > 0.9 and one_way[0] < 0.3
    assert both_ways[0] > 0.9 and both_ways[1] < 0.1
    with pytest.raises(ValueError, match="plain model"):
        offset_masses(checkpoints.load_checkpoint("plain").model, task, strings[:1])


def test_the_attention_page_compares_with_the_bidirectional_encoder_on_request():
    from tests.apptest_support import open_page

    at = open_page("pages/attention.py", {"text": "ATTENTIONISALLYOUNEED"})
    [switch] = [t for t in at.toggle if t.key == "att_bidirectional"]
    assert not switch.value and not at.dataframe  # off: nothing computed
    switch.set_value(True).run()
    assert not at.exception and not at.error
    [table] = at.dataframe
    rows = table.value.set_index("model")
    assert rows.loc["attention", "one column right (+1)"] > 0.9
    assert rows.loc["attention-bidirectional", "on the outline (0)"] > 0.9
    assert any("on the outline itself" in c.value for c in at.caption)


def test_the_train_page_shows_the_encoder_direction_as_a_toggle_that_reaches_the_link():
    from tests.apptest_support import open_page

    at = open_page("pages/train.py", {"bidirectional": "true"})
    [switch] = [t for t in at.toggle if t.key == "train_bidirectional"]
    assert switch.value is True and not at.exception
    links = lambda: [c.value for c in at.code if "/train?" in c.value]  # noqa: E731
    assert any("bidirectional=true" in link for link in links())
    switch.set_value(False).run()
    assert not at.exception and not any("bidirectional" in link for link in links())
