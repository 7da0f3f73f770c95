"""Optimizers and schedulers against torch.optim on the same gradients."""
import numpy as np
import pytest
import torch

from cnnkit import Tensor
from cnnkit import optim

SHAPES = [(3, 4), (5,)]


def _run_both(make_ours, make_torch, steps=6, seed=0, skip_second_at=None):
    """Run ``steps`` updates with the same float64 gradients in cnnkit and torch; return both parameter lists."""
    rng = np.random.default_rng(seed)
    ours = [Tensor(rng.standard_normal(s), requires_grad=True) for s in SHAPES]
    theirs = [torch.tensor(p.data.copy(), requires_grad=True) for p in ours]
    opt, ref = make_ours(ours), make_torch(theirs)
    for step in range(steps):
        for i, (p, q) in enumerate(zip(ours, theirs)):
            if step == skip_second_at and i == 1:
                p.grad, q.grad = None, None
                continue
            grad = rng.standard_normal(p.shape)
            p.grad, q.grad = grad.copy(), torch.tensor(grad)
        opt.step()
        ref.step()
    return ours, theirs


CASES = {
    "sgd": (lambda p: optim.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd_momentum_decay": (lambda p: optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-2),
                           lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-2)),
    "sgd_nesterov": (lambda p: optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
                     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    "adam": (lambda p: optim.Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    "adam_decay": (lambda p: optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
                   lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    "adamw": (lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
              lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)),
    "rmsprop": (lambda p: optim.RMSprop(p, lr=0.01), lambda p: torch.optim.RMSprop(p, lr=0.01)),
    "rmsprop_momentum_decay": (lambda p: optim.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.5, weight_decay=0.1),
                               lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.5,
                                                             weight_decay=0.1)),
}


@pytest.mark.parametrize("name", CASES)
def test_optimizer_matches_torch_over_several_steps(name):
    ours, theirs = _run_both(*CASES[name])
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["sgd_momentum_decay", "adam", "rmsprop_momentum_decay"])
def test_parameter_without_grad_is_skipped_like_torch(name):
    ours, theirs = _run_both(*CASES[name], skip_second_at=2)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9), lambda p: optim.Adam(p),
                                  lambda p: optim.RMSprop(p, momentum=0.9)])
def test_float32_parameters_keep_float32_state_and_values(make):
    p = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    opt = make([p])
    p.grad = np.full((2, 3), 0.5, dtype=np.float32)
    opt.step()
    assert p.data.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[id(p)].values() if v.ndim)


def test_step_updates_data_in_place():
    p = Tensor(np.ones(3), requires_grad=True)
    data = p.data
    opt = optim.Adam([p])
    p.grad = np.ones(3)
    opt.step()
    assert p.data is data and not np.allclose(data, 1.0)


def test_zero_grad_clears_gradients():
    p = Tensor(np.ones(3), requires_grad=True)
    p.grad = np.ones(3)
    optim.SGD([p], lr=0.1).zero_grad()
    assert p.grad is None


def test_state_dict_round_trip_resumes_identically():
    rng = np.random.default_rng(1)
    init, grads = rng.standard_normal(4), rng.standard_normal((6, 4))
    straight = Tensor(init.copy(), requires_grad=True)
    opt = optim.Adam([straight], lr=0.05)
    for g in grads:
        straight.grad = g.copy()
        opt.step()
    resumed = Tensor(init.copy(), requires_grad=True)
    first = optim.Adam([resumed], lr=0.05)
    for g in grads[:3]:
        resumed.grad = g.copy()
        first.step()
    saved = first.state_dict()
    assert all(isinstance(v, np.ndarray) for v in saved["state"].values())
    second = optim.Adam([resumed], lr=0.05)
    second.load_state_dict(saved)
    for g in grads[3:]:
        resumed.grad = g.copy()
        second.step()
    np.testing.assert_array_equal(resumed.data, straight.data)


def test_param_groups_take_their_own_learning_rate():
    a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = np.ones(2), np.ones(2)
    opt.step()
    np.testing.assert_allclose(a.data, 0.9)
    np.testing.assert_allclose(b.data, 0.5)


def test_empty_parameter_list_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)


def _lrs_both(make_ours, make_torch, epochs=12):
    """The learning rates of cnnkit's and torch's schedulers after each of ``epochs`` steps."""
    ours = optim.SGD([Tensor(np.zeros(1), requires_grad=True)], lr=0.3)
    theirs = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    s, t = make_ours(ours), make_torch(theirs)
    got, want = [], []
    for _ in range(epochs):
        theirs.step()
        s.step()
        t.step()
        got.append(s.get_last_lr()[0])
        want.append(t.get_last_lr()[0])
    return got, want


def test_step_lr_matches_torch():
    got, want = _lrs_both(lambda o: optim.StepLR(o, step_size=3, gamma=0.5),
                          lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_cosine_annealing_matches_torch():
    got, want = _lrs_both(lambda o: optim.CosineAnnealingLR(o, T_max=10, eta_min=0.01),
                          lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01), epochs=10)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_scheduler_state_dict_restores_the_learning_rate():
    opt = optim.SGD([Tensor(np.zeros(1), requires_grad=True)], lr=0.3)
    sched = optim.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        sched.step()
    fresh_opt = optim.SGD([Tensor(np.zeros(1), requires_grad=True)], lr=0.3)
    fresh = optim.CosineAnnealingLR(fresh_opt, T_max=10)
    fresh.load_state_dict(sched.state_dict())
    assert fresh.get_last_lr() == sched.get_last_lr()
    assert fresh.last_epoch == 4
