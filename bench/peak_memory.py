"""Peak memory (maximum resident set) of a LeNet-5 epoch and a style-transfer step: cnnkit vs PyTorch.

Each workload runs in its own fresh process that imports only the library it
measures (plus NumPy), so the figure includes each library's own code and
buffers, as a user would see it. The LeNet epoch is the one of
bench/lenet_epoch.py (random images of Fashion-MNIST's shape), the style step
the one of bench/style_step.py (vgg16-hed weights, image gradient only).

    python bench/peak_memory.py [--threads 2] [--images 60000] [--sizes 256,512]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def child(args):
    """Run one workload with one library in this process."""
    sys.path.insert(0, HERE)
    if args.library == "torch":
        import torch
        torch.set_num_threads(args.threads)
    else:
        from common import set_cnnkit_threads
        set_cnnkit_threads(args.threads)
    if args.workload == "lenet":
        import lenet_epoch
        images, labels, _ = lenet_epoch.training_images(args.images, real=False)
        make = lenet_epoch.cnnkit_trainer if args.library == "cnnkit" else lenet_epoch.torch_trainer
        train = make(images, labels, 128)
        for i in range(0, len(images), 128):
            train(i)
    else:
        import style_step
        rng = np.random.default_rng(0)
        content, style = (rng.random((1, args.size, args.size, 3), dtype=np.float32) for _ in range(2))
        if args.library == "torch":
            step = style_step.torch_step(dict(np.load(args.weights)), content, style)
        else:
            from cnnkit.models.vgg_features import vgg16_features
            model = vgg16_features("vgg16-hed")
            model.freeze()
            step = style_step.cnnkit_step(model, content, style)
        step()
        step()


def peak_mib(argv):
    """Maximum resident set (MiB) of a child process running ``argv``."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), *argv])
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"peak_memory: the child {argv} failed (status {status})")
    return usage.ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=60000)
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "LIBRARY"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.workload, args.library = args.child
        return child(args)
    common = ["--threads", str(args.threads)]
    print(f"max RSS (MiB), each in its own process, {args.threads} threads")
    print(f"{'workload':22} {'cnnkit':>8} {'torch':>8} {'ratio':>6}")
    lenet = [peak_mib(["--child", "lenet", lib, "--images", str(args.images), *common]) for lib in ("cnnkit", "torch")]
    print(f"{f'LeNet-5 epoch ({args.images})':22} {lenet[0]:8.0f} {lenet[1]:8.0f} {lenet[0] / lenet[1]:6.2f}", flush=True)
    from cnnkit.weights import load
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "vgg16.npz")
        np.savez(weights, **{k: np.asarray(v) for k, v in load("vgg16-hed").items() if k.startswith("conv")})
        for size in map(int, args.sizes.split(",")):
            style = [peak_mib(["--child", "style", lib, "--size", str(size), "--weights", weights, *common])
                     for lib in ("cnnkit", "torch")]
            print(f"{f'style step {size}x{size}':22} {style[0]:8.0f} {style[1]:8.0f} {style[0] / style[1]:6.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
