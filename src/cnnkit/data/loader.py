"""DataLoader: mini-batches of arrays, shuffled reproducibly, optionally augmented."""
import math

import numpy as np


def as_arrays(dataset):
    """The arrays of a dataset: ``(images, labels)`` of a Dataset, or a tuple/list of equal-length arrays.

    Parameters
    ----------
    dataset : Dataset or sequence of array_like
        Anything with ``images`` and ``labels`` attributes, or ``(x, y, ...)``.

    Returns
    -------
    tuple of ndarray
        All of the same length along axis 0.
    """
    if isinstance(dataset, (tuple, list)):
        arrays = tuple(np.asarray(a) for a in dataset)
    elif hasattr(dataset, "images") and hasattr(dataset, "labels"):
        arrays = (np.asarray(dataset.images), np.asarray(dataset.labels))
    else:
        raise TypeError(f"expected a Dataset or a tuple of arrays (images, labels, ...), got {type(dataset).__name__}")
    if not arrays or any(a.ndim == 0 for a in arrays):
        raise ValueError("a dataset needs at least one array, each with a first (sample) axis")
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"the dataset's arrays differ in length: {[len(a) for a in arrays]} "
                         f"(e.g. {len(arrays[0])} images but {len(arrays[-1])} labels)")
    return arrays


class DataLoader:
    """Iterate over a dataset in mini-batches; each ``for`` loop is one epoch.

    Parameters
    ----------
    dataset : Dataset or sequence of arrays
        Anything with ``images`` (N, H, W, C) and ``labels`` (N,) attributes,
        or a tuple ``(x, y, ...)`` of arrays with the same first dimension.
    batch_size : int, default 32
    shuffle : bool, default False
        Visit the samples in a new random order every epoch.
    seed : int, optional
        Seed of the shuffle: the same seed gives the same sequence of epochs.
    drop_last : bool, default False
        Skip the last batch when it is smaller than ``batch_size``.
    transform : callable, optional
        ``transform(images) -> images``, applied to the first array of each batch
        (e.g. an augmentation ``Compose``).
    batch_transform : callable, optional
        ``batch_transform(batch) -> batch``, applied to the whole tuple after
        ``transform``: for augmentations that move labels too (boxes, landmarks).
    batch_sampler : iterable of index arrays, optional
        Chooses every batch (e.g. P people x K images for triplets); with it
        ``batch_size``, ``shuffle`` and ``drop_last`` are not used. Its length
        is the number of batches per epoch.

    Yields
    ------
    tuple of ndarray
        One slice of every array, e.g. ``images (B, H, W, C), labels (B,)``.

    Notes
    -----
    Randomness lives in ``np.random.Generator`` attributes named ``rng`` (the
    loader's, the transforms', the sampler's), which ``cnnkit.train`` saves in
    checkpoints so that a resumed run repeats an uninterrupted one exactly.
    """

    def __init__(self, dataset, batch_size=32, shuffle=False, seed=None, drop_last=False, transform=None,
                 batch_transform=None, batch_sampler=None):
        self.arrays = as_arrays(dataset)
        if batch_sampler is None and (isinstance(batch_size, bool) or int(batch_size) < 1):
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), bool(shuffle), bool(drop_last)
        self.transform, self.batch_transform, self.batch_sampler = transform, batch_transform, batch_sampler
        self.rng = np.random.default_rng(seed)

    @property
    def images(self):
        """The first array: the model's inputs."""
        return self.arrays[0]

    @property
    def labels(self):
        """The second array (labels or targets); None when there is only one."""
        return self.arrays[1] if len(self.arrays) > 1 else None

    def __len__(self):
        """The number of batches per epoch."""
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.arrays[0]) / self.batch_size
        return math.floor(n) if self.drop_last else math.ceil(n)

    def _indices(self):
        """This epoch's index arrays (or slices), one per batch."""
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        order = self.rng.permutation(len(self.arrays[0])) if self.shuffle else None
        for b in range(len(self)):
            start = b * self.batch_size
            yield order[start:start + self.batch_size] if order is not None else slice(start, start + self.batch_size)

    def __iter__(self):
        for index in self._indices():
            batch = tuple(a[index] for a in self.arrays)
            if self.transform is not None:
                batch = (self.transform(batch[0]),) + batch[1:]
            if self.batch_transform is not None:
                batch = tuple(self.batch_transform(batch))
            yield batch
