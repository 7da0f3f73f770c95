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
    p.add_argument("--crop-size", type=at_least(1), default=96, help="side of the crops of photos and folders (default 96)")
    p.add_argument("-k", type=at_least(1), default=9, help="patches per unit (default 9)")
    p.add_argument("--units", type=at_least(1), default=16, help="show the first N units (default 16)")
    p.add_argument("--scale", type=at_least(0), default=0,
                   help="enlarge each patch to at least this many pixels (default: 48 / field size)")
    p.add_argument("-o", "--output", default="grid.png")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def _images(args, preprocessing):
    """The images to search, float32 (N, H, W, C); a dataset's go through the checkpoint's preprocessing."""
    from cnnkit.data.images import load_images
    from cnnkit.viz.images import random_crops, sample_photos

    if args.images == "photos":
        return random_crops(list(sample_photos().values()), args.count, args.crop_size, scale=(1, 3), seed=args.seed)
    if os.path.isdir(args.images):
        return random_crops(load_images(args.images), args.count, args.crop_size, seed=args.seed)
    from cnnkit.data import build_preprocessing, load_dataset
    return build_preprocessing(preprocessing)(load_dataset(args.images).images[:args.count].astype("float32"))


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
    """Search the images, cut the patches, save the grid."""
    import numpy as np

    from cnnkit.viz.activations import layer_activations, patch_grid, receptive_fields, top_k_patches
    from cnnkit.viz.images import save_image

    model, preprocessing = _model(args)
    fields = receptive_fields(model)
    if args.layer not in fields:
        raise ValueError(f"no receptive field for layer {args.layer!r}; layers with kernels: {list(fields)}")
    field = fields[args.layer]
    images = _images(args, preprocessing)
    if args.k > len(images):
        raise ValueError(f"-k {args.k} patches per unit need at least {args.k} images to search, got {len(images)} "
                         f"(--count)")
    patches, values = top_k_patches(layer_activations(model, args.layer), images, field, k=args.k,
                                    units=range(args.units))
    scale = args.scale or max(1, 48 // field.size)
    patches = patches.repeat(scale, axis=2).repeat(scale, axis=3)
    save_image(args.output, patch_grid(patches))
    print(f"saved {args.output}: {args.units} units of {args.layer} (receptive field {field.size} px, stride "
          f"{field.stride}), top {args.k} of {len(images)} images; mean top activation {np.mean(values[:, 0]):.3g}")
