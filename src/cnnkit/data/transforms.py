"""Preprocessing and augmentation on channels-last images, vectorised over the batch.

Every transform takes a batch ``(N, H, W, C)`` or one image ``(H, W, C)`` and
returns a new array of the same dtype. The random ones draw from their own
generator, made from the ``rng`` argument (an int seed or a
``numpy.random.Generator``), so a seeded pipeline repeats exactly.
"""

import numpy as np

from cnnkit.data.images import resize
from cnnkit.utils import pair


def _as_batch(images):
    """View ``images`` as a batch; also return whether a single image was given."""
    images = np.asarray(images)
    if images.ndim == 3:
        return images[None], True
    if images.ndim != 4:
        raise ValueError(f"expected an image (H, W, C) or a batch (N, H, W, C), got shape {images.shape}")
    return images, False


def _angle_range(degrees, name):
    """``degrees`` as a (low, high) range: a number d means (-d, d)."""
    if np.isscalar(degrees):
        if degrees < 0:
            raise ValueError(f"{name} must be >= 0 or a (low, high) pair, got {degrees}")
        return -float(degrees), float(degrees)
    low, high = degrees
    if low > high:
        raise ValueError(f"{name} range must have low <= high, got {degrees}")
    return float(low), float(high)


def bilinear_sample(images, ys, xs):
    """Sample ``images`` at fractional pixel positions, zero outside the image.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
    ys, xs : ndarray, shape (N, OH, OW)
        Row and column of the source position of each output pixel
        (pixel centres at integers).

    Returns
    -------
    ndarray, shape (N, OH, OW, C), the dtype of ``images``.
    """
    N, H, W, C = images.shape
    y0, x0 = np.floor(ys), np.floor(xs)
    wy, wx = (ys - y0).astype(images.dtype)[..., None], (xs - x0).astype(images.dtype)[..., None]
    y0, x0 = y0.astype(np.intp), x0.astype(np.intp)
    n = np.arange(N)[:, None, None]
    out = np.zeros(ys.shape + (C,), dtype=images.dtype)
    for dy, fy in ((0, 1 - wy), (1, wy)):
        for dx, fx in ((0, 1 - wx), (1, wx)):
            yy, xx = y0 + dy, x0 + dx
            inside = ((yy >= 0) & (yy < H) & (xx >= 0) & (xx < W))[..., None]
            corner = images[n, np.clip(yy, 0, H - 1), np.clip(xx, 0, W - 1)]  # (N, OH, OW, C)
            out += corner * (fy * fx * inside)
    return out


def _inverse_map(images, matrices):
    """Warp each image by sampling at ``matrices @ (offset from centre)`` for every output pixel."""
    N, H, W, _ = images.shape
    cy, cx = (H - 1) / 2, (W - 1) / 2
    u, v = np.meshgrid(np.arange(H) - cy, np.arange(W) - cx, indexing="ij")  # (H, W) offsets
    ys = cy + matrices[:, 0, 0, None, None] * u + matrices[:, 0, 1, None, None] * v  # (N, H, W)
    xs = cx + matrices[:, 1, 0, None, None] * u + matrices[:, 1, 1, None, None] * v
    return bilinear_sample(images, ys, xs)


