"""Layers that regularise training: dropout and batch normalisation. Channels-last.

Both behave differently in training and evaluation mode (``model.train()`` / ``model.eval()``).
"""
import cnnkit.functional as F
from cnnkit.autograd.tensor import as_tensor
from cnnkit.nn.module import Module, Parameter, new_array, resolve_dtype, resolve_rng


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability ``p`` and scale the rest by ``1/(1-p)``.

    In evaluation mode it returns its input.

    Parameters
    ----------
    p : float, default 0.5
        In [0, 1).
    rng : numpy.random.Generator or int, optional
        Source of the masks (numpy's global default generator when None).
    """

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = None if rng is None else resolve_rng(rng)

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self):
        return f"p={self.p}"


class BatchNorm2d(Module):
    """Batch normalisation over channels-last input, with PyTorch's train/eval behaviour.

    In training mode it normalises with the batch statistics (over N, H, W for
    (N, H, W, C) input, over N for (N, C) input) and updates the running
    statistics in place: ``running = (1 - momentum) * running + momentum * batch``,
    with the unbiased batch variance for ``running_var``. In evaluation mode
    it normalises with the running statistics.

    Parameters
    ----------
    num_features : int
        C, the size of the last axis.
    eps : float, default 1e-5
    momentum : float, default 0.1
    dtype : dtype, optional

    Attributes
    ----------
    weight, bias : Parameter, shape (C,)
        gamma (ones) and beta (zeros).
    running_mean, running_var : ndarray, shape (C,)
        Buffers (zeros and ones), saved in the state dict.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=None):
        super().__init__()
        dtype = resolve_dtype(dtype)
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        self.weight = Parameter(new_array((num_features,), dtype, fill=1.0))
        self.bias = Parameter(new_array((num_features,), dtype, fill=0.0))
        self.register_buffer("running_mean", new_array((num_features,), dtype, fill=0.0))
        self.register_buffer("running_var", new_array((num_features,), dtype, fill=1.0))

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim not in (2, 4) or x.shape[-1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects input (N, H, W, {self.num_features}) "
                             f"or (N, {self.num_features}), got shape {x.shape}")
        return F.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                            self.training, self.momentum, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(BatchNorm2d):
    """Batch normalisation of (N, C) features; the same computation as :class:`BatchNorm2d`."""
