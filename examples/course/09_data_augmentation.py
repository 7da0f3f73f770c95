"""Data augmentation on a small training set: the same network trained with and without it.

The course's claim: computer vision almost always lacks data, and
augmenting the training images (mirroring, random crops, rotations, shearing,
colour shifts) is a cheap way to get more of it: it reduces overfitting and
improves accuracy on new images, most of all when the training set is small.

LeNet-5 (``models.get_model("lenet5", input_size=28)``) is trained by
``train.fit`` on a few hundred Fashion-MNIST images, once plainly and once
with ``transform=`` a ``cnnkit.data.transforms`` pipeline (mirror, random crop
of the image padded by 2, rotation up to 10 degrees) applied to each training
batch; same seeds, optimizer and epochs. Accuracy is measured on 2000 test
images; the gap between training and test accuracy is the overfitting.

    python examples/course/09_data_augmentation.py [--quick] [--sizes 250 1000] [--epochs 30] [--seeds 2]
"""
import numpy as np

import _common
from cnnkit import data, optim, train
from cnnkit.models import get_model


def add_arguments(parser):
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000], help="training set sizes")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=2, help="runs per setting, averaged")


def augmentation(seed):
    """Mirror, a random crop of the image padded by 2, a rotation of up to 10 degrees."""
    return data.Compose([data.RandomHorizontalFlip(rng=seed), data.RandomCrop(28, padding=2, rng=seed + 1),
                         data.RandomRotation(10, rng=seed + 2)])


def main(argv=None):
    args = _common.parse_args(__doc__, add_arguments, argv)
    if args.quick:
        args.sizes, args.epochs, args.seeds = [100], 2, 1
    full = data.load_fashion_mnist("train")
    test = data.load_fashion_mnist("test").subset(np.arange(300 if args.quick else 2000))
    results = {}
    for size in args.sizes:
        for augmented in (False, True):
            runs = []
            for seed in range(args.seeds):
                rng = np.random.default_rng([args.seed, seed])
                subset = full.subset(np.sort(rng.choice(len(full), size, replace=False)))
                model = get_model("lenet5", input_size=28, rng=seed)
                history = train.fit(model, subset, epochs=args.epochs, batch_size=32, seed=seed, verbose=False,
                                    optimizer=optim.Adam(model.parameters(), lr=1e-3),
                                    transform=augmentation(seed) if augmented else None)
                runs.append((train.evaluate(model, subset)["accuracy"], train.evaluate(model, test)["accuracy"],
                             history.loss))
            results[size, augmented] = runs
            print(f"  {size} images, {'with' if augmented else 'without'} augmentation: test accuracy "
                  f"{np.mean([r[1] for r in runs]):.3f}", flush=True)

    rows = []
    for size in args.sizes:
        for augmented in (False, True):
            runs = results[size, augmented]
            tr, te = np.mean([r[0] for r in runs]), np.mean([r[1] for r in runs])
            rows.append((size, "with" if augmented else "without", f"{tr:.3f}", f"{te:.3f}",
                         f"{np.std([r[1] for r in runs]):.3f}", f"{tr - te:.3f}"))
    _common.table(["training images", "augmentation", "train accuracy", "test accuracy", "test sd",
                   "train - test"], rows,
                  f"LeNet-5 on Fashion-MNIST, {args.epochs} epochs, mean of {args.seeds} runs, "
                  f"{len(test)} test images:")

    fig = _common.figure(12, 4.5)
    ax = fig.add_subplot(1, 2, 1)
    width = 0.35
    x = np.arange(len(args.sizes))
    for offset, augmented in ((-width / 2, False), (width / 2, True)):
        means = [np.mean([r[1] for r in results[s, augmented]]) * 100 for s in args.sizes]
        bars = ax.bar(x + offset, means, width, label="with augmentation" if augmented else "without")
        for bar, m in zip(bars, means):
            ax.text(bar.get_x() + bar.get_width() / 2, m, f"{m:.1f}", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{s} images" for s in args.sizes])
    ax.set_ylabel(f"test accuracy (%), {len(test)} images")
    ax.set_title("accuracy on new images")
    ax.legend(loc="lower right")
    ax.set_ylim(0, 100)
    ax = fig.add_subplot(1, 2, 2)
    sample = full.images[:8]
    shown = np.concatenate([np.concatenate(list(sample[..., 0]), axis=1),
                            np.concatenate(list(augmentation(args.seed)(sample)[..., 0]), axis=1)], axis=0)
    _common.show_image(ax, shown, "top: training images; bottom: one augmented draw", vmin=0, vmax=1)
    _common.save(fig, args, "09_data_augmentation.png",
                 f"Data augmentation: LeNet-5 on small Fashion-MNIST training sets ({args.epochs} epochs)")
    _common.done(args)
    return results


if __name__ == "__main__":
    main()
