"""Face verification as binary classification: logistic regression on a pair of descriptors.

The course's alternative to a distance threshold: from two descriptors f1, f2 make a
feature vector, then ``P(same) = sigmoid(w . features + b)``, trained on labelled
pairs with binary cross-entropy. Two feature forms:

- ``"abs"``: ``|f1 - f2|``, per component;
- ``"chi2"``: the chi-square form ``(f1 - f2)**2 / (f1 + f2)``. The course assumes
  non-negative features (after a ReLU); dlib's descriptors and most embeddings take
  both signs, so ``f1 + f2`` can vanish or turn negative. The denominator used here
  is ``|f1| + |f2| + eps``: equal to the course's for non-negative features, and
  always positive.

Features are standardised with the training pairs' mean and spread, and the weights
(an ``nn.Linear(D, 1)``) are fitted by full-batch Adam through :func:`cnnkit.train.fit`
on the class-balanced binary cross-entropy
(:func:`cnnkit.functional.binary_cross_entropy_with_logits`).
"""
import numpy as np

from cnnkit import functional as F
from cnnkit import nn, train
from cnnkit.data.loader import DataLoader
from cnnkit.optim import Adam

__all__ = ["FEATURES", "pair_features", "PairVerifier"]

FEATURES = ("abs", "chi2")
_EPS = 1e-6


def pair_features(a, b, kind="abs"):
    """The classifier's input for pairs of descriptors.

    Parameters
    ----------
    a, b : array_like, shape (N, D) or (D,)
        Descriptors of the first and second face of each pair.
    kind : {"abs", "chi2"}
        ``|a - b|``, or ``(a - b)**2 / (|a| + |b| + 1e-6)`` (see the module notes).

    Returns
    -------
    ndarray of float64, shape (N, D) (or (D,))
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim not in (1, 2):
        raise ValueError(f"pair_features needs two descriptor arrays of one shape (N, D) or (D,), got {a.shape} "
                         f"and {b.shape}")
    if kind == "abs":
        return np.abs(a - b)
    if kind == "chi2":
        return (a - b) ** 2 / (np.abs(a) + np.abs(b) + _EPS)
    raise ValueError(f"kind must be one of {FEATURES}, got {kind!r}")


class PairVerifier:
    """Logistic regression deciding whether two descriptors are of the same person.

    Parameters
    ----------
    features : {"abs", "chi2"}, default "abs"
        See :func:`pair_features`.
    weight_decay : float, default 1e-3
        L2 penalty on the weights (not the bias), against overfitting few pairs.

    Attributes
    ----------
    weight : ndarray of float32, shape (D,)
    bias : float
    mean, scale : ndarray, shape (D,)
        The standardisation fitted on the training pairs.

    Examples
    --------
    >>> verifier = PairVerifier("chi2").fit(a_train, b_train, same_train)   # doctest: +SKIP
    >>> verifier.accuracy(a_test, b_test, same_test)                       # doctest: +SKIP
    """

    def __init__(self, features="abs", weight_decay=1e-3):
        if features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
        self.features, self.weight_decay = features, float(weight_decay)
        self.weight = self.bias = self.mean = self.scale = None

    def _inputs(self, a, b):
        """Standardised pair features (N, D), float32."""
        x = pair_features(a, b, self.features)
        return ((x.reshape(-1, x.shape[-1]) - self.mean) / self.scale).astype(np.float32)

    def fit(self, a, b, same, epochs=300, lr=0.05):
        """Fit on labelled pairs by full-batch Adam on the mean binary cross-entropy.

        Parameters
        ----------
        a, b : array_like, shape (N, D)
        same : array_like of bool, shape (N,)
            True for pairs of one person; both classes must occur.
        epochs : int, default 300
        lr : float, default 0.05

        Returns
        -------
        self
        """
        same = np.asarray(same, dtype=bool)
        x = pair_features(a, b, self.features)
        if x.ndim != 2 or same.shape != (len(x),) or same.all() or not same.any():
            raise ValueError(f"fit needs pairs (N, D) with labels (N,) of both classes, got features {x.shape}, "
                             f"labels {same.shape} with {int(same.sum())} same-person pairs")
        self.mean, self.scale = x.mean(axis=0), x.std(axis=0) + _EPS
        # balance the two classes: different-person pairs far outnumber same-person ones
        weights = np.where(same, 0.5 / same.mean(), 0.5 / (1 - same.mean())).astype(np.float32)
        model = nn.Linear(x.shape[1], 1)
        for param in model.parameters():
            param.data[...] = 0
        pairs = DataLoader((self._inputs(a, b), same.astype(np.float32), weights), batch_size=len(x))
        train.fit(model, pairs, epochs=epochs, loss=self._loss, optimizer=Adam(model.parameters(), lr=lr),
                  verbose=False)
        self.weight, self.bias = model.weight.data[:, 0].copy(), float(model.bias.data[0])
        return self

    def _loss(self, model, batch):
        """Class-weighted binary cross-entropy of one batch ``(features, same, weights)``, plus the L2 penalty."""
        inputs, targets, weights = batch
        losses = F.binary_cross_entropy_with_logits(model(inputs)[:, 0], targets, reduction="none")
        return (losses * weights).mean() + self.weight_decay * (model.weight * model.weight).sum()

    def _check_fitted(self):
        """Raise a RuntimeError unless :meth:`fit` has run."""
        if self.weight is None:
            raise RuntimeError("this PairVerifier is not fitted yet; call fit(a, b, same) first")

    def predict_proba(self, a, b):
        """P(same person) for pairs of descriptors (N, D) -> (N,), or one pair (D,) -> float."""
        self._check_fitted()
        logits = self._inputs(a, b) @ self.weight + self.bias
        p = 1 / (1 + np.exp(-logits.astype(np.float64)))
        return float(p[0]) if np.ndim(a) == 1 else p

    def predict(self, a, b):
        """Same person? ``predict_proba > 0.5``; (N,) bool, or a bool for one pair."""
        p = self.predict_proba(a, b)
        return bool(p > 0.5) if np.ndim(a) == 1 else p > 0.5

    def accuracy(self, a, b, same):
        """Fraction of pairs (N, D) whose label (N,) is predicted right."""
        return float(np.mean(self.predict(a, b) == np.asarray(same, dtype=bool)))
