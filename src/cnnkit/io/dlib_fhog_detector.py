"""Reading dlib's HOG object detectors: ``object_detector<scan_fhog_pyramid<pyramid_down<N>>>``.

dlib's frontal face detector (``get_frontal_face_detector``) ships no weights file: it
is compiled from ``dlib/image_processing/frontal_face_detector.h``, which holds the
serialized detector as base64 text of dlib's ``compress_stream::kernel_1ea`` format
(dlib 20.0.1, the release on PyPI). :func:`read_frontal_face_header` recovers the
serialized bytes from that header (:mod:`cnnkit.io.dlib_compress`);
:func:`load_dlib_fhog_detector` parses them, or a detector saved by dlib's
``simple_object_detector.save``. The serialization (``object_detector.h``,
``scan_fhog_pyramid.h``, ``box_overlap_testing.h``), in dlib's primitives:

- ``int version`` (1 or 2);
- the scanner: ``int version`` (1); the feature extractor (nothing); the cached
  feature pyramid (a ``dlib::array``: max size and size, empty in saved detectors);
  ``int cell_size``; ``padding``, ``window_width``, ``window_height``,
  ``max_pyramid_levels``, ``min_pyramid_layer_width``, ``min_pyramid_layer_height``
  (integers); ``double nuclear_norm_regularization_strength``; ``long dims``, the
  weights per filter bank (``fhog_rows * fhog_cols * 31``);
- version 2: the overlap tester (``double iou_thresh``, ``double
  percent_covered_thresh``), then ``unsigned long`` detector count and each weight
  vector as a ``matrix<double,0,1>``; version 1: one weight vector, then the tester.

A weight vector holds ``dims`` filter weights, plane after plane (31 planes of
``fhog_rows x fhog_cols``, row-major), then the detection threshold.
"""
import base64
import binascii
import os
import re

import numpy as np

from cnnkit.io.dlib_compress import decompress_kernel_1ea
from cnnkit.io.dlib_serialize import DlibReader

__all__ = ["read_frontal_face_header", "load_dlib_fhog_detector", "fhog_window_size"]

_NUM_PLANES = 31
# The base64 text is written into the header as one `sout << "...";` statement per line.
_CHUNK = re.compile(r'sout\s*<<\s*"([A-Za-z0-9+/=]*)"\s*;')


def read_frontal_face_header(path):
    """The serialized detector inside dlib's ``frontal_face_detector.h``.

    Parameters
    ----------
    path : str or os.PathLike
        ``dlib/image_processing/frontal_face_detector.h`` of a dlib source release
        that embeds the detector as compressed base64 text (dlib 20.0.1 does).

    Returns
    -------
    bytes
        What dlib's ``get_serialized_frontal_faces()`` returns.

    Raises
    ------
    ValueError
        When the header holds no such text, or the text is not valid base64 of a
        ``compress_stream::kernel_1ea`` stream.
    """
    name = os.path.basename(os.fspath(path))
    with open(path, encoding="ascii", errors="replace") as f:
        text = f.read()
    start = text.find("get_serialized_frontal_faces()\n")
    chunks = _CHUNK.findall(text, start if start >= 0 else 0)
    if start < 0 or not chunks:
        raise ValueError(f"{name}: no base64 detector text (sout << \"...\"; lines in "
                         f"get_serialized_frontal_faces()) found; is it dlib's frontal_face_detector.h?")
    try:
        compressed = base64.b64decode("".join(chunks), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{name}: the embedded detector text is not valid base64 ({exc})") from None
    return decompress_kernel_1ea(compressed, source=name)


def fhog_window_size(window_width, window_height, cell_size, padding):
    """Rows and columns of FHOG cells a detection window covers, as ``compute_fhog_window_size``."""
    def cells(extent):
        # centered_rect(0, extent) spans [-extent//2, -extent//2 + extent - 1]; image_to_fhog
        # maps a coordinate p to (p - 1) / cell_size - 1 with C++ division towards zero.
        first, last = -(extent // 2), -(extent // 2) + extent - 1
        to_cell = (lambda p: int((p - 1) / cell_size) - 1)
        return to_cell(last) - to_cell(first) + 1 + 2 * padding
    return cells(window_height), cells(window_width)


def load_dlib_fhog_detector(source, name=None):
    """Parse a serialized dlib HOG detector, executing nothing.

    Parameters
    ----------
    source : bytes or str or os.PathLike
        The serialized bytes (e.g. from :func:`read_frontal_face_header`) or a file
        written by dlib's ``simple_object_detector.save``.
    name : str, optional
        Named in errors; the file name by default.

    Returns
    -------
    state : dict of str -> ndarray
        ``"weights"``: (D, dims + 1) float64, one row per detector: the filter weights
        (31 planes of ``fhog_rows x fhog_cols``) then the threshold.
    config : dict
        ``cell_size``, ``padding``, ``window_width``, ``window_height``,
        ``fhog_rows``, ``fhog_cols``, ``max_pyramid_levels``,
        ``min_pyramid_layer_width``, ``min_pyramid_layer_height``,
        ``nuclear_norm_regularization_strength``, ``iou_thresh``,
        ``percent_covered_thresh``, ``num_detectors``.

    Raises
    ------
    ValueError
        On a truncated file, an unknown version or inconsistent sizes, naming the
        byte offset and what was expected.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), name or "serialized detector"
    else:
        with open(source, "rb") as f:
            data = f.read()
        name = name or os.path.basename(os.fspath(source))
    r = DlibReader(data, name)
    version = r.count("the object_detector version", {1, 2})
    r.count("the scan_fhog_pyramid version", {1})
    r.count("the max size of the cached feature pyramid")
    r.count("the size of the cached feature pyramid (a saved detector holds none)", {0})
    config = {"cell_size": r.count("cell_size")}
    for field in ("padding", "window_width", "window_height", "max_pyramid_levels", "min_pyramid_layer_width",
                  "min_pyramid_layer_height"):
        config[field] = r.count(field)
    config["nuclear_norm_regularization_strength"] = r.float("nuclear_norm_regularization_strength")
    dims_at = r.pos
    dims = r.count("the number of weights per detector")
    if config["cell_size"] < 1:
        r.fail("a cell_size >= 1", f"found {config['cell_size']}", at=dims_at)
    rows, cols = fhog_window_size(config["window_width"], config["window_height"], config["cell_size"],
                                  config["padding"])
    if dims != rows * cols * _NUM_PLANES:
        r.fail(f"{rows} x {cols} x {_NUM_PLANES} = {rows * cols * _NUM_PLANES} weights per detector for a "
               f"{config['window_width']}x{config['window_height']} window", f"found {dims}", at=dims_at)
    config.update(fhog_rows=rows, fhog_cols=cols)
    if version == 2:
        config["iou_thresh"], config["percent_covered_thresh"] = r.floats(2, "the overlap tester's threshold")
        count = r.count("the number of detectors")
        weights = [r.column(dims + 1, f"the weights of detector {i}") for i in range(count)]
    else:
        weights = [r.column(dims + 1, "the weights of the detector")]
        config["iou_thresh"], config["percent_covered_thresh"] = r.floats(2, "the overlap tester's threshold")
    r.expect_end()
    config["num_detectors"] = len(weights)
    return {"weights": np.array(weights, dtype=np.float64).reshape(len(weights), dims + 1)}, config
