"""Pictures in and out of the playground: uploads read under a random name, sample photos, PNG data URLs."""
import base64
import contextvars
import io
import os
import secrets
import tempfile

import numpy as np

from cnnkit.data.images import load_image, to_uint8

#: The largest upload accepted, in bytes (checked from Content-Length and while the body streams in).
DEFAULT_MAX_UPLOAD_BYTES = 8 * 1024 * 1024
#: The most pixels an uploaded picture may have (cnnkit.data.images refuses larger files before decoding).
DEFAULT_MAX_PIXELS = 16_000_000

#: The pixel limit of the request being served (set by the app's middleware).
PIXEL_LIMIT = contextvars.ContextVar("PIXEL_LIMIT", default=DEFAULT_MAX_PIXELS)
_SAMPLES = None


def sample_names():
    """The names of the bundled samples, for the pickers: the photos (scikit-image, scikit-learn), then the digits."""
    return sorted(_samples(), key=lambda name: (name.startswith("digit_"), name))


def sample_thumbnail(name, side=96):
    """PNG bytes of a small copy of a sample photo, for the pickers."""
    if name not in _samples():
        raise KeyError(f"no sample photo {name!r}")
    return base64.b64decode(png_url(_sample(name, side, "rgb", np.uint8)).split(",", 1)[1])


def _samples():
    """The sample photos and a test digit of each class (8x8, white on black, as digits models see them), read once."""
    global _SAMPLES
    if _SAMPLES is None:
        from cnnkit.data import load_dataset
        from cnnkit.viz.images import sample_photos
        samples = sample_photos()
        digits = load_dataset("digits", "test")
        for label in range(10):
            first = int(np.flatnonzero(digits.labels == label)[0])
            samples[f"digit_{label}"] = np.repeat(digits.images[first], 3, axis=-1)
        _SAMPLES = samples
    return _SAMPLES


async def read_picture(form, field, *, max_pixels=None, longer_side=None, mode="rgb",
                       dtype=np.float32, required=True):
    """The picture of a form: an uploaded file in ``field``, or the sample photo named in ``field + "_sample"``.

    The upload's bytes go to a file with a random name in a private temporary
    folder (the name the browser sent is never used) and are read by
    :func:`cnnkit.data.images.load_image`, which enforces ``max_pixels``
    (default: the request's :data:`PIXEL_LIMIT`).

    Returns
    -------
    ndarray, shape (H, W, 3) or (H, W, 1); None when not ``required`` and nothing was sent
    """
    upload = form.get(field)
    if upload is not None and not isinstance(upload, str) and upload.filename is not None:
        data = await upload.read()
        if not data:
            raise ValueError(f"{field}: the uploaded file is empty")
        with tempfile.TemporaryDirectory(prefix="cnnkit-serve-") as folder:
            path = os.path.join(folder, secrets.token_hex(8))
            with open(path, "wb") as f:
                f.write(data)
            try:
                return load_image(path, longer_side=longer_side, mode=mode, dtype=dtype,
                                  max_pixels=max_pixels or PIXEL_LIMIT.get())
            except ValueError as exc:  # the message names the random file: name the field instead
                raise ValueError(str(exc).replace(path, f"the uploaded {field}")) from None
    name = form.get(f"{field}_sample") or ""
    if not name:
        if required:
            raise ValueError(f"{field}: upload a picture or choose a sample")
        return None
    if name not in _samples():
        raise ValueError(f"{field}_sample: unknown sample {name!r}; known: {', '.join(sample_names())}")
    return _sample(name, longer_side, mode, dtype)


def _sample(name, longer_side, mode, dtype):
    """A sample photo resized (bilinear, as load_image does) and converted like ``load_image``'s output."""
    from cnnkit.data.images import _LUMA, resize
    image = _samples()[name]
    if longer_side:
        image = resize(image, longer_side=longer_side)
    if mode == "gray":
        image = image @ _LUMA[:, None].astype(np.float32)
    if np.dtype(dtype) == np.uint8:
        return to_uint8(image)
    return np.clip(image, 0, 1).astype(dtype)


def png_url(image):
    """A ``data:image/png`` URL of an image: (H, W), (H, W, 1) or (H, W, 3), floats in [0, 1] or uint8."""
    from PIL import Image
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    pixels = image if image.dtype == np.uint8 else to_uint8(np.clip(image, 0, 1))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def heatmap(values, cmap="viridis"):
    """An (H, W) array as an (H, W, 3) uint8 heat map, scaled from its minimum to its maximum."""
    from matplotlib import colormaps
    values = np.asarray(values, dtype=np.float32)
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return (colormaps[cmap](scaled)[..., :3] * 255).astype(np.uint8)


def enlarge(image, min_side=160):
    """Nearest-neighbour enlargement of a small image so that its shorter side reaches ``min_side`` pixels."""
    factor = max(1, -(-min_side // max(1, min(image.shape[:2]))))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
