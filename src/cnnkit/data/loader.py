"""DataLoader: mini-batches of (images, labels) ndarrays, shuffled reproducibly."""
import math

import numpy as np


class DataLoader:
    """Iterate over a dataset in mini-batches; each ``for`` loop is one epoch.

    Parameters
    ----------
    dataset : Dataset or (images, labels)
        Anything with ``images`` (N, H, W, C) and ``labels`` (N,) attributes,
        or a pair of arrays.
    batch_size : int, default 32
    shuffle : bool, default False
        Visit the images in a new random order every epoch.
    seed : int, optional
        Seed of the shuffle: the same seed gives the same sequence of epochs.
    drop_last : bool, default False
        Skip the last batch when it is smaller than ``batch_size``.
    transform : callable, optional
        Applied to each batch of images, e.g. an augmentation ``Compose``.

    Yields
    ------
    images : ndarray, shape (B, H, W, C)
    labels : ndarray, shape (B,)
    """

    def __init__(self, dataset, batch_size=32, shuffle=False, seed=None, drop_last=False, transform=None):
        if isinstance(dataset, (tuple, list)):
            images, labels = dataset
        else:
            images, labels = dataset.images, dataset.labels
        self.images, self.labels = np.asarray(images), np.asarray(labels)
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size, self.shuffle, self.drop_last, self.transform = int(batch_size), shuffle, drop_last, transform
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        """The number of batches per epoch."""
        n = len(self.labels) / self.batch_size
        return math.floor(n) if self.drop_last else math.ceil(n)

    def __iter__(self):
        order = self.rng.permutation(len(self.labels)) if self.shuffle else None
        for b in range(len(self)):
            start = b * self.batch_size
            index = order[start:start + self.batch_size] if order is not None else slice(start, start + self.batch_size)
            images = self.images[index]
            yield (self.transform(images) if self.transform is not None else images), self.labels[index]
