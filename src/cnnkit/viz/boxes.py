"""Drawing detections: boxes with class names and scores on an image (Pillow), saved as PNG."""
import numpy as np

from cnnkit.data.images import as_float_image, to_uint8
from cnnkit.viz.images import image_grid, save_image

__all__ = ["draw_detections", "save_detections", "detection_grid", "PALETTE"]

# distinct, saturated colours, one per class (cycled when there are more classes)
PALETTE = ((255, 56, 56), (56, 200, 255), (255, 210, 40), (72, 240, 90), (200, 80, 255), (255, 140, 30),
           (30, 90, 255), (255, 90, 200))


def draw_detections(image, boxes, scores, classes, class_names=None, scale=1):
    """Draw corner boxes labelled ``name score`` on a copy of an image.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3) or (H, W)
        Floats in [0, 1] or uint8.
    boxes : array_like, shape (K, 4)
        ``(x1, y1, x2, y2)`` in pixels of ``image``.
    scores : array_like, shape (K,)
    classes : array_like of int, shape (K,)
    class_names : sequence of str, optional
        Class index -> name; the index itself when None.
    scale : int, default 1
        Enlarge the image (nearest neighbour) before drawing, so small images
        get legible labels.

    Returns
    -------
    ndarray of uint8, shape (H * scale, W * scale, 3)
    """
    from PIL import Image, ImageDraw, ImageFont

    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    classes = np.asarray(classes).reshape(-1)
    if not len(boxes) == len(scores) == len(classes):
        raise ValueError(f"need as many boxes, scores and classes, got {len(boxes)}, {len(scores)}, {len(classes)}")
    if not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}")
    pixels = to_uint8(as_float_image(image)).repeat(scale, axis=0).repeat(scale, axis=1)
    picture = Image.fromarray(pixels)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    width = max(1, min(picture.size) // 150)
    # lowest score first, so the most confident boxes and labels end up on top
    for k in np.argsort(scores, kind="stable"):
        c = int(classes[k])
        colour = PALETTE[c % len(PALETTE)]
        x1, y1, x2, y2 = (boxes[k] * scale).tolist()
        draw.rectangle([x1, y1, x2 - 1, y2 - 1], outline=colour, width=width)
        name = class_names[c] if class_names is not None and 0 <= c < len(class_names) else str(c)
        label = f"{name} {scores[k]:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        # the label sits above the box, or inside it when the box touches the top edge
        ty = y1 - (bottom - top) - 2 if y1 - (bottom - top) - 2 >= 0 else y1
        # and is pushed left where it would run over the right edge
        tx = max(0, min(x1, picture.width - (right - left) - 3))
        draw.rectangle([tx, ty, tx + right - left + 2, ty + bottom - top + 2], fill=colour)
        draw.text((tx + 1 - left, ty + 1 - top), label, fill=(0, 0, 0), font=font)
    return np.asarray(picture)


def save_detections(path, image, boxes, scores, classes, class_names=None, scale=1):
    """Draw detections (see :func:`draw_detections`) and write the picture to ``path`` (PNG by its name)."""
    save_image(path, draw_detections(image, boxes, scores, classes, class_names, scale))


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

