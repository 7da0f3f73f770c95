"""Neural style transfer with the content/style trade-off (alpha, beta), and what units learn at three depths.

The course's claims:

- neural style transfer generates G by gradient descent on the pixels,
  minimising J(G) = alpha J_content(C, G) + beta J_style(S, G): the content
  cost compares activations of one layer, the style cost the Gram matrices
  (correlations between channels) of several layers; the ratio beta / alpha
  sets how much of the style replaces the content;
- units of a trained ConvNet respond to simple things early (edges, colours
  in layer 1) and to more complex ones deeper (textures and patterns, then
  object parts), over ever larger receptive fields (Zeiler and Fergus).

Both use the registry's pretrained VGG-16 (``get_model("vgg16_features",
pretrained=True)``). The grid is ``cnnkit.style.stylize`` (L-BFGS from the
content image) for several beta with alpha = 1, printing the final weighted
content and style costs. The units are those of conv1_1, conv3_1 and conv5_1
whose strongest responses are largest, each shown by the 9 crops of sample
photographs (``cnnkit.viz.images.sample_photos``) that excite it most, cut to
its receptive field (``cnnkit.viz.activations``: ``receptive_fields``,
``layer_activations``, ``top_k_patches``, ``patch_grid``).

    python examples/course/12_style_and_units.py [--quick] [--size 96] [--steps 20] [--betas 1 10 100]
"""
import numpy as np

import _common
from cnnkit.models import get_model
from cnnkit.style import stylize
from cnnkit.viz.activations import layer_activations, patch_grid, receptive_fields, top_k_patches
from cnnkit.viz.images import random_crops, sample_photos

LAYERS = ("conv1_1", "conv3_1", "conv5_1")


def add_arguments(parser):
    parser.add_argument("--size", type=int, default=96, help="longer side of the generated image")
    parser.add_argument("--steps", type=int, default=20, help="L-BFGS steps per image")
    parser.add_argument("--betas", type=float, nargs="+", default=[1, 10, 100], help="style weights (alpha = 1)")
    parser.add_argument("--units", type=int, default=4, help="units shown per layer")
    parser.add_argument("--crops", type=int, default=80, help="random crops searched for each unit's best patches")


def strongest_patches(model, layer, crops, field, units):
    """The 9 best patches of the ``units`` units of ``layer`` with the largest strongest response."""
    acts = layer_activations(model, layer)
    _, strength = top_k_patches(acts, crops[:32], field, k=1)
    chosen = np.argsort(-strength[:, 0])[:units]
    patches, values = top_k_patches(acts, crops, field, k=9, units=chosen)
    return chosen, patches, values


def main(argv=None):
    args = _common.parse_args(__doc__, add_arguments, argv)
    if args.quick:
        args.size, args.steps, args.betas, args.units, args.crops = 40, 2, [1, 100], 2, 12
    model = get_model("vgg16_features", pretrained=True)
    photos = sample_photos()
    content = _common.photo(longer_side=args.size)
    style = photos["immunohistochemistry"]
    results = []
    for beta in args.betas:
        result = stylize(content, style, size=args.size, steps=args.steps, content_weight=1.0, style_weight=beta,
                         model=model)
        first, last = result.losses[0], result.losses[-1]
        results.append((beta, result, first, last))
    _common.table(["alpha", "beta", "beta/alpha", "content cost (start -> end)", "style cost (start -> end)",
                   "s/step"],
                  [(1, f"{b:g}", f"{b:g}", f"{f['content']:.3f} -> {la['content']:.3f}",
                    f"{f['style']:.3f} -> {la['style']:.3f}", f"{r.seconds_per_step:.2f}")
                   for b, r, f, la in results],
                  f"Style transfer, {args.size} px, {args.steps} L-BFGS steps (weighted costs):")

    fields = receptive_fields(model)
    crop_size = 48 if args.quick else 112
    crops = random_crops(list(photos.values()), args.crops, crop_size, scale=(1, 3), seed=args.seed)
    grids = []
    for layer in LAYERS:
        units, patches, values = strongest_patches(model, layer, crops, fields[layer], args.units)
        grids.append((layer, fields[layer], units, patch_grid(patches)))
        print(f"{layer}: receptive field {fields[layer].size} px; units {units.tolist()}, strongest activations "
              f"{', '.join(f'{v:.1f}' for v in values[:, 0])}")

    top = 2 + len(args.betas)
    fig = _common.figure(3.2 * top, 7.2)
    spans = fig.add_gridspec(2, 3 * top)  # the top row has `top` panels, the bottom row 3: a common multiple
    panels = [(content, "content C"), (style, "style S (a micrograph)")] + [
        (result.image, f"G: alpha 1, beta {beta:g}\ncontent {last['content']:.2f}, style {last['style']:.2f}")
        for beta, result, _, last in results]
    for i, (picture, title) in enumerate(panels):
        _common.show_image(fig.add_subplot(spans[0, 3 * i:3 * i + 3]), picture, title)
    for i, (layer, field, units, grid) in enumerate(grids):
        _common.show_image(fig.add_subplot(spans[1, top * i:top * i + top]), grid,
                           f"{layer}: top 9 patches of {len(units)} units\n"
                           f"(receptive field {field.size} px; a 3x3 block per unit)")
    _common.save(fig, args, "12_style_and_units.png",
                 f"Neural style transfer, beta/alpha grid ({args.size} px, {args.steps} steps); what VGG-16 units "
                 f"respond to at three depths")
    _common.done(args)
    return results


if __name__ == "__main__":
    main()
