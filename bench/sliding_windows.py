"""Sliding windows: the naive loop over crops against one pass of the convolutionalised classifier.

A LeNet-5-shaped window classifier (32x32x3 windows, unpadded convolutions,
stride 4 between windows) scans a 128x128 image: 25 x 25 = 625 windows. The
script times three ways of getting the same grid of outputs, checks they
agree, and prints the times and the speed-ups:

- one forward pass per window (the course's "naive" sliding window);
- the crops batched, 256 per forward pass;
- ``to_fully_convolutional``: one pass over the whole image.

    python bench/sliding_windows.py [--image 128] [--repeats 3]
"""
import argparse
import time

import numpy as np

from cnnkit.autograd import Tensor, no_grad
from cnnkit.detection.sliding import classify_windows, sliding_windows, to_fully_convolutional, window_stride
from cnnkit.models import lenet5


def best_time(fn, repeats):
    """The fastest of ``repeats`` runs of ``fn()``, in seconds, and its result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=int, default=128, help="side of the scanned image (default 128)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    model = lenet5(num_classes=4, in_channels=3, rng=0).eval()
    image = np.random.default_rng(0).random((args.image, args.image, 3), dtype=np.float32)
    stride = window_stride(model)
    fcn = to_fully_convolutional(model, (32, 32, 3))

    def one_by_one():
        crops = sliding_windows(image, 32, stride)
        with no_grad():
            return np.array([[model(Tensor(np.ascontiguousarray(crop[None]))).data[0] for crop in row]
                             for row in crops])

    def one_pass():
        with no_grad():
            return fcn(Tensor(image[None])).data[0]

    naive_s, naive = best_time(one_by_one, 1)
    batched_s, batched = best_time(lambda: classify_windows(model, image, 32, stride), args.repeats)
    fcn_s, grid = best_time(one_pass, args.repeats)
    np.testing.assert_allclose(grid, naive, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grid, batched, rtol=1e-4, atol=1e-5)
    windows = grid.shape[0] * grid.shape[1]
    print(f"{args.image}x{args.image} image, 32x32 windows at stride {stride[0]}: {grid.shape[0]} x {grid.shape[1]} "
          f"= {windows} windows; the three grids agree")
    print(f"naive loop, one window per pass : {naive_s * 1000:9.1f} ms")
    print(f"crops batched 256 per pass      : {batched_s * 1000:9.1f} ms")
    print(f"fully convolutional, one pass   : {fcn_s * 1000:9.1f} ms")
    print(f"speed-up of the convolutional pass: {naive_s / fcn_s:.1f}x over the naive loop, "
          f"{batched_s / fcn_s:.1f}x over batched crops")


if __name__ == "__main__":
    main()
