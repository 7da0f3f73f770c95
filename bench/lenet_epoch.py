"""Seconds per training epoch of LeNet-5 (60k 28x28 images, batch 128, SGD): cnnkit vs PyTorch, in one run.

Both frameworks train the same architecture (conv 5x5 pad 2 -> 6, pool, conv
5x5 -> 16, pool, 400 -> 120 -> 84 -> 10, ReLU) with SGD (lr 0.01, momentum 0.9)
on the Fashion-MNIST training images when installed (random images otherwise),
float32 on the CPU with the same threads. Each trains in a process of its own
(``common.Worker``); the two epochs are interleaved in blocks of a tenth of an
epoch, so both see the same machine load; each repeat times one full epoch of
each, and the ratio is the median over repeats of cnnkit's epoch over
PyTorch's. ``--images`` times a part of the epoch and scales it up, for a
quick estimate.

    python bench/lenet_epoch.py [--threads 2] [--repeat 3] [--images 60000] [--batch-size 128]
"""
import argparse

import numpy as np

from common import Worker, machine, serve, set_cnnkit_threads

EPOCH_IMAGES = 60000


def training_images(n, real=True):
    """n Fashion-MNIST training images (N, 28, 28, 1) and labels, or random ones when not installed (or not ``real``)."""
    try:
        if real:
            from cnnkit.data import load_fashion_mnist
            train = load_fashion_mnist("train")
            return train.images[:n], train.labels[:n], "fashion-mnist"
    except FileNotFoundError:
        pass
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n), "random images"


def cnnkit_trainer(images, labels, batch_size):
    """``train(i)``: one SGD step of cnnkit's LeNet-5 on batch ``i``; returns the loss Tensor."""
    import cnnkit.functional as F  # each library is imported only where used (bench/peak_memory.py)
    from cnnkit import Tensor, optim
    from cnnkit.models import get_model

    model = get_model("lenet5", input_size=28, rng=0).train()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train(i):
        opt.zero_grad()
        loss = F.cross_entropy(model(Tensor(images[i:i + batch_size])), labels[i:i + batch_size])
        loss.backward()
        opt.step()
        return loss

    return train


def torch_trainer(images, labels, batch_size):
    """The same with PyTorch (NCHW, the same architecture)."""
    import torch

    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                          nn.Linear(84, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))  # NHWC -> NCHW, outside the timing
    y = torch.from_numpy(labels.astype(np.int64))

    def train(i):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[i:i + batch_size]), y[i:i + batch_size])
        loss.backward()
        opt.step()
        return loss

    return train


def child(library, threads, n_images, batch_size):
    """In a child process: train ``library``'s LeNet-5 on command, one block of batches ``start stop`` at a time."""
    if library == "torch":
        import torch
        torch.set_num_threads(threads)
        make = torch_trainer
    else:
        set_cnnkit_threads(threads)
        make = cnnkit_trainer
    images, labels, source = training_images(n_images)
    train = make(images, labels, batch_size)
    train(0)  # warm-up: compilation and first-call allocations are not part of the steady state

    def block(start, stop):
        for i in range(int(start), int(stop), batch_size):
            loss = train(i)
        return f"{loss.item():.6f}"

    serve(block, ready=source)


def interleaved_epoch(workers, n_images, batch_size, blocks=10):
    """Seconds each worker takes for one epoch, run in turn a block of batches at a time; and the last losses."""
    starts = list(range(0, n_images, batch_size))
    seconds, losses = [0.0] * len(workers), [None] * len(workers)
    for b in range(blocks):
        block = starts[b * len(starts) // blocks:(b + 1) * len(starts) // blocks]
        for k, worker in enumerate(workers):
            took, (losses[k],) = worker(block[0], block[-1] + 1)
            seconds[k] += took
    return seconds, [float(loss) for loss in losses]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="epochs of each (the first follows a warm-up step)")
    parser.add_argument("--images", type=int, default=EPOCH_IMAGES, help="images to time (scaled to 60k)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.threads, args.images, args.batch_size)
    print(machine(args.threads))
    workers = [Worker(__file__, library, "--threads", args.threads, "--images", args.images,
                      "--batch-size", args.batch_size) for library in ("cnnkit", "torch")]
    scale = EPOCH_IMAGES / args.images
    print(f"LeNet-5, {args.images} {workers[0].ready} (scaled to {EPOCH_IMAGES}), batch {args.batch_size}, SGD, "
          f"each library in its own process")
    rows = []
    for r in range(args.repeat):
        (ours, theirs), (ours_loss, theirs_loss) = interleaved_epoch(workers, args.images, args.batch_size)
        rows.append((ours * scale, theirs * scale))
        print(f"  epoch {r + 1}: cnnkit {ours * scale:6.2f} s (loss {ours_loss:.3f}), "
              f"PyTorch {theirs * scale:6.2f} s (loss {theirs_loss:.3f}), ratio {ours / theirs:.2f}", flush=True)
    for worker in workers:
        worker.close()
    rows = np.array(rows)
    print(f"median: cnnkit {np.median(rows[:, 0]):.2f} s/epoch, PyTorch {np.median(rows[:, 1]):.2f} s/epoch, "
          f"ratio {np.median(rows[:, 0] / rows[:, 1]):.2f}x PyTorch's time")


if __name__ == "__main__":
    main()
