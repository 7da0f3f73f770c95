"""Sliding windows, naively and as one convolutional pass (OverFeat; the course's "convolutional implementation").

A window classifier (convolutions and pools, ``Flatten``, ``Linear`` layers)
applied to every ``window`` x ``window`` crop of a larger image at a stride of
``s`` repeats almost all of its convolution work: neighbouring crops overlap.
:func:`to_fully_convolutional` rewrites its dense layers as convolutions (the
first ``Linear`` as a convolution whose kernel is the whole feature map, the
later ones as 1x1 convolutions), so the rewritten network takes an image of
any size and returns, in one pass, the grid of the classifier's outputs on
every window at the stride :func:`window_stride`.

The two agree exactly when the layers before ``Flatten`` use no padding
(``padding=0``, "valid"): with padding, a crop's border sees zeros where the
large image has its neighbouring pixels.
"""
import copy

import numpy as np

from cnnkit.autograd import Tensor, no_grad
from cnnkit.backend import to_numpy
from cnnkit.nn import (AvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Identity, LeakyReLU, Linear, MaxPool2d,
                       ReLU, Sequential, Sigmoid, Softmax, Tanh)
from cnnkit.utils import pair

# layers that act on the last axis (or elementwise), so they work unchanged on (N, OH, OW, features)
_POINTWISE = (ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, Dropout, Identity, BatchNorm2d)


def _layers(model):
    """The leaf layers of a model whose forward applies its children in order, flattened out of Sequentials."""
    children = list(model.children())
    if not children:
        return [model]
    return [layer for child in children for layer in _layers(child)]


def _split_at_flatten(model):
    """(layers before the one Flatten, layers after it), checked."""
    layers = _layers(model)
    flattens = [k for k, layer in enumerate(layers) if isinstance(layer, Flatten)]
    if len(flattens) != 1:
        raise ValueError(f"to_fully_convolutional needs a window classifier with exactly one Flatten, "
                         f"found {len(flattens)} in {type(model).__name__}")
    head = layers[flattens[0] + 1:]
    for layer in head:
        if not isinstance(layer, (Linear,) + _POINTWISE):
            raise TypeError(f"after Flatten only Linear layers and pointwise layers (activations, dropout, batch "
                            f"norm) can become convolutions, got {type(layer).__name__}")
    return layers[:flattens[0]], head


def window_stride(model):
    """The stride (rows, columns) between the windows of a convolutionalised classifier.

    The product of the strides of the convolutions and pools before ``Flatten``.

    Parameters
    ----------
    model : Module
        A window classifier, or its :func:`to_fully_convolutional` version.

    Returns
    -------
    (int, int)
    """
    layers = _layers(model)
    if any(isinstance(layer, Flatten) for layer in layers):
        layers = _split_at_flatten(model)[0]
    stride = np.ones(2, dtype=np.int64)
    for layer in layers:
        if isinstance(layer, (Conv2d, MaxPool2d, AvgPool2d)):
            stride *= layer.stride
    return int(stride[0]), int(stride[1])


