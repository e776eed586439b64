"""The default training lengths: 1 to 16, with a length curriculum and length weighting.

A model trained with train's defaults must reverse what people type (HELLO, WORLD, a
16-letter string), not only the lab's 10-letter strings; the lab preset is unchanged.
"""

import json

import torch

from seqrev.decoding.evaluation import evaluate_fresh
from seqrev.decoding.search import greedy_trace
from seqrev.models.seq2seq import ModelConfig
from seqrev.tasks.reverse import ReversalTask
from seqrev.training.trainer import LAB_TRAINING, TrainConfig, Trainer, preset


def test_defaults_cover_one_to_sixteen_and_the_lab_keeps_ten():
    config = TrainConfig()
    assert (config.min_len, config.max_len) == (1, 16)
    assert (LAB_TRAINING.min_len, LAB_TRAINING.max_len) == (10, 10)
    assert LAB_TRAINING.length_curriculum == 0 and LAB_TRAINING.length_weighting == 0


def test_curriculum_grows_the_longest_string_then_holds_it():
    config = TrainConfig(steps=1000, min_len=1, max_len=16, length_curriculum=0.3)
    longest = [config.longest_at(step) for step in range(1000)]
    assert longest[0] == 4 and longest[299] in (15, 16) and set(longest[300:]) == {16}
    assert longest == sorted(longest)
    batch = config.task_at(0).sample(256, torch.Generator().manual_seed(0))
    assert int(batch.lengths.max()) <= 4 and batch.source.shape[1] <= 4
    off = TrainConfig(steps=1000, length_curriculum=0.0)
    assert {off.longest_at(step) for step in (0, 500, 999)} == {16}


def test_curriculum_starts_at_the_longest_when_the_range_is_short():
    config = TrainConfig(steps=100, min_len=3, max_len=5, length_curriculum=0.5)
    assert config.longest_at(0) == 5


def test_length_weighting_draws_long_strings_more_often():
    generator = torch.Generator().manual_seed(0)
    weighted = ReversalTask(1, 16, length_power=1.0).sample(40_000, generator).lengths
    counts = torch.bincount(weighted, minlength=17)[1:].double()  # (16,)
    expected = torch.arange(1, 17).double() / torch.arange(1, 17).sum() * 40_000
    assert torch.all((counts - expected).abs() < 5 * expected.sqrt() + 5)
    uniform = ReversalTask(1, 16).sample(40_000, torch.Generator().manual_seed(0)).lengths
    assert torch.bincount(uniform)[1:].double().std() < 0.1 * 2500


def test_uniform_lengths_draw_exactly_as_before_so_the_lab_is_bit_exact():
    before = torch.Generator().manual_seed(5)
    lengths = torch.randint(10, 11, (64,), generator=before)
    letters = torch.randint(3, 29, (64, 10), generator=before)
    batch = ReversalTask(10, 10).sample(64, torch.Generator().manual_seed(5))
    assert torch.equal(batch.lengths, lengths) and torch.equal(batch.source, letters)


def test_held_out_set_is_uniform_over_the_whole_range_whatever_the_curriculum():
    config = TrainConfig(steps=100, length_curriculum=0.5, length_weighting=1.0)
    held_out = config.task_over_range.eval_set(4000, config.eval_seed).lengths
    counts = torch.bincount(held_out, minlength=17)[1:]
    assert counts.min() > 180 and counts.max() < 320


def test_a_config_saved_before_the_length_settings_reads_as_the_old_training(tmp_path):
    from seqrev.runs.store import RunStore

    store = RunStore(tmp_path)
    run = store.create_run(ModelConfig(), TrainConfig(), source="cli")
    with store.transaction() as connection:
        row = connection.execute("SELECT train_config FROM runs WHERE id = ?", (run.id,))
        saved = json.loads(row.fetchone()[0])
        del saved["length_curriculum"], saved["length_weighting"]
        connection.execute("UPDATE runs SET train_config = ? WHERE id = ?",
                           (json.dumps(saved), run.id))
    read = store.get(run.id).train_config
    assert (read.length_curriculum, read.length_weighting) == (0.0, 0.0)


def test_resumed_curriculum_run_equals_an_uninterrupted_one():
    model = ModelConfig(kind="attention", embedding_dim=8, hidden_dim=16)
    config = TrainConfig(steps=12, batch_size=8, min_len=1, max_len=9, eval_every=0,
                         length_curriculum=0.5, length_weighting=0.5)
    straight = Trainer(model, config)
    straight.run()
    resumed = Trainer(model, config)
    resumed.run(max_steps=5)
    resumed.run()
    assert resumed.losses == straight.losses


def test_a_model_trained_with_the_defaults_reverses_what_people_type():
    torch.set_num_threads(1)
    trainer = Trainer(*preset("default", "attention"))
    trainer.run()
    sixteen = "ABCDEFGHIJKLMNOP"
    for text in ("HELLO", "WORLD", sixteen, "ZUPEIDWNVG"):
        assert greedy_trace(trainer.model, text).output == text[::-1], text
    for length in (1, 5, 12, 16):
        report = evaluate_fresh(trainer.model, 200, length, length, seed=31 + length)
        assert report.exact_match >= 0.97, (length, report.exact_match)
