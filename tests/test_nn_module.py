"""Module: registration, traversal, state dicts, modes, freezing, hooks, repr; Sequential."""
import numpy as np
import pytest

from cnnkit import Tensor, nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.BatchNorm2d(2), nn.ReLU())
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(2 * 4 * 4, 3, rng=1)

    def forward(self, x):
        return self.fc(self.flatten(self.features(x)))


def test_parameter_is_a_tensor_requiring_grad():
    p = nn.Parameter(np.zeros(3, np.float32))
    assert isinstance(p, Tensor) and p.requires_grad


def test_assignment_registers_parameters_submodules_and_buffers():
    m = nn.Module()
    m.w = nn.Parameter(np.ones(2, np.float32))
    m.child = nn.Linear(2, 2)
    m.register_buffer("stat", np.zeros(2, np.float32))
    m.plain = 3
    assert [n for n, _ in m.named_parameters()] == ["w", "child.weight", "child.bias"]
    assert [n for n, _ in m.named_buffers()] == ["stat"]
    assert list(m.children()) == [m.child]
    assert m.plain == 3


def test_assigning_an_array_to_a_parameter_raises_type_error():
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="weight"):
        layer.weight = np.zeros((2, 2), np.float32)


def test_assigning_to_a_buffer_keeps_it_registered():
    bn = nn.BatchNorm2d(2)
    bn.running_mean = np.full(2, 5, np.float32)
    assert dict(bn.named_buffers())["running_mean"].tolist() == [5, 5]


def test_buffer_must_be_an_ndarray():
    with pytest.raises(TypeError, match="stat"):
        nn.Module().register_buffer("stat", [1, 2])


def test_state_dict_keys_are_attribute_paths_params_then_buffers_per_module():
    assert list(Net().state_dict()) == [
        "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
        "features.1.running_mean", "features.1.running_var", "fc.weight", "fc.bias"]


def test_state_dict_values_are_copies():
    net = Net()
    state = net.state_dict()
    state["fc.bias"][:] = 7
    assert not np.any(net.fc.bias.data == 7)


def test_state_dict_round_trip_restores_outputs():
    a, b = Net(), Net()
    b.fc.reset_parameters(rng=5)
    b.features[1].running_mean[:] = 1.0
    b.load_state_dict(a.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 1)).astype(np.float32)
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and np.array_equal(va, vb)


def test_load_state_dict_copies_in_place():
    net = Net()
    weight, running_var = net.fc.weight.data, net.features[1].running_var
    state = {k: np.full_like(v, 2) for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    assert net.fc.weight.data is weight and net.features[1].running_var is running_var
    assert np.all(weight == 2) and np.all(running_var == 2)


def test_load_state_dict_error_lists_missing_unexpected_and_misshaped_keys():
    net = Net()
    state = net.state_dict()
    del state["fc.bias"]
    state["extra.weight"] = np.zeros(1, np.float32)
    state["fc.weight"] = np.zeros((3, 32), np.float32)
    with pytest.raises(ValueError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "fc.bias" in message and "extra.weight" in message and "fc.weight: expected (32, 3), got (3, 32)" in message


def test_load_state_dict_that_raises_changes_nothing():
    net = Net()
    before = net.state_dict()
    state = {k: np.zeros_like(v) for k, v in before.items()}
    state["fc.bias"] = np.zeros(4, np.float32)
    with pytest.raises(ValueError):
        net.load_state_dict(state)
    assert all(np.array_equal(v, net.state_dict()[k]) for k, v in before.items())


def test_load_state_dict_non_strict_returns_missing_and_unexpected():
    net = Net()
    state = net.state_dict()
    del state["fc.bias"]
    state["head.weight"] = np.zeros(1, np.float32)
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert missing == ["fc.bias"] and unexpected == ["head.weight"]


def test_load_state_dict_non_strict_still_rejects_wrong_shapes():
    net = Net()
    with pytest.raises(ValueError, match="fc.bias"):
        net.load_state_dict({"fc.bias": np.zeros(4, np.float32)}, strict=False)


def test_train_and_eval_set_the_mode_recursively():
    net = Net().eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_freeze_and_unfreeze_toggle_requires_grad():
    net = Net().freeze()
    assert not any(p.requires_grad for p in net.parameters())
    net.unfreeze()
    assert all(p.requires_grad for p in net.parameters())


def test_frozen_parameters_get_no_gradient():
    net = Net()
    net.features.freeze()
    net(np.ones((2, 6, 6, 1), np.float32)).sum().backward()
    assert net.features[0].weight.grad is None and net.fc.weight.grad is not None


def test_zero_grad_clears_every_gradient():
    net = Net()
    net(np.ones((2, 6, 6, 1), np.float32)).sum().backward()
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_named_modules_lists_paths_depth_first():
    names = [n for n, _ in Net().named_modules()]
    assert names == ["", "features", "features.0", "features.1", "features.2", "flatten", "fc"]


def test_shared_parameter_is_listed_once():
    m = nn.Module()
    m.a = nn.Linear(2, 2)
    m.b = m.a
    assert len(list(m.parameters())) == 2


def test_forward_hook_sees_output_and_can_be_removed():
    layer, seen = nn.ReLU(), []
    handle = layer.register_forward_hook(lambda mod, inputs, out: seen.append(out.shape))
    layer(np.ones((2, 3), np.float32))
    handle.remove()
    layer(np.ones((2, 3), np.float32))
    assert seen == [(2, 3)]


def test_repr_matches_pytorch_layout():
    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2, bias=False), nn.ReLU(), nn.Linear(4, 2))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), bias=False)\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=4, out_features=2, bias=True)\n"
        ")")


def test_sequential_is_indexable_sized_and_iterable():
    layers = [nn.ReLU(), nn.Tanh(), nn.Sigmoid()]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and seq[1] is layers[1] and seq[-1] is layers[2] and list(seq) == layers
    assert list(seq[1:]) == layers[1:]


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="int"):
        nn.Sequential(nn.ReLU(), 3)


def test_sequential_index_out_of_range_raises_index_error():
    with pytest.raises(IndexError, match="3"):
        nn.Sequential(nn.ReLU())[3]


def test_module_without_super_init_raises_clearly():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super"):
        Broken()
