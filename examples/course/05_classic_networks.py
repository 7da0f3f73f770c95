"""LeNet-5, AlexNet, VGG-16, ResNet-50 and Inception (GoogLeNet): parameters and multiply-adds per layer.

The course's claims, with the published totals:

=========  ================================  ==========================
network    parameters (published)            multiply-adds per image
=========  ================================  ==========================
LeNet-5    ~60 thousand                      (a 32x32x1 digit)
AlexNet    ~60 million                       ~0.7 billion (224x224x3)
VGG-16     ~138 million                      ~15.5 billion
ResNet-50  ~25.6 million                     ~4.1 billion
GoogLeNet  ~6.8 million (paper), 6.6 (torchvision)  ~1.5 billion
=========  ================================  ==========================

and the trends: the height and width shrink while the channels grow; most
parameters sit in the dense layers (AlexNet, VGG) and most multiply-adds in
the convolutions; ResNet and Inception replace the big dense layers by global
average pooling and 1x1 bottlenecks.

Every number is ``Module.summary`` of cnnkit's model (``models.get_model``,
1000 classes, 224x224x3 inputs; LeNet-5 on 32x32x1): it runs a zero image
through the network and counts each leaf layer's parameters and multiply-adds.

    python examples/course/05_classic_networks.py [--quick]
"""
import numpy as np

import _common
from cnnkit import models

# (name, builder arguments, input shape, published parameters, published multiply-adds or None)
NETWORKS = [("LeNet-5", "lenet5", {}, (32, 32, 1), 60e3, None),
            ("AlexNet", "alexnet", {}, (224, 224, 3), 60e6, 0.72e9),
            ("VGG-16", "vgg16", {}, (224, 224, 3), 138e6, 15.5e9),
            ("ResNet-50", "resnet50", {}, (224, 224, 3), 25.6e6, 4.1e9),
            ("GoogLeNet", "googlenet", {}, (224, 224, 3), 6.8e6, 1.5e9)]


def main(argv=None):
    args = _common.parse_args(__doc__, argv=argv)
    networks = NETWORKS[:2] if args.quick else NETWORKS
    results = []
    for label, name, kwargs, shape, params, macs in networks:
        model = models.get_model(name, **kwargs)
        summary = model.summary(shape, show=False)
        if name == "lenet5":
            print(f"{label} ({name}), per layer:")
            print(summary)
        weighted = [r for r in summary.rows if r.params or r.macs]
        dense = sum(r.params for r in weighted if r.type == "Linear")
        results.append((label, summary, weighted, params, macs, dense))
        del model
    _common.table(["network", "input", "layers with weights", "parameters", "published", "in dense layers",
                   "multiply-adds", "published"],
                  [(label, "x".join(map(str, shape)), len([r for r in w if r.type in ("Conv2d", "Linear")]),
                    f"{s.total_params / 1e6:.3f}M", f"{p / 1e6:g}M", f"{d / s.total_params:.0%}",
                    f"{s.macs / 1e6:,.1f}M", "-" if m is None else f"{m / 1e6:,.0f}M")
                   for (label, s, w, p, m, d), (*_, shape, _, _) in zip(results, networks)],
                  "Totals from cnnkit's summary against the published numbers:")

    fig = _common.figure(13, 5.2)
    ax_p, ax_m = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for label, summary, weighted, *_ in results:
        layers = [r for r in weighted if r.type in ("Conv2d", "Linear")]
        depth = np.arange(1, len(layers) + 1) / len(layers)
        ax_p.plot(depth, np.cumsum([r.params for r in layers]) / 1e6, label=f"{label} ({len(layers)} layers)")
        ax_m.plot(depth, np.cumsum([r.macs for r in layers]) / 1e9, label=label)
    ax_p.set_yscale("log")
    ax_p.set_xlabel("fraction of the conv and dense layers, input to output")
    ax_p.set_ylabel("cumulative parameters (millions, log scale)")
    ax_p.set_title("parameters: the dense layers at the end dominate AlexNet and VGG")
    ax_m.set_yscale("log")
    ax_m.set_xlabel("fraction of the conv and dense layers, input to output")
    ax_m.set_ylabel("cumulative multiply-adds per image (billions, log scale)")
    ax_m.set_title("multiply-adds: spent in the convolutions")
    for ax in (ax_p, ax_m):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _common.save(fig, args, "05_classic_networks.png",
                 "Classic networks layer by layer (cnnkit summary, 1000 classes, 224x224x3; LeNet-5 32x32x1)")
    _common.done(args)


if __name__ == "__main__":
    main()
