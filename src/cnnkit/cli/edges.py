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
    p.add_argument("--percentile", type=at_least(1e-6, float), default=99.0,
                   help="classic kinds: white is this percentile of the edge strength, so weak edges show "
                        "(default 99; 100 scales by the maximum)")
    p.set_defaults(func=run)


def run(args):
    """Compute the edge map, scale it to 0..1 for display and save it."""
    import os

    from cnnkit.data.images import load_image
    from cnnkit.viz.images import save_image

    if args.percentile > 100:
        raise ValueError(f"--percentile must be in (0, 100], got {args.percentile:g}")
    image = load_image(args.image, longer_side=args.size)
    if args.kind == "hed":
        from cnnkit.models.vgg_features import hed_edges
        edges = hed_edges(image)  # already probabilities in [0, 1]
        scaling = "edge probability, not rescaled"
    else:
        from cnnkit.filters import detect_edges, normalize_edges
        edges, divisor = normalize_edges(detect_edges(image, kind=args.kind), args.percentile)
        scaling = f"strength / {divisor:.3g} (its {args.percentile:g}th percentile), clipped to 1"
    title = f"{args.kind} edges of {os.path.basename(args.image)}: {scaling}"
    save_image(args.output, edges, title=title)
    print(f"wrote {args.output} ({edges.shape[1]}x{edges.shape[0]}): {title}; "
          f"{(edges > 0.5).mean():.1%} of the pixels above 0.5")
