"""Shape ops: reshape, transpose, indexing, concatenation."""
from cnnkit.autograd.function import Function
from cnnkit.autograd.tensor import Tensor
from cnnkit.backend import xp
from cnnkit.autograd.tensor import as_tensor


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out.reshape(ctx.shape)


class Transpose(Function):
    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return x.transpose(axes)

    @staticmethod
    def backward(ctx, grad_out):
        inverse = None if ctx.axes is None else tuple(sorted(range(len(ctx.axes)), key=ctx.axes.__getitem__))
        return grad_out.transpose(inverse)


def _is_basic(index):
    """True when ``index`` selects each element at most once (ints, slices, None, Ellipsis)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.dtype, ctx.index = x.shape, x.dtype, index
        return x[index]

    @staticmethod
    def backward(ctx, grad_out):
        grad_x = xp.zeros(ctx.shape, dtype=ctx.dtype)
        if _is_basic(ctx.index):
            grad_x[ctx.index] = grad_out
        else:
            xp.add.at(grad_x, ctx.index, grad_out)  # repeated indices must accumulate
        return grad_x


class Concat(Function):
    @staticmethod
    def forward(ctx, *arrays, axis):
        ctx.axis = axis
        ctx.bounds = xp.cumsum([a.shape[axis] for a in arrays])[:-1].tolist()
        return xp.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad_out):
        parts = xp.split(grad_out, ctx.bounds, axis=ctx.axis)
        return tuple(p if need else None for p, need in zip(parts, ctx.needs_input_grad))


def reshape(x, shape):
    """Return ``x`` with a new shape (one entry may be -1)."""
    x = as_tensor(x)
    try:
        return Reshape.apply(x, shape=tuple(shape))
    except ValueError:
        raise ValueError(f"cannot reshape a tensor of shape {x.shape} ({x.size} elements) into {tuple(shape)}") from None


def transpose(x, axes=None):
    """Permute the axes of ``x`` (reverse them when ``axes`` is None)."""
    x = as_tensor(x)
    if axes is not None:
        axes = tuple(a % x.ndim for a in axes)
        if sorted(axes) != list(range(x.ndim)):
            raise ValueError(f"axes {axes} are not a permutation of the {x.ndim} axes of shape {x.shape}")
    return Transpose.apply(x, axes=axes)


def getitem(x, index):
    """``x[index]``, with NumPy's basic and advanced indexing."""
    x = as_tensor(x)
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return GetItem.apply(x, index=index)


def concat(tensors, axis=-1):
    """Join tensors along ``axis``; all other dimensions must agree.

    Parameters
    ----------
    tensors : sequence of Tensor or ndarray
        For example Inception branches of shape (N, H, W, C_i).
    axis : int, default -1
        The axis to join along (channels for channels-last images).

    Returns
    -------
    Tensor
        For Inception, shape (N, H, W, sum(C_i)).
    """
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concat needs at least one tensor")
    ndim = tensors[0].ndim
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for tensors of {ndim} dimensions")
    axis %= ndim
    shapes = [t.shape for t in tensors]
    if any(len(s) != ndim or s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:] for s in shapes):
        raise ValueError(f"concat along axis {axis} needs all other dimensions equal, got shapes {shapes}")
    return Concat.apply(*tensors, axis=axis)


def flatten(x):
    """Flatten every axis but the first: (N, ...) -> (N, prod(...))."""
    x = as_tensor(x)
    if x.ndim < 1:
        raise ValueError("flatten needs a tensor with a batch axis, got a 0-d tensor")
    features = 1
    for n in x.shape[1:]:
        features *= n
    return Reshape.apply(x, shape=(x.shape[0], features))
