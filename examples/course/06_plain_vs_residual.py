"""Plain vs residual networks: training error against depth on Fashion-MNIST.

The course's claim (He et al. 2015, "Deep residual learning"): in theory a
deeper plain network can only fit its training set better, but in practice its
training error goes *up* once it is deep enough, because it is harder to
optimise; with skip connections (residual blocks) the training error keeps
going down as layers are added.

Both families here are He et al.'s CIFAR networks with 6n + 2 layers (a 3x3
convolution, three stages of n blocks of two 3x3 convolutions at 14x14, 7x7
and 4x4 with widths w, 2w, 4w, global average pooling and a dense layer);
every convolution is followed by BatchNorm. The residual network adds each
block's input to its output (``nn.BasicBlock``, with a 1x1 projection where the
shape changes); the plain network is the same stack without the additions.
Same widths, data, optimizer (Adam), epochs and seed for every network; each is
trained by ``cnnkit.train.fit`` on a subset of Fashion-MNIST shrunk to 14x14
(``data.resize``, area averaging: a quarter of the work, to fit 44 layers in
minutes on 2 cores), and its training error is measured afterwards on that
subset in evaluation mode.

    python examples/course/06_plain_vs_residual.py [--quick] [--depths 8 20 32 44] [--train 1000] [--epochs 3]
"""
import json
import os
import time

import numpy as np

import _common
from cnnkit import data, nn, optim, train


class PlainBlock(nn.Module):
    """``nn.BasicBlock`` without the shortcut: conv-BN-ReLU-conv-BN-ReLU."""

    def __init__(self, in_channels, out_channels, stride, rng):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False, rng=rng),
                                  nn.BatchNorm2d(out_channels), nn.ReLU(),
                                  nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False, rng=rng),
                                  nn.BatchNorm2d(out_channels), nn.ReLU())

    def forward(self, x):
        return self.body(x)


def network(depth, residual, width, seed):
    """He et al.'s 6n + 2 layer CIFAR network for grey inputs and 10 classes, plain or residual."""
    if (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 (8, 14, 20, ...), got {depth}")
    rng = np.random.default_rng(seed)
    block = (lambda i, o, s: nn.BasicBlock(i, o, s, rng=rng)) if residual else \
        (lambda i, o, s: PlainBlock(i, o, s, rng))
    layers = [nn.Conv2d(1, width, 3, 1, 1, bias=False, rng=rng), nn.BatchNorm2d(width), nn.ReLU()]
    channels = width
    for stage in range(3):
        for b in range((depth - 2) // 6):
            out = width * 2 ** stage
            layers.append(block(channels, out, 2 if stage > 0 and b == 0 else 1))
            channels = out
    layers += [nn.GlobalAvgPool2d(), nn.Linear(channels, 10, rng=rng)]
    return nn.Sequential(*layers)


def add_arguments(parser):
    parser.add_argument("--depths", type=int, nargs="+", default=[8, 20, 32, 44])
    parser.add_argument("--train", type=int, default=1000, help="Fashion-MNIST training images used")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--width", type=int, default=8, help="channels of the first stage (then 2x, 4x)")
    parser.add_argument("--kinds", nargs="+", choices=["plain", "residual"], default=["plain", "residual"])
    parser.add_argument("--cache", help="folder keeping each trained network's results: a network already there "
                                        "(same settings) is not trained again, so depths can run as separate "
                                        "processes and a last run with all of them draws the picture")


def shrunk(dataset, indices):
    """The images at ``indices`` shrunk from 28x28 to 14x14 by area averaging, and their labels."""
    return data.resize(dataset.images[indices], 14, method="area"), dataset.labels[indices]


def main(argv=None):
    args = _common.parse_args(__doc__, add_arguments, argv)
    if args.quick:
        args.depths, args.train, args.epochs = [8, 14], 64, 1
    full = data.load_fashion_mnist("train")
    rng = np.random.default_rng(args.seed)
    subset = shrunk(full, np.sort(rng.choice(len(full), args.train, replace=False)))
    test = shrunk(data.load_fashion_mnist("test"), np.arange(200 if args.quick else 500))
    results = {}
    for depth in args.depths:   # depth first: a stopped run still has both kinds at the depths it reached
        for residual in [kind == "residual" for kind in args.kinds]:
            key = f"{'residual' if residual else 'plain'}-{depth}-{args.train}-{args.epochs}-{args.width}-{args.seed}"
            cached = args.cache and os.path.join(args.cache, f"{key}.json")
            if cached and os.path.exists(cached):
                with open(cached) as file:
                    results[residual, depth] = tuple(json.load(file))
            else:
                model = network(depth, residual, args.width, args.seed)
                start = time.perf_counter()
                history = train.fit(model, subset, epochs=args.epochs, batch_size=32, seed=args.seed, verbose=False,
                                    optimizer=optim.Adam(model.parameters(), lr=2e-3))
                train_error = 1 - train.evaluate(model, subset)["accuracy"]
                test_error = 1 - train.evaluate(model, test)["accuracy"]
                results[residual, depth] = (train_error, test_error, list(history.loss), time.perf_counter() - start)
                if cached:
                    os.makedirs(args.cache, exist_ok=True)
                    with open(f"{cached}.part", "w") as file:
                        json.dump(results[residual, depth], file)
                    os.replace(f"{cached}.part", cached)
            kind = "residual" if residual else "plain"
            train_error, test_error, _, seconds = results[residual, depth]
            print(f"  {kind:8} {depth:2d} layers: training error {train_error:.3f}, test error {test_error:.3f} "
                  f"(trained in {seconds:.0f} s)", flush=True)

    if len(results) < 2 * len(args.depths):
        _common.done(args)
        return results  # one kind only: the results are in the cache, for a later run to draw
    rows = [(d, f"{results[False, d][0]:.3f}", f"{results[True, d][0]:.3f}", f"{results[False, d][1]:.3f}",
             f"{results[True, d][1]:.3f}", f"{results[False, d][2][-1]:.3f}", f"{results[True, d][2][-1]:.3f}")
            for d in args.depths]
    _common.table(["layers", "plain train err", "residual train err", "plain test err", "residual test err",
                   "plain last-epoch loss", "residual last-epoch loss"], rows,
                  f"Fashion-MNIST, {args.train} training images, {args.epochs} epochs, Adam, width {args.width}:")

    fig = _common.figure(11, 4.2)
    ax = fig.add_subplot(1, 2, 1)
    for residual, style in ((False, "o-"), (True, "s-")):
        ax.plot(args.depths, [results[residual, d][0] * 100 for d in args.depths], style,
                label="residual (skip connections)" if residual else "plain")
    ax.set_xlabel("number of layers")
    ax.set_ylabel("training error (%)")
    ax.set_xticks(args.depths)
    ax.set_title("training error after training, by depth")
    ax.grid(alpha=0.3)
    ax.legend()
    ax = fig.add_subplot(1, 2, 2)
    for (residual, depth), (_, _, losses, _) in sorted(results.items()):
        ax.plot(range(1, len(losses) + 1), losses, "-" if residual else "--",
                label=f"{'residual' if residual else 'plain'} {depth}")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_title("training loss per epoch (dashed: plain)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    _common.save(fig, args, "06_plain_vs_residual.png",
                 f"Plain vs residual networks on Fashion-MNIST ({args.train} images, {args.epochs} epochs)")
    _common.done(args)
    return results


if __name__ == "__main__":
    main()
