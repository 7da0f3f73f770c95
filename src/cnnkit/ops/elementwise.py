"""Elementwise arithmetic with broadcasting: add, sub, mul, div, pow, neg, exp, log, sqrt, abs."""
from cnnkit.autograd.function import Function
from cnnkit.backend import xp
from cnnkit.autograd.tensor import as_tensor
from cnnkit.ops._util import operands, unbroadcast


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a + b

    @staticmethod
    def backward(ctx, grad_out):
        shape_a, shape_b = ctx.shapes
        return (unbroadcast(grad_out, shape_a) if ctx.needs_input_grad[0] else None,
                unbroadcast(grad_out, shape_b) if ctx.needs_input_grad[1] else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a - b

    @staticmethod
    def backward(ctx, grad_out):
        shape_a, shape_b = ctx.shapes
        return (unbroadcast(grad_out, shape_a) if ctx.needs_input_grad[0] else None,
                unbroadcast(-grad_out, shape_b) if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(b if ctx.needs_input_grad[0] else None, a if ctx.needs_input_grad[1] else None)
        ctx.shapes = a.shape, b.shape
        return a * b

    @staticmethod
    def backward(ctx, grad_out):
        b, a = ctx.saved_tensors
        shape_a, shape_b = ctx.shapes
        return (unbroadcast(grad_out * b, shape_a) if ctx.needs_input_grad[0] else None,
                unbroadcast(grad_out * a, shape_b) if ctx.needs_input_grad[1] else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = a / b
        ctx.save_for_backward(b, out if ctx.needs_input_grad[1] else None)
        ctx.shapes = a.shape, b.shape
        return out

    @staticmethod
    def backward(ctx, grad_out):
        b, out = ctx.saved_tensors
        shape_a, shape_b = ctx.shapes
        grad_a = grad_out / b
        return (unbroadcast(grad_a, shape_a) if ctx.needs_input_grad[0] else None,
                unbroadcast(-grad_a * out, shape_b) if ctx.needs_input_grad[1] else None)


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.save_for_backward(a, b, out)
        ctx.shapes = a.shape, b.shape
        return out

    @staticmethod
    def backward(ctx, grad_out):
        a, b, out = ctx.saved_tensors
        shape_a, shape_b = ctx.shapes
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(grad_out * b * a ** (b - 1), shape_a)
        if ctx.needs_input_grad[1]:
            # d(a^b)/db = a^b log a, taken as 0 where a^b is 0 so 0**b stays finite
            safe_log = xp.log(xp.where(a > 0, a, 1))
            grad_b = unbroadcast(grad_out * out * safe_log, shape_b)
        return grad_a, grad_b


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad_out):
        return -grad_out


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = xp.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved_tensors
        return grad_out * out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp.log(a)

    @staticmethod
    def backward(ctx, grad_out):
        (a,) = ctx.saved_tensors
        return grad_out / a


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = xp.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (out,) = ctx.saved_tensors
        return grad_out / (2 * out)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp.abs(a)

    @staticmethod
    def backward(ctx, grad_out):
        (a,) = ctx.saved_tensors
        return grad_out * xp.sign(a)


def add(a, b):
    """``a + b`` with broadcasting."""
    return Add.apply(*operands(a, b))


def sub(a, b):
    """``a - b`` with broadcasting."""
    return Sub.apply(*operands(a, b))


def mul(a, b):
    """``a * b`` with broadcasting."""
    return Mul.apply(*operands(a, b))


def div(a, b):
    """``a / b`` with broadcasting."""
    return Div.apply(*operands(a, b))


def pow(a, b):  # noqa: A001  (the operator's name)
    """``a ** b`` with broadcasting."""
    return Pow.apply(*operands(a, b))


def neg(a):
    """``-a``."""
    return Neg.apply(as_tensor(a))


def exp(a):
    """Elementwise ``e ** a``."""
    return Exp.apply(as_tensor(a))


def log(a):
    """Elementwise natural logarithm."""
    return Log.apply(as_tensor(a))


def sqrt(a):
    """Elementwise square root."""
    return Sqrt.apply(as_tensor(a))


def abs(a):  # noqa: A001
    """Elementwise absolute value (gradient 0 at 0)."""
    return Abs.apply(as_tensor(a))
