import io
import json
import os
import zipfile

import numpy as np
import pytest

from cnnkit import Tensor
from cnnkit.io import load_state, save_state, state


def _state():
    rng = np.random.default_rng(0)
    return {"conv1.weight": rng.standard_normal((3, 3, 2, 4)).astype(np.float32),
            "conv1.bias": np.arange(4, dtype=np.float64),
            "bn.num_batches_tracked": np.array(7, dtype=np.int64),
            "mask": np.array([True, False]),
            "empty": np.zeros((0, 3), dtype=np.float32)}


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_round_trip_keeps_names_order_dtypes_shapes_values_and_metadata(tmp_path, suffix):
    state = _state()
    save_state(tmp_path / f"m{suffix}", state, {"note": "hi", "mean": "[1, 2]"})
    loaded, metadata = load_state(tmp_path / f"m{suffix}")
    assert list(loaded) == list(state)
    for name, array in state.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array)
    assert metadata == {"note": "hi", "mean": "[1, 2]"}


def test_safetensors_files_are_interchangeable_with_the_safetensors_package(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    state = _state()
    save_state(tmp_path / "ours.safetensors", state)
    theirs = safetensors_numpy.load_file(str(tmp_path / "ours.safetensors"))
    assert set(theirs) == set(state) and all(np.array_equal(theirs[k], state[k]) for k in state)
    safetensors_numpy.save_file(state, str(tmp_path / "theirs.safetensors"), metadata={"a": "b"})
    loaded, metadata = load_state(tmp_path / "theirs.safetensors")
    assert metadata == {"a": "b"} and all(np.array_equal(loaded[k], state[k]) for k in state)


def test_tensor_values_are_saved_through_their_data(tmp_path):
    save_state(tmp_path / "t.npz", {"w": Tensor(np.ones((2, 2), dtype=np.float32))})
    np.testing.assert_array_equal(load_state(tmp_path / "t.npz")[0]["w"], np.ones((2, 2), dtype=np.float32))


def test_save_replaces_the_file_atomically_and_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "m.safetensors"
    save_state(target, {"a": np.zeros(2, dtype=np.float32)})
    with pytest.raises(TypeError):
        save_state(target, {"a": np.zeros(2, dtype=np.float32)}, {"bad": 1})
    with pytest.raises(TypeError):
        save_state(target, {"b": np.array(["text"])})
    assert os.listdir(tmp_path) == ["m.safetensors"]
    assert list(load_state(target)[0]) == ["a"]


def test_unknown_extension_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\.safetensors or \.npz"):
        save_state(tmp_path / "m.pt", {"a": np.zeros(1)})


def test_reserved_metadata_key_cannot_be_a_tensor_name(tmp_path):
    with pytest.raises(ValueError, match="__metadata__"):
        save_state(tmp_path / "m.npz", {"__metadata__": np.zeros(1)})


def test_safetensors_with_offsets_outside_the_data_is_refused(tmp_path):
    target = tmp_path / "m.safetensors"
    save_state(target, {"a": np.zeros(4, dtype=np.float32)})
    target.write_bytes(target.read_bytes()[:-4])
    with pytest.raises(ValueError, match="data_offsets"):
        load_state(target)


def test_npz_holding_a_pickled_object_is_refused(tmp_path):
    np.savez(tmp_path / "p.npz", obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        load_state(tmp_path / "p.npz")


def _safetensors(path, header, data=b""):
    """Write a safetensors file with a hand-made header (bytes or a JSON-able value)."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data)
    return path


def test_safetensors_header_over_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(state, "MAX_HEADER_BYTES", 1000)
    target = _safetensors(tmp_path / "big.safetensors", {"__metadata__": {"a": "x" * 2000}})
    with pytest.raises(ValueError, match=r"big\.safetensors: header length 2027 exceeds .* 1000-byte limit"):
        load_state(target)


@pytest.mark.parametrize("entry, problem", [
    ("hello", "expected an object with exactly dtype, shape and data_offsets"),
    ({"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}, r"dtype \['F32'\] is not one of"),
    ({"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}, "dtype 'F8_E4M3' is not one of"),
    ({"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}, "shape .* non-negative integers"),
    ({"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}, "shape .* non-negative integers"),
    ({"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}, "data_offsets .* two non-negative integers"),
])
def test_safetensors_header_entry_of_the_wrong_json_type_names_the_file_and_the_entry(tmp_path, entry, problem):
    target = _safetensors(tmp_path / "bad.safetensors", {"a": entry}, b"\0" * 4)
    with pytest.raises(ValueError, match=rf"bad\.safetensors: header entry 'a': {problem}"):
        load_state(target)


def test_safetensors_shape_whose_product_overflows_int64_is_refused(tmp_path):
    target = _safetensors(tmp_path / "huge.safetensors", {"a": {"dtype": "F32", "shape": [2**40] * 3,
                                                                "data_offsets": [0, 0]}})
    with pytest.raises(ValueError, match=r"huge\.safetensors: header entry 'a': shape \[1099511627776, .* is too "
                                         r"large for any array"):
        load_state(target)


def test_safetensors_header_nested_too_deeply_is_refused(tmp_path):
    target = _safetensors(tmp_path / "deep.safetensors", b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}")
    with pytest.raises(ValueError, match=r"deep\.safetensors: the safetensors header is nested too deeply"):
        load_state(target)


def test_safetensors_header_with_a_duplicate_name_is_refused(tmp_path):
    entry = '{"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}'
    target = _safetensors(tmp_path / "dup.safetensors", f'{{"a": {entry}, "a": {entry}}}'.encode())
    with pytest.raises(ValueError, match=r"dup\.safetensors: .*duplicate key 'a'"):
        load_state(target)


def test_npz_member_claiming_more_data_than_the_archive_holds_is_refused_before_allocating(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2**40,)})
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w") as archive:
        archive.writestr("a.npy", header.getvalue() + b"\0" * 16)
    with pytest.raises(ValueError, match=r"bomb\.npz: member 'a\.npy': shape \(1099511627776,\) of float32 needs"):
        load_state(tmp_path / "bomb.npz")


def test_npz_that_is_not_a_zip_archive_names_the_file(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match=r"junk\.npz: not a valid \.npz archive"):
        load_state(tmp_path / "junk.npz")


def test_npz_fortran_and_big_endian_arrays_read_back_exactly(tmp_path):
    arrays = {"f": np.asfortranarray(np.arange(12.0).reshape(3, 4)), "b": np.arange(5, dtype=">i4")}
    np.savez_compressed(tmp_path / "m.npz", **arrays)
    loaded, _ = load_state(tmp_path / "m.npz")
    for name, want in arrays.items():
        np.testing.assert_array_equal(loaded[name], want)
        assert loaded[name].dtype.isnative and loaded[name].flags.writeable
