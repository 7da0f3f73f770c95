"""Drawing detections: boxes with class names and scores on an image (Pillow), saved as PNG."""
import zlib

import numpy as np

from cnnkit.data.images import as_float_image, to_uint8
from cnnkit.viz.images import image_grid, save_image

__all__ = ["draw_detections", "save_detections", "detection_grid", "PALETTE", "colour_for", "label_font_size"]

# distinct, saturated colours, one per class (cycled when there are more classes)
PALETTE = ((255, 56, 56), (56, 200, 255), (255, 210, 40), (72, 240, 90), (200, 80, 255), (255, 140, 30),
           (30, 90, 255), (255, 90, 200), (0, 180, 160), (170, 110, 40), (150, 200, 0), (120, 120, 255))


def colour_for(key):
    """The palette colour of a class index or of a name (an identity), the same in every picture and every run.

    Parameters
    ----------
    key : int or str
        A class index picks ``PALETTE[key % len(PALETTE)]``; a name is hashed
        with CRC-32 (not Python's ``hash``, which changes from run to run).

    Returns
    -------
    tuple of 3 int
    """
    if isinstance(key, (int, np.integer)):
        return PALETTE[int(key) % len(PALETTE)]
    return PALETTE[zlib.crc32(str(key).encode()) % len(PALETTE)]


def label_font_size(width, height):
    """The label font's size in pixels for a picture of this size: about 1/40 of the shorter side, at least 11."""
    return max(11, round(min(width, height) / 40))


def _text_colour(fill):
    """Black or white, whichever reads better on ``fill`` (by its luma)."""
    return (0, 0, 0) if 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2] > 140 else (255, 255, 255)


def draw_detections(image, boxes, scores, classes, class_names=None, scale=1, colour_by="class"):
    """Draw corner boxes labelled ``name score`` on a copy of an image.

    Label text, box strokes grow with the picture (see :func:`label_font_size`),
    so labels stay legible on large photos; each class has one colour.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3) or (H, W)
        Floats in [0, 1] or uint8.
    boxes : array_like, shape (K, 4)
        ``(x1, y1, x2, y2)`` in pixels of ``image``.
    scores : array_like, shape (K,)
        None entries (or NaN) draw the name alone.
    classes : array_like of int, shape (K,)
    class_names : sequence of str, optional
        Class index -> name; the index itself when None.
    scale : int, default 1
        Enlarge the image (nearest neighbour) before drawing, so small images
        get legible labels.
    colour_by : {"class", "name"}, default "class"
        Colour by class index (a closed set of classes), or by the name
        (identities: the same person has the same colour in every picture).

    Returns
    -------
    ndarray of uint8, shape (H * scale, W * scale, 3)
    """
    from PIL import Image, ImageDraw, ImageFont

    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.array([np.nan if v is None else float(v) for v in np.asarray(scores, dtype=object).reshape(-1)],
                      dtype=np.float64)
    classes = np.asarray(classes).reshape(-1)
    if not len(boxes) == len(scores) == len(classes):
        raise ValueError(f"need as many boxes, scores and classes, got {len(boxes)}, {len(scores)}, {len(classes)}")
    if not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}")
    if colour_by not in ("class", "name"):
        raise ValueError(f"colour_by must be 'class' or 'name', got {colour_by!r}")
    pixels = to_uint8(as_float_image(image)).repeat(scale, axis=0).repeat(scale, axis=1)
    picture = Image.fromarray(pixels)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=label_font_size(*picture.size))
    width = max(2, min(picture.size) // 200)
    # lowest score first, so the most confident boxes and labels end up on top
    for k in np.argsort(np.nan_to_num(scores, nan=-1.0), kind="stable"):
        c = int(classes[k])
        name = class_names[c] if class_names is not None and 0 <= c < len(class_names) else str(c)
        colour = colour_for(name if colour_by == "name" else c)
        x1, y1, x2, y2 = (boxes[k] * scale).tolist()
        draw.rectangle([x1, y1, x2 - 1, y2 - 1], outline=colour, width=width)
        label = name if np.isnan(scores[k]) else f"{name} {scores[k]:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        margin = max(1, (bottom - top) // 6)
        h = bottom - top + 2 * margin
        # the label sits above the box, or inside it when the box touches the top edge
        ty = y1 - h if y1 - h >= 0 else y1
        # and is pushed left where it would run over the right edge
        tx = max(0, min(x1, picture.width - (right - left) - 2 * margin - 1))
        draw.rectangle([tx, ty, tx + right - left + 2 * margin, ty + h], fill=colour)
        draw.text((tx + margin - left, ty + margin - top), label, fill=_text_colour(colour), font=font)
    return np.asarray(picture)


def save_detections(path, image, boxes, scores, classes, class_names=None, scale=1, colour_by="class", title=None):
    """Draw detections (see :func:`draw_detections`) and write the picture to ``path`` (PNG by its name).

    ``title`` goes into the PNG's metadata (see :func:`~cnnkit.viz.images.save_image`).
    """
    save_image(path, draw_detections(image, boxes, scores, classes, class_names, scale, colour_by), title=title)


def detection_grid(images, results, class_names=None, scale=3, ncols=4):
    """Draw each image's detections and lay the pictures out in a grid.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, 3)
        Floats in [0, 1] (or uint8), all of one size.
    results : sequence of dict
        Per image ``"boxes"`` (K, 4) in pixels of the image, ``"scores"`` (K,), ``"classes"`` (K,), as
        ``cnnkit.detection.train.detect`` returns them.
    class_names : sequence of str, optional
    scale : int, default 3
        Enlargement of each image before drawing (see :func:`draw_detections`).
    ncols : int, default 4

    Returns
    -------
    ndarray, float32, shape (rows * (H * scale + 2) + 2, ncols * (W * scale + 2) + 2, 3)
    """
    if len(images) != len(results):
        raise ValueError(f"{len(images)} images but {len(results)} detection results")
    pictures = [draw_detections(image, r["boxes"], r["scores"], r["classes"], class_names, scale=scale)
                for image, r in zip(images, results)]
    return image_grid(np.stack(pictures), ncols=min(ncols, len(pictures)))

