"""Pictures out: lay images out in grids, save PNGs (Pillow), sample photographs and random crops.

Images are channels-last arrays: (H, W, 3) RGB or (H, W) grey, either floats
in [0, 1] or uint8 in 0..255. Reading and resizing are :mod:`cnnkit.data.images`'.
"""
import os

import numpy as np

from cnnkit.data.images import as_float_image, resize, to_uint8

__all__ = ["save_image", "with_title", "image_grid", "sample_photos", "random_crops"]


def _pil():
    """The PIL.Image module, imported on first use."""
    from PIL import Image

    return Image


def save_image(path, image, title=None):
    """Write an image as a PNG (or any format Pillow knows by the name), atomically.

    Parameters
    ----------
    path : str
    image : ndarray, shape (H, W), (H, W, 1) or (H, W, 3)
        Floats in [0, 1] or uint8.
    title : str, optional
        Stored in a PNG's ``Title`` text chunk (what the picture shows), for
        pictures that must stay pixel for pixel the image (edge maps, stylised photos).
    """
    from PIL import PngImagePlugin

    from cnnkit.io.state import atomic_write

    image = to_uint8(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    picture = _pil().fromarray(image)
    ext = os.path.splitext(os.fspath(path))[1].lower()
    fmt = _pil().registered_extensions().get(ext or ".png")
    if fmt is None:
        raise ValueError(f"{path}: unknown picture format {ext!r}; use .png, .jpg, ...")
    options = {}
    if title and fmt == "PNG":
        options["pnginfo"] = PngImagePlugin.PngInfo()
        options["pnginfo"].add_text("Title", title)
    atomic_write(path, lambda f: picture.save(f, format=fmt, **options))


def with_title(image, title, size=None):
    """A picture with a white band above it holding ``title`` (wrapped to the picture's width), for grids.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        Floats in [0, 1] or uint8; C is 1 or 3.
    title : str
        What the picture shows; ``\\n`` starts a new line.
    size : int, optional
        The font's size in pixels; by default about 1/45 of the width, at least 11.

    Returns
    -------
    ndarray, float32, shape (H + band, W, 3)
    """
    import textwrap

    from PIL import ImageDraw, ImageFont

    pixels = as_float_image(image) if np.asarray(image).dtype == np.uint8 else np.asarray(image, np.float32)
    pixels = np.repeat(pixels[..., None] if pixels.ndim == 2 else pixels, 3 // pixels.shape[-1] if pixels.ndim == 3
                       else 3, axis=-1)
    W = pixels.shape[1]
    size = size or max(11, round(W / 45))
    font = ImageFont.load_default(size=size)
    # wrap by the width of an average character of this font
    per_line = max(8, int(W / max(font.getlength("abcdefghij0123456789 ") / 21, 1)) - 2)
    lines = [part for line in str(title).split("\n") for part in textwrap.wrap(line, per_line) or [""]]
    step = round(size * 1.25)
    band = _pil().new("RGB", (W, step * len(lines) + size // 2), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    for k, line in enumerate(lines):
        draw.text((size // 3, size // 4 + k * step), line, fill=(0, 0, 0), font=font)
    return np.concatenate([as_float_image(np.asarray(band)), pixels], axis=0)


def image_grid(images, ncols=None, pad=2, background=1.0):
    """Lay equally sized images out in a grid.

    Parameters
    ----------
    images : sequence of ndarray or ndarray, shape (N, h, w, C) or (N, h, w)
        Floats in [0, 1] (or uint8); C is 1 or 3.
    ncols : int, optional
        Columns; ``ceil(sqrt(N))`` when None.
    pad : int, default 2
        Pixels of ``background`` between and around the images.
    background : float, default 1.0
        The padding's value (white).

    Returns
    -------
    ndarray, float32, shape (rows * (h + pad) + pad, ncols * (w + pad) + pad, C) or without C for grey input
    """
    images = np.asarray([as_float_image(im) if np.asarray(im).dtype == np.uint8 else np.asarray(im, np.float32)
                         for im in images])
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"image_grid expects (N, h, w) or (N, h, w, C) images, got shape {images.shape}")
    N, h, w = images.shape[:3]
    ncols = int(np.ceil(np.sqrt(N))) if ncols is None else int(ncols)
    nrows = -(-N // ncols)
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad) + images.shape[3:], background, np.float32)
    for k, im in enumerate(images):
        r, c = divmod(k, ncols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = im
    return grid


def sample_photos():
    """The colour photographs bundled with scikit-image and scikit-learn (offline), float32 RGB in [0, 1].

    Returns
    -------
    dict of str -> ndarray, shape (H, W, 3)
        astronaut, chelsea, coffee, rocket, immunohistochemistry, hubble_deep_field, china, flower.
    """
    import skimage.data
    from sklearn.datasets import load_sample_image

    photos = {name: getattr(skimage.data, name)() for name in
              ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")}
    photos.update({name: load_sample_image(f"{name}.jpg") for name in ("china", "flower")})
    return {name: as_float_image(image) for name, image in photos.items()}


def random_crops(images, n, size, scale=(1.0, 1.0), seed=0, return_origins=False):
    """``n`` random square crops of ``size`` pixels from a list of pictures, drawn evenly across them.

    Parameters
    ----------
    images : sequence of ndarray, shape (H, W, 3)
    n : int
    size : int
        Side of each crop.
    scale : (float, float), default (1, 1)
        Each crop covers ``size * u`` pixels of its picture before being resized to ``size``,
        with ``u`` uniform in this range (> 1 zooms out).
    seed : int
    return_origins : bool, default False
        Also return where each crop was cut.

    Returns
    -------
    crops : ndarray, float32, shape (n, size, size, 3)
    origins : ndarray, float64, shape (n, 4)
        Only with ``return_origins``: ``(picture index, top, left, zoom)``, pixel
        ``(y, x)`` of a crop lying at ``(top + y * zoom, left + x * zoom)`` of its picture.
    """
    rng = np.random.default_rng(seed)
    crops = np.empty((n, size, size, 3), np.float32)
    origins = np.empty((n, 4), np.float64)
    for i in range(n):
        image = as_float_image(images[i % len(images)])
        H, W = image.shape[:2]
        side = min(H, W, max(1, round(size * rng.uniform(*scale))))
        top, left = rng.integers(0, H - side + 1), rng.integers(0, W - side + 1)
        crop = image[top:top + side, left:left + side]
        crops[i] = crop if side == size else resize(crop, size)
        origins[i] = (i % len(images), top, left, side / size)
    return (crops, origins) if return_origins else crops