def to_fully_convolutional(model, input_shape):
    """Rewrite a window classifier's dense layers as convolutions.

    Parameters
    ----------
    model : Module
        A window classifier whose forward applies its children in order (a
        ``Sequential``, or a module such as LeNet-5 made of ``features``,
        ``flatten`` and ``classifier``): convolutional layers, one ``Flatten``,
        then ``Linear`` layers and pointwise layers (activations, dropout).
    input_shape : (int, int, int)
        The window's (H, W, C), the input size the classifier was trained on.

    Returns
    -------
    Sequential
        A copy of the convolutional layers, then a ``Conv2d`` with the kernel
        (h, w) of the flattened feature map for the first ``Linear``, 1x1
        ``Conv2d`` for the later ones, and copies of the pointwise layers; in
        the mode (train or eval) of ``model``. On the window it gives
        (N, 1, 1, outputs), equal to ``model``'s (N, outputs); on an image of
        (H', W') it gives (N, OH, OW, outputs) with ``OH = (H' - H) // s + 1``
        for the stride ``s`` of :func:`window_stride`, where output ``(i, j)``
        is the classifier's result on the window at ``(i * s, j * s)``
        (exactly so when the layers before ``Flatten`` are unpadded).

    Notes
    -----
    Flattening is channels-last, (h, w, c), so the first Linear's weight
    (h * w * c, out) reshapes directly into the HWIO kernel (h, w, c, out).
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be the window's (H, W, C), got {input_shape}")
    body, head = _split_at_flatten(model)
    body = [copy.deepcopy(layer) for layer in body]
    probe = Sequential(*body) if body else Identity()
    was_training = probe.training
    probe.eval()  # running a dummy input must not move BatchNorm's running statistics
    with no_grad():
        h, w, c = probe(Tensor(np.zeros((1,) + tuple(input_shape), dtype=_dtype(model)))).shape[1:]
    probe.train(was_training)
    layers, kernel = list(body), (h, w)
    for layer in head:
        if isinstance(layer, Linear):
            channels = layer.in_features // (kernel[0] * kernel[1])
            if channels * kernel[0] * kernel[1] != layer.in_features:
                raise ValueError(f"Linear({layer.in_features}, {layer.out_features}) does not follow a flattened "
                                 f"{kernel[0]} x {kernel[1]} x {c} feature map")
            conv = Conv2d(channels, layer.out_features, kernel, bias=layer.bias is not None,
                          dtype=layer.weight.dtype)
            # (h * w * c, out) in channels-last flatten order -> (h, w, c, out)
            conv.weight.data = layer.weight.data.reshape(kernel + (channels, layer.out_features)).copy()
            if layer.bias is not None:
                conv.bias.data = layer.bias.data.copy()
            conv.train(layer.training)
            layers.append(conv)
            kernel = (1, 1)
        else:
            layers.append(copy.deepcopy(layer))
    return Sequential(*layers).train(model.training)


def _dtype(model):
    """The dtype of a model's first parameter (float32 for a model without any)."""
    return next((p.dtype for p in model.parameters()), np.float32)


def sliding_windows(image, window, stride):
    """Every window x window crop of an image, row by row.

    Parameters
    ----------
    image : ndarray, shape (H, W, C)
    window : int or (int, int)
        Crop height and width.
    stride : int or (int, int)

    Returns
    -------
    ndarray, shape (OH, OW, window_h, window_w, C)
        A read-only strided view, ``OH = (H - window_h) // stride_h + 1``.
    """
    image = np.asarray(image)
    (wh, ww), (sh, sw) = pair(window, "window", low=1), pair(stride, "stride", low=1)
    if image.ndim != 3 or image.shape[0] < wh or image.shape[1] < ww:
        raise ValueError(f"image must be (H, W, C) at least as large as the window {wh} x {ww}, got {image.shape}")
    views = np.lib.stride_tricks.sliding_window_view(image, (wh, ww), axis=(0, 1))  # (H', W', C, wh, ww)
    return views[::sh, ::sw].transpose(0, 1, 3, 4, 2)


def classify_windows(model, image, window, stride, batch_size=256):
    """The naive sliding-window detector: run the classifier on every crop.

    Parameters
    ----------
    model : Module
        A window classifier: (N, window_h, window_w, C) -> (N, K).
    image : ndarray, shape (H, W, C)
    window, stride : int or (int, int)
    batch_size : int, default 256
        Crops per forward pass.

    Returns
    -------
    ndarray, shape (OH, OW, K)
        The outputs on the window at ``(i * stride_h, j * stride_w)``.
    """
    crops = sliding_windows(image, window, stride)
    OH, OW = crops.shape[:2]
    crops = crops.reshape((OH * OW,) + crops.shape[2:])  # (OH, OW, wh, ww, C) -> (OH * OW, wh, ww, C)
    with no_grad():
        out = np.concatenate([to_numpy(model(Tensor(np.ascontiguousarray(crops[i:i + batch_size]))).data)
                              for i in range(0, len(crops), batch_size)])
    return out.reshape(OH, OW, -1)


def window_boxes(grid_shape, window, stride):
    """Corner boxes (OH, OW, 4) ``(x1, y1, x2, y2)`` in pixels of the windows behind a grid of outputs."""
    (wh, ww), (sh, sw) = pair(window, "window", low=1), pair(stride, "stride", low=1)
    ys, xs = np.meshgrid(np.arange(grid_shape[0]) * sh, np.arange(grid_shape[1]) * sw, indexing="ij")
    return np.stack([xs, ys, xs + ww, ys + wh], axis=-1).astype(np.float32)
