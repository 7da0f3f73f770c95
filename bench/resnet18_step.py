"""Seconds per ResNet-18 training step (224x224, batch 16, SGD with momentum): cnnkit vs PyTorch, in one run.

Both build torchvision's ResNet-18 (7x7/2 stem, max-pool, BasicBlocks
(2, 2, 2, 2), BatchNorm in training mode, global average pool, 1000 classes;
PyTorch channels_last, as its CPU convolutions prefer), and take a step on the
same random images: forward, cross-entropy, backward, SGD update. Each library
runs in a process of its own (``common.Worker``), both in turn, round after
round; the figure is the median per-round ratio.

    python bench/resnet18_step.py [--threads 2] [--rounds 5] [--batch-size 16]
"""
import argparse

import numpy as np
import torch
import torch.nn as tnn

from common import Worker, machine, serve, set_cnnkit_threads, workers_side_by_side


class TorchBasicBlock(tnn.Module):
    """torchvision's BasicBlock."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False), tnn.BatchNorm2d(cout)
        self.conv2, self.bn2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False), tnn.BatchNorm2d(cout)
        self.downsample = (tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else tnn.Identity())

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.downsample(x))


def torch_resnet18():
    """torchvision's ResNet-18 (torchvision itself is not a dependency)."""
    layers = [tnn.Conv2d(3, 64, 7, 2, 3, bias=False), tnn.BatchNorm2d(64), tnn.ReLU(), tnn.MaxPool2d(3, 2, 1)]
    cin = 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [TorchBasicBlock(cin, width, stride), TorchBasicBlock(width, width, 1)]
        cin = width
    layers += [tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(512, 1000)]
    return tnn.Sequential(*layers)


def child(library, threads, batch_size):
    """In a child process: one library's training step, run on command."""
    rng = np.random.default_rng(0)
    images = rng.standard_normal((batch_size, 224, 224, 3)).astype(np.float32)
    labels = rng.integers(0, 1000, batch_size)
    if library == "cnnkit":
        import cnnkit.functional as F
        from cnnkit import Tensor, optim
        from cnnkit.models import get_model

        set_cnnkit_threads(threads)
        model = get_model("resnet18", rng=0).train()
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad()
            F.cross_entropy(model(Tensor(images)), labels).backward()
            opt.step()
    else:
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        tmodel = torch_resnet18().to(memory_format=torch.channels_last).train()
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
        x = torch.from_numpy(images.transpose(0, 3, 1, 2)).contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(labels)

        def step():
            topt.zero_grad()
            torch.nn.functional.cross_entropy(tmodel(x), y).backward()
            topt.step()

    serve(lambda command: step())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.threads, args.batch_size)
    print(machine(args.threads))
    workers = [Worker(__file__, library, "--threads", args.threads, "--batch-size", args.batch_size)
               for library in ("cnnkit", "torch")]
    (t_ours, t_theirs), ratios = workers_side_by_side(workers, args.rounds, "step")
    for worker in workers:
        worker.close()
    print(f"ResNet-18 step, {args.batch_size} x 224 x 224: cnnkit {t_ours:.2f} s, PyTorch {t_theirs:.2f} s, "
          f"ratio {np.median(ratios):.2f} (median of {args.rounds} rounds; per-round ratios "
          f"{', '.join(f'{r:.2f}' for r in ratios)}; each library in its own process)")


if __name__ == "__main__":
    main()
