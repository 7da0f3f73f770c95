"""The P x K sampler, the evaluation functions and the Siamese training recipe."""
import numpy as np
import pytest

from cnnkit import Tensor, nn, no_grad
from cnnkit.face.evaluation import (best_threshold, embed_images, evaluate_embeddings,
                                    one_shot_identification_accuracy, pair_distances, verification_accuracy)
from cnnkit.face.sampling import PKBatchSampler, downscale
from cnnkit.face.siamese import train_embedding
from cnnkit.face.triplet import batch_hard_triplet_loss
from cnnkit.models.face_embedding import EmbeddingNet, l2_normalize


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


def test_downscale_averages_blocks():
    images = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(downscale(images, 2)[0, ..., 0], [[2.5, 4.5], [10.5, 12.5]])


def test_l2_normalize_gives_unit_rows():
    out = l2_normalize(Tensor(np.array([[3.0, 4.0], [0.0, 2.0]], dtype=np.float32)))
    np.testing.assert_allclose(out.data, [[0.6, 0.8], [0.0, 1.0]], rtol=1e-6)


def test_embedding_net_outputs_unit_vectors_of_embedding_dim():
    model = EmbeddingNet(channels=(4, 8), embedding_dim=5, input_size=(16, 12), rng=0)
    out = embed_images(model, np.random.default_rng(0).random((6, 16, 12, 1), dtype=np.float32))
    assert out.shape == (6, 5) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_embedding_net_with_average_pooling_takes_any_input_size():
    model = EmbeddingNet(channels=(4, 8), embedding_dim=5, input_size=None, rng=0)
    assert embed_images(model, np.zeros((2, 9, 13, 1), dtype=np.float32)).shape == (2, 5)


def test_embedding_net_rejects_an_input_size_its_pooling_would_empty():
    with pytest.raises(ValueError, match="too small"):
        EmbeddingNet(channels=(4, 8, 16), input_size=(16, 7))


def test_pair_distances_lists_every_unordered_pair_once():
    embeddings = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    distances, same = pair_distances(embeddings, [7, 7, 8])
    np.testing.assert_allclose(distances, [5.0, 1.0, np.sqrt(18.0)])
    np.testing.assert_array_equal(same, [True, False, False])


def test_best_threshold_separates_separable_pairs_perfectly():
    distances = np.array([0.1, 0.2, 0.9, 1.0, 0.3])
    same = np.array([True, True, False, False, True])
    threshold, accuracy = best_threshold(distances, same)
    assert accuracy == 1.0 and 0.3 < threshold < 0.9
    assert threshold == pytest.approx(0.6)


def test_best_threshold_maximises_accuracy_on_overlapping_pairs():
    # sorted: 0.1 S, 0.2 D, 0.3 S, 0.4 S, 0.5 D, 0.6 D; best cut after 0.4: 5 of 6 right
    distances = np.array([0.6, 0.1, 0.4, 0.2, 0.5, 0.3])
    same = np.array([False, True, True, False, False, True])
    threshold, accuracy = best_threshold(distances, same)
    assert threshold == pytest.approx(0.45) and accuracy == pytest.approx(5 / 6)


def test_best_threshold_does_not_cut_between_equal_distances():
    threshold, accuracy = best_threshold(np.array([0.5, 0.5, 0.9]), np.array([True, False, False]))
    assert accuracy == pytest.approx(2 / 3)
    assert threshold < 0.5 or threshold > 0.5


def test_best_threshold_balanced_favours_the_rare_same_pairs():
    # one same pair at 0.5 among nine different pairs, two of them closer
    distances = np.array([0.1, 0.2, 0.5, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8])
    same = np.arange(10) == 2
    plain, plain_accuracy = best_threshold(distances, same)
    balanced, balanced_accuracy = best_threshold(distances, same, balanced=True)
    assert plain < 0.5 and plain_accuracy == pytest.approx(0.9)
    assert 0.5 < balanced < 0.8 and balanced_accuracy == pytest.approx((1 + 7 / 9) / 2)


def test_verification_accuracy_counts_distance_at_threshold_as_same():
    accuracy, tpr, tnr = verification_accuracy(np.array([0.5, 0.7, 0.2]), np.array([True, False, False]), 0.5)
    assert (accuracy, tpr, tnr) == (pytest.approx(2 / 3), 1.0, 0.5)


