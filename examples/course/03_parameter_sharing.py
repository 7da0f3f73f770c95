"""Parameter sharing and sparsity: a convolution's parameters against a dense layer with the same sizes.

The course's claim: mapping a 32x32x3 image to a 28x28x6 volume with six 5x5
filters takes (5 * 5 * 3 + 1) * 6 = 456 parameters, while a dense layer
between the same 3072 inputs and 4704 outputs takes 3072 * 4704 + 4704, about
14 million. The convolution is cheap because of

- parameter sharing: the same 5x5x3 filter is used at every position;
- sparsity of connections: each output depends on a 5x5x3 patch only (75 of
  the 3072 inputs).

The counts come from ``Module.summary`` of ``nn.Conv2d`` and ``nn.Linear``; the
sparsity is measured with autograd: the gradient of one output with respect
to the input is non-zero on exactly the patch it sees.

    python examples/course/03_parameter_sharing.py [--quick]
"""
import numpy as np

import _common
from cnnkit import Tensor, nn


def main(argv=None):
    args = _common.parse_args(__doc__, argv=argv)
    rng = np.random.default_rng(args.seed)
    conv = nn.Conv2d(3, 6, 5, rng=rng)
    conv_summary = conv.summary((32, 32, 3), show=False)
    dense = nn.Linear(32 * 32 * 3, 28 * 28 * 6, rng=rng)
    dense_summary = dense.summary((32 * 32 * 3,), show=False)
    _common.table(["layer", "input", "output", "parameters", "multiply-adds"],
                  [["Conv2d(3, 6, 5)", "32x32x3", "28x28x6", f"{conv_summary.total_params:,}",
                    f"{conv_summary.macs:,}"],
                   ["Linear(3072, 4704)", "3072", "4704", f"{dense_summary.total_params:,}",
                    f"{dense_summary.macs:,}"]], "Same input and output sizes:")
    print(f"conv parameters: {conv_summary.total_params}")
    print(f"dense parameters: {dense_summary.total_params}")
    print(f"the dense layer has {dense_summary.total_params / conv_summary.total_params:,.0f} times as many")

    x = Tensor(rng.random((1, 32, 32, 3), dtype=np.float32), requires_grad=True)
    conv(x)[0, 10, 12, 0].backward()
    seen = np.abs(x.grad[0]).sum(axis=-1) > 0
    print(f"inputs that output (10, 12, 0) depends on: {int((np.abs(x.grad) > 0).sum())} of {x.size} "
          f"(rows {np.flatnonzero(seen.any(1))[[0, -1]]}, columns {np.flatnonzero(seen.any(0))[[0, -1]]})")

    fig = _common.figure(11, 4.3)
    ax = fig.add_subplot(1, 2, 1)
    counts = [conv_summary.total_params, dense_summary.total_params]
    bars = ax.bar(["Conv2d: six 5x5x3 filters", "Linear: 3072 -> 4704"], counts, color=["tab:blue", "tab:red"])
    ax.set_yscale("log")
    ax.set_ylabel("parameters (log scale)")
    ax.set_title("32x32x3 -> 28x28x6: parameters")
    for bar, n in zip(bars, counts):
        ax.text(bar.get_x() + bar.get_width() / 2, n * 1.3, f"{n:,}", ha="center")
    ax.set_ylim(1, max(counts) * 20)
    ax = fig.add_subplot(1, 2, 2)
    _common.show_image(ax, np.abs(x.grad[0]).sum(axis=-1), "|d output(10, 12, 0) / d input|\nsummed over RGB",
                       cmap="magma", colorbar="gradient magnitude")
    ax.set_xticks([0, 12, 31])
    ax.set_yticks([0, 10, 31])
    ax.set_xlabel("input column")
    ax.set_ylabel("input row")
    _common.save(fig, args, "03_parameter_sharing.png",
                 "Parameter sharing and sparse connections (cnnkit summary and autograd)")
    _common.done(args)


if __name__ == "__main__":
    main()
