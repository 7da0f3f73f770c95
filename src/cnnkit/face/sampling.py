"""Sampling faces for metric learning: P x K batches for triplet mining."""
import numpy as np

__all__ = ["PKBatchSampler"]


class PKBatchSampler:
    """Batches of P people x K images of each, for triplet mining.

    Each batch draws P different people and K different images of each,
    uniformly without replacement, so every anchor has K - 1 positives and
    (P - 1) * K negatives in its batch. An epoch is ``len(labels) // (P * K)``
    batches (about one pass over the images).

    Parameters
    ----------
    labels : array_like of int, shape (N,)
    P : int
        People per batch (at least 2, at most the number of people).
    K : int
        Images per person (at least 2; every person needs K images).
    seed : int or numpy.random.Generator, optional

    Yields
    ------
    ndarray of int64, shape (P * K,)
        Indices into ``labels``, person by person: ``labels[batch].reshape(P, K)``
        has one person per row.
    """

    def __init__(self, labels, P, K, seed=None):
        self.labels = np.asarray(labels)
        self.people = np.unique(self.labels)
        if self.labels.ndim != 1:
            raise ValueError(f"labels must be 1-D, got shape {self.labels.shape}")
        if not 2 <= P <= len(self.people):
            raise ValueError(f"P must be between 2 and the number of people ({len(self.people)}), got {P}")
        self.by_person = [np.flatnonzero(self.labels == person) for person in self.people]
        fewest = min(len(indices) for indices in self.by_person)
        if not 2 <= K <= fewest:
            raise ValueError(f"K must be between 2 and the fewest images of one person ({fewest}), got {K}")
        self.P, self.K = int(P), int(K)
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return max(1, len(self.labels) // (self.P * self.K))

    def __iter__(self):
        for _ in range(len(self)):
            people = self.rng.choice(len(self.people), self.P, replace=False)
            yield np.concatenate([self.rng.choice(self.by_person[p], self.K, replace=False) for p in people])
