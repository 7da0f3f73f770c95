"""The one image reader and the one resize: every picture the library and the CLI read goes through here.

``load_image`` turns any file Pillow knows into a channels-last array the rest
of cnnkit accepts:

- **orientation**: the EXIF orientation tag is applied (phone photos come out upright);
- **16-bit** grey (PNG, TIFF, PGM) is scaled by 1/65535, never clipped at 255;
  Pillow reads 16-bit colour as 8-bit (its high byte);
- **palette** images are expanded to their colours;
- **alpha** (RGBA, LA, palette transparency) is composited on **white**, as a
  page shows a transparent picture; the alpha channel is not returned;
- **CMYK**, YCbCr and the other colour modes are converted to RGB (Pillow's
  conversion; ICC profiles are ignored);
- **grey** output is the luma ``0.299 R + 0.587 G + 0.114 B`` (ITU-R 601, as Pillow's ``L``),
  computed in floats so 16-bit precision is kept.

Only the first frame of an animated or multi-page file is read. Every failure
-- a missing, non-image, truncated or oversized file -- raises :class:`ImageError`
(a ``ValueError``) whose message names the file.

Size limits: a file with more than ``max_pixels`` pixels (default
``DEFAULT_MAX_PIXELS``, Pillow's own decompression-bomb threshold, or
``$CNNKIT_MAX_IMAGE_PIXELS``) is refused before it is decoded. When a target
size is given, JPEGs are decoded at 1/2, 1/4 or 1/8 scale (``draft``) and other
files are box-reduced by an integer factor (``reduce``) straight after
decoding, keeping at least twice the target size, so a small read of a huge
picture costs the decoded 8-bit image at most, never its float copy.

``resize`` is the one resampler, used for files and arrays alike: separable
bilinear with half-pixel centres, antialiased when shrinking (the triangle
filter widened by the scale factor: Pillow's ``BILINEAR`` and PyTorch's
``interpolate(..., mode="bilinear", antialias=True)``), or ``"area"`` averaging
(TensorFlow's ``AREA``, OpenCV's ``INTER_AREA`` when shrinking).
"""
import os
import threading
import warnings

import numpy as np

from cnnkit.data.resample import resample, resize, target_shape
from cnnkit.utils import natural_sorted

__all__ = ["ImageError", "IMAGE_EXTENSIONS", "MAX_PIXELS_ENV", "DEFAULT_MAX_PIXELS", "load_image", "open_image",
           "list_images", "load_images", "resize", "to_gray", "as_float_image", "as_uint8_image", "to_uint8"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".pbm", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_PIXELS_ENV = "CNNKIT_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's Image.MAX_IMAGE_PIXELS: 0.25 GiB of 24-bit pixels, a bomb beyond
MODES = ("rgb", "gray")
_LUMA = np.array([0.299, 0.587, 0.114])
_REDUCING_GAP = 2  # decode at least this many times the target size, so the final resize still antialiases
_BOMB_LOCK = threading.Lock()
# EXIF orientation -> the transpose that makes the picture upright (as PIL.ImageOps.exif_transpose)
_ORIENTATION = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
                7: "TRANSVERSE", 8: "ROTATE_90"}


class ImageError(ValueError):
    """A file that cannot be read as an image; ``path`` names it and the message says why."""

    def __init__(self, path, reason):
        super().__init__(f"cannot read image {path}: {reason}")
        self.path = str(path)


def _max_pixels(max_pixels):
    """The pixel limit: the argument, else ``$CNNKIT_MAX_IMAGE_PIXELS``, else the default."""
    if max_pixels is None:
        value = os.environ.get(MAX_PIXELS_ENV)
        if not value:
            return DEFAULT_MAX_PIXELS
        try:
            max_pixels = int(value)
        except ValueError:
            raise ValueError(f"{MAX_PIXELS_ENV} must be a whole number of pixels, got {value!r}") from None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    return int(max_pixels)


