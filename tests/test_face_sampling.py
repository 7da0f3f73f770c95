"""Sampling for metric learning: P x K batches."""
import numpy as np
import pytest

from cnnkit.face.sampling import PKBatchSampler


def test_pk_sampler_batches_hold_p_people_with_k_distinct_images_each():
    labels = np.repeat(np.arange(6), 5)
    sampler = PKBatchSampler(labels, P=3, K=4, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 30 // 12
    for batch in batches:
        rows = labels[batch].reshape(3, 4)
        assert (rows == rows[:, :1]).all()             # one person per row
        assert len(np.unique(rows[:, 0])) == 3         # P different people
        assert len(np.unique(batch)) == 12             # no image twice


def test_pk_sampler_rejects_k_larger_than_the_fewest_images_of_a_person():
    labels = np.array([0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="fewest images"):
        PKBatchSampler(labels, P=2, K=3)
