"""PyTorch AlexNet and VGG-16 (torchvision's layout, built here) -> from_torch_layout -> the same logits."""
import numpy as np
import pytest

from cnnkit.io import from_torch_layout
from cnnkit.models import get_model

torch = pytest.importorskip("torch")
tnn = torch.nn


class TorchAlexNet(tnn.Module):
    """torchvision's AlexNet, written out."""

    def __init__(self, num_classes):
        super().__init__()
        self.features = tnn.Sequential(
            tnn.Conv2d(3, 64, 11, 4, 2), tnn.ReLU(), tnn.MaxPool2d(3, 2),
            tnn.Conv2d(64, 192, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(3, 2),
            tnn.Conv2d(192, 384, 3, padding=1), tnn.ReLU(),
            tnn.Conv2d(384, 256, 3, padding=1), tnn.ReLU(),
            tnn.Conv2d(256, 256, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(3, 2))
        self.avgpool = tnn.AdaptiveAvgPool2d(6)
        self.classifier = tnn.Sequential(
            tnn.Dropout(), tnn.Linear(256 * 6 * 6, 4096), tnn.ReLU(),
            tnn.Dropout(), tnn.Linear(4096, 4096), tnn.ReLU(), tnn.Linear(4096, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TorchVGG16(tnn.Module):
    """torchvision's VGG-16 (configuration D), written out."""

    def __init__(self, num_classes):
        super().__init__()
        layers, channels = [], 3
        for item in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
            if item == "M":
                layers.append(tnn.MaxPool2d(2, 2))
            else:
                layers += [tnn.Conv2d(channels, item, 3, padding=1), tnn.ReLU()]
                channels = item
        self.features = tnn.Sequential(*layers)
        self.avgpool = tnn.AdaptiveAvgPool2d(7)
        self.classifier = tnn.Sequential(
            tnn.Linear(512 * 7 * 7, 4096), tnn.ReLU(), tnn.Dropout(),
            tnn.Linear(4096, 4096), tnn.ReLU(), tnn.Dropout(), tnn.Linear(4096, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def relative_error(ours, theirs):
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


def logits(name, theirs, size):
    """(our logits, PyTorch's) for two random images, our model loaded (strict) from the converted state."""
    torch.manual_seed(0)
    theirs = theirs(10).eval()
    ours = get_model(name, num_classes=10, rng=0).eval()
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    ours.load_state_dict(from_torch_layout(state, ours, (size, size, 3)))
    x = np.random.default_rng(1).random((2, size, size, 3), dtype=np.float32)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    return ours(x).numpy(), want


# VGG at 64x64 (cheaper than 224): a 2x2 map before the adaptive 7x7 pool, so positions differ and a wrong
# order shows (left unpermuted, 1000 classes: 0.27 for AlexNet, 0.098 for VGG-16)
@pytest.mark.parametrize("name, theirs, size", [("alexnet", TorchAlexNet, 224), ("vgg16", TorchVGG16, 64)])
def test_converted_torch_weights_give_torchs_logits(name, theirs, size):
    ours, want = logits(name, theirs, size)
    assert relative_error(ours, want) < 1e-5                              # float32: 3e-7 measured

