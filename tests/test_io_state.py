import os

import numpy as np
import pytest

from cnnkit import Tensor
from cnnkit.io import load_state, save_state


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
