"""Edge detection on a real photo: the classic hand-made filters, and the filters a trained network learned.

The course's claims: a 3x3 filter such as [[1, 0, -1]] * 3 detects vertical
edges (light-to-dark from left to right; its transpose horizontal ones);
Sobel ([[1, 0, -1], [2, 0, -2], [1, 0, -1]]) and Scharr ([[3, 0, -3],
[10, 0, -10], [3, 0, -3]]) weight the centre row more; and instead of choosing
the nine numbers by hand, a network can learn them by backpropagation: the
first layer of a trained ConvNet holds edge and colour detectors of its own.

The edge maps are ``cnnkit.filters.detect_edges`` (``F.conv2d`` with each
kernel; Sobel and Scharr as gradient magnitudes), each shown on its own scale
(clipped at its 99th percentile, so faint edges stay visible). The learned
filters are the 64 3x3x3 filters of the first convolution (conv1_1) of the
pretrained VGG-16 in the weights registry (``vgg16-hed``: ImageNet VGG-16
fine-tuned by HED), drawn with ``cnnkit.viz.activations.filter_images``; the
two learned filters closest to the vertical and horizontal Sobel kernels
(by the cosine similarity of their channel sums) are applied to the same photo.

    python examples/course/02_edge_detection.py [--quick]
"""
import numpy as np

import _common
import cnnkit.functional as F
from cnnkit import filters, weights
from cnnkit.viz.activations import filter_images
from cnnkit.viz.images import image_grid


def cosine(a, b):
    """Cosine similarity of two arrays, flattened."""
    a, b = a.ravel(), b.ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def main(argv=None):
    args = _common.parse_args(__doc__, argv=argv)
    rgb = _common.photo(longer_side=128 if args.quick else 320)
    maps = {kind: filters.detect_edges(rgb, kind) for kind in ("vertical", "horizontal", "sobel", "scharr")}
    _common.table(["filter", "kernel (first row)", "mean response", "99th percentile", "max"],
                  [(k, str(getattr(filters, k)()[0].astype(int).tolist()), f"{m.mean():.3f}",
                    f"{np.percentile(m, 99):.3f}", f"{m.max():.3f}") for k, m in maps.items()],
                  f"Edge maps of the {rgb.shape[0]}x{rgb.shape[1]} photo (pixels in [0, 1]):")

    # conv1_1 sees BGR (HED's Caffe preprocessing): flip the input channels to draw the filters as RGB
    w = np.asarray(weights.load("vgg16-hed")["conv1_1.weight"])[:, :, ::-1, :]     # (3, 3, 3, 64)
    grey_kernels = w.sum(axis=2)                                                    # (3, 3, 64)
    picks = {}
    for name, target in (("vertical", filters.sobel(True)), ("horizontal", filters.sobel(False))):
        sims = np.array([cosine(grey_kernels[..., k], target) for k in range(w.shape[-1])])
        k = int(np.abs(sims).argmax())
        picks[name] = (k, sims[k])
        print(f"learned conv1_1 filter closest to Sobel {name}: #{k}, cosine similarity {sims[k]:+.2f}")
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    padded = np.pad(grey, 1, mode="reflect")[None, :, :, None]
    learned = {name: np.abs(F.conv2d(padded, grey_kernels[:, :, k][:, :, None, None]).numpy()[0, :, :, 0])
               for name, (k, _) in picks.items()}

    fig = _common.figure(14, 8.6)
    ax = fig.add_subplot(2, 4, 1)
    _common.show_image(ax, rgb, f"photo {rgb.shape[0]}x{rgb.shape[1]}")
    for i, (kind, m) in enumerate(maps.items()):
        ax = fig.add_subplot(2, 4, 2 + i) if i < 3 else fig.add_subplot(2, 4, 5)
        label = "|response|" if kind in ("vertical", "horizontal") else "gradient magnitude"
        _common.show_image(ax, m, f"{kind} (hand-made 3x3)", cmap="magma", colorbar=label, vmin=0,
                           vmax=np.percentile(m, 99))
    ax = fig.add_subplot(2, 4, 6)
    _common.show_image(ax, image_grid(filter_images(w, scale=6), ncols=8, pad=2, background=1.0),
                       "VGG-16 conv1_1: 64 learned 3x3x3 filters\n(grey = 0, RGB)")
    for i, (name, m) in enumerate(learned.items()):
        k, sim = picks[name]
        ax = fig.add_subplot(2, 4, 7 + i)
        _common.show_image(ax, m, f"learned filter #{k} (cos {sim:+.2f} with\nSobel {name}), channels summed",
                           cmap="magma", colorbar="|response|", vmin=0, vmax=np.percentile(m, 99))
    _common.save(fig, args, "02_edge_detection.png",
                 "Edge detection: hand-made 3x3 filters vs the first layer VGG-16 learned (edge maps clipped at "
                 "their 99th percentile)")
    _common.done(args)
    return picks


if __name__ == "__main__":
    main()
