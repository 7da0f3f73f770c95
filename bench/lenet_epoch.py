"""Seconds per training epoch of LeNet-5 (60k 28x28 images, batch 128, SGD): cnnkit vs PyTorch, in one run.

Both frameworks train the same architecture (conv 5x5 pad 2 -> 6, pool, conv
5x5 -> 16, pool, 400 -> 120 -> 84 -> 10, ReLU) with SGD (lr 0.01, momentum 0.9)
on the Fashion-MNIST training images when installed (random images otherwise),
float32 on the CPU, each after one warm-up forward pass. ``--images`` times a part of the epoch and scales it up,
for a quick estimate.

    python bench/lenet_epoch.py [--images 60000] [--batch-size 128]
"""
import argparse
import time

import numpy as np
import torch

import cnnkit.functional as F
from cnnkit import Tensor, optim
from cnnkit.models import get_model

EPOCH_IMAGES = 60000


def training_images(n):
    """n Fashion-MNIST training images (N, 28, 28, 1) and labels, or random ones when it is not installed."""
    try:
        from cnnkit.data import load_fashion_mnist
        train = load_fashion_mnist("train")
        return train.images[:n], train.labels[:n], "fashion-mnist"
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n), "random images"


def cnnkit_epoch(images, labels, batch_size):
    """Seconds for one pass of SGD over ``images`` with cnnkit."""
    model = get_model("lenet5", input_size=28, rng=0).train()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model(Tensor(images[:batch_size]))  # warm-up: first-call allocations are not part of the steady state
    start = time.perf_counter()
    for i in range(0, len(images), batch_size):
        opt.zero_grad()
        loss = F.cross_entropy(model(Tensor(images[i:i + batch_size])), labels[i:i + batch_size])
        loss.backward()
        opt.step()
    return time.perf_counter() - start, loss.item()


def torch_epoch(images, labels, batch_size):
    """Seconds for one pass of SGD over ``images`` with PyTorch (NCHW, the same architecture)."""
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                          nn.Linear(84, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))  # NHWC -> NCHW, outside the timing
    y = torch.from_numpy(labels.astype(np.int64))
    model(x[:batch_size])  # warm-up, as for cnnkit
    start = time.perf_counter()
    for i in range(0, len(x), batch_size):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[i:i + batch_size]), y[i:i + batch_size])
        loss.backward()
        opt.step()
    return time.perf_counter() - start, loss.item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=EPOCH_IMAGES, help="images to time (scaled to 60k)")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    images, labels, source = training_images(args.images)
    scale = EPOCH_IMAGES / len(images)
    print(f"LeNet-5, {len(images)} {source} (scaled to {EPOCH_IMAGES}), batch {args.batch_size}, SGD, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads")
    ours, ours_loss = cnnkit_epoch(images, labels, args.batch_size)
    theirs, theirs_loss = torch_epoch(images, labels, args.batch_size)
    print(f"cnnkit : {ours * scale:7.1f} s/epoch  (last loss {ours_loss:.3f})")
    print(f"PyTorch: {theirs * scale:7.1f} s/epoch  (last loss {theirs_loss:.3f})")
    print(f"ratio  : {ours / theirs:7.2f}x PyTorch's time")


if __name__ == "__main__":
    main()