def _open(Image, path, limit):
    """``Image.open(path)`` with Pillow's bomb check replaced by ours (``limit`` pixels)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit decides, just below
        try:
            return Image.open(path)
        except Image.DecompressionBombError:
            if Image.MAX_IMAGE_PIXELS is None or limit <= 2 * Image.MAX_IMAGE_PIXELS:
                raise ImageError(path, f"it has more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels, over the "
                                       f"limit of {limit:,} (a decompression bomb?); set {MAX_PIXELS_ENV} or pass "
                                       f"max_pixels to allow larger images") from None
        # the caller raised the limit above Pillow's hard one: open once without Pillow's check
        with _BOMB_LOCK:
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                return Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved


def open_image(path, max_pixels=None):
    """The Pillow image of a file or file object, opened lazily under cnnkit's pixel limit.

    For readers that must keep Pillow's own semantics (:mod:`cnnkit.compat.face_recognition`);
    everything else reads pixels with :func:`load_image`.

    Parameters
    ----------
    path : str, os.PathLike or file object
    max_pixels : int, optional
        As for :func:`load_image`.

    Returns
    -------
    PIL.Image.Image

    Raises
    ------
    ImageError
        For a file over the pixel limit (other errors are Pillow's).
    """
    from PIL import Image

    limit = _max_pixels(max_pixels)
    picture = _open(Image, path, limit)
    W, H = picture.size
    if W * H > limit:
        picture.close()
        raise ImageError(path, f"it has {W}x{H} = {W * H:,} pixels, over the limit of {limit:,}; set "
                               f"{MAX_PIXELS_ENV} or pass max_pixels to allow larger images")
    return picture


def _normalise_mode(picture):
    """Convert modes that ``reduce`` cannot average (bilevel, palette, 16-bit) or should not (CMYK...)."""
    mode = picture.mode
    if mode == "1":
        return picture.convert("L")
    if mode in ("P", "PA"):
        return picture.convert("RGBA" if mode == "PA" or "transparency" in picture.info else "RGB")
    if mode.startswith("I;16"):
        return picture.convert("I")  # 32-bit integers keep every 16-bit value
    if mode not in ("L", "LA", "La", "I", "F", "RGB", "RGBA", "RGBa"):
        return picture.convert("RGB")
    return picture


def _to_array(path, picture, work):
    """Pixels as floats of dtype ``work`` (H, W, C) in [0, 1], C = 1 or 3, alpha composited on white."""
    mode = picture.mode
    if mode in ("La", "RGBa"):  # premultiplied after reduce: back to straight alpha
        picture, mode = picture.convert(mode.replace("a", "A")), mode.replace("a", "A")
    pixels = np.asarray(picture)
    if mode == "I":
        if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
            raise ImageError(path, f"its 32-bit pixels span {pixels.min()}..{pixels.max()}, outside the 16-bit "
                                   f"range 0..65535 that is read")
        return (pixels.astype(work) / work(65535))[..., None]
    if mode == "F":
        if not np.isfinite(pixels).all() or (pixels.size and (pixels.min() < 0 or pixels.max() > 1)):
            raise ImageError(path, "its floating-point pixels are not all within [0, 1]")
        return pixels.astype(work)[..., None]
    pixels = pixels.reshape(pixels.shape[:2] + (-1,)).astype(work)
    pixels /= work(255)
    if mode in ("LA", "RGBA"):
        colour, alpha = pixels[..., :-1], pixels[..., -1:]
        pixels = colour * alpha + (1 - alpha)  # over white
    return pixels


def _decode(Image, path, picture, size, longer_side, limit, work):
    """Decode ``picture`` (at reduced size when the target is small): ``work`` floats (H, W, C), extent, target."""
    W, H = picture.size
    if W * H > limit:
        raise ImageError(path, f"it has {W}x{H} = {W * H:,} pixels, over the limit of {limit:,}; set "
                               f"{MAX_PIXELS_ENV} or pass max_pixels to allow larger images")
    orientation = picture.getexif().get(0x0112, 1)
    sideways = orientation in (5, 6, 7, 8)  # stored on its side: the file's height is the picture's width
    target = target_shape(size, longer_side, *((W, H) if sideways else (H, W)))
    stored = None if target is None else (target[::-1] if sideways else target)
    extent = (float(H), float(W))
    if stored is not None and picture.format == "JPEG":
        drafted = picture.draft(None, (stored[1] * _REDUCING_GAP, stored[0] * _REDUCING_GAP))
        if drafted is not None:
            extent = (drafted[1][3], drafted[1][2])  # the decoded box, in fractional pixels
    picture.load()
    picture = _normalise_mode(picture)
    if stored is not None:
        fy = max(1, int(extent[0] // (stored[0] * _REDUCING_GAP)))
        fx = max(1, int(extent[1] // (stored[1] * _REDUCING_GAP)))
        if fy > 1 or fx > 1:
            picture = picture.reduce((fx, fy))
            extent = (extent[0] / fy, extent[1] / fx)
    if orientation in _ORIENTATION:
        picture = picture.transpose(getattr(Image.Transpose, _ORIENTATION[orientation]))
        extent = extent[::-1] if sideways else extent
    return _to_array(path, picture, work), extent, target


def load_image(path, size=None, *, longer_side=None, mode="rgb", dtype=np.float32, max_pixels=None):
    """Read one image file (PNG, JPEG, PGM, BMP, GIF, TIFF, WebP, ...).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    size : int or (int, int), optional
        Resize to ``(height, width)`` (an int gives a square) with :func:`resize`.
    longer_side : int, optional
        Instead of ``size``: scale so the longer side has this many pixels, keeping the aspect ratio.
    mode : {"rgb", "gray"}, default "rgb"
        Three RGB channels, or one grey channel (luma).
    dtype : {np.float32, np.float64, np.uint8}, default np.float32
        Floats in [0, 1], or integers 0..255 (rounded).
    max_pixels : int, optional
        Refuse files with more pixels than this; by default ``$CNNKIT_MAX_IMAGE_PIXELS``
        or ``DEFAULT_MAX_PIXELS`` (89,478,485).

    Returns
    -------
    ndarray, shape (H, W, 3) for "rgb" or (H, W, 1) for "gray"
        Upright (EXIF orientation applied), alpha composited on white.

    Raises
    ------
    ImageError
        A ``ValueError`` naming the file: missing, not an image, truncated,
        corrupt, or over the pixel limit.
    """
    from PIL import Image

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64, np.uint8):
        raise TypeError(f"dtype must be float32, float64 or uint8, got {dtype}")
    limit = _max_pixels(max_pixels)
    work = np.float64 if dtype == np.float64 else np.float32  # 16-bit values are exact in float32 too
    target_shape(size, longer_side, 1, 1)  # bad arguments fail before the file is opened
    if not os.path.isfile(path):
        raise ImageError(path, "no such file" if not os.path.exists(path) else "not a file")
    try:
        with _open(Image, path, limit) as picture:
            pixels, extent, target = _decode(Image, path, picture, size, longer_side, limit, work)
    except ImageError:
        raise
    except Exception as exc:  # Pillow's decoders raise many types (OSError, SyntaxError, struct.error, ...)
        reason = "not an image Pillow can identify" if isinstance(exc, Image.UnidentifiedImageError) else \
            f"{type(exc).__name__}: {exc}"
        raise ImageError(path, reason) from exc
    if mode == "gray" and pixels.shape[-1] == 3:
        pixels = to_gray(pixels)
    elif mode == "rgb" and pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    if target is not None:
        pixels = resample(pixels[None], target, "bilinear", extent)[0]
    if dtype == np.uint8:
        return np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8)
    return pixels.astype(dtype, copy=False)


def list_images(folder):
    """The image files directly in ``folder`` (by extension, see ``IMAGE_EXTENSIONS``), sorted naturally by name (``2.png`` before ``10.png``).

    Raises
    ------
    FileNotFoundError
        When ``folder`` is not a folder.
    ValueError
        When it holds no image file.
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"image folder {folder} does not exist")
    paths = natural_sorted(os.path.join(folder, name) for name in os.listdir(folder)
                           if name.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, name)))
    if not paths:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return paths


