"""Reading dlib's shape_predictor serialization, from files written here by a small writer."""
import math

import numpy as np
import pytest

from cnnkit.io.dlib_shape_predictor import load_dlib_shape_predictor

# A writer of dlib's shape_predictor serialization (tests only), following
# dlib/image_processing/shape_predictor.h and dlib/serialize.h.


def _int(value):
    magnitude = abs(int(value))
    size = max(1, (magnitude.bit_length() + 7) // 8)
    return bytes([size | (0x80 if value < 0 else 0)]) + magnitude.to_bytes(size, "little")


def _float(value):
    mantissa, exponent = math.frexp(float(np.float32(value)))
    return _int(int(mantissa * 2 ** 24)) + _int(exponent - 24)


def _column(values, negative=True):
    sign = -1 if negative else 1
    return _int(sign * len(values)) + _int(sign) + b"".join(_float(v) for v in values)


def predictor_bytes(state, version=1, old_matrices=False):
    """serialize(shape_predictor) for a state dict in the layout load_dlib_shape_predictor returns."""
    out = [_int(version), _column(state["initial_shape"].ravel(), not old_matrices)]
    pixels, thresholds, leaves = state["split_pixels"], state["split_thresholds"], state["leaf_values"]
    out.append(_int(len(thresholds)))
    for c in range(len(thresholds)):
        out.append(_int(len(thresholds[c])))
        for t in range(len(thresholds[c])):
            out.append(_int(len(thresholds[c, t])))
            for (i1, i2), thresh in zip(pixels[c, t], thresholds[c, t]):
                out += [_int(i1), _int(i2), _float(thresh)]
            out.append(_int(len(leaves[c, t])))
            out += [_column(leaf.ravel(), not old_matrices) for leaf in leaves[c, t]]
    anchors, deltas = state["anchor_points"], state["pixel_deltas"]
    out.append(_int(len(anchors)))
    out += [_int(len(a)) + b"".join(_int(i) for i in a) for a in anchors]
    out.append(_int(len(deltas)))
    out += [_int(len(d)) + b"".join(_float(x) + _float(y) for x, y in d) for d in deltas]
    return b"".join(out)


def random_state(cascades=2, trees=3, depth=2, parts=3, pixels=6, seed=0):
    """A predictor of the given sizes with random values (float32-representable)."""
    rng = np.random.default_rng(seed)
    splits, leaves = 2 ** depth - 1, 2 ** depth
    return {
        "initial_shape": rng.uniform(0.2, 0.8, (parts, 2)).astype(np.float32),
        "split_pixels": rng.integers(0, pixels, (cascades, trees, splits, 2)).astype(np.int32),
        "split_thresholds": rng.normal(0, 20, (cascades, trees, splits)).astype(np.float32),
        "leaf_values": rng.normal(0, 0.01, (cascades, trees, leaves, parts, 2)).astype(np.float32),
        "anchor_points": rng.integers(0, parts, (cascades, pixels)).astype(np.int32),
        "pixel_deltas": rng.normal(0, 0.1, (cascades, pixels, 2)).astype(np.float32),
    }


def write(tmp_path, data, name="sp.dat"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_reads_back_every_array_exactly(tmp_path):
    state = random_state()
    loaded = load_dlib_shape_predictor(write(tmp_path, predictor_bytes(state)))
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape, key
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)


def test_old_format_with_positive_matrix_sizes_reads_the_same(tmp_path):
    state = random_state(seed=1)
    old = load_dlib_shape_predictor(write(tmp_path, predictor_bytes(state, old_matrices=True)))
    np.testing.assert_array_equal(old["leaf_values"], state["leaf_values"])
    np.testing.assert_array_equal(old["initial_shape"], state["initial_shape"])


def test_truncated_file_names_the_byte_offset(tmp_path):
    data = predictor_bytes(random_state())
    cut = len(data) - 7
    with pytest.raises(ValueError, match=r"at byte \d+: expected .* of deltas of cascade 1") as error:
        load_dlib_shape_predictor(write(tmp_path, data[:cut]))
    assert f"(total {cut}; truncated?)" in str(error.value)
    assert cut - 8 <= int(str(error.value).split("at byte ")[1].split(":")[0]) <= cut


def test_unknown_version_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"at byte 0: expected the shape_predictor version in \[1\], found 2"):
        load_dlib_shape_predictor(write(tmp_path, predictor_bytes(random_state(), version=2)))


def test_trailing_bytes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="the end of the file, found 2 more bytes"):
        load_dlib_shape_predictor(write(tmp_path, predictor_bytes(random_state()) + b"\x01\x00"))


def test_a_tree_that_is_not_complete_is_refused(tmp_path):
    state = random_state(depth=1)
    data = predictor_bytes(state)
    # The first tree's leaf count: after version, initial shape, cascade/tree counts and one split.
    good = _int(2) + _column(state["leaf_values"][0, 0, 0].ravel())
    bad = _int(3) + _column(state["leaf_values"][0, 0, 0].ravel())
    with pytest.raises(ValueError, match="a complete binary tree for tree 0 of cascade 0, found 1 splits and 3"):
        load_dlib_shape_predictor(write(tmp_path, data.replace(good, bad, 1)))


def test_split_indices_beyond_the_feature_pixels_are_refused(tmp_path):
    state = random_state(pixels=4)
    state["split_pixels"][1, 2, 0, 1] = 4
    with pytest.raises(ValueError, match="split pixel indices below the 4 feature pixels"):
        load_dlib_shape_predictor(write(tmp_path, predictor_bytes(state)))


def test_a_byte_that_starts_no_integer_is_reported(tmp_path):
    with pytest.raises(ValueError, match=r"at byte 0: .*control byte 0x31"):
        load_dlib_shape_predictor(write(tmp_path, b"1111"))
