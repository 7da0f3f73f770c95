"""dlib's CNN face detector (``dlib.cnn_face_detection_model_v1``): the MMOD network over a tiled pyramid.

As dlib runs it (``dnn/input.h``, ``dnn/loss.h``, ``image_transforms/image_pyramid.h``,
``tools/python/src/cnn_face_detector.cpp``):

1. ``upsample`` times, the image is doubled by ``pyramid_up``;
2. the image and its ``pyramid_down<6>`` levels (down to 5 rows) are tiled into one
   picture: the image at the top left after an outer margin of 11, the next levels
   below it and then, right-aligned, upwards along its side, 10 pixels apart. The
   tiles are float planes ``(pixel - channel mean) / 256``, each level resized from
   the one before in dlib's float arithmetic; the gaps are 0;
3. the network (:class:`cnnkit.models.dlib_mmod.DlibMMOD`) scores every 8th pixel of
   that picture; each positive score is an 80x80 window centred on it, mapped to the
   tile nearest its centre and up to the image's scale (``tiled_pyramid_to_image``);
4. windows by descending score are kept unless they overlap a kept one (intersection
   over the bounding box of both > 0.338, or over either window > 1, as stored in the
   model file), and mapped back down the upsampling.

Several images of the same size are scored in one batch.
"""
import math

import numpy as np

from cnnkit.autograd.tensor import Tensor, no_grad
from cnnkit.face.dlib_image import boxes_overlap, pyramid_up, rect_down, rect_up, resize_bilinear, to_rect

__all__ = ["CNNFaceDetector", "tiled_pyramid_rects"]


def tiled_pyramid_rects(height, width, padding=10, outer_padding=11, n=6):
    """Where dlib's ``create_tiled_pyramid`` puts each pyramid level, and the tiled picture's size.

    Parameters
    ----------
    height, width : int
        The image's size.
    padding, outer_padding : int
        Gap between tiles and margin around them (dlib's input layer stores 10 and 11).
    n : int
        ``pyramid_down<n>``: each level is ``floor((n-1)/n * size)`` of the one before.

    Returns
    -------
    rects : list of (left, top, right, bottom)
        One per level, level 0 (the image) first.
    shape : (int, int)
        Rows and columns of the tiled picture; (0, 0) for an empty image.
    """
    if height * width == 0:
        return [], (0, 0)
    sizes = [(height, width)]
    nr, nc = height, width
    while True:
        nr, nc = math.floor((n - 1.0) / n * nr), math.floor((n - 1.0) / n * nc)
        if nr * nc == 0 or nr < 5:
            break
        sizes.append((nr, nc))
    total_height = sum(h + padding for h, _ in sizes) - 2 * padding
    first_h, first_w = sizes[0]
    stacked, prev_width = 0, 0
    for h, w in sizes:
        # Stop stacking below the image once the rest fits beside it and half the height is used.
        if w <= first_w - prev_width - padding and (stacked - first_h) * 2 >= total_height - first_h:
            break
        stacked += h + padding
        prev_width = w
    stacked -= padding
    rects, y, i = [], outer_padding, 0
    while y < stacked + outer_padding and i < len(sizes):
        h, w = sizes[i]
        rects.append((outer_padding, y, outer_padding + w - 1, y + h - 1))
        y += h + padding
        i += 1
    y -= padding
    right = outer_padding + first_w - 1
    while i < len(sizes):
        h, w = sizes[i]
        rect = (right - (w - 1), y - 1 - (h - 1), right, y - 1)
        if not (rect[2] < rects[0][0] or rect[0] > rects[0][2] or rect[3] < rects[0][1] or rect[1] > rects[0][3]):
            break
        rects.append(rect)
        y -= h + padding
        i += 1
    return rects, (stacked + 2 * outer_padding, first_w + 2 * outer_padding)


def _nearest_rect(rects, x, y):
    """dlib's ``nearest_rect``: the first rectangle holding (x, y), else the closest one."""
    best, best_distance = 0, math.inf
    for i, (left, top, right, bottom) in enumerate(rects):
        if left <= x <= right and top <= y <= bottom:
            return i
        distance = math.hypot(min(max(x, left), right) - x, min(max(y, top), bottom) - y)
        if distance < best_distance:
            best, best_distance = i, distance
    return best


