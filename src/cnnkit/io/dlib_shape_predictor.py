"""Reading dlib's shape predictor serialization, e.g. ``shape_predictor_5_face_landmarks.dat``.

A from-scratch reader of what dlib's ``serialize(const shape_predictor&)``
(``dlib/image_processing/shape_predictor.h``) writes, in the primitives of
``dlib/serialize.h`` (:mod:`cnnkit.io.dlib_serialize`); dlib itself is not
needed. The file is, in order:

- ``int version`` (1);
- ``initial_shape``, a ``matrix<float,0,1>``: ``int nr, int nc`` (written negated by
  current dlib, positive by old versions), then ``nr * nc`` floats: x0, y0, x1, y1, ...
  in a face box normalised to the unit square;
- ``forests``, ``vector<vector<regression_tree>>``: ``int`` cascade count, and for each
  cascade ``int`` tree count; a tree is ``vector<split_feature>`` (``int`` count, then
  per split ``int idx1, int idx2, float thresh``) then ``vector<matrix<float,0,1>>``
  (``int`` count, then per leaf a matrix of the shape's size);
- ``anchor_idx``, ``vector<vector<unsigned long>>``: per cascade, the shape point each
  feature pixel is attached to;
- ``deltas``, ``vector<vector<vector<float,2>>>``: per cascade and feature pixel, its
  offset (x, y) from that point, in the initial shape's normalised frame.

Every primitive of this file is a dlib integer (floats are a mantissa and an exponent),
so it is read with the integer, float and column primitives of
:class:`cnnkit.io.dlib_serialize.DlibReader`. Trees must be complete binary trees of one
depth, and every cascade must sample the same number of pixels, as in dlib's released
models; anything else is refused with the byte offset where it was found.
"""
import os

import numpy as np

from cnnkit.io.dlib_serialize import DlibReader

__all__ = ["load_dlib_shape_predictor"]

def _tree(r, what, num_parts):
    """One regression tree: (splits as [idx1, idx2], thresholds, leaves (L, num_parts * 2))."""
    num_splits = r.count(f"the split count of {what}")
    splits, thresholds = [], []
    for i in range(num_splits):
        splits.append((r.count(f"idx1 of split {i} of {what}"), r.count(f"idx2 of split {i} of {what}")))
        thresholds.append(r.float(f"the threshold of split {i} of {what}"))
    leaves_at = r.pos
    num_leaves = r.count(f"the leaf count of {what}")
    if num_leaves != num_splits + 1 or num_leaves & (num_leaves - 1):
        r.fail(f"a complete binary tree for {what}", f"found {num_splits} splits and {num_leaves} leaves",
               at=leaves_at)
    leaves = r.columns(num_leaves, 2 * num_parts, f"the leaves of {what}")
    return splits, thresholds, leaves


def load_dlib_shape_predictor(path):
    """Read a dlib ``shape_predictor`` ``.dat`` file into arrays, executing nothing.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.dat`` file, e.g. ``shape_predictor_5_face_landmarks.dat``.

    Returns
    -------
    state : dict of str -> numpy.ndarray
        With C cascades of T trees of depth D (``S = 2**D - 1`` splits, ``L = 2**D``
        leaves each), P shape points and F feature pixels per cascade:

        - ``initial_shape`` (P, 2) float32: the mean shape, (x, y) in the face box
          normalised to the unit square;
        - ``split_pixels`` (C, T, S, 2) int32: the two feature pixels each split
          compares, in dlib's node order (children of node i are 2i + 1 and 2i + 2);
        - ``split_thresholds`` (C, T, S) float32;
        - ``leaf_values`` (C, T, L, P, 2) float32: the shape update of each leaf;
        - ``anchor_points`` (C, F) int32: the shape point each feature pixel follows;
        - ``pixel_deltas`` (C, F, 2) float32: its offset from that point.

    Raises
    ------
    ValueError
        On a truncated file, an unknown version or inconsistent sizes, naming the
        byte offset and what was expected.
    """
    with open(path, "rb") as f:
        r = DlibReader(f.read(), os.path.basename(os.fspath(path)))
    r.count("the shape_predictor version", {1})
    initial = r.column(None, "the initial shape")
    if len(initial) == 0 or len(initial) % 2:
        r.fail("an initial shape of (x, y) pairs", f"found {len(initial)} values")
    num_parts = len(initial) // 2

    num_cascades = r.count("the cascade count")
    forests = []
    for c in range(num_cascades):
        num_trees = r.count(f"the tree count of cascade {c}")
        forests.append([_tree(r, f"tree {t} of cascade {c}", num_parts) for t in range(num_trees)])
    trees_at = r.pos
    shapes = {(len(forest), len(forest[0][0]) if forest else 0) for forest in forests}
    if len(shapes) > 1 or any(len(tree[0]) != len(forest[0][0]) for forest in forests for tree in forest):
        r.fail("the same number of trees of one depth in every cascade",
               f"found (trees, splits) {sorted(shapes)}", at=trees_at)

    anchors = _per_cascade(r, num_cascades, "anchor_idx", lambda what: r.count(what))
    deltas = _per_cascade(r, num_cascades, "deltas", lambda what: (r.float(f"x of {what}"), r.float(f"y of {what}")))
    num_pixels = len(anchors[0]) if anchors else 0
    if any(len(a) != num_pixels for a in anchors) or any(len(d) != num_pixels for d in deltas):
        r.fail("the same number of feature pixels in every cascade",
               f"found anchors {[len(a) for a in anchors]} and deltas {[len(d) for d in deltas]}")
    if any(i >= num_parts for a in anchors for i in a):
        r.fail(f"anchor indices below the {num_parts} shape points", f"found {max(i for a in anchors for i in a)}")
    # The pixel count is only known from anchor_idx, after the forests: split indices are checked here.
    if any(max(s) >= num_pixels for forest in forests for tree in forest for s in tree[0]):
        r.fail(f"split pixel indices below the {num_pixels} feature pixels of a cascade", "found larger ones")
    r.expect_end()

    num_trees, num_splits = shapes.pop() if shapes else (0, 0)
    num_leaves = num_splits + 1
    return {
        "initial_shape": np.array(initial, dtype=np.float32).reshape(num_parts, 2),
        "split_pixels": np.array([[tree[0] for tree in forest] for forest in forests],
                                 dtype=np.int32).reshape(num_cascades, num_trees, num_splits, 2),
        "split_thresholds": np.array([[tree[1] for tree in forest] for forest in forests],
                                     dtype=np.float32).reshape(num_cascades, num_trees, num_splits),
        "leaf_values": np.array([[tree[2] for tree in forest] for forest in forests],
                                dtype=np.float32).reshape(num_cascades, num_trees, num_leaves, num_parts, 2),
        "anchor_points": np.array(anchors, dtype=np.int32).reshape(num_cascades, num_pixels),
        "pixel_deltas": np.array(deltas, dtype=np.float32).reshape(num_cascades, num_pixels, 2),
    }


def _per_cascade(r, num_cascades, name, read):
    """A ``vector<vector<...>>`` with one inner vector per cascade, items read by ``read(what)``."""
    r.count(f"the cascade count of {name}", {num_cascades})
    out = []
    for c in range(num_cascades):
        n = r.count(f"the length of {name} of cascade {c}")
        out.append([read(f"item {i} of {name} of cascade {c}") for i in range(n)])
    return out
