"""``cnnkit edges IMAGE``: an edge map, classic (Sobel, Scharr, one kernel) or learned (HED on VGG-16)."""

from cnnkit.cli._args import at_least

KINDS = ("sobel", "scharr", "vertical", "horizontal", "hed")


def register(subparsers):
    """Add the edges subcommand."""
    p = subparsers.add_parser("edges", help="edge map of a picture (Sobel, Scharr, vertical, horizontal or HED)")
    p.add_argument("image", help="the picture")
    p.add_argument("--kind", choices=KINDS, default="sobel",
                   help="classic kernels, or hed: the deep edge detector on the vgg16-hed weights (default sobel)")
    p.add_argument("-o", "--output", default="edges.png", help="the edge map as a grey picture (default edges.png)")
    p.add_argument("--size", type=at_least(2), default=None, help="resize so the longer side has this many pixels first")
    p.set_defaults(func=run)


def run(args):
    """Compute the edge map, scale it to 0..1 and save it."""
    from cnnkit.data.images import load_image
    from cnnkit.viz.images import save_image

    image = load_image(args.image, longer_side=args.size)
    if args.kind == "hed":
        from cnnkit.models.vgg_features import hed_edges
        edges = hed_edges(image)  # already probabilities in [0, 1]
    else:
        from cnnkit.filters import detect_edges
        edges = detect_edges(image, kind=args.kind)
        edges = edges / max(float(edges.max()), 1e-12)
    save_image(args.output, edges)
    print(f"saved {args.output} ({edges.shape[1]}x{edges.shape[0]}, {args.kind}); "
          f"{(edges > 0.5).mean():.1%} of the pixels above 0.5")
