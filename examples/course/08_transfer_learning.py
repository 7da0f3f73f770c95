"""Transfer learning: a pretrained VGG-16, frozen, with a new head, against training from scratch, by labelled images.

The course's claim: with little labelled data, take a network trained on a
large dataset, freeze its layers and train only a new softmax layer on top;
this beats training a network from scratch on the few images you have (and
precomputing the frozen layers' features once makes the training cheap).

The data are the AT&T faces shipped with cnnkit (40 people, 10 photos each):
for each person 5 photos are held out for testing and 1, 2 or 5 of the others
are labelled for training (several random draws). Three classifiers see the
same labelled photos:

- frozen VGG-16 + new softmax: the registry's pretrained VGG-16 convolutions
  (``get_model("vgg16_features", pretrained=True)``, the ``vgg16-hed`` weights: ImageNet VGG-16
  fine-tuned by HED), run once on every photo (grey repeated to RGB, shrunk
  to 56x46 to fit 2 cores); a
  layer's activations averaged over the image (global average pooling) are the
  features, and only a new dense softmax layer is trained on them
  (``train.fit``);
- a small convolutional network trained from scratch (``train.fit``, same
  optimizer), the same photos shrunk to 56x46;
- the nearest labelled photo in pixel space (no learning; for scale).

    python examples/course/08_transfer_learning.py [--quick] [--shots 1 2 5] [--draws 3]
"""
import time

import numpy as np

import _common
from cnnkit import data, nn, optim, train
from cnnkit.autograd import no_grad
from cnnkit.models import get_model

TAPS = ("conv4_3", "conv5_3")


def add_arguments(parser):
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 2, 5], help="labelled photos per person")
    parser.add_argument("--draws", type=int, default=3, help="random draws of the labelled photos, averaged")
    parser.add_argument("--epochs", type=int, default=100, help="epochs of each classifier")
    parser.add_argument("--size", type=int, nargs=2, default=[56, 46], help="height and width VGG-16 sees")


def vgg_features(images, size, batch_size=20):
    """Global-average-pooled activations of :data:`TAPS` for grey images, computed once: {tap: (N, C)}."""
    model = get_model("vgg16_features", pretrained=True)
    rgb = np.repeat(data.resize(images, size), 3, axis=-1)
    out = {tap: [] for tap in TAPS}
    with no_grad():
        for start in range(0, len(rgb), batch_size):
            acts = model.features(rgb[start:start + batch_size], TAPS)
            for tap in TAPS:
                out[tap].append(acts[tap].numpy().mean(axis=(1, 2)))
    return {tap: np.concatenate(v) for tap, v in out.items()}


def standardise(train_x, test_x):
    """Both sets scaled with the training set's per-feature mean and standard deviation."""
    mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-6
    return (train_x - mean) / std, (test_x - mean) / std


