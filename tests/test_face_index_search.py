"""FaceIndex (exact nearest neighbours by BLAS) and Chinese whispers clustering, as dlib does it."""
import numpy as np
import pytest

from cnnkit.face import index as face_index
from cnnkit.face.cluster import chinese_whispers, cluster_faces
from cnnkit.face.index import FaceIndex


def people(n_people=6, per_person=8, spread=0.15, seed=0):
    """Descriptors of ``n_people`` far-apart people, ``per_person`` noisy faces each, and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_people, 128)).astype(np.float32)
    labels = np.repeat(np.arange(n_people), per_person)
    return centres[labels] + rng.standard_normal((len(labels), 128)).astype(np.float32) * spread / np.sqrt(128), labels


def same_partition(a, b):
    """Whether two labellings group the items identically."""
    return len(set(zip(a.tolist(), b.tolist()))) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("block", [7, 65536])
def test_search_returns_the_exact_k_nearest_in_order_across_blocks(monkeypatch, block):
    monkeypatch.setattr(face_index, "_BLOCK", block)
    rng = np.random.default_rng(1)
    stored, queries = rng.standard_normal((50, 128)), rng.standard_normal((4, 128))
    distances, indices = FaceIndex(stored).search(queries, k=5)
    brute = np.linalg.norm(stored[None].astype(np.float32) - queries[:, None].astype(np.float32), axis=-1)
    np.testing.assert_array_equal(indices, np.argsort(brute, axis=1)[:, :5])
    np.testing.assert_allclose(distances, np.sort(brute, axis=1)[:, :5], rtol=1e-4, atol=1e-4)


def test_one_query_gives_1d_results_and_k_is_capped_by_the_index_size():
    distances, indices = FaceIndex(np.eye(3, 128)).search(np.eye(3, 128)[1], k=10)
    assert indices.tolist() == [1, 0, 2] or indices.tolist() == [1, 2, 0]
    assert distances.shape == (3,) and distances[0] == pytest.approx(0, abs=1e-6)


def test_search_names_a_query_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"\(Q, 128\)"):
        FaceIndex(np.zeros((3, 128))).search(np.zeros(64))


def test_pairs_within_finds_exactly_the_pairs_closer_than_the_threshold(monkeypatch):
    monkeypatch.setattr(face_index, "_BLOCK", 16 * 5)   # blocks of 5 rows
    descriptors, _ = people(3, 6)
    pairs = FaceIndex(descriptors).pairs_within(0.6)
    d = np.linalg.norm(descriptors[:, None] - descriptors[None], axis=-1)
    i, j = np.nonzero(np.triu(d < 0.6, k=1))
    assert sorted(map(tuple, pairs.tolist())) == sorted(zip(i.tolist(), j.tolist()))


def test_chinese_whispers_finds_the_people_without_being_told_how_many():
    descriptors, labels = people()
    found = cluster_faces(descriptors, threshold=0.6)
    assert same_partition(found, labels) and found[0] == 0


def test_chinese_whispers_numbers_clusters_in_order_of_first_appearance_and_keeps_loners_alone():
    labels = chinese_whispers([[2, 3], [3, 4], [2, 4]], num_nodes=6)
    assert labels.tolist() == [0, 1, 2, 2, 2, 3]


def test_clusters_match_dlibs_chinese_whispers_clustering():
    dlib = pytest.importorskip("dlib")
    descriptors, _ = people(8, 6, spread=0.3, seed=4)
    theirs = np.asarray(dlib.chinese_whispers_clustering([dlib.vector(d.astype(float).tolist()) for d in descriptors],
                                                         0.6))
    assert same_partition(cluster_faces(descriptors, 0.6), theirs)
