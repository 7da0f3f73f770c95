"""Matrix products: matmul (batched, broadcasting) and the dense layer's linear map."""
from cnnkit.autograd.function import Function
from cnnkit.autograd.tensor import as_tensor
from cnnkit.ops._parallel import gemm, gemm_tn
from cnnkit.ops._util import operands, unbroadcast


def _product(a, b):
    """``a @ b``; matrices by ``_parallel.gemm`` (rows over the threads), stacks of them by NumPy."""
    return gemm(a, b) if a.ndim == 2 and b.ndim == 2 else a @ b


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(b if ctx.needs_input_grad[0] else None, a if ctx.needs_input_grad[1] else None)
        ctx.shapes = a.shape, b.shape
        return _product(a, b)

    @staticmethod
    def backward(ctx, grad_out):
        b, a = ctx.saved_tensors
        shape_a, shape_b = ctx.shapes
        # 1-D operands are promoted to matrices, as matmul itself does
        if len(shape_a) == 1:
            grad_out = grad_out[..., None, :]
        if len(shape_b) == 1:
            grad_out = grad_out[..., None]
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            b2 = b[:, None] if b.ndim == 1 else b
            grad_a = unbroadcast(_product(grad_out, b2.swapaxes(-1, -2)), shape_a if len(shape_a) > 1 else (1,) + shape_a)
            grad_a = grad_a.reshape(shape_a)
        if ctx.needs_input_grad[1]:
            a2 = a[None, :] if a.ndim == 1 else a
            grad_b = unbroadcast(_product(a2.swapaxes(-1, -2), grad_out), shape_b if len(shape_b) > 1 else shape_b + (1,))
            grad_b = grad_b.reshape(shape_b)
        return grad_a, grad_b


class Linear(Function):
    @staticmethod
    def forward(ctx, x, w, b=None):
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w if ctx.needs_input_grad[0] else None)
        out = gemm(x.reshape(-1, x.shape[-1]), w).reshape(*x.shape[:-1], w.shape[1])
        if b is not None:
            out += b
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        g = grad_out.reshape(-1, grad_out.shape[-1])
        grad_x = gemm(g, w.T).reshape(*grad_out.shape[:-1], w.shape[0]) if needs[0] else None
        grad_w = grad_b = None
        if needs[1]:
            # (..., in) x (..., out) -> (in, out), leading axes folded into one
            grad_w = gemm_tn(x.reshape(-1, x.shape[-1]), g)
        if len(needs) > 2 and needs[2]:
            grad_b = grad_out.reshape(-1, grad_out.shape[-1]).sum(axis=0)
        return grad_x, grad_w, grad_b


def matmul(a, b):
    """Matrix product ``a @ b`` with NumPy's rules (batched, broadcasting, 1-D promotion)."""
    a, b = operands(a, b)
    sa, sb = a.shape, b.shape
    if len(sa) == 0 or len(sb) == 0 or sa[-1] != (sb[-2] if len(sb) > 1 else sb[0]):
        raise ValueError(f"matmul: shapes {sa} and {sb} do not align")
    return MatMul.apply(a, b)


def linear(x, w, b=None):
    """Dense layer ``x @ w + b``.

    Parameters
    ----------
    x : Tensor, shape (..., in_features)
    w : Tensor, shape (in_features, out_features)
    b : Tensor, shape (out_features,), optional

    Returns
    -------
    Tensor, shape (..., out_features)
    """
    x, w = as_tensor(x), as_tensor(w)
    if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[0]:
        raise ValueError(f"linear: input of shape {x.shape} needs a weight of shape ({x.shape[-1] if x.ndim else '?'}, out), "
                         f"got {w.shape}")
    if b is None:
        return Linear.apply(x, w)
    b = as_tensor(b)
    if b.shape != (w.shape[1],):
        raise ValueError(f"linear: bias must have shape ({w.shape[1]},), got {b.shape}")
    return Linear.apply(x, w, b)
