"""The costs of neural style transfer (Gatys et al., 2015) in the course's notation, channels-last.

Activations are ``(1, n_H, n_W, n_C)``: one image's output of one layer. Every
function accepts ndarrays or Tensors and returns a Tensor, so the costs are
differentiable with respect to the generated image's activations.
"""
from collections.abc import Mapping

import cnnkit.functional as F
from cnnkit.autograd import as_tensor

__all__ = ["content_cost", "gram_matrix", "unroll", "layer_style_cost", "style_cost", "total_cost",
           "total_variation"]


def _check_pair(name, a, b):
    """Both activations (1, n_H, n_W, n_C) of the same shape and dtype."""
    if a.ndim != 4 or a.shape[0] != 1:
        raise ValueError(f"{name}: activations must have shape (1, n_H, n_W, n_C), got {a.shape}")
    if a.shape != b.shape:
        raise ValueError(f"{name}: the activations differ in shape: {a.shape} and {b.shape}")
    if a.dtype != b.dtype:
        raise TypeError(f"{name}: the activations differ in dtype: {a.dtype} and {b.dtype}")


def content_cost(a_C, a_G):
    """The content cost ``J_content = sum((a_C - a_G)^2) / (4 n_H n_W n_C)``.

    Parameters
    ----------
    a_C : Tensor or ndarray, shape (1, n_H, n_W, n_C)
        The content image's activations of the content layer.
    a_G : Tensor or ndarray, shape (1, n_H, n_W, n_C)
        The generated image's activations of the same layer.

    Returns
    -------
    Tensor, shape ()
    """
    a_C, a_G = as_tensor(a_C), as_tensor(a_G)
    _check_pair("content_cost", a_C, a_G)
    _, n_H, n_W, n_C = a_G.shape
    diff = a_C - a_G
    return (diff * diff).sum() / (4 * n_H * n_W * n_C)


def unroll(a):
    """The course's unrolled activations: (1, n_H, n_W, n_C) -> (n_C, n_H * n_W).

    Parameters
    ----------
    a : Tensor or ndarray, shape (1, n_H, n_W, n_C)

    Returns
    -------
    Tensor, shape (n_C, n_H * n_W)
        Row ``c`` is channel ``c`` read in row-major pixel order.
    """
    a = as_tensor(a)
    if a.ndim != 4 or a.shape[0] != 1:
        raise ValueError(f"unroll: activations must have shape (1, n_H, n_W, n_C), got {a.shape}")
    _, n_H, n_W, n_C = a.shape
    return F.transpose(F.reshape(a, (n_H * n_W, n_C)))


def gram_matrix(A):
    """The Gram (style) matrix ``G_A = A A^T``.

    Parameters
    ----------
    A : Tensor or ndarray, shape (n_C, n_H * n_W)
        Unrolled activations (see :func:`unroll`).

    Returns
    -------
    Tensor, shape (n_C, n_C)
        ``G[i, j]`` is the correlation of channels ``i`` and ``j`` summed over the pixels.
    """
    A = as_tensor(A)
    if A.ndim != 2:
        raise ValueError(f"gram_matrix: A must have shape (n_C, n_H * n_W), got {A.shape}")
    return F.matmul(A, F.transpose(A))


def layer_style_cost(a_S, a_G):
    """The style cost of one layer ``sum((G_S - G_G)^2) / (4 n_C^2 (n_H n_W)^2)``.

    Parameters
    ----------
    a_S : Tensor or ndarray, shape (1, n_H, n_W, n_C)
        The style image's activations.
    a_G : Tensor or ndarray, shape (1, n_H, n_W, n_C)
        The generated image's activations of the same layer.

    Returns
    -------
    Tensor, shape ()
    """
    a_S, a_G = as_tensor(a_S), as_tensor(a_G)
    _check_pair("layer_style_cost", a_S, a_G)
    _, n_H, n_W, n_C = a_G.shape
    diff = gram_matrix(unroll(a_S)) - gram_matrix(unroll(a_G))
    return (diff * diff).sum() / (4 * n_C ** 2 * (n_H * n_W) ** 2)


def style_cost(style_activations, generated_activations, layer_weights):
    """The style cost over several layers ``J_style = sum_l lambda_l J_style^[l]``.

    Parameters
    ----------
    style_activations, generated_activations : mapping or sequence of (1, n_H, n_W, n_C) activations
        The style image's and the generated image's activations, layer by layer.
    layer_weights : mapping of layer -> float, or sequence of float
        ``lambda_l``; a mapping picks the layers it names from mapping
        activations (the course's ``STYLE_LAYERS``), a sequence pairs with
        sequences of activations in order.

    Returns
    -------
    Tensor, shape ()
    """
    if isinstance(layer_weights, Mapping):
        terms = [(style_activations[k], generated_activations[k], w) for k, w in layer_weights.items()]
    else:
        layer_weights = list(layer_weights)
        if not len(style_activations) == len(generated_activations) == len(layer_weights):
            raise ValueError(f"style_cost: {len(style_activations)} style and {len(generated_activations)} "
                             f"generated activations for {len(layer_weights)} layer weights")
        terms = zip(style_activations, generated_activations, layer_weights)
    J = None
    for a_S, a_G, weight in terms:
        term = weight * layer_style_cost(a_S, a_G)
        J = term if J is None else J + term
    if J is None:
        raise ValueError("style_cost: no layers")
    return J


def total_cost(J_content, J_style, alpha=10, beta=40):
    """The total cost ``J(G) = alpha J_content(C, G) + beta J_style(S, G)``.

    Parameters
    ----------
    J_content, J_style : Tensor, ndarray or float, shape ()
    alpha, beta : float
        The course's defaults.

    Returns
    -------
    Tensor, shape ()
    """
    return alpha * as_tensor(J_content) + beta * as_tensor(J_style)


def total_variation(image):
    """The total-variation cost: squared differences of neighbouring pixels, summed.

    ``sum((x[:, i+1, j] - x[:, i, j])^2) + sum((x[:, i, j+1] - x[:, i, j])^2)``
    over all images and channels; penalises high-frequency noise in a
    generated image.

    Parameters
    ----------
    image : Tensor or ndarray, shape (N, H, W, C)

    Returns
    -------
    Tensor, shape ()
    """
    image = as_tensor(image)
    if image.ndim != 4:
        raise ValueError(f"total_variation: image must have shape (N, H, W, C), got {image.shape}")
    dh = image[:, 1:] - image[:, :-1]
    dw = image[:, :, 1:] - image[:, :, :-1]
    return (dh * dh).sum() + (dw * dw).sum()
