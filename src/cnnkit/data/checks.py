"""Does a picture look like the training data? Polarity, shape and colour, against statistics a checkpoint keeps.

A classifier trained on white digits on black reads a black digit on white
with full confidence and says nothing. ``cnnkit train`` records in the
checkpoint's preprocessing the mean brightness of the training images'
border (the background, for centred objects) and the shape of the training
images; :func:`compare_with_training` measures a new picture the same way.
"""
import numpy as np

__all__ = ["border_mean", "training_statistics", "compare_with_training"]

# A picture is called inverted when its border is at least this far from the training images' border in
# brightness (on [0, 1]) and its negative's border is three times closer: a mid-grey training border never
# calls a picture inverted.
POLARITY_GAP = 0.3
# Aspect ratios (height / width) differing by more than this factor are reported: resizing distorts the picture.
ASPECT_FACTOR = 1.5
# A colour picture for a grey model: some pixel's channels differ by more than this.
COLOUR_SPREAD = 0.1


def border_mean(images):
    """The mean brightness of the images' border: the outer 1/16 of each side (at least one pixel), all channels.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C) or (H, W, C)
        Floats in [0, 1].

    Returns
    -------
    float
    """
    images = np.asarray(images, dtype=np.float32)
    images = images[None] if images.ndim == 3 else images
    if images.ndim != 4:
        raise ValueError(f"border_mean expects images (N, H, W, C), got shape {images.shape}")
    H, W = images.shape[1:3]
    b = max(1, min(H, W) // 16)
    ring = np.ones((H, W), bool)
    ring[b:H - b, b:W - b] = False
    return float(images[:, ring].mean())


def training_statistics(source_images, model_images):
    """What a checkpoint keeps to recognise pictures unlike its training data (JSON-ready).

    Parameters
    ----------
    source_images : ndarray, shape (N, h, w, C)
        The training images as read, before resizing.
    model_images : ndarray, shape (N, H, W, C)
        The same at the model's input size, floats in [0, 1], not standardised.

    Returns
    -------
    dict
        ``border_mean`` (float) and ``source_shape`` ([h, w, C]).
    """
    return {"border_mean": round(border_mean(model_images), 4), "source_shape": list(source_images.shape[1:])}


def compare_with_training(image, original_shape, preprocessing):
    """How a picture differs from the training data, as far as the checkpoint's statistics tell.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3)
        The picture in RGB at the model's input size, floats in [0, 1].
    original_shape : (int, int, int)
        Its height, width and channels (1 grey, 3 colour, 2 or 4 with alpha) in the file.
    preprocessing : dict
        A checkpoint's preprocessing: ``input_shape`` and, from ``cnnkit train``, ``border_mean`` and ``source_shape``
        (older checkpoints lack them: their ``mean`` stands in for the border).

    Returns
    -------
    dict
        ``inverted`` (bool), ``border`` (the picture's border brightness), ``training_border``
        (or None), ``measure`` ("border", or "mean brightness" for checkpoints without
        ``border_mean``, whose whole-picture means are compared instead), ``colour_for_grey``
        (a colour picture read as grey by a grey model),
        ``grey_for_colour``, ``aspect`` (the picture's height / width, or None when it is close to the training
        images').
    """
    image = np.asarray(image, dtype=np.float32)
    channels = int(preprocessing["input_shape"][2])
    trained = preprocessing.get("border_mean")
    if trained is not None:
        border = border_mean(image)
    else:  # checkpoints from before border statistics: the whole picture's mean against the training mean
        border, trained = float(image.mean()), preprocessing.get("mean")
        trained = None if trained is None else float(np.mean(trained))
    inverted = trained is not None and abs(border - trained) > POLARITY_GAP \
        and abs((1 - border) - trained) < abs(border - trained) / 3
    spread = float(np.ptp(image, axis=-1).max()) if image.size else 0.0
    source = preprocessing.get("source_shape") or preprocessing["input_shape"]
    ratio, trained_ratio = original_shape[0] / original_shape[1], source[0] / source[1]
    odd_aspect = max(ratio / trained_ratio, trained_ratio / ratio) > ASPECT_FACTOR
    return {"inverted": bool(inverted), "border": border, "training_border": trained,
            "measure": "border" if preprocessing.get("border_mean") is not None else "mean brightness",
            "colour_for_grey": channels == 1 and original_shape[2] >= 3 and spread > COLOUR_SPREAD,
            "grey_for_colour": channels == 3 and original_shape[2] < 3, "aspect": ratio if odd_aspect else None}
