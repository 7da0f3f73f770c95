"""dlib's HOG frontal face detector (``dlib.get_frontal_face_detector``) on NumPy.

An ``object_detector<scan_fhog_pyramid<pyramid_down<6>>>``: five linear filters over
FHOG features (front, left, right, and front rotated 27 degrees either way), each
10x10 cells of 31 features plus a threshold, slid over every level of a 5/6 image
pyramid. As dlib (``scan_fhog_pyramid.h``, ``object_detector.h``, its Python
binding):

1. ``upsample`` times, the image is doubled by ``pyramid_up``;
2. levels are taken while dlib's shrinking rectangle stays at least
   ``min_pyramid_layer_width x height`` (64x64): each level is ``pyramid_down<6>`` of
   the one before, its FHOG features padded for a 10x10 window;
3. every filter is applied as dlib applies it: each 10x10 plane replaced by its SVD
   truncated at ``max(1e-4, 0.001 * largest singular value)`` and run as rank-1
   (separable) filters, unless that would need more of them than the plain filters
   cost;
4. a window whose score reaches its filter's threshold is a detection; its box is
   the window mapped back to the image, its confidence the score minus the threshold;
5. detections by descending confidence are kept unless they overlap a kept one
   (intersection over the bounding box > ``iou_thresh``, or over either box >
   ``percent_covered_thresh``), and mapped back down the upsampling.

The features and pyramid images equal dlib's (:mod:`cnnkit.face.fhog`,
:mod:`cnnkit.face.dlib_image`); the filters are summed in float32 in another order
(and their SVD is LAPACK's, not dlib's), so confidences differ from dlib's by float32
rounding only.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from cnnkit.backend import get_num_threads
from cnnkit.face import _dlib_kernels as _kernels
from cnnkit.face.dlib_image import boxes_overlap, pyramid_down, pyramid_up, rect_down, rect_up, to_rect
from cnnkit.face.fhog import NUM_FEATURES, fhog_planes

__all__ = ["HOGFaceDetector"]

# Images (after upsampling) at least this large are scanned by several threads by default.
_THREADED_PIXELS = 1_000_000
_CONFIG_KEYS = ("cell_size", "padding", "window_width", "window_height", "fhog_rows", "fhog_cols",
                "max_pyramid_levels", "min_pyramid_layer_width", "min_pyramid_layer_height", "iou_thresh",
                "percent_covered_thresh")


def _separable_filters(weights, rows, cols):
    """dlib's separable form of one detector's filters: (plane, column filter (rows,), row filter (cols,)) triples.

    Each (rows, cols) plane's SVD is cut at ``max(1e-4, 0.001 * largest singular value)``
    and kept as float32 ``u sqrt(s)`` and ``v sqrt(s)`` (``build_fhog_filterbank``). When
    that needs more rank-1 filters than the plain filters cost, dlib uses the plain
    filters: written here as one rank-1 filter per row (a unit column filter).
    """
    planes = weights.reshape(NUM_FEATURES, rows, cols)
    separable = []
    for i, f in enumerate(planes):
        u, s, vt = np.linalg.svd(f)
        for j in np.nonzero(s >= max(1e-4, s.max() * 0.001))[0]:
            separable.append((i, u[:, j] * np.sqrt(s[j]), vt[j] * np.sqrt(s[j])))
    if len(separable) <= NUM_FEATURES * min(rows, cols) / 3.0:
        return separable
    return [(i, np.eye(rows)[m], planes[i, m]) for i in range(NUM_FEATURES) for m in range(rows)]


class HOGFaceDetector:
    """dlib's HOG face detector: FHOG filters over an image pyramid.

    Parameters
    ----------
    state : dict
        ``"weights"``: (D, rows * cols * 31 + 1) float64, one detector per row (see
        :func:`cnnkit.io.dlib_fhog_detector.load_dlib_fhog_detector`).
    config : dict
        The scanner's settings (cell size, window, pyramid limits, overlap thresholds)
        from the same function.

    Examples
    --------
    >>> detector = HOGFaceDetector.pretrained()         # doctest: +SKIP
    >>> detector.detect(image, upsample=1)              # doctest: +SKIP
    [((277, 206, 598, 527), 2.6277, 0)]
    """

    def __init__(self, state, config):
        missing = [key for key in _CONFIG_KEYS if key not in config]
        if missing:
            raise ValueError(f"HOGFaceDetector: the config lacks {missing}")
        self.config = {key: config[key] for key in _CONFIG_KEYS}
        rows, cols = int(config["fhog_rows"]), int(config["fhog_cols"])
        weights = np.asarray(state["weights"], dtype=np.float64)
        if weights.ndim != 2 or weights.shape[1] != rows * cols * NUM_FEATURES + 1:
            raise ValueError(f"HOGFaceDetector: weights must be (D, {rows * cols * NUM_FEATURES + 1}) for "
                             f"{rows}x{cols} filters, got shape {weights.shape}")
        self.thresholds = weights[:, -1].copy()
        filters = [(plane, d, col, row) for d, w in enumerate(weights)
                   for plane, col, row in _separable_filters(w[:-1], rows, cols)]
        # Ordered by plane, so that each feature plane is read while it is in the cache.
        filters.sort(key=lambda item: (item[0], item[1]))
        self._plane_of = np.array([f[0] for f in filters], dtype=np.int64)
        self._detector_of = np.array([f[1] for f in filters], dtype=np.int64)
        self._col_filters = np.array([f[2] for f in filters], dtype=np.float32).reshape(-1, rows)
        self._row_filters = np.array([f[3] for f in filters], dtype=np.float32).reshape(-1, cols)
        self.rows, self.cols = rows, cols

    @classmethod
    def pretrained(cls):
        """dlib's frontal face detector, from the ``"dlib-hog-face"`` weights (dlib's source, fetched on first use)."""
        from cnnkit import weights

        state, metadata = weights.load("dlib-hog-face", return_metadata=True)
        return cls(state, metadata["detector"])

    @property
    def num_detectors(self):
        """How many filters (D) the detector runs."""
        return len(self.thresholds)

    def _levels(self, height, width):
        """How many pyramid levels dlib scans for an image of this size."""
        rect, levels = (0, 0, width - 1, height - 1), 0
        while True:
            rect = to_rect(rect_down(rect))
            levels += 1
            if not (rect[2] - rect[0] + 1 >= self.config["min_pyramid_layer_width"]
                    and rect[3] - rect[1] + 1 >= self.config["min_pyramid_layer_height"]
                    and levels < self.config["max_pyramid_levels"]):
                return levels

    def _scores(self, planes):
        """Every filter's score at every window position of (31, Hp, Wp) features: (D, rows_out, cols_out) float32."""
        _, Hp, Wp = planes.shape
        OH, OW = Hp - self.rows + 1, Wp - self.cols + 1
        out = np.zeros((self.num_detectors, max(OH, 0), max(OW, 0)), dtype=np.float32)
        if OH > 0 and OW > 0:
            _kernels.separable_scores(planes, self._plane_of, self._detector_of, self._row_filters,
                                      self._col_filters, out)
        return out

    def _window_rect(self, r, c, level):
        """The image rectangle of the window centred on feature cell (r, c) of a pyramid level."""
        cell = self.config["cell_size"]
        height, width = self.rows - 2 * self.config["padding"], self.cols - 2 * self.config["padding"]
        left, top = c - width // 2, r - height // 2
        corners = []
        for x, y in ((left, top), (left + width - 1, top + height - 1)):
            # dlib's fhog_to_image, with the filter's padding offsets and half a cell outwards.
            x = (x + 1 - (self.cols - 1) // 2) * cell + 1
            y = (y + 1 - (self.rows - 1) // 2) * cell + 1
            corners += [x + (cell // 2 if x >= 0 else -(cell // 2)), y + (cell // 2 if y >= 0 else -(cell // 2))]
        return to_rect(rect_up((corners[0], corners[1], corners[2], corners[3]), level))

    def _level_detections(self, level_image, level, adjust_threshold):
        """Per filter, the (score, rect) of every window of one pyramid level at or above its threshold."""
        scores = self._scores(fhog_planes(level_image, self.config["cell_size"], self.rows, self.cols))
        found = []
        for d in range(self.num_detectors):
            rows, cols = np.nonzero(scores[d] >= self.thresholds[d] + adjust_threshold)
            found.append([(float(scores[d, i, j]), self._window_rect(i + self.rows // 2, j + self.cols // 2, level))
                          for i, j in zip(rows, cols)])
        return found

    def detect(self, image, upsample=0, adjust_threshold=0.0, threads=None):
        """Faces in one image, as dlib's ``detector.run(image, upsample, adjust_threshold)``.

        Parameters
        ----------
        image : ndarray of uint8, shape (H, W, 3) or (H, W)
            RGB or grey pixels.
        upsample : int, default 0
            How many times to double the image first (finds faces down to about
            80 / 2**upsample pixels).
        adjust_threshold : float, default 0.0
            Added to every filter's threshold; negative values find more, weaker faces.
        threads : int, optional
            Pyramid levels scanned at once (the compiled loops release the GIL); by
            default cnnkit's threads (``cnnkit.backend.set_num_threads``) for images of
            a megapixel or more (after upsampling), one for smaller ones.

        Returns
        -------
        list of (box, confidence, detector index)
            ``box`` is ``(left, top, right, bottom)`` in whole pixels, right and bottom
            inclusive (may reach outside the image); by descending confidence.
        """
        image = np.asarray(image)
        if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise ValueError(f"HOGFaceDetector.detect: image must be uint8 RGB (H, W, 3) or grey (H, W), got shape "
                             f"{image.shape} and dtype {image.dtype}")
        if int(upsample) != upsample or upsample < 0:
            raise ValueError(f"HOGFaceDetector.detect: upsample must be a non-negative integer, got {upsample!r}")
        level_image = pyramid_up(image, int(upsample))
        if threads is None:
            # Starting threads costs more than small images take to scan.
            threads = get_num_threads() if level_image.shape[0] * level_image.shape[1] >= _THREADED_PIXELS else 1
        if int(threads) != threads or threads < 1:
            raise ValueError(f"HOGFaceDetector.detect: threads must be a positive integer, got {threads!r}")
        found = [[] for _ in range(self.num_detectors)]
        if level_image.size:
            pool = ThreadPoolExecutor(int(threads)) if threads > 1 else None
            levels = []
            # Each level's image is made here while the workers scan the levels before it.
            for level in range(self._levels(*level_image.shape[:2])):
                if level:
                    level_image = pyramid_down(level_image)
                if pool is None:
                    levels.append(self._level_detections(level_image, level, adjust_threshold))
                else:
                    levels.append(pool.submit(self._level_detections, level_image, level, adjust_threshold))
            if pool is not None:
                levels = [future.result() for future in levels]
                pool.shutdown()
            for level_found in levels:
                for d, dets in enumerate(level_found):
                    found[d] += dets
        candidates = []
        for d, dets in enumerate(found):
            dets.sort(key=lambda item: -item[0])
            candidates += [(score - self.thresholds[d], rect, d) for score, rect in dets]
        if self.num_detectors > 1:
            candidates.sort(key=lambda item: -item[0])
        kept = []
        for confidence, rect, d in candidates:
            if not any(boxes_overlap(k[0], rect, self.config["iou_thresh"], self.config["percent_covered_thresh"])
                       for k in kept):
                kept.append((rect, confidence, d))
        if upsample:
            kept = [(to_rect(rect_down(rect, int(upsample), n=2)), confidence, d) for rect, confidence, d in kept]
        return kept
