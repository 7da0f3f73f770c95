"""Reading dlib's HOG object detectors, from bytes written here by a small writer, and from a dlib-style header."""
import base64
from pathlib import Path

import numpy as np
import pytest

from cnnkit.io.dlib_fhog_detector import fhog_window_size, load_dlib_fhog_detector, read_frontal_face_header
from test_io_dlib_shape_predictor import _column, _int

DATA = Path(__file__).resolve().parent / "data" / "dlib_compress"


def _double(value):
    """dlib's float_details of a double: a 53-bit mantissa and an exponent."""
    if value == 0:
        return _int(0) + _int(0)
    mantissa, exponent = np.frexp(value)
    return _int(int(mantissa * 2 ** 53)) + _int(int(exponent) - 53)


def detector_bytes(weights, version=2, cell=8, padding=0, window=(80, 80), cached=0, dims=None):
    """serialize(object_detector<scan_fhog_pyramid<...>>) with the given weight vectors."""
    scanner = [_int(1), _int(0), _int(cached), _int(cell), _int(padding), _int(window[0]), _int(window[1]),
               _int(1000), _int(64), _int(64), _double(9.0), _int(dims if dims is not None else weights.shape[1] - 1)]
    tester = _double(0.3), _double(0.75)
    columns = [_column(w) for w in weights]
    if version == 2:
        return b"".join([_int(2), *scanner, *tester, _int(len(weights)), *columns])
    return b"".join([_int(1), *scanner, columns[0], *tester])


def weights(count=2, dims=3100, seed=0):
    """Weight vectors of float32-representable values (the writer stores 24-bit mantissas)."""
    return np.random.default_rng(seed).normal(0, 0.1, (count, dims + 1)).astype(np.float32).astype(np.float64)


def test_the_window_covers_ten_by_ten_cells_for_80_pixels():
    assert fhog_window_size(80, 80, 8, 0) == (10, 10)
    assert fhog_window_size(64, 80, 8, 1) == (12, 10)


def test_reads_back_the_weights_and_the_scanner_settings():
    w = weights()
    state, config = load_dlib_fhog_detector(detector_bytes(w))
    np.testing.assert_array_equal(state["weights"], w)
    assert config["num_detectors"] == 2 and (config["fhog_rows"], config["fhog_cols"]) == (10, 10)
    assert config["cell_size"] == 8 and config["min_pyramid_layer_width"] == 64
    assert config["iou_thresh"] == 0.3 and config["percent_covered_thresh"] == 0.75
    assert config["nuclear_norm_regularization_strength"] == 9.0


def test_version_1_holds_one_detector_before_the_overlap_tester():
    w = weights(count=1, seed=1)
    state, config = load_dlib_fhog_detector(detector_bytes(w, version=1))
    np.testing.assert_array_equal(state["weights"], w)
    assert config["iou_thresh"] == 0.3


def test_weights_that_do_not_fit_the_window_are_refused():
    with pytest.raises(ValueError, match=r"10 x 10 x 31 = 3100 weights per detector .* found 3000"):
        load_dlib_fhog_detector(detector_bytes(weights(dims=3000), dims=3000))


def test_a_detector_saved_with_a_feature_pyramid_is_refused():
    with pytest.raises(ValueError, match="saved detector holds none"):
        load_dlib_fhog_detector(detector_bytes(weights(), cached=3))


def test_a_truncated_detector_names_the_byte_where_it_ends():
    with pytest.raises(ValueError, match=r"^det\.svm: at byte \d+: .*truncated"):
        load_dlib_fhog_detector(detector_bytes(weights())[:-10], name="det.svm")


def test_the_header_text_is_base64_of_a_compressed_stream(tmp_path):
    text = base64.b64encode((DATA / "short.z").read_bytes()).decode()
    lines = "".join(f'        sout << "{text[i:i + 76]}";\n' for i in range(0, len(text), 76))
    header = tmp_path / "frontal_face_detector.h"
    header.write_text("inline const std::string get_serialized_frontal_faces()\n{\n" + lines + "}\n")
    assert read_frontal_face_header(header).startswith(b"dlib's compress_stream")


def test_a_header_without_the_detector_text_is_refused(tmp_path):
    header = tmp_path / "other.h"
    header.write_text("int main() { return 0; }\n")
    with pytest.raises(ValueError, match="other.h: no base64 detector text"):
        read_frontal_face_header(header)
