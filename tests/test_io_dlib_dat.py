import math

import numpy as np
import pytest

from cnnkit.io import load_dlib_dnn

# A writer for dlib's DNN serialization (tests only), following dlib's serialize.h and dnn/core.h.


def _int(value):
    magnitude = abs(value)
    size = max(1, (magnitude.bit_length() + 7) // 8)
    return bytes([size | (0x80 if value < 0 else 0)]) + magnitude.to_bytes(size, "little")


def _float(value):
    mantissa, exponent = math.frexp(float(np.float32(value)))
    return _int(int(mantissa * 2 ** 24)) + _int(exponent - 24)


def _str(text):
    return _int(len(text)) + text.encode("ascii")


def _shape(shape, version):
    return _int(version) + b"".join(_int(n) for n in shape)


def _tensor(array):
    array = np.asarray(array, dtype="<f4")
    return _shape(array.shape, 2) + array.tobytes()


_EMPTY = _tensor(np.zeros((0, 0, 0, 0)))
_MULTIPLIERS = _float(1) + _float(1) + _float(1) + _float(0)


def _con(weight_oihw, bias, stride, padding):
    out_c, in_c, kh, kw = weight_oihw.shape
    params = np.concatenate([weight_oihw.ravel(), bias]).reshape(-1, 1, 1, 1)
    return (_str("con_4") + _tensor(params) + b"".join(_int(n) for n in (out_c, kh, kw, stride, stride,
                                                                          padding, padding))
            + _shape(weight_oihw.shape, 1) + _shape((1, out_c, 1, 1), 1) + _MULTIPLIERS)


def _affine(gamma, beta):
    k = len(gamma)
    return (_str("affine_") + _tensor(np.concatenate([gamma, beta]).reshape(-1, 1, 1, 1))
            + _shape((1, k, 1, 1), 1) * 2 + _int(0))


def _pool(kind, kernel, stride, padding):
    return _str(f"{kind}_2") + b"".join(_int(n) for n in (kernel, kernel, stride, stride, padding, padding))


def _fc(weight_in_out, bias):
    inputs, outputs = weight_in_out.shape
    rows = weight_in_out if bias is None else np.vstack([weight_in_out, bias])
    bias_shape = (0, 0, 0, 0) if bias is None else (1, outputs, 1, 1)
    return (_str("fc_2") + _int(outputs) + _int(inputs) + _tensor(rows.reshape(*rows.shape, 1, 1))
            + _shape((inputs, outputs, 1, 1), 1) + _shape(bias_shape, 1) + _int(1 if bias is None else 0)
            + _MULTIPLIERS)


def write_dat(layers, avg=(122.5, 117.0, 104.25), size=(6, 6), margin=0.04, dist_thresh=0.6):
    """Serialize ``[(token, record bytes or None), ...]`` (input outwards) as dlib's loss_metric network."""
    out = _int(1) + _str("loss_metric_2") + _float(margin) + _float(dist_thresh)
    for index in reversed(range(len(layers))):
        token = layers[index][0]
        out += _int(1 if token.startswith(("tag", "skip")) else 3 if index == 0 else 2)
    out += _str("input_rgb_image_sized") + b"".join(_float(a) for a in avg) + _int(size[0]) + _int(size[1])
    for index, (token, record) in enumerate(layers):
        if record is None:
            continue
        out += record + b"100" + _EMPTY + _EMPTY
        out += _EMPTY + _int(1) if index == 0 else _EMPTY
    return out


@pytest.fixture
def tiny():
    """A small residual net in dlib's format, with the arrays it holds."""
    return tiny_net()


def tiny_net():
    """``(file bytes, layer template, arrays)`` of a small residual net in dlib's format."""
    rng = np.random.default_rng(4)
    w1 = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b1 = rng.standard_normal(4).astype(np.float32)
    w2 = rng.standard_normal((4, 4, 1, 1)).astype(np.float32)
    b2 = rng.standard_normal(4).astype(np.float32)
    gamma, beta = rng.standard_normal(4).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    fc_w, fc_b = rng.standard_normal((4, 2)).astype(np.float32), rng.standard_normal(2).astype(np.float32)
    layers = [("con", _con(w1, b1, 1, 1)), ("relu", _str("relu_")), ("tag1", None), ("con", _con(w2, b2, 1, 0)),
              ("affine", _affine(gamma, beta)), ("add_prev1", _str("add_prev_")),
              ("max_pool", _pool("max_pool", 3, 2, 0)), ("skip1", None), ("avg_pool", _pool("avg_pool", 0, 1, 0)),
              ("fc", _fc(fc_w, fc_b))]
    template = tuple(token for token, _ in layers)
    arrays = {"conv1.weight": w1.transpose(2, 3, 1, 0), "conv1.bias": b1, "conv2.weight": w2.transpose(2, 3, 1, 0),
              "conv2.bias": b2, "affine1.gamma": gamma, "affine1.beta": beta, "fc.weight": fc_w, "fc.bias": fc_b}
    return write_dat(layers), template, arrays


def test_tiny_network_reads_back_exactly_in_cnnkit_layout(tmp_path, tiny):
    data, template, arrays = tiny
    (tmp_path / "net.dat").write_bytes(data)
    state, info = load_dlib_dnn(tmp_path / "net.dat", layers=template)
    assert list(state) == list(arrays)
    for name, array in arrays.items():
        np.testing.assert_array_equal(state[name], array)
    assert state["conv1.weight"].shape == (3, 3, 3, 4)
    assert info["num_bytes"] == len(data) and info["num_floats"] == sum(a.size for a in arrays.values())


def test_input_and_loss_records_are_returned(tmp_path, tiny):
    data, template, _ = tiny
    (tmp_path / "net.dat").write_bytes(data)
    _, info = load_dlib_dnn(tmp_path / "net.dat", layers=template)
    assert info["input"] == {"avg_red": 122.5, "avg_green": 117.0, "avg_blue": 104.25, "rows": 6, "cols": 6}
    assert info["loss"] == {"type": "loss_metric", "margin": float(np.float32(0.04)),
                            "dist_thresh": float(np.float32(0.6))}


def test_layer_geometry_is_listed_from_the_input(tmp_path, tiny):
    data, template, _ = tiny
    (tmp_path / "net.dat").write_bytes(data)
    layers = load_dlib_dnn(tmp_path / "net.dat", layers=template)[1]["layers"]
    assert layers[0] == {"type": "con", "name": "conv1", "filters": 4, "kernel": [3, 3], "stride": [1, 1],
                         "padding": [1, 1]}
    assert layers[2] == {"type": "tag", "id": 1} and layers[5] == {"type": "add_prev", "id": 1}
    assert layers[8]["kernel"] == [0, 0] and layers[9]["out_features"] == 2


def test_fc_without_bias_gives_only_a_weight(tmp_path):
    fc_w = np.arange(6, dtype=np.float32).reshape(3, 2)
    conv = _con(np.ones((3, 3, 1, 1), np.float32), np.zeros(3, np.float32), 1, 0)
    (tmp_path / "net.dat").write_bytes(write_dat([("con", conv), ("fc", _fc(fc_w, None))]))
    state, _ = load_dlib_dnn(tmp_path / "net.dat", layers=("con", "fc"))
    assert "fc.bias" not in state
    np.testing.assert_array_equal(state["fc.weight"], fc_w)


def test_truncated_file_names_the_byte_offset_and_what_was_expected(tmp_path, tiny):
    data, template, _ = tiny
    (tmp_path / "net.dat").write_bytes(data[:200])
    with pytest.raises(ValueError, match=r"net\.dat: at byte \d+: expected .* truncated"):
        load_dlib_dnn(tmp_path / "net.dat", layers=template)


def test_record_that_does_not_match_the_template_is_refused(tmp_path, tiny):
    data, template, _ = tiny
    (tmp_path / "net.dat").write_bytes(data)
    swapped = ("con", "affine") + template[2:]
    with pytest.raises(ValueError, match=r"expected the name 'affine_' .* found 'relu_'"):
        load_dlib_dnn(tmp_path / "net.dat", layers=swapped)


def test_trailing_bytes_are_refused(tmp_path, tiny):
    data, template, _ = tiny
    (tmp_path / "net.dat").write_bytes(data + b"\x01\x00")
    with pytest.raises(ValueError, match=r"at byte %d: expected the end of the file, found 2 more" % len(data)):
        load_dlib_dnn(tmp_path / "net.dat", layers=template)


def test_a_file_that_is_not_dlib_is_refused_at_byte_zero(tmp_path):
    (tmp_path / "x.dat").write_bytes(b"PK\x03\x04 not a dlib network")
    with pytest.raises(ValueError, match=r"at byte 0: expected the loss layer version"):
        load_dlib_dnn(tmp_path / "x.dat")


def test_tensor_dimension_beyond_2_31_is_refused_before_reshaping():
    from cnnkit.io.dlib_serialize import DlibReader
    reader = DlibReader(_shape((0, 2**40, 1, 1), 2), "x.dat")
    with pytest.raises(ValueError, match=r"x\.dat: at byte 2: expected t with dimensions in \[0, 2\*\*31\), "
                                         r"found \(0, 1099511627776, 1, 1\)"):
        reader.tensor("t")


def test_float_overflowing_a_double_names_the_byte_offset():
    from cnnkit.io.dlib_serialize import DlibReader
    with pytest.raises(ValueError, match=r"x\.dat: at byte 0: expected f, found 9223372036854775808 \* 2\*\*1000"):
        DlibReader(_int(2**63) + _int(1000), "x.dat").float("f")
