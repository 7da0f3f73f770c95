"""``cnnkit stylize CONTENT STYLE``: neural style transfer on the pretrained VGG-16 (vgg16-hed weights)."""
import os
import sys

from cnnkit.cli._args import at_least

# Seconds per L-BFGS step at 256x256 on two idle cores (forward and backward through conv5_1).
_SECONDS_PER_STEP_256 = 0.6


def register(subparsers):
    """Add the stylize subcommand."""
    p = subparsers.add_parser("stylize", help="paint a picture in the style of another (neural style transfer)")
    p.add_argument("content", help="the content picture")
    p.add_argument("style", nargs="+", help="the style picture(s); several are blended (see --blend)")
    p.add_argument("-o", "--output", default="stylized.png", help="the result (default stylized.png)")
    p.add_argument("--size", type=at_least(16), default=256, help="longer side of the result in pixels (default 256)")
    p.add_argument("--steps", type=at_least(0), default=150, help="optimisation steps (default 150)")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    p.add_argument("--content-weight", type=at_least(0.0, float), default=1.0)
    p.add_argument("--style-weight", type=at_least(0.0, float), default=10.0)
    p.add_argument("--tv-weight", type=at_least(0.0, float), default=5.0, help="total-variation smoothing (default 5)")
    p.add_argument("--blend", type=at_least(0.0, float), nargs="+", default=None, help="one weight per style picture")
    p.add_argument("--preserve-color", action="store_true",
                   help="transfer only the luminance, keep the content's colours")
    p.add_argument("--init", choices=("content", "noise"), default="content")
    p.add_argument("--save-every", type=at_least(0), default=0, metavar="K",
                   help="also save the picture every K steps as OUTPUT-stepK.png (default: only the final one)")
    p.add_argument("--weights", default="vgg16-hed", help="registry name of the VGG-16 weights (default vgg16-hed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args):
    """Stylise, showing the losses, and save the picture(s)."""
    from cnnkit.style import stylize
    from cnnkit.data.images import load_image
    from cnnkit.train.history import ProgressBar
    from cnnkit.viz.images import save_image

    if args.blend is not None and (len(args.blend) != len(args.style) or sum(args.blend) <= 0):
        raise ValueError(f"--blend needs {len(args.style)} non-negative weights with a positive sum, one per style "
                         f"picture, got {' '.join(f'{w:g}' for w in args.blend)}")
    if args.size > 256:
        minutes = args.steps * _SECONDS_PER_STEP_256 * (args.size / 256) ** 2 / 60
        print(f"cnnkit stylize: --size {args.size} takes about {minutes:.1f} min for {args.steps} steps on two cores "
              f"(time grows with the pixel count; 256 takes {args.steps * _SECONDS_PER_STEP_256 / 60:.1f} min)",
              file=sys.stderr)
    # read at the size used (styles at twice it: they are cropped to the content's shape), so a huge photo
    # is decoded at reduced size
    content = load_image(args.content, longer_side=args.size)
    styles = [load_image(path, longer_side=2 * args.size) for path in args.style]
    stem, ext = os.path.splitext(args.output)
    bar = None if args.quiet else ProgressBar(args.steps, prefix="stylize")

    def report(step, image, losses):
        if bar is not None:
            bar.update(**{k: losses[k] for k in ("content", "style", "total")})
        if args.save_every and step % args.save_every == 0 and step < args.steps:
            save_image(f"{stem}-step{step}{ext or '.png'}", image)

    result = stylize(content, styles if len(styles) > 1 else styles[0], size=args.size, steps=args.steps,
                     optimizer=args.optimizer, content_weight=args.content_weight, style_weight=args.style_weight,
                     tv_weight=args.tv_weight, style_blend_weights=args.blend, init=args.init,
                     preserve_color=args.preserve_color, callback=report, every=1, seed=args.seed,
                     model=args.weights)
    end = result.losses[-1]
    if bar is not None:
        bar.close(content=end["content"], style=end["style"], total=end["total"])
    start = result.losses[0]
    save_image(args.output, result.image,
               title=f"{os.path.basename(args.content)} in the style of "
                     f"{', '.join(map(os.path.basename, args.style))}: "
                     f"{args.steps} {args.optimizer} steps, content weight {args.content_weight:g}, style weight "
                     f"{args.style_weight:g}, tv weight {args.tv_weight:g}")
    print(f"wrote {args.output} ({result.image.shape[1]}x{result.image.shape[0]}); style loss {start['style']:.4g} -> "
          f"{end['style']:.4g}, content loss {start['content']:.4g} -> {end['content']:.4g}, "
          f"{result.seconds_per_step:.2f} s/step")
