"""Batch normalisation over every axis but the channels (the last)."""
from cnnkit.autograd.function import Function
from cnnkit.backend import xp
from cnnkit.ops import _norm_kernels as _kernels, _parallel
from cnnkit.ops._util import channel_sums, contiguous
from cnnkit.autograd.tensor import as_tensor


def _over_rows(kernel, rows, run=_parallel.run):
    """``kernel(start, stop)`` over spans of the rows of ``rows`` (P, C), one per thread, by ``run``: the
    spans' results (``_parallel.run``) or their sum (``_parallel.run_sum``)."""
    return run(kernel, _parallel.spans(rows.shape[0], rows.shape[1]))


def _moments(rows):
    """Per-channel mean and (biased) variance of ``rows`` (P, C), as float64 (C,) arrays: two passes."""
    P = rows.shape[0]
    mean = channel_sums(rows) / P
    return mean, _over_rows(lambda a, b: _kernels.centered_squares(rows[a:b], mean), rows, _parallel.run_sum) / P


class BatchNormTrain(Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, mean, var, eps):
        rows = contiguous(x).reshape(-1, x.shape[-1])  # (N, H, W, C) -> (N*H*W, C)
        inv_std = 1 / xp.sqrt(var + eps)
        scale = gamma * inv_std
        out, shift = xp.empty_like(rows), beta - mean * scale
        _over_rows(lambda a, b: _kernels.affine(rows[a:b], scale, shift, out[a:b]), rows)
        ctx.save_for_backward(rows, mean, inv_std, gamma)
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad_out):
        rows, mean, inv_std, gamma = ctx.saved_tensors
        g = contiguous(grad_out).reshape(rows.shape)
        sums = _over_rows(lambda a, b: _kernels.backward_sums(g[a:b], rows[a:b], mean, inv_std), rows)
        sum_g, sum_gx = sum(s[0] for s in sums), sum(s[1] for s in sums)
        grad_beta, grad_gamma = sum_g.astype(rows.dtype), sum_gx.astype(rows.dtype)
        grad_x = None
        if ctx.needs_input_grad[0]:
            # d/dx of (x - mean) / std with the batch statistics depending on x:
            # gamma inv_std / n (n g - sum(g) - x_hat sum(g x_hat))
            n = rows.shape[0]
            a = gamma * inv_std
            grad_x = xp.empty_like(rows)
            b, d = (a * sum_gx / n).astype(rows.dtype), (a * sum_g / n).astype(rows.dtype)
            _over_rows(lambda i, j: _kernels.backward_input(g[i:j], rows[i:j], mean, inv_std, a, b, d, grad_x[i:j]),
                       rows)
            grad_x = grad_x.reshape(grad_out.shape)
        return grad_x, grad_gamma, grad_beta


class BatchNormEval(Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, mean, var, eps):
        scale = gamma / xp.sqrt(var + eps)
        ctx.save_for_backward(scale, (x - mean) / xp.sqrt(var + eps) if ctx.needs_input_grad[1] else None)
        return x * scale + (beta - mean * scale)

    @staticmethod
    def backward(ctx, grad_out):
        scale, x_hat = ctx.saved_tensors
        axes = tuple(range(grad_out.ndim - 1))
        return (grad_out * scale if ctx.needs_input_grad[0] else None,
                (grad_out * x_hat).sum(axis=axes) if ctx.needs_input_grad[1] else None,
                grad_out.sum(axis=axes) if ctx.needs_input_grad[2] else None)


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Batch normalisation over N, H, W (every axis but the last), as ``torch.nn.functional.batch_norm``.

    Parameters
    ----------
    x : Tensor, shape (N, H, W, C) or (N, C)
    gamma, beta : Tensor, shape (C,), or None
        Scale and shift (1 and 0 when None).
    running_mean, running_var : ndarray, shape (C,), or None
        Running statistics. In training mode they are updated in place:
        ``r = (1 - momentum) r + momentum * batch_stat``, with the unbiased
        batch variance for ``running_var``. In eval mode they normalise ``x``.
    training : bool
        Normalise with the batch statistics (True) or the running ones (False).
    momentum : float, default 0.1
    eps : float, default 1e-5

    Returns
    -------
    Tensor, the shape of ``x``
    """
    x = as_tensor(x)
    if x.ndim not in (2, 4):
        raise ValueError(f"batch_norm expects (N, H, W, C) or (N, C) input, got shape {x.shape}")
    C = x.shape[-1]
    gamma = as_tensor(xp.ones(C, dtype=x.dtype) if gamma is None else gamma)
    beta = as_tensor(xp.zeros(C, dtype=x.dtype) if beta is None else beta)
    for name, p in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var)):
        if p is not None and tuple(p.shape) != (C,):
            raise ValueError(f"batch_norm: {name} must have shape ({C},) for input {x.shape}, got {tuple(p.shape)}")
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm in eval mode needs running_mean and running_var")
        return BatchNormEval.apply(x, gamma, beta, xp.asarray(running_mean, dtype=x.dtype),
                                   xp.asarray(running_var, dtype=x.dtype), eps=eps)
    n = x.size // C
    if n < 2:
        raise ValueError(f"batch_norm in training mode needs more than one value per channel, got input {x.shape}")
    mean, var = _moments(contiguous(x.data).reshape(-1, C))  # over (N*H*W, C) rows, in float64
    mean, var = mean.astype(x.dtype), var.astype(x.dtype)
    out = BatchNormTrain.apply(x, gamma, beta, mean=mean, var=var, eps=eps)
    if running_mean is not None:
        running_mean *= 1 - momentum
        running_mean += momentum * mean
    if running_var is not None:
        running_var *= 1 - momentum
        running_var += momentum * var * (n / (n - 1))
    return out

