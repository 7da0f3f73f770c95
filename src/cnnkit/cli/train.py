"""``cnnkit train | evaluate | predict | summary``: train a classifier, test it, use it, inspect a model.

``cnnkit train`` with no arguments trains LeNet-5 on the 8x8 digits bundled with
scikit-learn: the images are resized (bilinear) to the 32x32 LeNet-5 was
designed for and standardised with the training set's mean and standard
deviation; Adam (lr 2e-3) with cosine annealing, batch 32, 40 epochs, with
augmentation (random rotation of up to 10 degrees and a random shift of up to
1/16 of the image). 28x28 datasets go to LeNet-5 unresized (``input_size=28``).
"""
import argparse
import inspect
import json
import os
import sys

import numpy as np

from cnnkit.cli import batch
from cnnkit.cli._args import at_least, positive
from cnnkit.cli._runs import open_run

AUGMENT_DEGREES = 10
DEFAULT_EPOCHS = 40


class _ModelNamesFormatter(argparse.HelpFormatter):
    """Help that lists the registered model names after MODEL's help, importing the zoo only when help is shown."""

    def _get_help_string(self, action):
        if action.dest != "model":
            return super()._get_help_string(action)
        from cnnkit.models import MODELS
        return f"{action.help}: {', '.join(sorted(MODELS))}"


def register(subparsers):
    """Add the train, evaluate, predict and summary subcommands."""
    p = subparsers.add_parser("train", help="train a classifier into a run folder (weights, results, curves)",
                              formatter_class=_ModelNamesFormatter, description=__doc__.split("\n\n")[1].replace("``", "'"))
    p.add_argument("--model", default="lenet5", help="a model name (default lenet5)")
    p.add_argument("--data", default="digits",
                   help="digits, mnist5k, fashion-mnist or an image folder (default digits)")
    p.add_argument("--epochs", type=at_least(0), default=None, help="default 40")
    p.add_argument("--batch-size", type=at_least(1), default=32)
    p.add_argument("--lr", type=positive, default=2e-3, help="Adam's learning rate, annealed to 0 (default 2e-3)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="random rotations and shifts of the training images (default on; --no-augment turns it off)")
    p.add_argument("--input-size", type=at_least(1), default=None,
                   help="resize images to this square size (default: as LeNet-5 needs, else unchanged)")
    p.add_argument("--limit", type=at_least(1), default=None, help="use only the first N training and test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--project", default="runs", help="the folder of run folders (default runs)")
    p.add_argument("--name", default=None, help="the run's name (default <model>-<data>; numbered if taken)")
    p.add_argument("--out", default=None, help="the run folder itself (instead of --project/classify/--name)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its weights/last.safetensors, with its arguments; "
                        "--epochs may raise the number of epochs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--workers", type=at_least(1), default=1,
                   help="data-parallel replicas on Ray, each taking a share of every batch (default 1: no Ray)")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="join this Ray cluster (from `ray start --head`) instead of starting a local one")
    p.set_defaults(func=run_train)

    p = subparsers.add_parser("evaluate", help="accuracy, per-class report and confusion matrix on a test set")
    p.add_argument("--weights", required=True, help="a checkpoint written by cnnkit train")
    p.add_argument("--data", default="digits", help="digits, mnist5k, fashion-mnist or an image folder")
    p.add_argument("--limit", type=at_least(1), default=None, help="use only the first N test images")
    p.add_argument("--out", default=None, help="where to write confusion.png (default: next to the weights)")
    p.set_defaults(func=run_evaluate)

    p = subparsers.add_parser("predict", help="the top-k classes of image files (or a Parquet table of a folder's)")
    p.add_argument("--weights", required=True, help="a checkpoint written by cnnkit train")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG or PGM files, or folders of them")
    p.add_argument("--top-k", type=at_least(1), default=3)
    p.add_argument("--invert", action="store_true",
                   help="read each picture as its negative: dark-on-light pictures for a model trained on "
                        "light-on-dark ones (predict warns when a picture looks inverted)")
    batch.add_arguments(p, "write one row per image to this table (a folder of Parquet shards) instead of printing; "
                           "images already in it are skipped")
    p.set_defaults(func=run_predict)

    p = subparsers.add_parser("summary", help="a model's layers, output shapes, parameters and multiply-adds",
                              formatter_class=_ModelNamesFormatter)
    p.add_argument("model", help="a model name")
    p.add_argument("--input-shape", default=None,
                   help="H,W,C of one input (default: 32,32,1 for lenet5, 28,28,1 for resnet_small, the face "
                        "networks' own input sizes, else 224,224,3)")
    p.add_argument("--num-classes", type=at_least(1), default=None)
    p.set_defaults(func=run_summary)


