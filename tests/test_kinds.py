"""Model kinds declared once (seqrev.models.kinds): everything that lists kinds reads them."""

import dataclasses

import pytest

from seqrev.charts.training import MODEL_COLORS
from seqrev.models.kinds import KIND_NAMES, KINDS, builder_of, model_kind
from seqrev.models.seq2seq import ModelConfig, Seq2Seq, build_model


def test_the_config_choice_and_the_chart_colours_come_from_the_declaration():
    kind_field = next(f for f in dataclasses.fields(ModelConfig) if f.name == "kind")
    assert kind_field.metadata["setting"]["choices"] == KIND_NAMES == (
        "plain", "attention", "transformer")
    assert {name: kind.color for name, kind in KINDS.items()} == MODEL_COLORS
    assert len(set(MODEL_COLORS.values())) == len(KINDS)  # every kind tells apart on a chart


@pytest.mark.parametrize("name", KIND_NAMES)
def test_each_kind_builds_its_model_through_its_builder(name):
    model = build_model(ModelConfig(kind=name, embedding_dim=4, hidden_dim=6, d_model=8,
                                    n_heads=2, n_layers=1, ff_dim=8))
    assert isinstance(model, builder_of(name))
    assert (builder_of(name) is Seq2Seq) == (name != "transformer")
    assert model.has_attention == KINDS[name].has_attention


def test_an_unknown_kind_is_named():
    with pytest.raises(ValueError, match="unknown model kind 'lstm'; choose from plain"):
        model_kind("lstm")


def test_every_shipped_checkpoint_is_declared_and_read_only_from_the_app():
    import seqrev.checkpoints.store as checkpoints
    from seqrev.checkpoints.task import task_of
    from seqrev.training.trainer import DEFAULT_STEPS

    assert {name: kind.default_steps for name, kind in KINDS.items()} == DEFAULT_STEPS
    shipped_pair = (checkpoints.SHIPPED_PLAIN, checkpoints.SHIPPED_ATTENTION)
    assert shipped_pair == (KINDS["plain"].shipped, KINDS["attention"].shipped)
    for name in checkpoints.SHIPPED_NAMES:
        assert checkpoints.exists(name) and checkpoints.is_shipped(name)
    for task, name in checkpoints.SHIPPED_BY_TASK.items():
        assert task_of(checkpoints.load_checkpoint(name)).spec == task
    assert not checkpoints.is_shipped("my-model")
