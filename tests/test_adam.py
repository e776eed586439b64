"""training.adam.Adam takes the same steps as torch.optim.Adam and shares its state layout."""

import pytest
import torch

from seqrev.training.adam import Adam


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))


def _train(model, optimizer, steps: int, lr_at=lambda step: 3e-3) -> None:
    generator = torch.Generator().manual_seed(11)
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        inputs = torch.randn(16, 5, generator=generator)  # (batch, 5)
        loss = model(inputs).square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def test_same_parameters_as_torch_adam_with_a_changing_rate():
    ours, theirs = _model(0), _model(0)
    schedule = lambda step: 1e-2 / (1 + step)  # noqa: E731
    _train(ours, Adam(ours.parameters(), lr=1e-2), 25, schedule)
    _train(theirs, torch.optim.Adam(theirs.parameters(), lr=1e-2, fused=True), 25, schedule)
    for mine, reference in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(mine, reference, rtol=0, atol=0)


def test_resumes_from_torch_adams_state_and_back():
    reference = _model(1)
    reference_optimizer = torch.optim.Adam(reference.parameters(), lr=3e-3, fused=True)
    _train(reference, reference_optimizer, 5)
    ours = _model(1)
    ours.load_state_dict(reference.state_dict())
    optimizer = Adam(ours.parameters(), lr=3e-3)
    optimizer.load_state_dict(reference_optimizer.state_dict())
    _train(reference, reference_optimizer, 5)
    _train(ours, optimizer, 5)
    for mine, theirs in zip(ours.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    back = torch.optim.Adam(_model(1).parameters(), lr=3e-3, fused=True)
    back.load_state_dict(optimizer.state_dict())
    assert float(back.state_dict()["state"][0]["step"]) == 10.0


def test_a_state_for_other_parameters_is_refused():
    optimizer = Adam(_model(0).parameters(), lr=1e-3)
    other = torch.nn.Linear(5, 3)
    saved = torch.optim.Adam(other.parameters(), lr=1e-3)
    with pytest.raises(ValueError, match="number of parameters"):
        optimizer.load_state_dict(saved.state_dict())
    wrong_shape = Adam(_model(0).parameters(), lr=1e-3).state_dict()
    wrong_shape["state"] = {0: {"step": torch.tensor(1.0), "exp_avg": torch.zeros(2),
                                "exp_avg_sq": torch.zeros(2)}}
    with pytest.raises(ValueError, match="shape"):
        optimizer.load_state_dict(wrong_shape)


def test_parameters_without_gradients_are_left_alone():
    model = _model(0)
    frozen = [p.clone() for p in model[2].parameters()]
    optimizer = Adam(model.parameters(), lr=1e-2)
    loss = model[0](torch.ones(2, 5)).sum()
    loss.backward()
    optimizer.step()
    for before, after in zip(frozen, model[2].parameters(), strict=True):
        assert torch.equal(before, after)
    assert set(optimizer.state_dict()["state"]) == {0, 1}