def small_convnet(classes, seed):
    """Three conv-BN-ReLU-pool stages (16, 32, 64 channels), global average pooling, a dense softmax layer."""
    rng = np.random.default_rng(seed)
    layers, channels = [], 1
    for width in (16, 32, 64):
        layers += [nn.Conv2d(channels, width, 3, 1, 1, rng=rng), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
        channels = width
    return nn.Sequential(*layers, nn.GlobalAvgPool2d(), nn.Linear(channels, classes, rng=rng))


def fit_and_score(model, train_xy, test_xy, epochs, seed, lr):
    """Train with Adam by ``train.fit`` (batches of 16) and return the test accuracy."""
    train.fit(model, train_xy, epochs=epochs, batch_size=16, seed=seed, verbose=False,
              optimizer=optim.Adam(model.parameters(), lr=lr))
    return train.evaluate(model, test_xy)["accuracy"]


def nearest_neighbour(train_x, train_y, test_x, test_y):
    """Accuracy of labelling each test row like its nearest training row (Euclidean)."""
    d = (test_x ** 2).sum(1)[:, None] - 2 * test_x @ train_x.T + (train_x ** 2).sum(1)[None]
    return float((train_y[d.argmin(axis=1)] == test_y).mean())


def main(argv=None):
    args = _common.parse_args(__doc__, add_arguments, argv)
    faces = data.load_att_faces()
    people, size = 40, tuple(args.size)
    if args.quick:
        people, size, args.shots, args.draws, args.epochs = 4, (32, 28), [1, 2], 1, 15
    keep = faces.labels < people
    images, labels = faces.images[keep], faces.labels[keep]
    start = time.perf_counter()
    features = vgg_features(images, size)
    feature_seconds = time.perf_counter() - start
    print(f"VGG-16 features of {len(images)} photos at {size[0]}x{size[1]}: {feature_seconds:.0f} s")
    small = data.resize(images, (56, 46))
    pixels = small.reshape(len(small), -1)

    rng = np.random.default_rng(args.seed)
    order = np.stack([rng.permutation(np.flatnonzero(labels == p)) for p in range(people)])  # (people, 10)
    test = order[:, 5:].ravel()
    methods = [f"frozen VGG-16 {tap} + softmax" for tap in TAPS] + ["small convnet from scratch",
                                                                     "nearest photo (pixels)"]
    scores = {(m, k): [] for m in methods for k in args.shots}
    for draw in range(args.draws):
        pool = np.stack([np.random.default_rng([args.seed, draw, p]).permutation(order[p, :5]) for p in range(people)])
        for shots in args.shots:
            labelled = pool[:, :shots].ravel()
            y, ty = labels[labelled], labels[test]
            for tap, method in zip(TAPS, methods):
                x, tx = standardise(features[tap][labelled], features[tap][test])
                head = nn.Linear(x.shape[1], people, rng=np.random.default_rng(draw))
                scores[method, shots].append(fit_and_score(head, (x, y), (tx, ty), args.epochs, draw, 1e-3))
            net = small_convnet(people, draw)
            scores[methods[2], shots].append(fit_and_score(net, (small[labelled], y), (small[test], ty),
                                                           args.epochs, draw, 3e-3))
            scores[methods[3], shots].append(nearest_neighbour(pixels[labelled], y, pixels[test], ty))
            print(f"  draw {draw}, {shots} per person: " +
                  ", ".join(f"{m.split(' +')[0]} {scores[m, shots][-1]:.3f}" for m in methods), flush=True)

    _common.table(["method"] + [f"{k} labelled/person" for k in args.shots],
                  [[m] + [f"{np.mean(scores[m, k]):.3f} ± {np.std(scores[m, k]):.3f}" for k in args.shots]
                   for m in methods],
                  f"AT&T faces, {people} people, test accuracy on {len(test)} held-out photos "
                  f"(mean ± sd over {args.draws} draws, chance {1 / people:.3f}):")

    fig = _common.figure(11, 4.5)
    ax = fig.add_subplot(1, 2, 1)
    for m, style in zip(methods, ("o-", "o--", "s-", "^:")):
        means = [np.mean(scores[m, k]) * 100 for k in args.shots]
        ax.errorbar(args.shots, means, yerr=[np.std(scores[m, k]) * 100 for k in args.shots], fmt=style, label=m,
                    capsize=3)
    ax.axhline(100 / people, color="grey", lw=0.8, ls=":", label="chance")
    ax.set_xlabel("labelled photos per person")
    ax.set_ylabel(f"test accuracy (%), {len(test)} photos")
    ax.set_xticks(args.shots)
    ax.set_ylim(0, 100)
    ax.set_title("accuracy vs labelled data")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax = fig.add_subplot(1, 2, 2)
    shown = np.concatenate([np.concatenate([images[i, :, :, 0] for i in order[p, :5]], axis=1)
                            for p in range(min(4, people))], axis=0)
    _common.show_image(ax, shown, "5 photos each of 4 of the people")
    _common.save(fig, args, "08_transfer_learning.png",
                 f"Transfer learning on the AT&T faces: frozen pretrained VGG-16 vs from scratch ({people} people)")
    _common.done(args)
    return scores


if __name__ == "__main__":
    main()
