"""The 1x1 bottleneck's cost: a 5x5 convolution straight from 192 channels, or through a 1x1 to 16 first.

The course's claim (the Inception module): turning a 28x28x192 volume into
28x28x32 with 5x5 filters ("same" padding) costs 28 * 28 * 32 * 5 * 5 * 192,
about 120 million multiplications; shrinking it first to 28x28x16 with a 1x1
convolution (the bottleneck) and then applying the 5x5 costs
28 * 28 * 16 * 192 + 28 * 28 * 32 * 5 * 5 * 16, about 12.4 million, a tenth,
for the same output shape.

The counts are ``Module.summary``'s multiply-adds of the two cnnkit layer
stacks; the times are their forward passes on cnnkit's engine, measured side
by side in this run (best of several repeats).

    python examples/course/07_bottleneck.py [--quick] [--batch 8] [--repeats 5]
"""
import time

import numpy as np

import _common
from cnnkit import Tensor, nn
from cnnkit.autograd import no_grad


def add_arguments(parser):
    parser.add_argument("--batch", type=int, default=8, help="images per timed forward pass")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes; the best is kept")


def best_time(model, x, repeats):
    """The fastest of ``repeats`` forward passes without a graph, in seconds."""
    times = []
    with no_grad():
        model(x)  # warm-up: first-call allocations
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    args = _common.parse_args(__doc__, add_arguments, argv)
    if args.quick:
        args.batch, args.repeats = 1, 1
    rng = np.random.default_rng(args.seed)
    direct = nn.Sequential(nn.Conv2d(192, 32, 5, padding=2, rng=rng))
    bottleneck = nn.Sequential(nn.Conv2d(192, 16, 1, rng=rng), nn.Conv2d(16, 32, 5, padding=2, rng=rng))
    shape = (28, 28, 192)
    x = Tensor(rng.standard_normal((args.batch,) + shape).astype(np.float32))
    rows, results = [], {}
    for name, model in (("5x5 directly", direct), ("1x1 to 16, then 5x5", bottleneck)):
        summary = model.summary(shape, show=False)
        seconds = best_time(model, x, args.repeats)
        out = summary.rows[-1].output_shape
        results[name] = (summary, seconds)
        rows.append((name, "x".join(map(str, out)), f"{summary.macs:,}", f"{summary.total_params:,}",
                     f"{seconds / args.batch * 1e3:.1f}"))
        for row in summary.rows:
            print(f"  {name}: {row.name} {row.type} -> {row.output_shape}: {row.macs:,} multiply-adds")
    _common.table(["28x28x192 ->", "output", "multiply-adds", "parameters", "ms per image"], rows,
                  f"The bottleneck's cost (forward passes of {args.batch} images, best of {args.repeats}):")
    (sd, td), (sb, tb) = results.values()
    print(f"multiply-adds: {sd.macs / 1e6:.1f}M vs {sb.macs / 1e6:.1f}M, ratio {sd.macs / sb.macs:.1f}; "
          f"measured time ratio {td / tb:.1f}")

    fig = _common.figure(10, 4.2)
    names = list(results)
    ax = fig.add_subplot(1, 2, 1)
    bars = ax.bar(names, [s.macs / 1e6 for s, _ in results.values()], color=["tab:red", "tab:green"])
    for bar, (s, _) in zip(bars, results.values()):
        ax.text(bar.get_x() + bar.get_width() / 2, s.macs / 1e6, f"{s.macs / 1e6:.1f}M", ha="center", va="bottom")
    ax.set_ylabel("multiply-adds per image (millions)")
    ax.set_title("counted (summary)")
    ax = fig.add_subplot(1, 2, 2)
    bars = ax.bar(names, [t / args.batch * 1e3 for _, t in results.values()], color=["tab:red", "tab:green"])
    for bar, (_, t) in zip(bars, results.values()):
        ax.text(bar.get_x() + bar.get_width() / 2, t / args.batch * 1e3, f"{t / args.batch * 1e3:.1f} ms",
                ha="center", va="bottom")
    ax.set_ylabel("forward time per image (ms), cnnkit engine")
    ax.set_title(f"measured (best of {args.repeats}, batches of {args.batch})")
    for ax in fig.axes:
        ax.tick_params(axis="x", labelsize=9)
    _common.save(fig, args, "07_bottleneck.png", "28x28x192 -> 28x28x32: a 5x5 convolution vs a 1x1 bottleneck first")
    _common.done(args)


if __name__ == "__main__":
    main()
