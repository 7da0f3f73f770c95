import hashlib
import io
import os
import pickle

import numpy as np
import pytest

joblib = pytest.importorskip("joblib")
lz4_frame = pytest.importorskip("lz4.frame")

from cnnkit.io import RefusedPickleError, load_joblib_lz4, mtcnn_state  # noqa: E402
from cnnkit.io.joblib_lz4 import MTCNN_LAYERS  # noqa: E402


def _write(path, value):
    """Write ``value`` the way mtcnn's assets are made: joblib.dump, then an lz4 frame."""
    buffer = io.BytesIO()
    joblib.dump(value, buffer)
    path.write_bytes(lz4_frame.compress(buffer.getvalue()))
    return path


def test_joblib_lz4_list_of_arrays_reads_back_exactly(tmp_path):
    arrays = [np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.array([1.5, -2.0], dtype=np.float32)]
    loaded = load_joblib_lz4(_write(tmp_path / "w.lz4", arrays))
    assert len(loaded) == 2
    for got, want in zip(loaded, arrays):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


class _Mkdir:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_pickle_calling_a_function_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    source = tmp_path / "evil.lz4"
    source.write_bytes(lz4_frame.compress(pickle.dumps([_Mkdir(str(marker))])))
    with pytest.raises(RefusedPickleError, match=r"refusing to load posix\.mkdir"):
        load_joblib_lz4(source)
    assert not marker.exists()


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(RefusedPickleError, match="dtype"):
        load_joblib_lz4(_write(tmp_path / "o.lz4", [np.array([1, "a"], dtype=object)]))


def test_sha256_mismatch_is_refused_before_unpickling(tmp_path):
    source = _write(tmp_path / "w.lz4", [np.zeros(2, dtype=np.float32)])
    with pytest.raises(ValueError, match="sha256"):
        load_joblib_lz4(source, sha256="0" * 64)
    good = hashlib.sha256(source.read_bytes()).hexdigest()
    assert len(load_joblib_lz4(source, sha256=good)) == 1


def _fake_lists():
    """Arrays shaped like mtcnn's lists (smaller channel counts)."""
    rng = np.random.default_rng(3)
    lists = {}
    for net, layers in MTCNN_LAYERS.items():
        arrays, c = [], 3
        for _, kind in layers:
            if kind == "prelu":
                arrays.append(rng.standard_normal((1, 1, c) if net == "pnet" else (c,)).astype(np.float32))
            elif kind == "conv":
                arrays += [rng.standard_normal((3, 3, c, 4)).astype(np.float32), np.zeros(4, np.float32)]
                c = 4
            else:
                arrays += [rng.standard_normal((c, 4)).astype(np.float32), np.zeros(4, np.float32)]
                c = 4
        lists[net] = arrays
    return lists


def test_mtcnn_lists_get_layer_names_and_prelu_alphas_become_vectors():
    lists = _fake_lists()
    state = mtcnn_state(lists)
    assert len(state) == 13 + 16 + 21
    np.testing.assert_array_equal(state["pnet.conv1.weight"], lists["pnet"][0])
    np.testing.assert_array_equal(state["pnet.prelu1.weight"], lists["pnet"][2].reshape(-1))
    assert state["pnet.prelu1.weight"].shape == (4,)
    np.testing.assert_array_equal(state["onet.fc6_3.bias"], lists["onet"][-1])


def test_mtcnn_list_of_the_wrong_length_is_refused():
    lists = _fake_lists()
    lists["rnet"] = lists["rnet"][:-1]
    with pytest.raises(ValueError, match="rnet: expected 16 arrays"):
        mtcnn_state(lists)
