"""The analysis stored beside a checkpoint (inspection.analysis_cache): used only when it is for
these very weights and well formed; otherwise recomputed and rewritten."""

import json

import pandas as pd
import pytest
import torch

import seqrev.inspection.analysis_cache as analysis_cache
from seqrev.checkpoints.store import Checkpoint, load_checkpoint
from seqrev.inspection.analysis import compare_models
from seqrev.inspection.projection import fit_state_map
from seqrev.models.seq2seq import ModelConfig, build_model


def tiny(kind: str, seed: int, digest: str) -> Checkpoint:
    torch.manual_seed(seed)
    config = ModelConfig(kind=kind, embedding_dim=8, hidden_dim=16)
    return Checkpoint(kind, build_model(config).eval(), config, None,
                      {"weights_sha256": digest})


class Counter:
    """A compute function that counts its calls."""

    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def cached_number(checkpoint, compute, folder, key="k"):
    return analysis_cache.cached(checkpoint, key, compute, lambda v: {"v": v},
                                 lambda d: int(d["v"]), folder)


def test_missing_is_computed_and_stored_then_read_back(tmp_path):
    checkpoint, compute = tiny("plain", 0, "aa"), Counter(7)
    assert cached_number(checkpoint, compute, tmp_path) == 7
    assert compute.calls == 1
    stored = json.loads(analysis_cache.store_path("plain", tmp_path).read_text())
    assert stored["weights_sha256"] == "aa" and stored["entries"] == {"k": {"v": 7}}
    assert cached_number(checkpoint, compute, tmp_path) == 7
    assert compute.calls == 1  # the second server reads it


def test_stale_hash_is_recomputed_and_replaced(tmp_path):
    cached_number(tiny("plain", 0, "old"), Counter(1), tmp_path)
    compute = Counter(2)
    assert cached_number(tiny("plain", 0, "new"), compute, tmp_path) == 2
    assert compute.calls == 1
    stored = json.loads(analysis_cache.store_path("plain", tmp_path).read_text())
    assert stored["weights_sha256"] == "new" and stored["entries"] == {"k": {"v": 2}}


