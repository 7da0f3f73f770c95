"""Triplet loss and mining against direct NumPy loops, plus gradient checks."""
import itertools

import numpy as np
import pytest

from cnnkit import Tensor, gradcheck
from cnnkit.face import (batch_all_triplet_loss, batch_hard_triplet_loss, pairwise_squared_distances,
                         semi_hard_triplet_loss, triplet_loss)

rng = np.random.default_rng(0)
LABELS = np.array([0, 0, 1, 1, 1, 2, 2, 3])


def embeddings(n=len(LABELS), d=4, dtype=np.float64):
    return (rng.standard_normal((n, d)) * 0.4).astype(dtype)


def sqdist(a, b):
    return float(np.sum((a - b) ** 2))


def triplets(labels):
    for a, p, n in itertools.product(range(len(labels)), repeat=3):
        if a != p and labels[a] == labels[p] and labels[n] != labels[a]:
            yield a, p, n


def test_triplet_loss_is_the_summed_hinge_of_squared_distances():
    a, p, n = embeddings(5), embeddings(5), embeddings(5)
    expected = sum(max(sqdist(a[i], p[i]) - sqdist(a[i], n[i]) + 0.2, 0.0) for i in range(5))
    assert triplet_loss(a, p, n).item() == pytest.approx(expected, rel=1e-12)


def test_triplet_loss_is_zero_when_every_negative_is_farther_by_the_margin():
    a = np.zeros((3, 2))
    assert triplet_loss(a, a + 0.1, a + 1.0, alpha=0.2).item() == 0.0


def test_triplet_loss_keeps_float32():
    a, p, n = (embeddings(3, dtype=np.float32) for _ in range(3))
    assert triplet_loss(a, p, n).dtype == np.float32


def test_triplet_loss_gradient_matches_finite_differences():
    a, p, n = embeddings(6), embeddings(6), embeddings(6)
    assert gradcheck(lambda x, y, z: triplet_loss(x, y, z, alpha=0.5), [a, p, n])


def test_triplet_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(3, 5\)"):
        triplet_loss(np.zeros((3, 4)), np.zeros((3, 5)), np.zeros((3, 4)))


def test_pairwise_squared_distances_match_direct_sums():
    e = embeddings()
    expected = [[sqdist(x, y) for y in e] for x in e]
    np.testing.assert_allclose(pairwise_squared_distances(e).numpy(), expected, rtol=1e-12)


def test_batch_all_averages_the_hinge_over_active_triplets():
    e = embeddings()
    hinges = [max(sqdist(e[a], e[p]) - sqdist(e[a], e[n]) + 0.3, 0.0) for a, p, n in triplets(LABELS)]
    active = [h for h in hinges if h > 0]
    loss, fraction = batch_all_triplet_loss(e, LABELS, margin=0.3)
    assert loss.item() == pytest.approx(sum(active) / len(active), rel=1e-12)
    assert fraction == len(active) / len(hinges)


def test_batch_hard_uses_the_farthest_positive_and_closest_negative():
    e = embeddings()
    hinges = []
    for a in range(len(LABELS)):
        pos = [sqdist(e[a], e[p]) for p in range(len(LABELS)) if p != a and LABELS[p] == LABELS[a]]
        neg = [sqdist(e[a], e[n]) for n in range(len(LABELS)) if LABELS[n] != LABELS[a]]
        if pos:
            hinges.append(max(max(pos) - min(neg) + 0.2, 0.0))
    loss, fraction = batch_hard_triplet_loss(e, LABELS)
    assert loss.item() == pytest.approx(np.mean(hinges), rel=1e-12)
    assert fraction == np.mean(np.array(hinges) > 0)


def test_semi_hard_picks_the_closest_negative_farther_than_the_positive():
    e = embeddings()
    hinges = []
    for a, p in itertools.permutations(range(len(LABELS)), 2):
        if LABELS[a] != LABELS[p]:
            continue
        d_ap = sqdist(e[a], e[p])
        neg = [sqdist(e[a], e[n]) for n in range(len(LABELS)) if LABELS[n] != LABELS[a]]
        farther = [d for d in neg if d > d_ap]
        d_an = min(farther) if farther else max(neg)
        hinges.append(max(d_ap - d_an + 0.2, 0.0))
    loss, fraction = semi_hard_triplet_loss(e, LABELS)
    assert loss.item() == pytest.approx(np.mean(hinges), rel=1e-12)
    assert fraction == np.mean(np.array(hinges) > 0)


@pytest.mark.parametrize("mining", [batch_all_triplet_loss, batch_hard_triplet_loss, semi_hard_triplet_loss])
def test_mining_loss_gradient_matches_finite_differences(mining):
    e = embeddings()
    assert gradcheck(lambda x: mining(x, LABELS, margin=0.5)[0], [e])


@pytest.mark.parametrize("mining", [batch_all_triplet_loss, batch_hard_triplet_loss, semi_hard_triplet_loss])
def test_mining_reports_no_active_triplet_when_classes_are_far_apart(mining):
    e = Tensor(np.repeat(np.eye(4) * 10.0, 2, axis=0), requires_grad=True)
    loss, fraction = mining(e, np.repeat(np.arange(4), 2))
    assert (loss.item(), fraction) == (0.0, 0.0)
    loss.backward()
    assert not e.grad.any()


@pytest.mark.parametrize("mining", [batch_all_triplet_loss, batch_hard_triplet_loss, semi_hard_triplet_loss])
def test_mining_reports_every_triplet_active_when_embeddings_collapse(mining):
    loss, fraction = mining(np.zeros((6, 3)), LABELS[:6], margin=0.2)
    assert loss.item() == pytest.approx(0.2)
    assert fraction == 1.0


def test_mining_rejects_labels_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"\(8,\).*\(7,\)"):
        batch_hard_triplet_loss(embeddings(), LABELS[:7])


def test_triplet_loss_takes_a_negative_margin():
    a, p, n = embeddings(5), embeddings(5), embeddings(5)
    expected = sum(max(sqdist(a[i], p[i]) - sqdist(a[i], n[i]) - 0.7, 0.0) for i in range(5))
    assert triplet_loss(a, p, n, alpha=-0.7).item() == pytest.approx(expected, rel=1e-12)


def test_triplet_loss_rejects_a_margin_that_is_not_a_finite_number():
    with pytest.raises(ValueError, match="finite"):
        triplet_loss(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)), alpha=float("nan"))
