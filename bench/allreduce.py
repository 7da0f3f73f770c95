"""The ring all-reduce's cost against model size (LeNet-5, ResNet-18), next to a training step, in one run.

Two (``--workers``) Ray actors on this machine all-reduce a float32 vector the
size of each model's gradients through ``cnnkit.distributed.allreduce.Ring``
(the path data-parallel training takes, object store included), timed inside
the actors; the same actors time one forward + backward of the model on their
share of a batch, and a plain copy of the vector (the memory-traffic floor).
From the per-size times it fits ``t = alpha + n_bytes / bandwidth``, the
numbers docs/distributed.md projects to 8 and 64 nodes from.

    python bench/allreduce.py [--workers 2] [--repeats 10]
"""
import argparse
import statistics
import time

import numpy as np
import ray

import cnnkit.functional as F
from cnnkit import Tensor
from cnnkit.distributed.replica import Replica
from cnnkit.models import get_model

MODELS = {"lenet5": dict(shape=(32, 32, 1), batch=64), "resnet18": dict(shape=(64, 64, 3), batch=16)}


class TimedReplica(Replica):
    """A replica that times all-reduces, copies and training steps inside its own process."""

    def time_allreduce(self, size, repeats):
        from cnnkit.distributed.allreduce import Ring

        ring = Ring(self.rank, self.world, self._send, self.inbox)
        vector = np.random.default_rng(self.rank).standard_normal(size).astype(np.float32)
        ring.allreduce(vector)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            ring.allreduce(vector)
            times.append(time.perf_counter() - start)
        copy = []
        for _ in range(repeats):
            start = time.perf_counter()
            vector.copy()
            copy.append(time.perf_counter() - start)
        return statistics.median(times), statistics.median(copy)

    def time_step(self, name, shape, batch, repeats):
        model = get_model(name, num_classes=10, in_channels=shape[2], rng=0)
        rng = np.random.default_rng(self.rank)
        x, y = rng.random((batch, *shape), dtype=np.float32), rng.integers(0, 10, batch)
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            model.zero_grad()
            F.cross_entropy(model(Tensor(x)), y).backward()
            times.append(time.perf_counter() - start)
        return statistics.median(times[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="ERROR", _node_ip_address="127.0.0.1")
    actor = ray.remote(num_cpus=1, max_concurrency=2)(TimedReplica)
    replicas = [actor.remote(rank, args.workers) for rank in range(args.workers)]
    ray.get([r.connect.remote(replicas[(rank + 1) % args.workers]) for rank, r in enumerate(replicas)])
    sizes = {name: sum(p.data.size for p in get_model(name, num_classes=10, in_channels=m["shape"][2],
                                                       rng=0).parameters()) for name, m in MODELS.items()}
    points = sorted({*sizes.values(), 1_000, 100_000, 1_000_000, 4_000_000})
    print(f"ring all-reduce over {args.workers} actors on one machine (float32, median of {args.repeats})")
    print(f"{'values':>12} {'MiB':>8} {'all-reduce ms':>14} {'copy ms':>8} {'GB/s':>6}")
    measured = {}
    for n in points:
        reduce_s, copy_s = np.max(ray.get([r.time_allreduce.remote(n, args.repeats) for r in replicas]), axis=0)
        measured[n] = reduce_s
        print(f"{n:12,d} {n * 4 / 2**20:8.2f} {1000 * reduce_s:14.2f} {1000 * copy_s:8.3f} "
              f"{n * 4 / reduce_s / 1e9:6.2f}")
    ns, ts = np.array(list(measured)), np.array(list(measured.values()))
    bandwidth_inverse, alpha = np.polyfit(ns * 4.0, ts, 1)
    print(f"fit: t = {1000 * alpha:.2f} ms + bytes / {1 / bandwidth_inverse / 1e9:.2f} GB/s")
    print(f"\n{'model':<10} {'parameters':>11} {'step ms (share)':>16} {'all-reduce ms':>14} {'reduce / step':>14}")
    for name, m in MODELS.items():
        share = m["batch"] // args.workers
        step = max(ray.get([r.time_step.remote(name, m["shape"], share, 3) for r in replicas]))
        print(f"{name:<10} {sizes[name]:11,d} {1000 * step:16.1f} {1000 * measured[sizes[name]]:14.2f} "
              f"{measured[sizes[name]] / step:14.3f}")
    ray.shutdown()


if __name__ == "__main__":
    main()