def load_images(source, size=None, *, stack=False, **options):
    """Read a folder of images, or a list of files, with :func:`load_image`.

    Parameters
    ----------
    source : str or sequence of str
        A folder (its :func:`list_images`) or the files.
    size : int or (int, int), optional
        As for :func:`load_image`.
    stack : bool, default False
        Return one (N, H, W, C) array; the images must then all have one shape.
    **options
        ``longer_side``, ``mode``, ``dtype``, ``max_pixels`` of :func:`load_image`.

    Returns
    -------
    list of ndarray (H, W, C), or ndarray (N, H, W, C) when ``stack``

    Raises
    ------
    ImageError
        Naming the first file that cannot be read, or whose shape differs when ``stack``.
    """
    paths = list_images(source) if isinstance(source, (str, os.PathLike)) else list(source)
    images = []
    for path in paths:
        images.append(load_image(path, size, **options))
        if stack and images[-1].shape != images[0].shape:
            raise ImageError(path, f"its shape {images[-1].shape} differs from {images[0].shape} of {paths[0]}; "
                                   f"pass size=(H, W) to resize them all")
    if stack:
        if not images:
            raise ValueError("no images to stack")
        return np.stack(images)
    return images


def to_gray(image):
    """RGB floats (..., 3) -> their luma (..., 1), ``0.299 R + 0.587 G + 0.114 B`` (ITU-R 601), in the input's dtype.

    What ``load_image(mode="gray")`` does to a colour file, for arrays (e.g. a crop of a photo).
    """
    image = np.asarray(image)
    if image.shape[-1:] != (3,) or image.dtype.kind != "f":
        raise ValueError(f"to_gray expects RGB floats (..., 3), got shape {image.shape} and dtype {image.dtype}")
    return image @ _LUMA[:, None].astype(image.dtype)


