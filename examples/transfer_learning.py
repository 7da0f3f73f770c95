"""Transfer learning: LeNet-5 features learnt on Fashion-MNIST, reused for handwritten digits from 10 examples each.

1. Pretrain LeNet-5 on Fashion-MNIST (clothing, not digits).
2. Freeze it and replace the head with fresh layers: either the last dense
   layer (84 -> 10) or the whole dense classifier (400 -> 120 -> 84 -> 10).
3. Train only the head on MNIST-5k digits with 10 images per class.
4. Compare on the 1000 MNIST-5k test images with LeNet-5 trained from scratch on
   the same 100 images, with the same optimizer, epochs and batch size.

    python examples/transfer_learning.py [--pretrain-epochs 3] [--pretrain-limit 30000] [--shots 10]

Measured here (accuracy on the 1000 MNIST-5k test images):

    pretraining                      new last layer   new classifier   from scratch
    3 epochs on 30k (85.7% Fashion)       62.0%            80.5%            81.1%
    10 epochs on 60k (90.4% Fashion)      50.8%            81.8%            81.1%

Clothing features barely help with digits: a frozen body needs a new dense
classifier to match training from scratch on the same 100 images.
"""
import argparse
import time

import numpy as np

from cnnkit import data, nn, optim, train
from cnnkit.models import get_model


def standardised(dataset):
    """The images standardised with their own mean and standard deviation, and the labels."""
    images = dataset.images
    return (images - images.mean()) / images.std(), dataset.labels


def few_shot(dataset, shots, seed):
    """``shots`` images of each class, chosen with ``seed``."""
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(dataset.labels == c), shots, replace=False) for c in range(10)]
    return dataset.subset(np.concatenate(picks))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--pretrain-limit", type=int, default=30000, help="Fashion-MNIST training images to use")
    parser.add_argument("--shots", type=int, default=10, help="MNIST images per class")
    parser.add_argument("--epochs", type=int, default=60, help="epochs on the few-shot set")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    fashion = data.load_fashion_mnist("train").subset(np.arange(args.pretrain_limit))
    start = time.perf_counter()
    pretrained = get_model("lenet5", input_size=28, rng=args.seed)
    train.fit(pretrained, standardised(fashion), epochs=args.pretrain_epochs, batch_size=128,
              optimizer=optim.Adam(pretrained.parameters(), lr=2e-3), verbose=False)
    fashion_test = train.evaluate(pretrained, standardised(data.load_fashion_mnist("test")))["accuracy"]
    print(f"pretrained LeNet-5 on {len(fashion)} Fashion-MNIST images, {args.pretrain_epochs} epochs: "
          f"Fashion-MNIST test accuracy {fashion_test:.4f} ({time.perf_counter() - start:.0f} s)")

    digits = few_shot(data.load_mnist5k("train"), args.shots, args.seed)
    test = standardised(data.load_mnist5k("test"))
    budget = dict(epochs=args.epochs, batch_size=20, seed=args.seed, verbose=False)

    results = {}
    for head_name in ("last layer", "classifier"):
        model = get_model("lenet5", input_size=28)
        model.load_state_dict(pretrained.state_dict())
        model.freeze()
        rng = np.random.default_rng(args.seed)
        if head_name == "last layer":  # a new 84 -> 10 layer on the frozen features and dense layers
            setattr(model.classifier, "4", nn.Linear(84, 10, rng=rng))
        else:  # new dense layers 400 -> 120 -> 84 -> 10 on the frozen convolutions
            model.classifier = nn.Sequential(nn.Linear(400, 120, rng=rng), nn.ReLU(), nn.Linear(120, 84, rng=rng),
                                             nn.ReLU(), nn.Linear(84, 10, rng=rng))
        head = [p for p in model.parameters() if p.requires_grad]
        train.fit(model, standardised(digits), optimizer=optim.Adam(head, lr=args.lr), **budget)
        results[head_name] = (train.evaluate(model, test)["accuracy"], sum(p.size for p in head))

    scratch = get_model("lenet5", input_size=28, rng=args.seed)
    train.fit(scratch, standardised(digits), optimizer=optim.Adam(scratch.parameters(), lr=args.lr), **budget)
    from_scratch = train.evaluate(scratch, test)["accuracy"]

    print(f"MNIST-5k with {args.shots} images per class ({len(digits)} images, {args.epochs} epochs), "
          f"accuracy on {len(test[1])} test images:")
    for head_name, (accuracy, trained) in results.items():
        print(f"  frozen Fashion-MNIST body, new {head_name:<10} ({trained:>6,} trained parameters): {accuracy:.4f}")
    print(f"  LeNet-5 from scratch                    ({sum(p.size for p in scratch.parameters()):>6,} trained "
          f"parameters): {from_scratch:.4f}")


if __name__ == "__main__":
    main()