def test_one_shot_identification_is_perfect_on_tight_clusters():
    rng = np.random.default_rng(0)
    centres = np.eye(4) * 10
    labels = np.repeat(np.arange(4), 3)
    embeddings = centres[labels] + rng.normal(scale=0.1, size=(12, 4))
    assert one_shot_identification_accuracy(embeddings, labels) == 1.0


def test_one_shot_identification_averages_over_the_enrolled_image():
    # person 0: images at 0, 1, 10; person 1: images at 4, 5, 6 (1-D embeddings)
    embeddings = np.array([[0.0], [1.0], [10.0], [4.0], [5.0], [6.0]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    # enrol image 0: gallery 0 and 4 -> queries 1 (0 ok), 10 (1 wrong), 5 (1 ok), 6 (1 ok) = 3/4
    assert one_shot_identification_accuracy(embeddings, labels, enrolled=0) == 0.75
    # enrol image 1: gallery 1 and 5 -> 0 ok, 10 wrong, 4 ok, 6 ok = 3/4
    # enrol image 2: gallery 10 and 6 -> 0 wrong, 1 wrong, 4 ok, 5 ok = 2/4
    assert one_shot_identification_accuracy(embeddings, labels) == pytest.approx((0.75 + 0.75 + 0.5) / 3)


def test_evaluate_embeddings_refuses_people_seen_in_training():
    embeddings = np.eye(4)
    with pytest.raises(ValueError, match="must not appear"):
        evaluate_embeddings(embeddings, [0, 0, 1, 1], embeddings, [1, 1, 2, 2])


def test_evaluate_embeddings_reports_perfect_scores_on_separated_people():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(6), 4)
    embeddings = np.eye(6)[labels] + rng.normal(scale=0.05, size=(24, 6))
    report = evaluate_embeddings(embeddings[:12], labels[:12], embeddings[12:], labels[12:])
    assert report["verification_accuracy"] == 1.0 and report["one_shot_accuracy"] == 1.0
    assert report["eval_pairs"] == 66 and report["eval_same_pairs"] == 18
    assert report["all_different_accuracy"] == pytest.approx(48 / 66)


def _toy_faces(n_people=4, per_person=6, seed=0):
    """Tiny 'faces': each person a fixed random 12x12 pattern, each image with noise."""
    rng = np.random.default_rng(seed)
    patterns = rng.random((n_people, 12, 12, 1), dtype=np.float32)
    labels = np.repeat(np.arange(n_people), per_person)
    noise = rng.normal(scale=0.2, size=(len(labels), 12, 12, 1)).astype(np.float32)
    return patterns[labels] + noise, labels


def test_training_steps_reduce_the_batch_hard_loss():
    images, labels = _toy_faces()
    model = EmbeddingNet(channels=(8, 16), embedding_dim=8, input_size=(12, 12), rng=0)

    def loss_on_all():
        with no_grad():
            return batch_hard_triplet_loss(model(Tensor(images)), labels)[0].item()

    before = loss_on_all()
    history = train_embedding(model, images, labels, epochs=4, P=4, K=3, lr=1e-2, shift=-1, seed=0)
    assert history["steps"] == 8
    assert len(history["fraction_active"]) == 4 and all(0 <= f <= 1 for f in history["fraction_active"])
    assert loss_on_all() < 0.5 * before


class _OnePoint(nn.Module):
    """Maps every image to the same unit vector: a fully collapsed embedding."""

    def __init__(self):
        super().__init__()
        self.point = nn.Parameter(np.ones((1, 4), dtype=np.float32))

    def forward(self, x):
        return l2_normalize(self.point * Tensor(np.ones((x.shape[0], 1), dtype=np.float32)))


def test_train_embedding_warns_when_the_embeddings_collapse_to_a_point():
    images, labels = _toy_faces()
    with pytest.warns(RuntimeWarning, match="collapsed"):
        history = train_embedding(_OnePoint(), images, labels, epochs=3, P=4, K=3, lr=0.0, shift=-1)
    assert history["fraction_active"] == [1.0, 1.0, 1.0]


def test_train_embedding_rejects_an_unknown_mining():
    images, labels = _toy_faces()
    with pytest.raises(ValueError, match="mining"):
        train_embedding(EmbeddingNet(channels=(4,), input_size=(12, 12), rng=0), images, labels, mining="hardest")