class Compose:
    """Apply transforms in order.

    Parameters
    ----------
    transforms : sequence of callables
    """

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, images):
        for transform in self.transforms:
            images = transform(images)
        return images

    def __repr__(self):
        return f"Compose({self.transforms!r})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``.

    Parameters
    ----------
    p : float, default 0.5
    rng : int or numpy.random.Generator, optional
    """

    def __init__(self, p=0.5, rng=None):
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p, self.rng = p, np.random.default_rng(rng)

    def __call__(self, images):
        batch, single = _as_batch(images)
        flip = self.rng.random(len(batch)) < self.p
        out = batch.copy()
        out[flip] = batch[flip, :, ::-1]
        return out[0] if single else out


class RandomCrop:
    """Cut a random ``size`` window from each image, after zero-padding its borders by ``padding``.

    Parameters
    ----------
    size : int or (int, int)
        The output (H, W).
    padding : int, default 0
        Zeros added on every side first (the CIFAR recipe: 32x32, padding 4).
    rng : int or numpy.random.Generator, optional
    """

    def __init__(self, size, padding=0, rng=None):
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        self.size, self.padding, self.rng = pair(size, "size", low=1), int(padding), np.random.default_rng(rng)

    def __call__(self, images):
        batch, single = _as_batch(images)
        p, (h, w) = self.padding, self.size
        padded = np.pad(batch, ((0, 0), (p, p), (p, p), (0, 0))) if p else batch
        N, HP, WP, _ = padded.shape
        if h > HP or w > WP:
            raise ValueError(f"crop size {self.size} is larger than the padded image ({HP}, {WP})")
        top = self.rng.integers(0, HP - h + 1, size=N)
        left = self.rng.integers(0, WP - w + 1, size=N)
        rows = (top[:, None] + np.arange(h))[:, :, None]  # (N, h, 1)
        cols = (left[:, None] + np.arange(w))[:, None, :]  # (N, 1, w)
        out = padded[np.arange(N)[:, None, None], rows, cols]  # (N, h, w, C)
        return out[0] if single else out


class _RandomLinearMap:
    """Base of the transforms that map each image about its centre by a 2x2 matrix of a random angle.

    Subclasses define ``_matrices(theta)``: the (N, 2, 2) inverse maps for angles (N,) in radians.
    """

    def __init__(self, degrees, rng):
        self.degrees, self.rng = degrees, np.random.default_rng(rng)

    def __call__(self, images):
        batch, single = _as_batch(images)
        theta = np.deg2rad(self.rng.uniform(*self.degrees, size=len(batch)))
        out = _inverse_map(batch, self._matrices(theta))
        return out[0] if single else out


class RandomRotation(_RandomLinearMap):
    """Rotate each image about its centre by a random angle, counter-clockwise for positive angles.

    Inverse mapping with bilinear sampling; pixels from outside become 0.

    Parameters
    ----------
    degrees : float or (float, float)
        Angles are drawn uniformly from ``(-degrees, degrees)`` or the given range.
    rng : int or numpy.random.Generator, optional
    """

    def __init__(self, degrees, rng=None):
        super().__init__(_angle_range(degrees, "degrees"), rng)

    def _matrices(self, theta):
        """Rotations by ``theta`` (N,): (N, 2, 2)."""
        cos, sin = np.cos(theta), np.sin(theta)
        # the source of output offset (u, v) is the offset rotated back by theta
        return np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], 1)


class RandomShear(_RandomLinearMap):
    """Shear each image horizontally by a random angle: row ``u`` below the centre shifts right by ``u tan(angle)``.

    Inverse mapping with bilinear sampling; pixels from outside become 0.

    Parameters
    ----------
    degrees : float or (float, float)
        Shear angles are drawn uniformly from ``(-degrees, degrees)`` or the given range.
    rng : int or numpy.random.Generator, optional
    """

    def __init__(self, degrees, rng=None):
        low, high = _angle_range(degrees, "degrees")
        if max(abs(low), abs(high)) >= 90:
            raise ValueError(f"shear angles must be within (-90, 90) degrees, got {degrees}")
        super().__init__((low, high), rng)

    def _matrices(self, theta):
        """Horizontal shears by ``theta`` (N,): (N, 2, 2)."""
        shear = np.tan(theta)
        ones, zeros = np.ones_like(shear), np.zeros_like(shear)
        return np.stack([np.stack([ones, zeros], -1), np.stack([-shear, ones], -1)], 1)


class ColorShift:
    """Add a random offset to every channel of each image.

    Parameters
    ----------
    max_shift : float
        Plain mode: each channel's offset is uniform in ``[-max_shift, max_shift]``.
        PCA mode: the standard deviation of the weights ``alpha`` below.
    pca : bool, default False
        AlexNet's colour jitter: the offset is ``eigvecs @ (alpha * eigvals)``, the
        principal components of the batch's pixel colours scaled by their
        variances and by ``alpha ~ N(0, max_shift)`` per image (AlexNet used 0.1).
    rng : int or numpy.random.Generator, optional
    """

    def __init__(self, max_shift, pca=False, rng=None):
        if max_shift < 0:
            raise ValueError(f"max_shift must be >= 0, got {max_shift}")
        self.max_shift, self.pca, self.rng = float(max_shift), bool(pca), np.random.default_rng(rng)

    def __call__(self, images):
        batch, single = _as_batch(images)
        N, C = len(batch), batch.shape[-1]
        if self.pca:
            pixels = batch.reshape(-1, C).astype(np.float64)
            eigvals, eigvecs = np.linalg.eigh(np.atleast_2d(np.cov(pixels, rowvar=False)))
            alpha = self.rng.normal(0.0, self.max_shift, size=(N, C))
            shift = (alpha * eigvals) @ eigvecs.T  # (N, C)
        else:
            shift = self.rng.uniform(-self.max_shift, self.max_shift, size=(N, C))
        out = batch + shift[:, None, None, :].astype(batch.dtype)
        return out[0] if single else out


class Normalize:
    """Standardise each channel: ``(x - mean) / std``.

    Parameters
    ----------
    mean, std : float or sequence of float
        One value, or one per channel.
    """

    def __init__(self, mean, std):
        self.mean, self.std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
        if np.any(self.std <= 0):
            raise ValueError(f"std must be positive, got {std}")

    def __call__(self, images):
        images = np.asarray(images)
        if self.mean.ndim and self.mean.shape[-1] != images.shape[-1]:
            raise ValueError(f"{self.mean.shape[-1]} channel means for images with {images.shape[-1]} channels")
        dtype = images.dtype if images.dtype.kind == "f" else np.float32
        return ((images - self.mean.astype(dtype)) / self.std.astype(dtype)).astype(dtype, copy=False)

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class Resize:
    """Resize to ``size`` with :func:`cnnkit.data.images.resize`, the one resampler.

    Bilinear with half-pixel centres (PyTorch's ``align_corners=False``),
    antialiased when shrinking (PyTorch's ``antialias=True``, Pillow's ``BILINEAR``).

    Parameters
    ----------
    size : int or (int, int)
        The output (H, W).
    """

    def __init__(self, size):
        self.size = pair(size, "size", low=1)

    def __call__(self, images):
        batch, single = _as_batch(images)
        out = resize(batch if batch.dtype.kind == "f" else batch.astype(np.float32), self.size)  # (N, OH, OW, C)
        return out[0] if single else out

    def __repr__(self):
        return f"Resize({self.size})"


def build_preprocessing(config):
    """The deterministic input pipeline described by a JSON-able dict, as stored in checkpoints.

    Parameters
    ----------
    config : dict or None
        Optional keys ``"resize"`` ([H, W], bilinear) and ``"mean"`` / ``"std"``
        (per-channel lists, applied after resizing); other keys (such as the
        ``"input_shape"`` a checkpoint records) are ignored. None or {} gives
        the identity.

    Returns
    -------
    Compose
    """
    config = config or {}
    steps = []
    if config.get("resize"):
        steps.append(Resize(tuple(config["resize"])))
    if config.get("mean") is not None or config.get("std") is not None:
        steps.append(Normalize(config.get("mean", 0.0), config.get("std", 1.0)))
    return Compose(steps)
