"""Neural style transfer: the astronaut painted in the style of a stained tissue micrograph.

cnnkit.style.stylize on the pretrained VGG-16 (vgg16-hed weights), 256x256,
L-BFGS from the content image. The same loop is then run with PyTorch doing
the network's forward and backward (same weights, same costs, same L-BFGS),
and both print their content and style losses at the start and the end and
their seconds per step, measured in this run with the same number of threads.

Run: python examples/style_transfer.py [--steps 150] [--threads 2] [--torch-steps N]
Writes examples/style_transfer.png (content over style, then the result).

Measured here (``--steps 150 --torch-steps 150 --threads 2``, 2-core machine, otherwise idle):

    cnnkit : content 0.0000 -> 0.2703, style 23.6454 -> 0.0983 in 150 steps, 1.00 s/step
    PyTorch: content 0.0000 -> 0.2707, style 23.6454 -> 0.0982 in 150 steps, 0.62 s/step
    seconds per step, cnnkit / PyTorch: 1.63

The two loops follow the same path (step 20: content 0.3847, style 0.6154 in both).
"""
import argparse
import os
import time

import numpy as np
import skimage.data
from PIL import Image

from cnnkit.data.images import resize, to_uint8
from cnnkit.models.vgg_features import MEAN_BGR, vgg16_features
from cnnkit.style import STYLE_LAYERS, lbfgs, stylize

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "style_transfer.png")
CONTENT_LAYER = "conv4_2"
CONTENT_WEIGHT, STYLE_WEIGHT, TV_WEIGHT = 1.0, 10.0, 5.0


def torch_loop(state, content, style, steps):
    """The same costs and L-BFGS with PyTorch computing the network: returns (start losses, end losses, s/step)."""
    import torch
    import torch.nn.functional as TF

    order = ["conv1_1", "conv1_2", "pool", "conv2_1", "conv2_2", "pool", "conv3_1", "conv3_2", "conv3_3", "pool",
             "conv4_1", "conv4_2", "conv4_3", "pool", "conv5_1"]
    weights = {name: (torch.tensor(state[f"{name}.weight"]).permute(3, 2, 0, 1).contiguous(),
                      torch.tensor(state[f"{name}.bias"])) for name in order if name != "pool"}

    def features(image):
        x = (image.flip(-1) * 255 - torch.tensor(MEAN_BGR)).permute(0, 3, 1, 2)
        acts = {}
        for name in order:
            if name == "pool":
                x = TF.max_pool2d(x, 2, ceil_mode=True)
            else:
                x = TF.relu(TF.conv2d(x, *weights[name], padding=1))
            acts[name] = x
        return acts

    def gram(a):
        F = a.flatten(2)[0]                                  # (C, H*W)
        return F @ F.T

    def layer_style(g_s, a):
        _, C, H, W = a.shape
        return ((g_s - gram(a)) ** 2).sum() / (4 * C ** 2 * (H * W) ** 2)

    with torch.no_grad():
        p = features(torch.tensor(content[None]))[CONTENT_LAYER]
        s_acts = features(torch.tensor(style[None]))
        g_s = {k: gram(s_acts[k]) for k in STYLE_LAYERS}
        c_scale = (p ** 2).sum() / (4 * p.numel())
        s_scale = {k: layer_style(g_s[k], torch.zeros_like(s_acts[k])) for k in STYLE_LAYERS}
    H, W = content.shape[:2]
    last = {}

    def fun(x):
        g = torch.tensor(x, requires_grad=True)
        acts = features(g)
        a = acts[CONTENT_LAYER]
        J_c = CONTENT_WEIGHT * ((p - a) ** 2).sum() / (4 * a.numel()) / c_scale
        J_s = STYLE_WEIGHT * sum(layer_style(g_s[k], acts[k]) / s_scale[k] for k in STYLE_LAYERS) / len(STYLE_LAYERS)
        tv = TV_WEIGHT * (((g[:, 1:] - g[:, :-1]) ** 2).sum() + ((g[:, :, 1:] - g[:, :, :-1]) ** 2).sum()) / (H * W)
        J = J_c + J_s + tv
        J.backward()
        last.update(content=J_c.item(), style=J_s.item(), total=J.item())
        return J.item(), g.grad.numpy()

    fun(content[None].copy())
    start = dict(last)
    t0 = time.perf_counter()
    lbfgs(fun, content[None].copy(), steps, history=50)
    return start, dict(last), (time.perf_counter() - t0) / max(steps, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--torch-steps", type=int, default=None, help="steps of the PyTorch loop (default --steps)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS / PyTorch threads for both (default 2)")
    args = parser.parse_args()
    import torch
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(args.threads)

    content_full, style_full = skimage.data.astronaut(), skimage.data.immunohistochemistry()
    model = vgg16_features("vgg16-hed")

    def show(step, image, losses):
        print(f"  step {step:4d}  content {losses['content']:.4f}  style {losses['style']:.4f}  "
              f"total {losses['total']:.4f}", flush=True)

    with threadpool_limits(args.threads):
        result = stylize(content_full, style_full, size=256, steps=args.steps, content_layer=CONTENT_LAYER,
                         content_weight=CONTENT_WEIGHT, style_weight=STYLE_WEIGHT, tv_weight=TV_WEIGHT,
                         model=model, callback=show, every=20)
        start, end = result.losses[0], result.losses[-1]
        print(f"cnnkit : content {start['content']:.4f} -> {end['content']:.4f}, style {start['style']:.4f} -> "
              f"{end['style']:.4f} in {args.steps} steps, {result.seconds_per_step:.2f} s/step")

        content = resize(content_full / np.float32(255), longer_side=256).astype(np.float32)
        style = resize(style_full / np.float32(255), content.shape[:2]).astype(np.float32)
        steps = args.steps if args.torch_steps is None else args.torch_steps
        t_start, t_end, t_sec = torch_loop(model.state_dict(), content, style, steps)
        print(f"PyTorch: content {t_start['content']:.4f} -> {t_end['content']:.4f}, style {t_start['style']:.4f} -> "
              f"{t_end['style']:.4f} in {steps} steps, {t_sec:.2f} s/step")
    print(f"seconds per step, cnnkit / PyTorch: {result.seconds_per_step / t_sec:.2f}")

    # content and style as half-size thumbnails in a column, then the result
    H, W = result.image.shape[:2]
    thumbs = [resize(im, (H // 2 - 2, W // 2)) for im in (content, style)]
    column = np.concatenate([thumbs[0], np.ones((4, W // 2, 3), np.float32), thumbs[1]], axis=0)
    panel = np.concatenate([column, np.ones((H, 4, 3), np.float32), result.image], axis=1)
    Image.fromarray(to_uint8(panel)).save(OUT, optimize=True)
    print(f"saved {OUT} ({os.path.getsize(OUT) // 1024} KB)")


if __name__ == "__main__":
    main()