def as_float_image(image):
    """An image as float32 RGB in [0, 1]: uint8 is divided by 255, grey (H, W) becomes three equal channels.

    Parameters
    ----------
    image : ndarray, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        uint8 in 0..255 or floats in [0, 1]; an alpha channel is dropped.

    Returns
    -------
    ndarray, float32, shape (H, W, 3)
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected an image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {image.shape}")
    image = image[..., :3]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255
    if image.dtype.kind != "f":
        raise TypeError(f"expected uint8 or floating pixels, got dtype {image.dtype}")
    return image.astype(np.float32)


def to_uint8(image):
    """Floats in [0, 1] (clipped) -> uint8 0..255 (rounded); uint8 passes through."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def as_uint8_image(image, name="image"):
    """uint8 pixels as they are; floats in [0, 1] (what :func:`load_image` returns) as rounded uint8.

    For the APIs that work on 0..255 pixels as their reference implementations
    do (dlib, MTCNN). The shape is not checked here.

    Raises
    ------
    TypeError
        For pixels that are neither uint8 nor floating point.
    ValueError
        For floats outside [0, 1] (such as 0..255 floats), naming ``name``.
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    if image.dtype.kind != "f":
        raise TypeError(f"{name} must be uint8 (0..255) or floats in [0, 1], got dtype {image.dtype}")
    if image.size and not (np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1):
        raise ValueError(f"{name}: float pixels must be within [0, 1] (divide 0..255 values by 255), got "
                         f"{np.nanmin(image):g}..{np.nanmax(image):g}")
    return to_uint8(image)
