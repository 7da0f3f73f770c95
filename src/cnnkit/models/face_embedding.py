"""The Siamese face-embedding CNN: face images -> points on the unit sphere, trained with triplet loss.

:mod:`cnnkit.face.siamese` trains it on the AT&T faces; :mod:`cnnkit.face.evaluation`
judges it on people it has never seen.
"""
from cnnkit import nn
from cnnkit.models.registry import register
from cnnkit.nn.module import resolve_rng

__all__ = ["EmbeddingNet", "face_embedding", "l2_normalize"]


def l2_normalize(x, eps=1e-12):
    """Scale each row of ``x`` to unit Euclidean length (differentiable).

    Parameters
    ----------
    x : Tensor, shape (N, D)
    eps : float, default 1e-12
        Added under the square root so a zero row does not divide by zero.

    Returns
    -------
    Tensor, shape (N, D)
    """
    return x / ((x * x).sum(axis=-1, keepdims=True) + eps).sqrt()


class EmbeddingNet(nn.Module):
    """A small CNN that maps face images to L2-normalised embeddings.

    Each block is ``Conv2d(3x3, padding 1, no bias) -> BatchNorm2d -> ReLU ->
    MaxPool2d(2)``; then the feature map is flattened (or averaged, with
    ``input_size=None``), and ``Linear(..., embedding_dim)`` and
    ``BatchNorm1d(embedding_dim)`` follow, normalised to unit length. Flattening
    keeps where on the face each feature is, which matters for aligned faces.
    The last BatchNorm centres the embeddings before they are projected on the
    sphere: the ReLU features are all non-negative, and without it every face
    started near one point, with the triplet loss stuck at the margin.

    Parameters
    ----------
    channels : sequence of int, default (16, 32, 64, 64)
        Output channels of the conv blocks; each halves H and W.
    embedding_dim : int, default 64
    input_size : (int, int) or None, default (56, 46)
        The input (H, W), which sizes the flattened features; None averages
        them over the image instead (any input size).
    in_channels : int, default 1
    dtype : dtype, optional
    rng : numpy.random.Generator or int, optional

    Shapes: (N, H, W, in_channels) -> (N, embedding_dim), rows of norm 1.
    H and W must be at least ``2 ** len(channels)``.
    """

    def __init__(self, channels=(16, 32, 64, 64), embedding_dim=64, input_size=(56, 46), in_channels=1,
                 dtype=None, rng=None):
        super().__init__()
        if not channels:
            raise ValueError("EmbeddingNet needs at least one conv block, got channels=()")
        if input_size is not None and min(input_size) < 2 ** len(channels):
            raise ValueError(f"input_size {tuple(input_size)} is too small for {len(channels)} blocks that each "
                             f"halve it (at least {2 ** len(channels)} needed)")
        rng = resolve_rng(rng)
        layers, previous = [], in_channels
        for out in channels:
            layers += [nn.Conv2d(previous, out, 3, padding=1, bias=False, dtype=dtype, rng=rng),
                       nn.BatchNorm2d(out, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2)]
            previous = out
        if input_size is None:
            layers.append(nn.GlobalAvgPool2d())
            n_features = previous
        else:
            layers.append(nn.Flatten())
            n_features = previous * (input_size[0] >> len(channels)) * (input_size[1] >> len(channels))
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(n_features, embedding_dim, dtype=dtype, rng=rng)
        self.norm = nn.BatchNorm1d(embedding_dim, dtype=dtype)
        self.channels, self.embedding_dim = tuple(channels), int(embedding_dim)
        self.input_size = None if input_size is None else tuple(input_size)

    def forward(self, x):
        return l2_normalize(self.norm(self.head(self.features(x))))

    def extra_repr(self):
        return f"channels={self.channels}, embedding_dim={self.embedding_dim}, input_size={self.input_size}"


@register(input_shape=(56, 46, 1))
def face_embedding(channels=(16, 32, 64, 64), embedding_dim=64, input_size=(56, 46), in_channels=1, dtype=None,
                   rng=None):
    """The Siamese face-embedding CNN (85,168 parameters and 480 BatchNorm statistics with the defaults).

    Parameters
    ----------
    channels, embedding_dim, input_size, in_channels, dtype, rng :
        As in :class:`EmbeddingNet`; the defaults suit the AT&T faces downscaled to 56x46 greyscale.

    Returns
    -------
    EmbeddingNet
        (N, H, W, in_channels) -> (N, embedding_dim), rows of norm 1.
    """
    return EmbeddingNet(channels, embedding_dim, input_size, in_channels, dtype, rng)
