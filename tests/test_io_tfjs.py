"""The TF.js weights-manifest reader: raw and quantized weights, shards, and one clear error per bad file."""
import json

import numpy as np
import pytest

from cnnkit.io.tfjs import load_tfjs_weights, read_tfjs_manifest


def write(tmp_path, groups, shards):
    """A manifest of ``groups`` and the shard files ``{name: bytes}`` next to it."""
    for name, data in shards.items():
        (tmp_path / name).write_bytes(data)
    manifest = tmp_path / "model-weights_manifest.json"
    manifest.write_text(json.dumps(groups))
    return manifest


def test_float32_int32_and_bool_weights_are_read_as_stored(tmp_path):
    w, k, m = np.arange(6, dtype="<f4").reshape(2, 3) / 7, np.array([-3, 5], "<i4"), np.array([1, 0, 1], "u1")
    manifest = write(tmp_path, [{"paths": ["a.bin"], "weights": [
        {"name": "w", "shape": [2, 3], "dtype": "float32"}, {"name": "k", "shape": [2], "dtype": "int32"},
        {"name": "m", "shape": [3], "dtype": "bool"}]}], {"a.bin": w.tobytes() + k.tobytes() + m.tobytes()})
    state = load_tfjs_weights(manifest)
    np.testing.assert_array_equal(state["w"], w)
    np.testing.assert_array_equal(state["k"], k)
    assert state["m"].dtype == bool and state["m"].tolist() == [True, False, True]


@pytest.mark.parametrize("stored", ["uint8", "uint16"])
def test_quantized_weights_are_q_times_scale_plus_min_in_double_then_float32(tmp_path, stored):
    q = np.array([0, 1, 17, 255], dtype=stored)
    scale, low = 0.009007044399485869, -1.2069439495311063
    manifest = write(tmp_path, [{"paths": ["q.bin"], "weights": [
        {"name": "q", "shape": [2, 2], "dtype": "float32",
         "quantization": {"dtype": stored, "scale": scale, "min": low}}]}],
        {"q.bin": q.astype(q.dtype.newbyteorder("<")).tobytes()})
    values = load_tfjs_weights(manifest)["q"]
    assert values.dtype == np.float32 and values.shape == (2, 2)
    np.testing.assert_array_equal(values.ravel(), (q.astype(np.float64) * scale + low).astype(np.float32))


def test_float16_quantized_weights_widen_to_float32(tmp_path):
    h = np.array([0.5, -2.25, 1e-3], dtype="<f2")
    manifest = write(tmp_path, [{"paths": ["h.bin"], "weights": [
        {"name": "h", "shape": [3], "dtype": "float32", "quantization": {"dtype": "float16"}}]}],
        {"h.bin": h.tobytes()})
    np.testing.assert_array_equal(load_tfjs_weights(manifest)["h"], h.astype(np.float32))


def test_quantized_int32_rounds_halves_up_as_javascript_does(tmp_path):
    q = np.array([1, 3, 5], dtype="u1")  # 0.5 * q - 1 = -0.5, 0.5, 1.5
    manifest = write(tmp_path, [{"paths": ["i.bin"], "weights": [
        {"name": "i", "shape": [3], "dtype": "int32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}}]}],
        {"i.bin": q.tobytes()})
    assert load_tfjs_weights(manifest)["i"].tolist() == [0, 1, 2]


def test_a_group_split_over_two_shards_is_read_across_the_boundary(tmp_path):
    w = np.arange(10, dtype="<f4")
    data = w.tobytes()
    manifest = write(tmp_path, [{"paths": ["s1.bin", "s2.bin"], "weights": [
        {"name": "w", "shape": [10], "dtype": "float32"}]}], {"s1.bin": data[:13], "s2.bin": data[13:]})
    np.testing.assert_array_equal(load_tfjs_weights(manifest)["w"], w)


def test_shards_can_be_given_by_name_from_elsewhere(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x").write_bytes(np.ones(2, "<f4").tobytes())
    manifest = write(tmp_path, [{"paths": ["w.bin"], "weights": [{"name": "w", "shape": [2], "dtype": "float32"}]}],
                     {})
    assert load_tfjs_weights(manifest, {"w.bin": tmp_path / "elsewhere" / "x"})["w"].tolist() == [1, 1]


def test_a_model_json_with_a_weights_manifest_is_read_too(tmp_path):
    (tmp_path / "w.bin").write_bytes(np.ones(1, "<f4").tobytes())
    (tmp_path / "model.json").write_text(json.dumps({"modelTopology": {}, "weightsManifest": [
        {"paths": ["w.bin"], "weights": [{"name": "w", "shape": [], "dtype": "float32"}]}]}))
    assert load_tfjs_weights(tmp_path / "model.json")["w"].shape == ()


def test_shards_of_the_wrong_size_are_refused_before_reading(tmp_path):
    manifest = write(tmp_path, [{"paths": ["w.bin"], "weights": [{"name": "w", "shape": [4, 4], "dtype": "float32",
                                                                    "quantization": {"dtype": "uint8", "scale": 1,
                                                                                     "min": 0}}]}],
                     {"w.bin": b"\0" * 15})
    with pytest.raises(ValueError, match=r"model-weights_manifest\.json: the shards of group 0 \(w\.bin\) hold 15 "
                                         r"bytes but its 1 weights need 16"):
        load_tfjs_weights(manifest)


@pytest.mark.parametrize("spec,match", [
    ({"name": "w", "shape": [2], "dtype": "string"}, "dtype 'string' is not supported"),
    ({"name": "w", "shape": [2, -1], "dtype": "float32"}, "shape must be a list of non-negative ints"),
    ({"shape": [2], "dtype": "float32"}, "weight spec without a name"),
    ({"name": "w", "shape": [2], "dtype": "float32", "quantization": {"dtype": "int8"}}, "quantization 'int8'"),
    ({"name": "w", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 1}},
     "needs finite numbers 'scale' and 'min'"),
    ({"name": "w", "shape": [2], "dtype": "int32", "quantization": {"dtype": "float16"}}, "quantization 'float16'"),
])
def test_unsupported_weight_specs_name_the_file_and_the_weight(tmp_path, spec, match):
    manifest = write(tmp_path, [{"paths": ["w.bin"], "weights": [spec]}], {"w.bin": b"\0" * 8})
    with pytest.raises(ValueError, match=match) as error:
        read_tfjs_manifest(manifest)
    assert "model-weights_manifest.json" in str(error.value)


@pytest.mark.parametrize("text,match", [("{not json", "not a JSON weights manifest"),
                                        ("[]", "non-empty list of groups"),
                                        ('[{"paths": "w.bin", "weights": []}]', "group 0 needs 'paths'")])
def test_malformed_manifests_are_refused(tmp_path, text, match):
    (tmp_path / "m.json").write_text(text)
    with pytest.raises(ValueError, match=match):
        read_tfjs_manifest(tmp_path / "m.json")


@pytest.mark.parametrize("shard", ["missing.bin", "../outside.bin", "sub/w.bin"])
def test_a_shard_that_is_not_a_file_next_to_the_manifest_is_not_found(tmp_path, shard):
    (tmp_path / "outside.bin").write_bytes(b"\0" * 4)
    folder = tmp_path / "model"
    folder.mkdir()
    manifest = write(folder, [{"paths": [shard], "weights": [{"name": "w", "shape": [1], "dtype": "float32"}]}], {})
    with pytest.raises(ValueError, match=f"shard '{shard}' of group 0 was not found"):
        load_tfjs_weights(manifest)
