"""Seconds per style-transfer step (VGG-16 to conv5_1, forward + backward to the image): cnnkit vs PyTorch.

A step is what ``cnnkit.style.stylize`` evaluates each iteration: the features
of the generated image at conv1_1 ... conv5_1 and conv4_2, the content cost
and the Gram-matrix style costs, and the gradient with respect to the image.
PyTorch computes the same costs with the same weights (vgg16-hed from the
weights registry, fetched on first use). Each library runs in a process of its
own (``common.Worker``), both in turn, round after round.

    python bench/style_step.py [--sizes 256,512] [--threads 2] [--rounds 5]
"""
import argparse
import os
import tempfile

import numpy as np

from common import Worker, machine, serve, set_cnnkit_threads, workers_side_by_side

CONTENT_LAYER = "conv4_2"
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")  # cnnkit.style.STYLE_LAYERS
MEAN_BGR = (104.00699, 116.66877, 122.67892)  # cnnkit.models.vgg_features.MEAN_BGR
ORDER = ["conv1_1", "conv1_2", "pool", "conv2_1", "conv2_2", "pool", "conv3_1", "conv3_2", "conv3_3", "pool",
         "conv4_1", "conv4_2", "conv4_3", "pool", "conv5_1"]


def cnnkit_step(model, content, style):
    """A function computing one step's cost and image gradient with cnnkit."""
    from cnnkit import Tensor, no_grad  # each library is imported only where used (bench/peak_memory.py)
    from cnnkit.style.costs import content_cost, layer_style_cost

    taps = STYLE_LAYERS + (CONTENT_LAYER,)
    with no_grad():
        a_C = model.features(content, CONTENT_LAYER)[CONTENT_LAYER]
        a_S = model.features(style, STYLE_LAYERS)

    def step():
        g = Tensor(content.copy(), requires_grad=True)
        acts = model.features(g, taps)
        total = content_cost(a_C, acts[CONTENT_LAYER])
        for k in STYLE_LAYERS:
            total = total + layer_style_cost(a_S[k], acts[k])
        total.backward()
        return g.grad

    return step


def torch_step(state, content, style):
    """The same step with PyTorch (NCHW inside, the same weights)."""
    import torch
    import torch.nn.functional as TF

    weights = {name: (torch.tensor(state[f"{name}.weight"]).permute(3, 2, 0, 1).contiguous(),
                      torch.tensor(state[f"{name}.bias"])) for name in ORDER if name != "pool"}

    def features(image):
        x = (image.flip(-1) * 255 - torch.tensor(MEAN_BGR)).permute(0, 3, 1, 2)
        acts = {}
        for name in ORDER:
            x = TF.max_pool2d(x, 2, ceil_mode=True) if name == "pool" else TF.relu(TF.conv2d(x, *weights[name], padding=1))
            acts[name] = x
        return acts

    def gram(a):
        f = a.flatten(2)[0]  # (C, H*W)
        return f @ f.T

    def layer_style(g_s, a):
        _, C, H, W = a.shape
        return ((g_s - gram(a)) ** 2).sum() / (4 * C ** 2 * (H * W) ** 2)

    with torch.no_grad():
        p = features(torch.tensor(content))[CONTENT_LAYER]
        g_s = {k: gram(a) for k, a in features(torch.tensor(style)).items() if k in STYLE_LAYERS}

    def step():
        g = torch.tensor(content, requires_grad=True)
        acts = features(g)
        a = acts[CONTENT_LAYER]
        total = ((p - a) ** 2).sum() / (4 * a.numel()) + sum(layer_style(g_s[k], acts[k]) for k in STYLE_LAYERS)
        total.backward()
        return g.grad

    return step


def child(library, size, threads, weights):
    """In a child process: one library's step at ``size``, run on command; "save PATH" writes the last gradient."""
    rng = np.random.default_rng(size)
    content, style = (rng.random((1, size, size, 3), dtype=np.float32) for _ in range(2))
    if library == "torch":
        import torch
        torch.set_num_threads(threads)
        step = torch_step(dict(np.load(weights)), content, style)
    else:
        from cnnkit.models.vgg_features import vgg16_features
        set_cnnkit_threads(threads)
        model = vgg16_features("vgg16-hed")
        model.freeze()  # as stylize does: only the image takes a gradient
        step = cnnkit_step(model, content, style)
    last = []

    def run(command, path=None):
        if command == "save":
            np.save(path, np.asarray(last[-1]))
        else:
            last[:] = [step()]

    serve(run)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="256,512", help="image sizes (square), comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("LIBRARY", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), args.threads, args.weights)
    from cnnkit import style
    from cnnkit.models import vgg_features
    from cnnkit.weights import load

    assert style.STYLE_LAYERS == STYLE_LAYERS and vgg_features.MEAN_BGR == MEAN_BGR
    print(machine(args.threads))
    print(f"{'size':>6} {'cnnkit s':>9} {'torch s':>9} {'ratio':>6}  (median of {args.rounds} rounds; ratio: median per "
          f"round; each library in its own process)")
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "vgg16.npz")
        np.savez(weights, **{k: np.asarray(v) for k, v in load("vgg16-hed").items() if k.startswith("conv")})
        for size in map(int, args.sizes.split(",")):
            workers = [Worker(__file__, library, size, "--threads", args.threads, "--weights", weights)
                       for library in ("cnnkit", "torch")]
            (t_ours, t_theirs), ratios = workers_side_by_side(workers, args.rounds, "step")
            grads = []
            for library, worker in zip(("cnnkit", "torch"), workers):
                worker("save", os.path.join(tmp, f"{library}.npy"))
                worker.close()
                grads.append(np.load(os.path.join(tmp, f"{library}.npy")))
            diff = np.abs(grads[0] - grads[1]).max() / np.abs(grads[1]).max()
            print(f"{size:>6} {t_ours:9.3f} {t_theirs:9.3f} {np.median(ratios):6.2f}  "
                  f"(image gradients agree to {diff:.1e} of their largest value)", flush=True)


if __name__ == "__main__":
    main()