@pytest.mark.parametrize("content", [
    "", "{not json", "[]", '{"format": 1}', '{"format": 99, "weights_sha256": "aa", "entries": {}}',
    '{"format": 1, "weights_sha256": "aa", "entries": []}',
    '{"format": 1, "weights_sha256": "aa", "entries": {"k": {"v": "x"}}}',
    '{"format": 1, "weights_sha256": "aa", "entries": {"k": 5}}',
])
def test_malformed_file_or_entry_is_recomputed_never_trusted(tmp_path, content):
    path = analysis_cache.store_path("plain", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    compute = Counter(3)
    assert cached_number(tiny("plain", 0, "aa"), compute, tmp_path) == 3
    assert compute.calls == 1
    assert json.loads(path.read_text())["entries"]["k"] == {"v": 3}


def test_unwritable_folder_still_answers(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cached_number(tiny("plain", 0, "aa"), Counter(4), blocker) == 4


def test_switched_off_never_reads_or_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREV_ANALYSIS_CACHE", "off")
    compute = Counter(5)
    cached_number(tiny("plain", 0, "aa"), compute, tmp_path)
    cached_number(tiny("plain", 0, "aa"), compute, tmp_path)
    assert compute.calls == 2 and not analysis_cache.store_path("plain", tmp_path).exists()


def test_entries_are_capped_oldest_first(tmp_path):
    checkpoint = tiny("plain", 0, "aa")
    for i in range(analysis_cache.MAX_ENTRIES + 2):
        cached_number(checkpoint, Counter(i), tmp_path, key=f"k{i}")
    entries = json.loads(analysis_cache.store_path("plain", tmp_path).read_text())["entries"]
    assert len(entries) == analysis_cache.MAX_ENTRIES and "k0" not in entries and "k13" in entries


def test_state_map_round_trip_and_a_wrong_shape_is_refused(tmp_path):
    checkpoint = tiny("attention", 1, "aa")
    fresh = analysis_cache.stored_state_map(checkpoint, tmp_path)
    again = analysis_cache.stored_state_map(checkpoint, tmp_path)
    for name in ("encoder_xy", "decoder_xy"):
        assert torch.allclose(getattr(fresh, name), getattr(again, name), atol=1e-5)
    assert torch.equal(fresh.reference.decoder_step, again.reference.decoder_step)
    assert torch.allclose(fresh.decoder_pca.components, again.decoder_pca.components, atol=1e-6)
    path = analysis_cache.store_path("attention", tmp_path)
    data = json.loads(path.read_text())
    entry = next(iter(data["entries"].values()))
    entry["decoder_mean"] = entry["decoder_mean"][:-1]  # 15 numbers for a hidden size of 16
    path.write_text(json.dumps(data))
    with pytest.raises(analysis_cache.StoredAnalysisError):
        analysis_cache.decode_state_map(entry, 16)
    rebuilt = analysis_cache.stored_state_map(checkpoint, tmp_path)
    assert rebuilt.decoder_pca.mean.shape == (16,)


def test_comparison_round_trip_and_settings_are_checked(tmp_path):
    plain, attention = tiny("plain", 0, "p1"), tiny("attention", 1, "a1")
    fresh = analysis_cache.stored_comparison(plain, attention, [2, 3], 5, 0, tmp_path)
    assert not fresh.stored
    again = analysis_cache.stored_comparison(plain, attention, [2, 3], 5, 0, tmp_path)
    assert again.stored and again.outcomes == fresh.outcomes
    for name in ("per_position", "by_length", "examples"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(fresh, name),
                                      check_dtype=False)
    entry = analysis_cache.encode_comparison(fresh)
    with pytest.raises(analysis_cache.StoredAnalysisError):
        analysis_cache.decode_comparison(entry, [2, 3, 4], 5, 0)
    entry["outcomes"]["both right"] += 1
    with pytest.raises(analysis_cache.StoredAnalysisError):
        analysis_cache.decode_comparison(entry, [2, 3], 5, 0)
    # another plain model: another key, so computed afresh
    other = analysis_cache.stored_comparison(tiny("plain", 2, "p2"), attention, [2, 3], 5, 0,
                                             tmp_path)
    assert not other.stored


def test_shipped_checkpoints_ship_an_analysis_that_is_current():
    """The committed analysis is for the committed weights, and agrees with a recompute."""
    plain, attention = load_checkpoint("plain"), load_checkpoint("attention")
    stored = analysis_cache.stored_state_map(attention)
    fitted = fit_state_map(attention.model)
    assert torch.allclose(stored.decoder_xy, fitted.decoder_xy, atol=1e-4)
    low, high = analysis_cache.default_lengths(plain, attention)
    compute_called = []
    key = (f"comparison plain={analysis_cache.content_hash(plain)} "
           f"lengths={list(range(low, high + 1))} n={analysis_cache.DEFAULT_N_PER_LENGTH} "
           f"seed={analysis_cache.DEFAULT_SEED}")
    result = analysis_cache.cached(
        attention, key, lambda: compute_called.append(1),
        analysis_cache.encode_comparison,
        lambda d: analysis_cache.decode_comparison(
            d, list(range(low, high + 1)), analysis_cache.DEFAULT_N_PER_LENGTH,
            analysis_cache.DEFAULT_SEED))
    assert not compute_called and result.stored
    # length_sweep draws each length's strings from its own seed, so two lengths recomputed
    # alone are the same strings as in the full set
    part = compare_models(plain.model, attention.model, [5, 20], 100, 0)
    rows = result.by_length[result.by_length["length"].isin([5, 20])].reset_index(drop=True)
    pd.testing.assert_frame_equal(rows, part.by_length, check_dtype=False)
