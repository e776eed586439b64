"""The reversal task's batches: encoding, padding and repeatable evaluation sets."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqrev.tasks.data import batch_from_strings
from seqrev.tasks.reverse import ReversalTask
from seqrev.tasks.vocab import EOS, LETTERS, PAD, SOS, decode


@given(st.lists(st.text(alphabet=LETTERS, min_size=1, max_size=20), min_size=1, max_size=8))
@settings(max_examples=50, deadline=None)
def test_batch_from_strings_encodes_reversal(texts):
    batch = batch_from_strings(texts)
    for row, text in enumerate(texts):
        assert decode(batch.source[row]) == text
        assert decode(batch.target[row]) == text[::-1]
        assert int(batch.target[row, len(text)]) == EOS
        assert (batch.target[row, len(text) + 1:] == PAD).all()
        assert int(batch.decoder_input[row, 0]) == SOS
        assert decode(batch.decoder_input[row, 1:]) == text[::-1]
        assert int(batch.lengths[row]) == len(text)
    assert batch.source_mask.sum().item() == sum(len(t) for t in texts)


def test_sample_respects_length_range_and_generator():
    task = ReversalTask(3, 7)
    first = task.sample(256, torch.Generator().manual_seed(5))
    again = task.sample(256, torch.Generator().manual_seed(5))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert int(first.lengths.min()) == 3 and int(first.lengths.max()) == 7
    assert ((first.source != PAD).sum(1) == first.lengths).all()


def test_eval_set_is_repeatable_and_seed_dependent():
    task = ReversalTask(10, 10)
    assert torch.equal(task.eval_set(100, 1).source, task.eval_set(100, 1).source)
    assert not torch.equal(task.eval_set(100, 1).source, task.eval_set(100, 2).source)


def test_lab_case_is_fixed_length_ten():
    batch = ReversalTask(10, 10).sample(64, torch.Generator().manual_seed(0))
    assert batch.source.shape == (64, 10) and batch.target.shape == (64, 11)
    assert (batch.source != PAD).all()
