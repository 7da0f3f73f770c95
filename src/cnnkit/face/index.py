"""Searching a face index: exact nearest neighbours among its descriptors, by BLAS.

An index is the folder of Parquet shards ``cnnkit face index`` writes (one row
per face: ``path, top, right, bottom, left, score, landmarks, descriptor``).
:class:`FaceIndex` holds the descriptors as one float32 matrix, one descriptor
per *column* (D, N), and answers queries with matrix products:
``|x - q|^2 = |x|^2 - 2 q.x + |q|^2``, block by block, keeping the k smallest
per block. Exact, and memory-bound: a query reads the whole matrix once (512 MB
for a million faces); a batch of queries reads it once for all of them. The
column layout matters: OpenBLAS's matrix-vector product streams a (D, N) matrix
about 1.5x faster than its (N, D) transpose; and a single query runs on one BLAS
thread, since a memory-bound product gains little from a second one and loses
a lot when the cores are busy (``bench/face_search.py``).
"""
import contextlib

import numpy as np

from cnnkit.models.dlib_resnet import SAME_PERSON_DISTANCE

_BLOCK = 65536   # rows per product: bounds the distance buffer at _BLOCK x queries floats
_INFO = ("path", "top", "right", "bottom", "left", "score")
_blas = []   # the threadpoolctl controller, made on first use (it inspects the loaded libraries once)


def _one_blas_thread():
    """A context running BLAS on one thread."""
    if not _blas:
        from threadpoolctl import ThreadpoolController
        _blas.append(ThreadpoolController())
    return _blas[0].limit(limits=1, user_api="blas")


class FaceIndex:
    """Exact k-nearest-neighbour search over face descriptors.

    Parameters
    ----------
    descriptors : array_like, shape (N, D)
        Copied into float32 columns.
    rows : dict of str -> ndarray (N,), optional
        What to report with each match (``path``, the box, ``score``...).
    columns : ndarray of float32, shape (D, N), optional
        The descriptors already one per column, kept as they are (``descriptors`` is then ignored).

    Attributes
    ----------
    columns : ndarray of float32, shape (D, N)
        The descriptors, one per column.
    rows : dict of str -> ndarray
    """

    def __init__(self, descriptors, rows=None, columns=None):
        if columns is None:
            descriptors = np.asarray(descriptors)
            if descriptors.ndim != 2 or not np.issubdtype(descriptors.dtype, np.number):
                raise ValueError(f"descriptors must be a numeric (N, D) array, got shape {descriptors.shape}")
            columns = np.ascontiguousarray(descriptors.T, dtype=np.float32)
        self.columns = columns
        self.norms = np.einsum("ij,ij->j", columns, columns)
        self.rows = {k: np.asarray(v) for k, v in (rows or {}).items()}
        for name, values in self.rows.items():
            if len(values) != len(self):
                raise ValueError(f"rows[{name!r}] has {len(values)} values for {len(self)} descriptors")

    @classmethod
    def load(cls, path):
        """Read a face index folder written by ``cnnkit face index`` (every shard, in name order).

        Raises
        ------
        FileNotFoundError, ValueError
            When ``path`` is not a shard folder, or its shards are not a face index's (no ``descriptor``...).
        """
        from cnnkit.io.shards import ShardFolder

        folder = ShardFolder(path)
        columns, rows, filled = None, {name: [] for name in _INFO}, 0
        for part in folder.read(columns=["descriptor", *_INFO]):
            if columns is None:   # one matrix for every shard, allocated once (no concatenated copy)
                columns = np.empty((part["descriptor"].shape[1], folder.num_rows()), np.float32)
            columns[:, filled:filled + len(part["descriptor"])] = part["descriptor"].T
            filled += len(part["descriptor"])
            for name in _INFO:
                rows[name].append(part[name])
        if columns is None:
            return cls(np.zeros((0, 128), np.float32), {name: np.zeros(0) for name in _INFO})
        return cls(None, {name: np.concatenate(values) for name, values in rows.items()}, columns=columns)

    def __len__(self):
        return self.columns.shape[1]

    @property
    def descriptors(self):
        """The descriptors as rows, (N, D) (a view of ``columns``)."""
        return self.columns.T

    def search(self, queries, k=5):
        """The ``k`` nearest stored descriptors of each query, nearest first.

        Parameters
        ----------
        queries : array_like, shape (D,) or (Q, D)
        k : int, default 5
            At most ``len(self)`` are returned.

        Returns
        -------
        distances : ndarray of float32, shape (Q, k) (or (k,) for one query)
            Euclidean distances.
        indices : ndarray of int64, same shape
            Row numbers in the index.
        """
        queries = np.asarray(queries, dtype=np.float32)
        single = queries.ndim == 1
        queries = queries[None] if single else queries
        if queries.ndim != 2 or queries.shape[1] != self.columns.shape[0]:
            raise ValueError(f"queries must have shape (Q, {self.columns.shape[0]}), got {queries.shape}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        k = min(int(k), len(self))
        with _one_blas_thread() if len(queries) == 1 else contextlib.nullcontext():
            best_d, best_i = self._nearest(queries, k)
        distances = np.sqrt(np.maximum(best_d + np.einsum("ij,ij->i", queries, queries)[:, None], 0))
        return (distances[0], best_i[0]) if single else (distances, best_i)

    def _nearest(self, queries, k):
        """The k smallest ``|x|^2 - 2 q.x`` of each query and their row numbers, sorted."""
        best_d = np.full((len(queries), 0), np.inf, np.float32)
        best_i = np.zeros((len(queries), 0), np.int64)
        for start in range(0, len(self), _BLOCK):
            # (Q, B): |x|^2 - 2 q.x; |q|^2 is added at the end, it does not change the order
            d = self.norms[start:start + _BLOCK] - 2 * (queries @ self.columns[:, start:start + _BLOCK])
            kk = min(k, d.shape[1])
            top = np.argpartition(d, kk - 1, axis=1)[:, :kk]
            best_d = np.concatenate([best_d, np.take_along_axis(d, top, 1)], axis=1)
            best_i = np.concatenate([best_i, top + start], axis=1)
            if best_d.shape[1] > k:
                keep = np.argpartition(best_d, k - 1, axis=1)[:, :k]
                best_d, best_i = np.take_along_axis(best_d, keep, 1), np.take_along_axis(best_i, keep, 1)
        order = np.argsort(best_d, axis=1, kind="stable")
        return np.take_along_axis(best_d, order, 1), np.take_along_axis(best_i, order, 1)

    def row(self, i):
        """Row ``i``'s information (``path``, box, ``score``) as a dict of Python values."""
        return {name: values[i].item() if hasattr(values[i], "item") else values[i] for name, values in self.rows.items()}

    def pairs_within(self, threshold=SAME_PERSON_DISTANCE):
        """Every pair ``i < j`` of descriptors closer than ``threshold``, block by block.

        Returns
        -------
        ndarray of int64, shape (E, 2)
        """
        pairs, limit = [], float(threshold) ** 2
        for start in range(0, len(self), _BLOCK // 16):
            block = self.columns[:, start:start + _BLOCK // 16]
            # (B, N - start) squared distances to every later descriptor
            d = (self.norms[start:start + block.shape[1], None] + self.norms[None, start:]
                 - 2 * (block.T @ self.columns[:, start:]))
            i, j = np.nonzero(d < limit)
            keep = j > i
            pairs.append(np.stack([i[keep] + start, j[keep] + start], axis=1))
        return np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)
