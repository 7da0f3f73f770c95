"""``cnnkit visualize MODEL --layer NAME --images DIR|DATASET``: the image patches that most activate each unit."""
import os

from cnnkit.cli._args import at_least


def register(subparsers):
    """Add the visualize subcommand."""
    p = subparsers.add_parser("visualize", help="top-k activating patches of a layer's units, drawn as a grid")
    p.add_argument("model", help="vgg16-hed (pretrained VGG-16 features), or a model name used with --weights")
    p.add_argument("--weights", default=None,
                   help="a checkpoint or run folder of cnnkit train (or a state dict .safetensors/.npz) for MODEL")
    p.add_argument("--layer", required=True, help="e.g. conv1_1, conv3_1, conv5_1 for vgg16-hed")
    p.add_argument("--images", default="photos",
                   help="an image folder, a dataset name (digits, mnist5k, fashion-mnist) or photos: crops of the "
                        "sample photographs of scikit-image and scikit-learn (default photos)")
    p.add_argument("--count", type=at_least(1), default=300, help="images (crops) to search (default 300)")
    p.add_argument("--crop-size", type=at_least(1), default=96,
                   help="side of the crops of photos and folders (default 96; raised to fit the layer's receptive "
                        "field)")
    p.add_argument("-k", type=at_least(1), default=9, help="patches per unit (default 9)")
    p.add_argument("--units", type=at_least(1), default=16, help="show the first N units (default 16)")
    p.add_argument("--scale", type=at_least(0), default=0,
                   help="enlarge each patch to at least this many pixels (default: 48 / field size)")
    p.add_argument("-o", "--output", default="grid.png")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _images(args, preprocessing, crop):
    """The images to search, float32 (N, H, W, C), where each was cut (see ``top_k_patches``), and their name."""
    from cnnkit.data.images import load_images
    from cnnkit.viz.images import random_crops, sample_photos

    if args.images == "photos":
        images, origins = random_crops(list(sample_photos().values()), args.count, crop, scale=(1, 3),
                                       seed=args.seed, return_origins=True)
        return images, origins, f"{crop} px crops of 8 sample photos"
    if os.path.isdir(args.images):
        images, origins = random_crops(load_images(args.images), args.count, crop, seed=args.seed,
                                       return_origins=True)
        return images, origins, f"{crop} px crops of {os.path.basename(os.path.normpath(args.images))}"
    from cnnkit.data import build_preprocessing, load_dataset
    # resized as the model takes them, but not standardised: the patches are shown as the pictures look
    resize = build_preprocessing({"resize": (preprocessing or {}).get("resize")})
    return resize(load_dataset(args.images).images[:args.count].astype("float32")), None, f"{args.images} images"


def _model(args):
    """The model and its preprocessing: VGG-16 features for vgg16-hed, else a registered model with loaded weights."""
    if args.model == "vgg16-hed":
        from cnnkit.models.vgg_features import vgg16_features
        return vgg16_features("vgg16-hed"), None
    from cnnkit import train
    from cnnkit.models import get_model
    from cnnkit.train.checkpoint import NotACheckpointError
    if args.weights is None:
        raise ValueError(f"--weights is needed for {args.model!r}: a random network shows nothing")
    try:
        checkpoint = train.load_checkpoint(args.weights)
    except NotACheckpointError:
        return train.load_weights(get_model(args.model), args.weights).eval(), None
    if checkpoint.config["name"] != args.model:
        raise ValueError(f"--weights {args.weights} holds a {checkpoint.config['name']}, not a {args.model}")
    return checkpoint.model, checkpoint.preprocessing


def run(args):
    """Search the images, cut the patches, save the labelled grid."""
    import warnings

    import numpy as np

    from cnnkit.train.history import ProgressBar
    from cnnkit.data import build_preprocessing
    from cnnkit.viz.activations import layer_activations, patch_grid, receptive_fields, top_k_patches
    from cnnkit.viz.images import save_image, with_title

    model, preprocessing = _model(args)
    fields = receptive_fields(model)
    if args.layer not in fields:
        raise ValueError(f"no receptive field for layer {args.layer!r}; layers with kernels: {list(fields)}")
    field = fields[args.layer]
    # in a crop smaller than fitting_input every window runs partly outside it (grey patches); two strides
    # more give each crop 3x3 positions to find the unit's best whole window at
    crop = max(args.crop_size, field.fitting_input + 2 * field.stride)
    images, origins, source = _images(args, preprocessing, crop)
    if args.k > len(images):
        raise ValueError(f"-k {args.k} patches per unit need at least {args.k} images to search, got {len(images)} "
                         f"(--count)")
    if field.fitting_input > min(images.shape[1:3]):
        warnings.warn(f"no window of {args.layer}'s receptive field ({field.size} px) fits wholly in the "
                      f"{images.shape[2]}x{images.shape[1]} images; the patches are padded grey", stacklevel=2)
    preprocessing = preprocessing or {}
    standardise = build_preprocessing({"mean": preprocessing.get("mean"), "std": preprocessing.get("std")})
    layer = layer_activations(model, args.layer)

    def activations(batch):
        return layer(standardise(batch))

    channels = activations(images[:1]).shape[-1]
    units = range(min(args.units, channels))
    bar = None if args.quiet else ProgressBar(len(images), prefix=f"visualize {args.layer}")
    patches, values = top_k_patches(activations, images, field, k=args.k, units=units,
                                    origins=origins,
                                    progress=None if bar is None else lambda done, total: bar.update(done - bar.count))
    if bar is not None:
        bar.close()
    scale = args.scale or max(1, 48 // field.size)
    patches = patches.repeat(scale, axis=2).repeat(scale, axis=3)
    # a unit that never fires on these images has no strongest patches: show none rather than arbitrary ones
    silent = ~(values[:, 0] > 0)
    patches[silent] = 1.0
    labels = [f"unit {u}: never above 0" if quiet else f"unit {u}  max {values[i, 0]:.3g}"
              for i, (u, quiet) in enumerate(zip(units, silent))]
    title = (f"{args.model} {args.layer}: the {args.k} patches that most activate each of units 0-{units[-1]} "
             f"(strongest first), from {len(images)} {source}; receptive field {field.size} px, stride "
             f"{field.stride}")
    save_image(args.output, with_title(patch_grid(patches, labels=labels), title), title=title)
    print(f"wrote {args.output}: {len(units)} units of {args.layer} (receptive field {field.size} px, stride "
          f"{field.stride}), top {args.k} of {len(images)} images; mean top activation {np.mean(values[:, 0]):.3g}")
