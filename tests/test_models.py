"""cnnkit.models: exact torchvision parameter counts, get_model, configs, and small forward passes."""
import numpy as np
import pytest

from cnnkit import nn, no_grad
from cnnkit.models import MODELS, get_model


def count(model):
    return sum(int(p.size) for p in model.parameters())


@pytest.mark.parametrize("name, expected", [
    ("lenet5", 61_706),
    ("alexnet", 61_100_840),
    ("vgg16", 138_357_544),
    ("vgg19", 143_667_240),
    ("resnet18", 11_689_512),
    ("resnet34", 21_797_672),
    ("resnet50", 25_557_032),
    ("googlenet", 6_624_904),
])
def test_parameter_count_matches_the_reference(name, expected):
    assert count(get_model(name)) == expected


def test_googlenet_with_the_papers_5x5_branch_is_larger():
    assert count(get_model("googlenet", branch3_kernel=5)) == 7_005_832


def test_resnet_small_has_a_few_hundred_thousand_parameters():
    assert 200_000 <= count(get_model("resnet_small")) <= 500_000


def test_get_model_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="resnet50") as info:
        get_model("resnet51")
    assert all(name in str(info.value) for name in MODELS)


def test_every_model_is_registered():
    assert {"lenet5", "alexnet", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "googlenet",
            "resnet_small"} <= set(MODELS)


def test_config_records_name_and_arguments():
    model = get_model("resnet_small", num_classes=5, dtype=np.float64)
    assert model.config == {"name": "resnet_small", "num_classes": 5, "in_channels": 1, "widths": [32, 64, 128],
                            "dtype": "float64"}


def test_config_rebuilds_the_same_architecture():
    model = get_model("lenet5", num_classes=4, in_channels=3, input_size=28)
    rebuilt = get_model(**model.config)
    rebuilt.load_state_dict(model.state_dict())
    shapes = [(k, v.shape) for k, v in model.state_dict().items()]
    assert [(k, v.shape) for k, v in rebuilt.state_dict().items()] == shapes


def test_resnet_state_dict_keys_follow_torchvision():
    keys = list(get_model("resnet50").state_dict())
    assert keys[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                        "layer1.0.conv1.weight"]
    assert "layer1.0.downsample.0.weight" in keys and "layer1.1.downsample.0.weight" not in keys
    assert keys[-2:] == ["fc.weight", "fc.bias"]


def test_lenet5_maps_32x32_images_to_class_scores():
    assert get_model("lenet5")(np.zeros((2, 32, 32, 1), np.float32)).shape == (2, 10)


def test_lenet5_for_28x28_pads_the_first_convolution():
    model = get_model("lenet5", input_size=28)
    assert model(np.zeros((2, 28, 28, 1), np.float32)).shape == (2, 10)
    assert count(model) == 61_706


def test_lenet5_rejects_other_input_sizes():
    with pytest.raises(ValueError, match="30"):
        get_model("lenet5", input_size=30)


def test_resnet50_accepts_64x64_images_and_6_classes():
    model = get_model("resnet50", num_classes=6, rng=0).eval()
    with no_grad():
        out = model(np.random.default_rng(0).standard_normal((1, 64, 64, 3)).astype(np.float32))
    assert out.shape == (1, 6) and np.all(np.isfinite(out.numpy()))


def test_resnet_small_trains_on_28x28_grayscale():
    model = get_model("resnet_small", rng=0)
    out = model(np.random.default_rng(0).standard_normal((4, 28, 28, 1)).astype(np.float32))
    out.sum().backward()
    assert out.shape == (4, 10) and all(p.grad is not None for p in model.parameters())


def test_googlenet_accepts_small_images():
    model = get_model("googlenet", num_classes=3, rng=0).eval()
    with no_grad():
        assert model(np.zeros((1, 32, 32, 3), np.float32)).shape == (1, 3)


def test_in_channels_and_num_classes_change_the_first_and_last_layers():
    model = get_model("resnet18", num_classes=6, in_channels=1)
    assert model.conv1.weight.shape == (7, 7, 1, 64) and model.fc.weight.shape == (512, 6)


def test_float64_models_compute_in_float64():
    model = get_model("lenet5", dtype="float64")
    assert model(np.zeros((1, 32, 32, 1))).dtype == np.float64


def test_models_are_modules_with_summaries():
    s = get_model("lenet5").summary((32, 32, 1), show=False)
    assert s.total_params == 61_706 and s.macs == 416_520 and isinstance(s, nn.Summary)


def test_vgg_starts_as_torchvision_does():
    model = get_model("vgg16", num_classes=10, rng=0)
    conv, dense = model.features[2], model.classifier[3]                    # (3, 3, 64, 64), (4096, 4096)
    assert abs(conv.weight.data.std() - np.sqrt(2 / (9 * 64))) < 0.002      # He, fan_out
    assert abs(dense.weight.data.std() - 0.01) < 1e-4
    assert not conv.bias.data.any() and not dense.bias.data.any()


def test_googlenet_starts_as_torchvision_does():
    model = get_model("googlenet", num_classes=10, rng=0)
    weights = np.concatenate([model.conv2.conv.weight.data.ravel(), model.inception5b.branch1.conv.weight.data.ravel()])
    assert abs(weights.std() - 0.01) < 2e-4 and abs(weights.mean()) < 2e-4
    assert abs(model.fc.weight.data.std() - 0.01) < 5e-4