def _build_model(name, num_classes, input_shape, seed):
    """``get_model`` with the classes, channels (and input size, where the builder takes one) of the data."""
    from cnnkit.models import MODELS, get_model
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names are {', '.join(sorted(MODELS))}")
    kwargs = {"in_channels": input_shape[2], "rng": seed}
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if "input_size" in inspect.signature(MODELS[name]).parameters:
        kwargs["input_size"] = input_shape[0]
    return get_model(name, **kwargs)


def _input_size(model, image_shape, requested):
    """The square size to resize to, or None to keep the data's size."""
    if requested is not None:
        return requested
    if model == "lenet5" and image_shape[:2] not in ((28, 28), (32, 32)):
        return 32
    return None


def _augmentation(size, seed):
    """The training augmentation: a small random rotation, then a random shift by cropping a padded copy."""
    from cnnkit import data
    return data.Compose([data.RandomRotation(AUGMENT_DEGREES, rng=seed),
                         data.RandomCrop(size, padding=max(1, size[0] // 16), rng=seed + 1)])


def _test_set(name, limit, preprocessing, class_names=None):
    """The test split of ``name``, cut to ``limit`` images, preprocessed and indexed as the checkpoint says."""
    from cnnkit import data
    test = data.load_dataset(name, "test")
    if class_names and list(class_names) != list(test.class_names) and set(class_names) == set(test.class_names):
        # checkpoints from before natural sorting index a folder's classes in plain string order
        index = {c: i for i, c in enumerate(class_names)}
        order = np.array([index[c] for c in test.class_names])
        test = data.Dataset(test.images, order[test.labels], class_names, test.name)
    if limit:
        test = test.subset(np.arange(min(limit, len(test))))
    images = data.build_preprocessing(preprocessing)(test.images)
    expected = tuple((preprocessing or {}).get("input_shape", images.shape[1:]))
    if images.shape[1:] != expected:
        raise ValueError(f"{name} gives images of shape {images.shape[1:]} after preprocessing, "
                         f"but the model takes {expected}")
    return data.Dataset(images, test.labels, test.class_names, test.name)


TRAIN_ARGS = ("model", "data", "epochs", "batch_size", "lr", "augment", "input_size", "limit", "seed")


def run_train(args):
    """Train into a run folder, report the test accuracy; exit 3 if the loss stopped being finite."""
    from cnnkit import data, distributed, optim, train
    from cnnkit.data.checks import training_statistics

    run = open_run(args, "classify", TRAIN_ARGS, DEFAULT_EPOCHS,
                   f"{args.model}-{os.path.basename(os.path.normpath(args.data))}", "cnnkit train")
    if args.epochs < 0:
        raise ValueError(f"--epochs must be >= 0, got {args.epochs}")
    train_set, test_set = data.load_dataset(args.data, "train"), data.load_dataset(args.data, "test")
    if args.limit:
        train_set = train_set.subset(np.arange(min(args.limit, len(train_set))))
        test_set = test_set.subset(np.arange(min(args.limit, len(test_set))))
    size = _input_size(args.model, train_set.image_shape, args.input_size)
    images = data.Resize(size)(train_set.images) if size else train_set.images
    mean = images.mean(axis=(0, 1, 2)).tolist()
    std = np.maximum(images.std(axis=(0, 1, 2)), 1e-6).tolist()
    preprocessing = {"resize": [size, size] if size else None, "mean": mean, "std": std,
                     "input_shape": list(images.shape[1:]), **training_statistics(train_set.images, images)}
    normalize = data.Normalize(mean, std)
    # augment before standardising, so padding and rotated-in corners are background, not the mean intensity
    transform = data.Compose(([_augmentation(images.shape[1:3], args.seed)] if args.augment else []) + [normalize])
    test = data.Dataset(data.build_preprocessing(preprocessing)(test_set.images), test_set.labels,
                        test_set.class_names)

    model = _build_model(args.model, train_set.num_classes, images.shape[1:], args.seed)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=max(args.epochs, 1))
    run.class_names, run.preprocessing = train_set.class_names, preprocessing
    run.monitor = "val_accuracy"
    run.title = (f"{args.model} on {os.path.basename(os.path.normpath(args.data))} ({len(train_set)} training images "
                 f"at {images.shape[1]}x{images.shape[2]}x{images.shape[3]}): Adam lr {args.lr:g}, cosine, batch "
                 f"{args.batch_size}, {args.epochs} epochs, {'augmented' if args.augment else 'no augmentation'}")
    run.write_args({key: getattr(args, key) for key in TRAIN_ARGS})  # a resumed run records its new --epochs
    data_name = os.path.basename(os.path.normpath(args.data))
    print(f"training {args.model} on {data_name}: {len(train_set)} train / {len(test)} test images of shape "
          f"{tuple(images.shape[1:])}, {args.epochs} epochs, into {run.path}", file=sys.stderr)
    options = dict(val=test, epochs=args.epochs, optimizer=optimizer, batch_size=args.batch_size, scheduler=scheduler,
                   seed=args.seed, verbose=not args.quiet, transform=transform, run=run,
                   resume=run.path if args.resume else None)
    try:
        history = distributed.fit(model, (images, train_set.labels), workers=args.workers, address=args.ray, **options)
    except train.TrainingInterrupted as exc:
        where = (f"epoch {exc.last_epoch} is saved in {exc.checkpoint}; continue with: cnnkit train --resume "
                 f"{run.path}" if exc.checkpoint else "no epoch had finished, nothing was saved")
        print(f"cnnkit train: interrupted ({exc.signal_name}) in epoch {exc.epoch}; {where}", file=sys.stderr)
        return 130
    if history.stop_reason:
        print(history.stop_reason, file=sys.stderr)
    if history.stopped == "nan":
        print(f"cnnkit train: error: training diverged; {run.last} keeps the last good epoch (lower --lr?)",
              file=sys.stderr)
        return 3
    accuracy = train.evaluate(model, test)["accuracy"]
    print(f"test accuracy: {accuracy:.4f} ({len(test)} images, the weights after epoch {len(history)})")
    print(f"wrote {run.path}: weights/last.safetensors, weights/best.safetensors, results.csv, curves.png")
    return 0


def run_evaluate(args):
    """Print accuracy and a per-class report; write confusion.png."""
    from cnnkit import train
    from cnnkit.viz.curves import plot_confusion

    checkpoint = train.load_checkpoint(args.weights)
    test = _test_set(args.data, args.limit, checkpoint.preprocessing, checkpoint.class_names)
    names = checkpoint.class_names or test.class_names
    if len(names) != checkpoint.model.config.get("num_classes", len(names)):
        raise ValueError(f"the checkpoint has {len(names)} class names but the model "
                         f"{checkpoint.model.config['num_classes']} outputs")
    result = train.evaluate(checkpoint.model, test)
    print(f"accuracy: {result['accuracy']:.4f}  loss: {result['loss']:.4f}  ({len(test)} images)")
    width = max(len("class"), *(len(n) for n in names))
    print(f"{'class':<{width}}  accuracy  support")
    for name, accuracy, support in zip(names, result["per_class_accuracy"], result["confusion"].sum(1)):
        print(f"{name:<{width}}  {accuracy:8.4f}  {support:7d}")
    out = args.out or os.path.dirname(os.path.abspath(args.weights))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "confusion.png")
    plot_confusion(result["confusion"], path, class_names=names,
                   title=f"{checkpoint.config['name']} on the {args.data} test split")
    print(f"wrote {path}")
    return 0


def run_predict(args):
    """Print the top-k classes and probabilities of each image, or write them all to ``--out``."""
    from cnnkit.distributed.batch import image_files
    from cnnkit.distributed.pipelines import ClassifyPipeline

    pipeline = ClassifyPipeline(args.weights, invert=args.invert)
    if args.out:
        return batch.run(args, pipeline, args.images, "predict")
    paths = image_files(args.images)
    _warn_unlike_training(pipeline, paths, args.invert)
    probabilities = pipeline.probabilities(np.stack([pipeline.read(path) for path in paths]))
    k = max(1, min(args.top_k, probabilities.shape[1]))
    for path, p in zip(paths, probabilities):
        top = np.argsort(-p)[:k]
        print(f"{path}: " + ", ".join(f"{pipeline.names[i]} ({p[i]:.3f})" for i in top))
    return 0


def _warn_unlike_training(pipeline, paths, inverted):
    """One warning line per way the pictures differ from the training data (polarity, colour, aspect ratio)."""
    import warnings

    checks = [(path, pipeline.check(path)) for path in paths]

    def named(key):
        found = [os.path.basename(path) for path, check in checks if check[key]]
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        return found, f"{len(found)} of {len(paths)} picture(s) ({shown})"

    found, which = named("inverted")
    if found:
        check = next(c for _, c in checks if c["inverted"])
        light = check["border"] > check["training_border"]
        advice = "drop --invert" if inverted else "rerun with --invert to read them as negatives"
        warnings.warn(f"{which} look inverted against the training data: their {check['measure']} is "
                      f"{'light' if light else 'dark'} ({check['border']:.2f}) where the training images' is "
                      f"{'dark' if light else 'light'} ({check['training_border']:.2f}), e.g. a dark digit on white "
                      f"for a model trained on white digits on black; {advice}", stacklevel=2)
    H, W, C = pipeline.preprocessing["input_shape"]
    found, which = named("colour_for_grey")
    if found:
        warnings.warn(f"{which} are in colour but the model was trained on grey pictures: read as grey", stacklevel=2)
    found, which = named("grey_for_colour")
    if found:
        warnings.warn(f"{which} are grey but the model was trained on colour pictures", stacklevel=2)
    found, which = named("aspect")
    if found:
        warnings.warn(f"{which} have a height/width ratio unlike the training images': resizing them to {W}x{H} "
                      f"distorts them", stacklevel=2)


def run_summary(args):
    """Print the layer table of a model."""
    from cnnkit.models import MODELS, default_input_shape, get_model
    if args.model not in MODELS:
        raise ValueError(f"unknown model {args.model!r}; valid names are {', '.join(sorted(MODELS))}")
    if args.input_shape:
        try:
            shape = tuple(int(n) for n in args.input_shape.split(","))
        except ValueError:
            shape = ()
        if len(shape) != 3:
            raise ValueError(f"--input-shape must be H,W,C such as 32,32,1, got {args.input_shape!r}")
    else:
        shape = default_input_shape(args.model)
    if "num_classes" in inspect.signature(MODELS[args.model]).parameters:
        model = _build_model(args.model, args.num_classes, shape, 0)
    else:  # not a classifier (a face network, a detector's stage): its own input and outputs
        model = get_model(args.model, rng=0)
    model.summary(shape)
    print(f"config: {json.dumps(model.config)}")
    return 0
