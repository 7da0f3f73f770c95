"""A deterministic synthetic detection set: coloured circles, squares and triangles on textured backgrounds.

Everything is drawn with masks from coordinate grids (no per-pixel Python
loops): a thousand 64 x 64 images take about a second.
"""
import numpy as np

CLASS_NAMES = ("circle", "square", "triangle")

# a later object may hide at most this fraction of an earlier one's box, so every object stays visible
_MAX_COVERED = 0.5
_PLACEMENT_TRIES = 20


def _background(rng, xs, ys):
    """A muted textured background (H, W, 3): stripes at a random angle, or blotchy noise."""
    size = xs.shape[0]
    base, other = rng.uniform(0.15, 0.55, 3).astype(np.float32), rng.uniform(0.15, 0.55, 3).astype(np.float32)
    if rng.random() < 0.5:
        angle, period = rng.uniform(0, np.pi), rng.uniform(4, size / 3)
        phase = np.float32(rng.uniform(0, 2 * np.pi))
        wave = 0.5 + 0.5 * np.sin(np.float32(2 * np.pi / period) * (xs * np.cos(angle) + ys * np.sin(angle)) + phase)
    else:
        # coarse noise blown up to blotches of a few pixels, plus a little fine grain
        cell = int(rng.integers(3, 9))
        coarse = rng.random((-(-size // cell), -(-size // cell)), dtype=np.float32)
        wave = coarse.repeat(cell, axis=0).repeat(cell, axis=1)[:size, :size]
    texture = base + (other - base) * wave[..., None]
    return np.clip(texture + np.float32(0.03) * rng.standard_normal(texture.shape, dtype=np.float32), 0, 1)


def _shape_mask(kind, xs, ys, cx, cy, r):
    """Boolean mask (H, W) of a circle, square or upward triangle of half-size ``r`` centred at (cx, cy)."""
    if kind == 0:
        return (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    if kind == 1:
        return (np.abs(xs - cx) <= r) & (np.abs(ys - cy) <= r)
    # apex at the top, base at the bottom: the half-width grows linearly downwards
    return (ys <= cy + r) & (np.abs(xs - cx) <= (ys - (cy - r)) / 2)


def _tight_box(mask):
    """The pixel-edge corner box (x1, y1, x2, y2) of a non-empty mask."""
    cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    return [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]


def _covered_fraction(box, boxes):
    """Largest fraction of any box in ``boxes`` (K, 4), or of ``box``, covered by their intersection."""
    if not len(boxes):
        return 0.0
    boxes = np.asarray(boxes, dtype=np.float64)
    sides = np.clip(np.minimum(boxes[:, 2:], box[2:]) - np.maximum(boxes[:, :2], box[:2]), 0, None)
    inter = sides[:, 0] * sides[:, 1]
    areas = np.minimum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), (box[2] - box[0]) * (box[3] - box[1]))
    return float((inter / areas).max())


def _colour(rng):
    """A saturated colour: one or two strong channels, the rest weak, so shapes stand out from the background."""
    colour = rng.uniform(0.0, 0.25, 3)
    strong = rng.choice(3, size=int(rng.integers(1, 3)), replace=False)
    colour[strong] = rng.uniform(0.75, 1.0, len(strong))
    return colour


def make_shapes_dataset(n, image_size=64, seed=0, max_objects=4, min_objects=1):
    """Generate ``n`` images of coloured shapes with their boxes and classes.

    Each image has a striped or noisy background and ``min_objects`` to
    ``max_objects`` shapes (circle, square, triangle; see ``CLASS_NAMES``) of
    varied sizes and colours. Shapes may overlap, but a later one never hides
    more than half of an earlier one's box. Boxes are the tight pixel extent of
    each whole shape (hidden parts included).

    Parameters
    ----------
    n : int
        Number of images.
    image_size : int, default 64
        Height and width in pixels.
    seed : int, default 0
        The same seed gives the same images, boxes and classes.
    max_objects, min_objects : int
        Objects per image; fewer when no free place is found.

    Returns
    -------
    images : ndarray of float32, shape (n, image_size, image_size, 3)
        Values in [0, 1].
    boxes : list of ndarray of float32, each shape (M_i, 4)
        Corner boxes ``(x1, y1, x2, y2)`` in pixels.
    classes : list of ndarray of int64, each shape (M_i,)
        Indices into ``CLASS_NAMES``.
    """
    if n < 0 or image_size < 16 or not 0 <= min_objects <= max_objects:
        raise ValueError(f"need n >= 0, image_size >= 16 and 0 <= min_objects <= max_objects, "
                         f"got n={n}, image_size={image_size}, min_objects={min_objects}, max_objects={max_objects}")
    rng = np.random.default_rng(seed)
    ys, xs = (np.mgrid[0:image_size, 0:image_size] + 0.5).astype(np.float32)  # pixel centres
    images = np.empty((n, image_size, image_size, 3), dtype=np.float32)
    all_boxes, all_classes = [], []
    for k in range(n):
        image = _background(rng, xs, ys)
        boxes, classes = [], []
        for _ in range(int(rng.integers(min_objects, max_objects + 1))):
            for _ in range(_PLACEMENT_TRIES):
                kind = int(rng.integers(len(CLASS_NAMES)))
                r = rng.uniform(0.08, 0.22) * image_size
                cx, cy = rng.uniform(r, image_size - r, 2)
                # every shape lies in the square of half-side r: test the overlap before drawing anything
                if _covered_fraction(np.array([cx - r, cy - r, cx + r, cy + r]), boxes) > _MAX_COVERED:
                    continue
                window = np.s_[int(cy - r):int(np.ceil(cy + r)), int(cx - r):int(np.ceil(cx + r))]
                mask = _shape_mask(kind, xs[window], ys[window], cx, cy, r)
                if mask.any():
                    image[window][mask] = _colour(rng)
                    boxes.append(np.asarray(_tight_box(mask), dtype=np.float64)
                                 + [window[1].start, window[0].start] * 2)
                    classes.append(kind)
                    break
        images[k] = image
        all_boxes.append(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
        all_classes.append(np.asarray(classes, dtype=np.int64))
    return images, all_boxes, all_classes
