"""Convolution arithmetic: the output-size formula, the 6x6 * 3x3 worked example, volumes and many filters.

The course's claims:

- an n x n image convolved with an f x f filter, padding p and stride s gives
  an output of floor((n + 2p - f) / s) + 1 on each side ("valid" is p = 0;
  "same" pads so that the output is as large as the input, p = (f - 1) / 2 at
  stride 1);
- the vertical-edge filter [[1, 0, -1]] * 3 on a 6x6 image that is 10 on its
  left half and 0 on its right half gives a 4x4 output whose two middle
  columns are 30 (the edge) and whose outer columns are 0;
- on a volume (6x6x3, RGB) the filter is a volume too (3x3x3) and the output
  is 4x4x1: each output number sums 27 products;
- with several filters the outputs are stacked: the output depth is the
  number of filters.

Every output here comes from ``cnnkit.functional.conv2d``; its shape is
compared with the formula for every case of a grid of sizes, filters,
paddings and strides.

    python examples/course/01_conv_arithmetic.py [--quick]
"""
import itertools

import numpy as np

import _common
import cnnkit.functional as F
from cnnkit import filters


def formula(n, f, p, s):
    """The course's floor((n + 2p - f) / s) + 1."""
    return (n + 2 * p - f) // s + 1


def check_grid(sizes, kernels, strides):
    """Compare conv2d's output size with the formula for valid, explicit and same padding; return the rows."""
    rows = []
    rng = np.random.default_rng(0)
    for n, f, s in itertools.product(sizes, kernels, strides):
        if f > n:
            continue
        x = rng.standard_normal((1, n, n, 2)).astype(np.float32)
        w = rng.standard_normal((f, f, 2, 3)).astype(np.float32)
        for padding in ("valid", 1, 2, "same"):
            p = 0 if padding == "valid" else padding
            if padding == "same":
                # the course's p = (f - 1) / 2 at stride 1; at stride s TensorFlow's rule, ceil(n / s)
                expected = n if s == 1 else -(-n // s)
            else:
                expected = formula(n, f, p, s)
            got = F.conv2d(x, w, stride=s, padding=padding).shape[1]
            rows.append((n, f, padding, s, expected, got))
    return rows


def main(argv=None):
    args = _common.parse_args(__doc__, argv=argv)
    sizes, kernels, strides = ([6, 7], [1, 3], [1, 2]) if args.quick else ([5, 6, 7, 8, 28, 32], [1, 3, 5, 7], [1, 2, 3])
    rows = check_grid(sizes, kernels, strides)
    agree = sum(expected == got for *_, expected, got in rows)
    shown = rows[::max(1, len(rows) // 12)][:12]  # a spread of the grid
    _common.table(["n", "f", "padding", "stride", "formula", "conv2d"], shown, "Output size, formula vs conv2d:")
    print(f"output size: formula and conv2d agree in {agree} of {len(rows)} cases")

    image = np.zeros((6, 6), dtype=np.float32)
    image[:, :3] = 10
    kernel = filters.vertical()
    edge = F.conv2d(image[None, :, :, None], kernel[:, :, None, None]).numpy()[0, :, :, 0]
    print("6x6 image (10s left, 0s right) * vertical-edge filter [[1, 0, -1]] * 3 =")
    print(edge.astype(int))

    rng = np.random.default_rng(args.seed)
    rgb = rng.integers(0, 10, (6, 6, 3)).astype(np.float32)
    cube = rng.integers(-1, 2, (3, 3, 3)).astype(np.float32)
    one = F.conv2d(rgb[None], cube[..., None]).numpy()[0]
    by_hand = float((rgb[:3, :3] * cube).sum())
    print(f"6x6x3 * 3x3x3 -> {one.shape}; top-left output {one[0, 0, 0]:g}, the sum of the 27 products by hand "
          f"{by_hand:g}")
    many = np.stack([np.repeat(filters.vertical()[..., None], 3, axis=2),
                     np.repeat(filters.horizontal()[..., None], 3, axis=2)], axis=-1)   # (3, 3, 3, 2)
    stacked = F.conv2d(rgb[None], many).numpy()[0]
    print(f"6x6x3 * two 3x3x3 filters (vertical, horizontal) -> {stacked.shape}: output depth = number of filters")

    fig = _common.figure(13, 6.8)
    ax = fig.add_subplot(2, 4, 1)
    _common.show_image(ax, image, "6x6 image", cmap="gray", vmin=0, vmax=10)
    _common.annotate_grid(ax, image, color="red")
    ax = fig.add_subplot(2, 4, 2)
    _common.show_image(ax, kernel, "3x3 vertical-edge filter", cmap="coolwarm", vmin=-1, vmax=1)
    _common.annotate_grid(ax, kernel)
    ax = fig.add_subplot(2, 4, 3)
    _common.show_image(ax, edge, "output 4x4 = image * filter", cmap="gray", colorbar="output value")
    _common.annotate_grid(ax, edge, color="red")
    ax = fig.add_subplot(2, 4, 4)
    ns = np.arange(5, 33)
    for f, p, s in ((3, 0, 1), (5, 2, 1), (3, 1, 2), (7, 0, 3)):
        ax.plot(ns, [formula(n, f, p, s) for n in ns], label=f"f={f}, p={p}, s={s}")
    ax.set_xlabel("input size n")
    ax.set_ylabel("output size")
    ax.set_title(f"floor((n+2p-f)/s)+1\nmatches conv2d in {agree}/{len(rows)} cases", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    for c in range(2):  # two of the three channels: room for the outputs
        ax = fig.add_subplot(2, 4, 5 + c)
        _common.show_image(ax, rgb[..., c], f"volume 6x6x3: channel {'RG'[c]} of RGB", cmap="gray", vmin=0, vmax=9)
        _common.annotate_grid(ax, rgb[..., c].astype(int), color="red")
    for k, name in enumerate(("vertical", "horizontal")):
        ax = fig.add_subplot(2, 4, 7 + k)
        _common.show_image(ax, stacked[..., k], f"output channel {k + 1} of 4x4x2\n({name} 3x3x3 filter)",
                           cmap="coolwarm", colorbar="output value")
    _common.save(fig, args, "01_conv_arithmetic.png", "Convolution arithmetic on cnnkit's conv2d")
    _common.done(args)
    return {"agree": agree, "cases": len(rows), "edge": edge}


if __name__ == "__main__":
    main()
