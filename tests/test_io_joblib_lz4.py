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
    with pytest.raises(RefusedPickleError, match=r"evil\.lz4: refusing to load posix\.mkdir"):
        load_joblib_lz4(source)
    assert not marker.exists()


def _text(value):
    """BINUNICODE: a str in any pickle protocol from 1."""
    data = value.encode()
    return b"X" + len(data).to_bytes(4, "little") + data


def _wrapper(fields):
    """Opcodes pushing a joblib NumpyArrayWrapper built from ``fields`` (name -> opcodes of the value)."""
    items = b"".join(_text(name) + value for name, value in fields.items())
    return b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81q\x01}(" + items + b"ub"


_FLOAT32 = b"cnumpy\ndtype\n(" + _text("f4") + b"\x89\x88tR(K\x03" + _text("<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"


def _nested_wrapper_exploit(marker):
    """The nested-wrapper trick: wrapper 1 (memo 1) carries a forged ``hasobject=True`` attribute and is then
    given as the dtype of wrapper 2, so joblib 1.3-1.5.3 read wrapper 2 with a plain ``pickle.load`` of what
    follows: here a ``__reduce__`` payload that would create ``marker``."""
    first = _wrapper({"subclass": b"cnumpy\nndarray\n", "shape": b"K\x02\x85", "order": _text("C"),
                      "dtype": _FLOAT32, "allow_mmap": b"\x89", "hasobject": b"\x88"})
    second = _wrapper({"subclass": b"cnumpy\nndarray\n", "shape": b")", "order": _text("C"),
                       "dtype": b"h\x01", "allow_mmap": b"\x89"})
    payload = pickle.dumps(_Mkdir(str(marker)), protocol=2)
    return b"\x80\x02](" + first + np.zeros(2, "<f4").tobytes() + second.replace(b"q\x01", b"") + payload + b"e."


def test_nested_wrapper_trick_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    source = tmp_path / "nested.lz4"
    source.write_bytes(lz4_frame.compress(_nested_wrapper_exploit(marker)))
    with pytest.raises(ValueError, match=r"nested\.lz4: refusing an array wrapper with unknown fields \['hasobject'\]"):
        load_joblib_lz4(source)
    assert not marker.exists()


def test_wrapper_whose_dtype_is_another_wrapper_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    source = tmp_path / "nested.lz4"
    exploit = _nested_wrapper_exploit(marker).replace(_text("hasobject") + b"\x88", b"")
    source.write_bytes(lz4_frame.compress(exploit))
    with pytest.raises(ValueError, match=r"nested\.lz4: refusing an array wrapper whose dtype is a _ArrayWrapper"):
        load_joblib_lz4(source)
    assert not marker.exists()


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(RefusedPickleError, match=r"o\.lz4: refusing numpy dtype 'O8'"):
        load_joblib_lz4(_write(tmp_path / "o.lz4", [np.array([1, "a"], dtype=object)]))


def test_refusals_are_value_errors():
    assert issubclass(RefusedPickleError, ValueError) and issubclass(RefusedPickleError, pickle.UnpicklingError)


def test_big_endian_and_fortran_arrays_read_back_exactly(tmp_path):
    arrays = [np.arange(6, dtype=">f8").reshape(2, 3), np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4))]
    for got, want in zip(load_joblib_lz4(_write(tmp_path / "w.lz4", arrays)), arrays):
        np.testing.assert_array_equal(got, want.astype(np.float32))


def test_shape_larger_than_the_data_is_refused_before_allocating(tmp_path):
    exploit = b"\x80\x02](" + _wrapper({"subclass": b"cnumpy\nndarray\n", "shape": b"\x8a\x08" + (2**62).to_bytes(8, "little") + b"\x85",
                                          "order": _text("C"), "dtype": _FLOAT32}) + b"e."
    (tmp_path / "big.lz4").write_bytes(lz4_frame.compress(exploit))
    with pytest.raises(ValueError, match=r"big\.lz4: .*needs 18446744073709551616 bytes"):
        load_joblib_lz4(tmp_path / "big.lz4")


def test_decompression_bomb_is_refused_while_decompressing(tmp_path):
    (tmp_path / "bomb.lz4").write_bytes(lz4_frame.compress(b"\0" * (1 << 20)))
    with pytest.raises(ValueError, match=r"bomb\.lz4: decompresses to more than 1000 bytes"):
        load_joblib_lz4(tmp_path / "bomb.lz4", max_bytes=1000)


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
