"""What deep ConvNets learn: receptive fields, top-k activating patches (Zeiler and Fergus, 2014),
feature maps and first-layer filters, as pictures.

Geometry of a unit: in a stack of convolutions and pools, a unit at (i, j)
of layer l sees the input rows ``i * stride - padding`` to
``i * stride - padding + size - 1`` (likewise columns), where, with kernel
k_m, stride s_m and padding p_m of each layer m <= l::

    stride_l  = prod_m s_m
    size_l    = 1 + sum_m (k_m - 1) * stride_(m-1)
    padding_l = sum_m p_m * stride_(m-1)          (stride_0 = 1)
"""
from dataclasses import dataclass

import numpy as np

from cnnkit.autograd import Tensor, no_grad
from cnnkit.viz.images import image_grid, with_title

__all__ = ["ReceptiveField", "receptive_fields", "layer_activations", "top_k_patches", "patch_grid",
           "feature_map_grid", "filter_images"]


@dataclass(frozen=True)
class ReceptiveField:
    """Where a unit of a layer looks in the input: rows ``i * stride - padding`` + [0, size), likewise columns."""

    size: int
    stride: int
    padding: int

    @property
    def fitting_input(self):
        """The smallest input side holding one unit's whole window: ``size`` plus what the padding leaves over."""
        first = -(-self.padding // self.stride)  # the first unit whose window starts at or after pixel 0
        return first * self.stride - self.padding + self.size

    def window(self, i, j):
        """The input window ``(top, left, bottom, right)`` (bottom and right exclusive) of unit (i, j)."""
        top, left = i * self.stride - self.padding, j * self.stride - self.padding
        return top, left, top + self.size, left + self.size


def _geometry(layer):
    """(kernel, stride, padding) along one axis of a Conv2d/pool-like module or a tuple; None for pointwise layers."""
    if isinstance(layer, tuple):
        return tuple(int(v) for v in layer)
    kernel = getattr(layer, "kernel_size", None)
    if kernel is None:
        return None
    k = kernel[0] if isinstance(kernel, tuple) else kernel
    s = layer.stride[0] if isinstance(layer.stride, tuple) else layer.stride
    p = getattr(layer, "padding", 0)
    if p == "same":
        p = (k - 1) // 2
    elif p == "valid":
        p = 0
    elif isinstance(p, tuple):
        p = p[0] if isinstance(p[0], int) else p[0][0]
    return int(k), int(s), int(p)


def receptive_fields(layers):
    """The receptive field of every layer of a stack, computed from the kernels, strides and paddings.

    Parameters
    ----------
    layers : Module, or sequence of (name, layer)
        A model (its leaf modules are taken in registration order, which is
        the forward order of sequential stacks), or pairs where ``layer`` is a
        module with ``kernel_size``, ``stride`` and ``padding`` (Conv2d, MaxPool2d, AvgPool2d)
        or a tuple ``(kernel, stride, padding)``. Layers without a kernel
        (ReLU, BatchNorm) keep the field; square kernels are assumed.

    Returns
    -------
    dict of str -> ReceptiveField
        In layer order, one entry per layer with a kernel.
    """
    if hasattr(layers, "named_modules"):
        layers = [(name, m) for name, m in layers.named_modules() if name and not list(m.children())]
    size, stride, padding = 1, 1, 0
    fields = {}
    for name, layer in layers:
        geometry = _geometry(layer)
        if geometry is None:
            continue
        k, s, p = geometry
        size += (k - 1) * stride
        padding += p * stride
        stride *= s
        fields[name] = ReceptiveField(size, stride, padding)
    return fields


def layer_activations(model, layer):
    """A function ``images -> activations of layer`` for a model: VGG16Features taps or any named submodule.

    Parameters
    ----------
    model : Module
        :class:`~cnnkit.models.vgg_features.VGG16Features` (``layer`` is a
        tap such as ``"conv3_1"``) or any model whose ``named_modules()``
        contains ``layer`` (its output is caught by a forward hook).
    layer : str

    Returns
    -------
    callable
        ``(N, H, W, C) ndarray -> (N, h, w, C_l) ndarray``, run without a graph.
    """
    if hasattr(model, "features") and callable(model.features) and not hasattr(model.features, "named_modules"):
        def run(images):
            with no_grad():
                return model.features(images, (layer,))[layer].numpy()
        return run
    modules = dict(model.named_modules())
    if layer not in modules:
        raise ValueError(f"the model has no layer {layer!r}; its layers are {[n for n in modules if n]}")

    def run(images):
        caught = []
        handle = modules[layer].register_forward_hook(lambda module, inputs, output: caught.append(output))
        try:
            with no_grad():
                model(Tensor(images))
        finally:
            handle.remove()
        return caught[0].numpy()
    return run


def _argmax_positions(acts):
    """Each image's largest value per channel of ``acts`` (n, h, w, C) and its (row, column): (n, C), (n, C, 2)."""
    n, h, w, C = acts.shape
    flat = acts.reshape(n, h * w, C)
    where = flat.argmax(axis=1)                                              # (n, C)
    return np.take_along_axis(flat, where[:, None], axis=1)[:, 0], np.stack([where // w, where % w], axis=-1)


def _strongest(activations, images, field, units, batch_size, progress):
    """Each image's strongest response per unit and where: values (N, U), rows and columns (N, U, 2) of the unit.

    Positions whose window lies wholly inside the image are preferred, so
    patches are not mostly grey margin; a unit that is never positive there is
    searched at every position.
    """
    H, W = images.shape[1:3]
    found = {"inside": ([], []), "anywhere": ([], [])}
    for n0 in range(0, len(images), batch_size):
        acts = activations(images[n0:n0 + batch_size])                      # (n, h, w, C_l)
        if units is not None:
            acts = acts[..., list(units)]
        h, w = acts.shape[1:3]
        rows = np.arange(h) * field.stride - field.padding
        cols = np.arange(w) * field.stride - field.padding
        inside = ((rows >= 0) & (rows + field.size <= H))[:, None] & ((cols >= 0) & (cols + field.size <= W))[None]
        masked = np.where(inside[None, :, :, None], acts, -np.inf) if inside.any() else acts
        for key, a in (("inside", masked), ("anywhere", acts)):
            value, where = _argmax_positions(a)
            found[key][0].append(value)
            found[key][1].append(where)
        if progress is not None:
            progress(min(n0 + batch_size, len(images)), len(images))
    values, where = (np.concatenate(found["inside"][0]), np.concatenate(found["inside"][1]))
    anywhere = ~(values.max(axis=0) > 0)                                     # (U,)
    values[:, anywhere] = np.concatenate(found["anywhere"][0])[:, anywhere]
    where[:, anywhere] = np.concatenate(found["anywhere"][1])[:, anywhere]
    return values, where


def _overlaps(a, b, limit):
    """Whether two windows ``(source, top, left, side)`` of one source picture overlap by more than ``limit`` (IoU)."""
    if a[0] != b[0]:
        return False
    dy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    dx = min(a[2] + a[3], b[2] + b[3]) - max(a[2], b[2])
    if dy <= 0 or dx <= 0:
        return False
    inter = dy * dx
    return inter / (a[3] ** 2 + b[3] ** 2 - inter) > limit


def top_k_patches(activations, images, field, k=9, units=None, batch_size=16, origins=None, overlap=0.5,
                  progress=None):
    """The k image patches that most activate each unit, never the same patch twice (Zeiler and Fergus's 9 patches).

    For every unit (channel) of the layer, each image's strongest response
    is found (among the positions whose receptive field lies wholly inside the
    image, unless the unit never responds there); images are ranked by it and the window of the
    unit's receptive field is cut from each (grey where it runs past the
    image). A window that overlaps one already taken for the unit in the same
    source picture (crops of one photo may overlap) is skipped.

    Parameters
    ----------
    activations : callable
        ``(n, H, W, C) images -> (n, h, w, C_l)`` activations, e.g. :func:`layer_activations`.
    images : ndarray, shape (N, H, W, C)
        Floats in [0, 1].
    field : ReceptiveField
        The layer's receptive field (see :func:`receptive_fields`).
    k : int, default 9
    units : sequence of int, optional
        The channels to show; all when None.
    batch_size : int, default 16
    origins : ndarray, shape (N, 4), optional
        Where each image was cut from: ``(source, top, left, zoom)``, a pixel
        ``(y, x)`` of the image being ``(top + y * zoom, left + x * zoom)`` of
        picture ``source`` (as :func:`~cnnkit.viz.images.random_crops` returns
        them). By default every image is its own source.
    overlap : float, default 0.5
        Windows of one source overlapping by more than this IoU count as the same patch.
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch of images.

    Returns
    -------
    patches : ndarray, float32, shape (len(units), k, field.size, field.size, C)
        White where a unit has fewer than k distinct patches.
    values : ndarray, float32, shape (len(units), k)
        The activations, strongest first (NaN for missing patches).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"top_k_patches expects images (N, H, W, C), got shape {images.shape}")
    if not 1 <= k <= len(images):
        raise ValueError(f"top_k_patches: k must be in [1, {len(images)}] (one patch per image), got {k}")
    if origins is None:
        origins = np.stack([np.arange(len(images)), np.zeros(len(images)), np.zeros(len(images)),
                            np.ones(len(images))], axis=1)
    origins = np.asarray(origins, dtype=np.float64)
    if origins.shape != (len(images), 4):
        raise ValueError(f"origins must have shape ({len(images)}, 4), one (source, top, left, zoom) per image, "
                         f"got {origins.shape}")
    values, where = _strongest(activations, images, field, units, batch_size, progress)   # (N, C), (N, C, 2)
    order = np.argsort(-values, axis=0, kind="stable")                      # (N, C)
    S = field.size
    pad = max(S, field.padding)
    # Grey margins let every window be cut with plain slicing, even where it runs past the image.
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=0.5)
    U = values.shape[1]
    patches = np.ones((U, k, S, S, images.shape[3]), np.float32)
    chosen = np.full((U, k), np.nan, np.float32)
    for c in range(U):
        taken = []
        for n in order[:, c]:
            top, left, _, _ = field.window(*where[n, c])
            source, y0, x0, zoom = origins[n]
            window = (source, y0 + top * zoom, x0 + left * zoom, S * zoom)
            if any(_overlaps(window, other, overlap) for other in taken):
                continue
            patches[c, len(taken)] = padded[n, pad + top:pad + top + S, pad + left:pad + left + S]
            chosen[c, len(taken)] = values[n, c]
            taken.append(window)
            if len(taken) == k:
                break
    return patches, chosen


def patch_grid(patches, pad=2, labels=None):
    """Units as blocks of their k patches (a sqrt(k) x sqrt(k) square each), the blocks in a grid.

    Parameters
    ----------
    patches : ndarray, shape (U, k, S, S, C)
    pad : int, default 2
    labels : sequence of str, optional
        One caption per unit (e.g. ``"unit 3  max 9.2"``), written above its block.

    Returns
    -------
    ndarray, float32: the picture, white between patches and wider gaps between units.
    """
    blocks = [image_grid(unit, ncols=int(np.ceil(np.sqrt(len(unit)))), pad=1) for unit in patches]
    if labels is not None:
        if len(labels) != len(blocks):
            raise ValueError(f"{len(labels)} labels for {len(blocks)} units")
        size = max(10, min(16, round(blocks[0].shape[1] / 12)))
        blocks = [with_title(block, label, size=size) for block, label in zip(blocks, labels)]
    return image_grid(blocks, pad=pad * 3)


def feature_map_grid(activation, ncols=None):
    """The channels of one image's activations as grey pictures, each scaled to [0, 1] on its own.

    Parameters
    ----------
    activation : ndarray, shape (h, w, C) or (1, h, w, C)

    Returns
    -------
    ndarray, float32, shape of :func:`~cnnkit.viz.images.image_grid` for C grey (h, w) pictures
    """
    a = np.asarray(activation, dtype=np.float32)
    a = a[0] if a.ndim == 4 and a.shape[0] == 1 else a
    if a.ndim != 3:
        raise ValueError(f"feature_map_grid expects activations (h, w, C), got shape {np.shape(activation)}")
    lo, hi = a.min(axis=(0, 1)), a.max(axis=(0, 1))
    maps = (a - lo) / np.where(hi > lo, hi - lo, 1)
    return image_grid(np.moveaxis(maps, -1, 0), ncols=ncols, pad=1)


def filter_images(weight, scale=8):
    """First-layer filters as pictures: each (KH, KW, 3) kernel mapped to [0, 1] around grey, enlarged.

    Parameters
    ----------
    weight : ndarray or Tensor, shape (KH, KW, C_in, C_out), C_in 1 or 3 (HWIO)
    scale : int, default 8
        Each kernel tap becomes a scale x scale block (nearest neighbour).

    Returns
    -------
    ndarray, float32, shape (C_out, KH * scale, KW * scale, C_in)
        0.5 is a zero weight; every filter is stretched by its own largest magnitude.
    """
    w = np.asarray(weight.numpy() if hasattr(weight, "numpy") else weight, dtype=np.float32)
    if w.ndim != 4 or w.shape[2] not in (1, 3):
        raise ValueError(f"filter_images expects a first-layer kernel (KH, KW, 1 or 3, C_out), got shape {w.shape}")
    filters = np.moveaxis(w, -1, 0)                                         # (C_out, KH, KW, C_in)
    peak = np.abs(filters).max(axis=(1, 2, 3), keepdims=True)
    pictures = 0.5 + 0.5 * filters / np.where(peak > 0, peak, 1)
    return pictures.repeat(scale, axis=1).repeat(scale, axis=2)
