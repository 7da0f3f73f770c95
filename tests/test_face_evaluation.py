"""Judging an embedding on unseen people: pair distances, thresholds, verification and one-shot identification."""
import numpy as np
import pytest

from cnnkit.face.evaluation import (best_threshold, evaluate_embeddings, one_shot_identification_accuracy,
                                    pair_distances, verification_accuracy)


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
