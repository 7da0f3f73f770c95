"""Grouping faces into people without being told how many: Chinese whispers, as dlib does it.

dlib's ``chinese_whispers_clustering(descriptors, threshold)`` links every two
descriptors closer than the threshold (each also to itself), every link of
weight 1, and runs ``chinese_whispers`` (Biemann 2006) for 100 x N steps: each
step picks a node at random and gives it the label with the largest total link
weight among its neighbours (ties to the smallest label); labels are then
renumbered in order of first appearance. This is that algorithm, with NumPy's
random generator in place of dlib's (so individual labels may differ from
dlib's run to run, as dlib's differ with its seed).
"""
import numpy as np

from cnnkit.models.dlib_resnet import SAME_PERSON_DISTANCE


def chinese_whispers(pairs, num_nodes, iterations=100, seed=0):
    """Cluster a graph by Chinese whispers.

    Parameters
    ----------
    pairs : array_like of int, shape (E, 2)
        Undirected links ``(i, j)``, weight 1 each; every node is also linked to itself.
    num_nodes : int
    iterations : int, default 100
        dlib's ``num_iterations``: ``iterations * num_nodes`` random updates.
    seed : int, default 0

    Returns
    -------
    ndarray of int64, shape (num_nodes,)
        Cluster labels ``0 .. C-1``, numbered in order of first appearance.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if num_nodes == 0:
        return np.zeros(0, np.int64)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= num_nodes):
        raise ValueError(f"pairs must index nodes 0..{num_nodes - 1}")
    nodes = np.arange(num_nodes)
    heads = np.concatenate([pairs[:, 0], pairs[:, 1], nodes])
    tails = np.concatenate([pairs[:, 1], pairs[:, 0], nodes])
    order = np.argsort(heads, kind="stable")
    neighbours = tails[order]
    starts = np.searchsorted(heads[order], np.arange(num_nodes + 1))
    labels = nodes.copy()
    rng = np.random.default_rng(seed)
    for chosen in rng.integers(0, num_nodes, size=iterations * num_nodes):
        found, counts = np.unique(labels[neighbours[starts[chosen]:starts[chosen + 1]]], return_counts=True)
        labels[chosen] = found[np.argmax(counts)]   # the first maximum: the smallest label, as dlib's std::map
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse]


def cluster_faces(descriptors, threshold=SAME_PERSON_DISTANCE, iterations=100, seed=0):
    """dlib's ``chinese_whispers_clustering``: people from face descriptors, without knowing how many.

    Parameters
    ----------
    descriptors : array_like, shape (N, 128), or a FaceIndex
    threshold : float, default 0.6
        Faces closer than this are linked (dlib's same-person distance).
    iterations : int, default 100
    seed : int, default 0

    Returns
    -------
    ndarray of int64, shape (N,)
        A cluster label per face.
    """
    from cnnkit.face.index import FaceIndex

    index = descriptors if isinstance(descriptors, FaceIndex) else FaceIndex(descriptors)
    return chinese_whispers(index.pairs_within(threshold), len(index), iterations, seed)
