"""Pooling: max vs average, on the course's 4x4 example and on a real feature map.

The course's claims: max pooling with a 2x2 window and stride 2 keeps the
largest number of each window ("if a feature is detected anywhere in this
region, keep it"), average pooling keeps the mean; both shrink the height and
width by the stride, keep the number of channels, and have no parameters to
learn. On the course's 4x4 example [[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3],
[5, 6, 1, 2]] max pooling gives [[9, 2], [6, 3]].

The real feature map is the vertical-edge response (``cnnkit.filters``,
through ``F.conv2d``) of a photo, then ``F.max_pool2d`` and ``F.avg_pool2d``.

    python examples/course/04_pooling.py [--quick]
"""
import numpy as np

import _common
import cnnkit.functional as F
from cnnkit import filters, nn


def main(argv=None):
    args = _common.parse_args(__doc__, argv=argv)
    course = np.array([[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3], [5, 6, 1, 2]], dtype=np.float32)[None, :, :, None]
    print("course's 4x4 example, 2x2 windows, stride 2:")
    print("max pooling:    ", F.max_pool2d(course, 2, 2).numpy()[0, :, :, 0].tolist())
    print("average pooling:", F.avg_pool2d(course, 2, 2).numpy()[0, :, :, 0].tolist())

    grey = _common.photo(longer_side=96 if args.quick else 256, mode="gray")
    edges = F.conv2d(grey[None], filters.vertical()[:, :, None, None], padding="same")
    feature = F.relu(edges)   # a feature map as a network would pass it on: the positive responses
    rows = []
    pooled = {}
    for size in (2, 4, 8):
        for name, pool in (("max", F.max_pool2d), ("average", F.avg_pool2d)):
            out = pool(feature, size, size).numpy()[0, :, :, 0]
            pooled[name, size] = out
            rows.append((f"{name} {size}x{size}, stride {size}", "x".join(map(str, out.shape)), f"{out.mean():.3f}",
                         f"{out.max():.3f}", f"{(out > 0.5).mean():.3f}"))
    f = feature.numpy()[0, :, :, 0]
    rows.insert(0, ("feature map (no pooling)", "x".join(map(str, f.shape)), f"{f.mean():.3f}", f"{f.max():.3f}",
                    f"{(f > 0.5).mean():.3f}"))
    _common.table(["", "shape", "mean", "max", "fraction > 0.5"], rows,
                  "Vertical-edge feature map of the photo, pooled:")
    print(f"parameters of MaxPool2d and AvgPool2d: {sum(p.size for p in nn.MaxPool2d(2).parameters())}, "
          f"{sum(p.size for p in nn.AvgPool2d(2).parameters())}")

    fig = _common.figure(13, 7)
    ax = fig.add_subplot(2, 4, 1)
    _common.show_image(ax, grey, f"photo {grey.shape[0]}x{grey.shape[1]}")
    ax = fig.add_subplot(2, 4, 5)
    _common.show_image(ax, f, "feature map: relu(vertical edges)", cmap="magma", colorbar="activation", vmin=0)
    top = max(v.max() for v in pooled.values())
    for col, size in enumerate((2, 4, 8)):
        for row, name in enumerate(("max", "average")):
            out = pooled[name, size]
            ax = fig.add_subplot(2, 4, 2 + col + 4 * row)
            _common.show_image(ax, out, f"{name} pool {size}x{size} -> {out.shape[0]}x{out.shape[1]}", cmap="magma",
                               colorbar="activation" if col == 2 else None, vmin=0, vmax=top)
    _common.save(fig, args, "04_pooling.png",
                 "Max pooling keeps each window's strongest edge; average pooling dilutes it (same colour scale)")
    _common.done(args)


if __name__ == "__main__":
    main()