class CNNFaceDetector:
    """dlib's MMOD face detector: its network over a tiled image pyramid, then overlap suppression.

    Parameters
    ----------
    model : DlibMMOD
        The network (``get_model("dlib_mmod", pretrained=True)``).
    options : dict
        ``"input"`` (``avg_red``, ``avg_green``, ``avg_blue``, ``pyramid_padding``,
        ``pyramid_outer_padding``) and ``"loss"`` (``detector_windows``,
        ``overlaps_nms``) as the ``"dlib-mmod-face"`` weights' metadata holds them.

    Examples
    --------
    >>> detector = CNNFaceDetector.pretrained()            # doctest: +SKIP
    >>> detector.detect(image, upsample=1)                 # doctest: +SKIP
    [((148, 136, 318, 306), 1.072)]
    """

    def __init__(self, model, options):
        net_input, loss = options["input"], options["loss"]
        if loss.get("use_bounding_box_regression") or len(loss["detector_windows"]) != 1:
            raise ValueError("CNNFaceDetector: only MMOD models with one detector window and no bounding box "
                             "regression are supported (as dlib's face detector)")
        self.model = model
        self.means = np.array([net_input["avg_red"], net_input["avg_green"], net_input["avg_blue"]],
                              dtype=np.float32)
        self.padding, self.outer_padding = net_input["pyramid_padding"], net_input["pyramid_outer_padding"]
        window = loss["detector_windows"][0]
        self.window = (window["width"], window["height"])
        self.iou_thresh = loss["overlaps_nms"]["iou_thresh"]
        self.covered_thresh = loss["overlaps_nms"]["percent_covered_thresh"]

    @classmethod
    def pretrained(cls):
        """dlib's ``mmod_human_face_detector.dat`` from the ``"dlib-mmod-face"`` weights (fetched on first use)."""
        from cnnkit import weights
        from cnnkit.models import get_model

        _, metadata = weights.load("dlib-mmod-face", return_metadata=True)
        return cls(get_model("dlib_mmod", pretrained=True).eval(), metadata)

    def tiled_pyramid(self, images):
        """The network's input: images (N, H, W, 3) uint8 -> (N, rows, cols, 3) float32 tiles, and the tile rects."""
        N, H, W, _ = images.shape
        rects, (rows, cols) = tiled_pyramid_rects(H, W, self.padding, self.outer_padding)
        out = np.zeros((N, rows, cols, 3), dtype=np.float32)
        for k in range(N):
            left, top, right, bottom = rects[0]
            out[k, top:bottom + 1, left:right + 1] = (images[k].astype(np.float32) - self.means) / np.float32(256)
            for (l0, t0, r0, b0), (l1, t1, r1, b1) in zip(rects, rects[1:]):
                out[k, t1:b1 + 1, l1:r1 + 1] = resize_bilinear(out[k, t0:b0 + 1, l0:r0 + 1], b1 - t1 + 1, r1 - l1 + 1)
        return out, rects

    def _windows(self, scores, rects, adjust_threshold):
        """Positive windows of one (OH, OW) score map as image rectangles, NMS-filtered: [(rect, score)]."""
        rows, cols = np.nonzero(scores > adjust_threshold)
        ys, xs = self.model.output_to_input(rows, cols)
        width, height = self.window
        found = []
        for r, c, y, x in zip(rows, cols, ys, xs):
            # dlib's centered_drect(p, w, h): (w - 1) / 2 either side of p.
            rect = (x - (width - 1) / 2, y - (height - 1) / 2, x + (width - 1) / 2, y + (height - 1) / 2)
            cx, cy = math.floor((rect[0] + rect[2]) / 2 + 0.5), math.floor((rect[1] + rect[3]) / 2 + 0.5)
            level = _nearest_rect(rects, cx, cy)
            left, top = rects[level][:2]
            rect = to_rect(rect_up((rect[0] - left, rect[1] - top, rect[2] - left, rect[3] - top), level))
            found.append((rect, float(scores[r, c])))
        found.sort(key=lambda item: -item[1])
        kept = []
        for rect, score in found:
            if not any(boxes_overlap(k, rect, self.iou_thresh, self.covered_thresh) for k, _ in kept):
                kept.append((rect, score))
        return kept

    def detect(self, images, upsample=0, adjust_threshold=0.0, batch_size=16):
        """Faces in one image or a batch of same-size images, as dlib's ``cnn_face_detection_model_v1``.

        Parameters
        ----------
        images : ndarray of uint8, shape (H, W, 3), (H, W), or a sequence of such of one size
            RGB or grey pixels.
        upsample : int, default 0
            How many times to double the images first (finds faces down to about
            40 / 2**upsample pixels).
        adjust_threshold : float, default 0.0
            Windows scoring above it are faces.
        batch_size : int, default 16
            Images per forward pass (bounds the memory: one 1000x1000 image needs
            about 0.4 GB at upsample 0).

        Returns
        -------
        list of (box, confidence), or one such list per image for a sequence
            ``box`` is ``(left, top, right, bottom)`` in whole pixels, right and bottom
            inclusive (may reach outside the image); by descending confidence.
        """
        single = isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype == np.uint8
        batch = [images] if single else list(images)
        batch = [_rgb(image, i) for i, image in enumerate(batch)]
        if len({image.shape for image in batch}) > 1:
            raise ValueError(f"CNNFaceDetector.detect: the images of a batch must have one size, got "
                             f"{sorted({image.shape for image in batch})}")
        if int(upsample) != upsample or upsample < 0:
            raise ValueError(f"CNNFaceDetector.detect: upsample must be a non-negative integer, got {upsample!r}")
        if batch_size < 1:
            raise ValueError(f"CNNFaceDetector.detect: batch_size must be >= 1, got {batch_size}")
        results = []
        for start in range(0, len(batch), batch_size):
            chunk = np.stack([pyramid_up(image, int(upsample)) for image in batch[start:start + batch_size]])
            if chunk.shape[1] * chunk.shape[2] == 0:
                results += [[] for _ in chunk]
                continue
            tiles, rects = self.tiled_pyramid(chunk)
            with no_grad():
                scores = self.model(Tensor(tiles)).data[..., 0]                    # (N, OH, OW)
            for k in range(len(chunk)):
                kept = self._windows(scores[k], rects, adjust_threshold)
                if upsample:
                    kept = [(to_rect(rect_down(rect, int(upsample), n=2)), score) for rect, score in kept]
                results.append(kept)
        return results[0] if single else results


def _rgb(image, index):
    """An image as (H, W, 3) uint8 (grey images repeated over 3 channels, as dlib's assign_image)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"CNNFaceDetector.detect: image {index} must be uint8 RGB (H, W, 3) or grey (H, W), got "
                         f"shape {image.shape} and dtype {image.dtype}")
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
