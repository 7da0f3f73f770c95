"""Seconds per training step with 1 worker (``train.fit`` in this process) and 2 Ray workers, in one run.

Both train the same model on the same random images with the same seed and
global batch (Adam, no augmentation); the 2-worker run is ``distributed.fit``
(each replica one CPU, so one BLAS thread, gradients all-reduced on a ring).
The 1-worker run is timed with one BLAS thread (the same CPU per worker) and
with the BLAS library's default threads. The step time is the
epoch's seconds over its batches, the first epoch (warm-up) left out; the
cluster's start is timed apart. Also prints how far the 2-worker weights are
from the 1-worker ones (relative L2, worst tensor).

    python bench/distributed_train.py [--model lenet5] [--samples 1024] [--batch-size 64] [--epochs 3]
"""
import argparse
import time

import numpy as np
import ray
from threadpoolctl import threadpool_limits

from cnnkit import distributed, optim, train
from cnnkit.models import get_model

SHAPES = {"lenet5": (32, 32, 1), "resnet18": (64, 64, 3), "resnet_small": (28, 28, 1)}


def run(args, workers, images, labels):
    """(seconds per step after the first epoch, the trained state dict)."""
    model = get_model(args.model, num_classes=10, in_channels=images.shape[3], rng=0)
    options = dict(epochs=args.epochs, batch_size=args.batch_size, optimizer=optim.Adam(model.parameters(), lr=1e-3),
                   verbose=False, seed=0)
    fit = train.fit if workers == 1 else lambda m, d, **o: distributed.fit(m, d, workers=workers, **o)
    history = fit(model, (images, labels), **options)
    steps = -(-len(images) // args.batch_size)
    return float(np.median(history.seconds[1:])) / steps, model.state_dict()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="lenet5", choices=sorted(SHAPES))
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = rng.random((args.samples, *SHAPES[args.model]), dtype=np.float32)
    labels = rng.integers(0, 10, args.samples)
    with threadpool_limits(1):
        one_step, one = run(args, 1, images, labels)
    all_threads, _ = run(args, 1, images, labels)
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", _node_ip_address="127.0.0.1")
    started = time.perf_counter() - start
    two_step, two = run(args, 2, images, labels)
    ray.shutdown()
    drift = max(float(np.linalg.norm(one[k] - two[k]) / max(np.linalg.norm(one[k]), 1e-12)) for k in one)
    print(f"{args.model}, {args.samples} images {SHAPES[args.model]}, global batch {args.batch_size}, "
          f"{args.epochs} epochs (first left out)")
    print(f"1 worker, 1 BLAS thread:  {1000 * one_step:8.1f} ms/step  {args.batch_size / one_step:7.1f} img/s")
    print(f"1 worker, BLAS threads:   {1000 * all_threads:8.1f} ms/step  {args.batch_size / all_threads:7.1f} img/s")
    print(f"2 Ray workers:            {1000 * two_step:8.1f} ms/step  {args.batch_size / two_step:7.1f} img/s  "
          f"(speed-up {one_step / two_step:.2f}x; cluster start {started:.1f} s)")
    print(f"2 workers vs 1: worst relative L2 difference of the weights {drift:.2e}")


if __name__ == "__main__":
    main()
