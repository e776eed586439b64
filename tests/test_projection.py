"""PCA maps of hidden states: the fit, its stability, and placing a trace on it."""

import pytest
import torch

from seqrev.decoding.search import forced_trace, greedy_trace
from seqrev.inspection.projection import fit_pca, fit_state_map, reference_states, trace_path
from seqrev.models.seq2seq import ModelConfig, build_model
from seqrev.tasks.reverse import ReversalTask
from seqrev.tasks.vocab import decode, expected_tokens


def model_of(kind, seed=0):
    torch.manual_seed(seed)
    return build_model(ModelConfig(kind=kind, embedding_dim=8, hidden_dim=16)).eval()


def test_pca_finds_the_direction_of_largest_variance():
    generator = torch.Generator().manual_seed(0)
    direction = torch.nn.functional.normalize(torch.randn(6, generator=generator), dim=0)
    spread = torch.randn(500, 1, generator=generator) * 5  # (500, 1)
    points = spread * direction + 0.1 * torch.randn(500, 6, generator=generator) + 3.0
    pca = fit_pca(points)
    assert abs(float(pca.components[0] @ direction)) > 0.999
    assert float(pca.explained[0]) > 0.95 and float(pca.explained.sum()) <= 1.0 + 1e-6
    assert torch.allclose(pca.components @ pca.components.t(), torch.eye(2), atol=1e-5)
    projected = pca.project(points)  # (500, 2)
    assert projected.shape == (500, 2)
    assert torch.allclose(projected.mean(0), torch.zeros(2), atol=1e-4)
    # the sign convention: the largest loading of each component is positive
    assert all(float(row[row.abs().argmax()]) > 0 for row in pca.components)


def test_pca_matches_torch_pca_lowrank_up_to_sign():
    scales = torch.tensor([5.0, 3.0, 1.0, 1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2])
    points = torch.randn(200, 10, generator=torch.Generator().manual_seed(1)) * scales
    ours = fit_pca(points)
    _, _, v = torch.pca_lowrank(points, q=2, center=True, niter=10)  # v: (10, 2)
    for k in range(2):
        assert abs(float(ours.components[k] @ v[:, k])) == pytest.approx(1.0, abs=1e-3)


def test_pca_refuses_one_point():
    with pytest.raises(ValueError):
        fit_pca(torch.zeros(1, 4))


@pytest.mark.parametrize("kind", ["plain", "attention"])
def test_reference_states_cover_every_letter_and_step(kind):
    model = model_of(kind)
    reference = reference_states(model, n=20, seed=3, lengths=(2, 6))
    lengths = reference.encoder_length
    assert reference.encoder.shape == (int(lengths.numel()), 16)
    # each string contributes S encoder states and S + 1 decoder states
    n_strings = int((reference.encoder_position == 0).sum())
    assert n_strings == 20
    assert reference.decoder.shape[0] == reference.encoder.shape[0] + 20
    assert int(reference.decoder_left.min()) == -1
    assert (reference.encoder_position < reference.encoder_length).all()


def test_reference_decoder_states_are_the_teacher_forced_path():
    model = model_of("attention", 2)
    reference = reference_states(model, n=5, seed=4, lengths=(3, 5))
    text = decode(ReversalTask(3, 5).eval_set(5, 4).source[0])
    forced = forced_trace(model, text, expected_tokens(text))
    first = torch.stack([s.hidden for s in forced.steps])  # (S + 1, H)
    assert torch.allclose(reference.decoder[: len(text) + 1], first, atol=1e-5)
    assert reference.decoder_step[: len(text) + 1].tolist() == list(range(len(text) + 1))
    assert torch.allclose(reference.encoder[: len(text)], forced.encoder_states, atol=1e-5)


def test_map_is_fixed_and_traces_land_on_it():
    model = model_of("attention", 5)
    one, two = fit_state_map(model, n=30, seed=7), fit_state_map(model, n=30, seed=7)
    assert torch.equal(one.encoder_xy, two.encoder_xy)
    assert torch.equal(one.decoder_pca.components, two.decoder_pca.components)
    trace = greedy_trace(model, "HELLO")
    path = trace_path(one, trace)
    assert path.encoder_xy.shape == (5, 2)
    assert path.encoder_labels == ["0: H", "1: E", "2: L", "3: L", "4: O"]
    assert path.decoder_xy.shape == (len(trace.steps), 2)
    assert torch.allclose(path.decoder_xy[0],
                          one.decoder_pca.project(trace.steps[0].hidden.unsqueeze(0))[0])
    # the map does not depend on the user's string
    path_other = trace_path(one, greedy_trace(model, "QWERTYUIOP"))
    assert torch.equal(one.encoder_xy, two.encoder_xy)
    assert path_other.encoder_xy.shape == (10, 2)


def test_trace_path_matches_reference_states_for_a_correctly_decoded_string():
    """The same string in the reference set and as a trace sits on the same points."""
    model = model_of("plain", 6)
    state_map = fit_state_map(model, n=10, seed=8, lengths=(4, 4))
    reference = state_map.reference
    trace = greedy_trace(model, "ABCD")
    path = trace_path(state_map, trace)
    own = state_map.encoder_pca.project(model.encode(
        torch.tensor([[3, 4, 5, 6]]), torch.tensor([4]))[0].states[0].detach())
    assert torch.allclose(path.encoder_xy, own, atol=1e-5)
    assert reference.encoder.shape == (40, 16)
