"""Limited-memory BFGS (Nocedal, 1980) with a backtracking line search, on flat NumPy arrays."""
from collections import deque

import numpy as np

__all__ = ["lbfgs"]

# Armijo's sufficient-decrease constant and the most step halvings per iteration.
_C1 = 1e-4
_MAX_HALVINGS = 20


def _direction(grad, history):
    """The quasi-Newton direction ``-H grad`` by the two-loop recursion over ``(s, y, 1 / y.s)`` pairs."""
    q = grad.astype(np.float64)
    alphas = []
    for s, y, rho in reversed(history):
        alpha = rho * np.dot(s, q)
        q -= alpha * y
        alphas.append(alpha)
    if history:
        s, y, _ = history[-1]
        q *= np.dot(s, y) / np.dot(y, y)  # the initial Hessian guess gamma I (Nocedal and Wright, 7.20)
    for (s, y, rho), alpha in zip(history, reversed(alphas)):
        q += s * (alpha - rho * np.dot(y, q))
    return -q


def lbfgs(fun, x0, steps, history=50, callback=None):
    """Minimise a smooth function with L-BFGS.

    Each iteration takes the two-loop direction (steepest descent scaled to a
    unit L1 step on the first iteration, as PyTorch does) and halves the step
    from 1 until Armijo's sufficient decrease holds; a pair ``(s, y)`` enters
    the history only when ``y.s > 0`` keeps the Hessian estimate positive
    definite. It stops early when no step decreases the function.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (f, grad)``: the value (float) and gradient (ndarray shaped like ``x``).
    x0 : ndarray
        The starting point; any shape, floating.
    steps : int
        Iterations (each costs one evaluation of ``fun``, more when the line search backtracks).
    history : int, default 50
        Pairs ``(s, y)`` remembered.
    callback : callable, optional
        ``callback(step, x, f)`` after each iteration, with ``step`` counted from 1.

    Returns
    -------
    x : ndarray
        The best point found, the dtype and shape of ``x0``.
    f : float
        Its value.
    """
    if steps < 0 or history < 1:
        raise ValueError(f"lbfgs needs steps >= 0 and history >= 1, got steps={steps}, history={history}")
    shape, dtype = x0.shape, x0.dtype
    x = x0.astype(np.float64).ravel()
    f, grad = fun(x0.copy())
    grad = np.asarray(grad, np.float64).ravel()
    pairs = deque(maxlen=history)
    for step in range(1, steps + 1):
        d = _direction(grad, pairs)
        slope = np.dot(grad, d)
        if not pairs or slope >= 0:  # no curvature yet, or a stale history that points uphill
            pairs.clear()
            d = -grad * min(1.0, 1.0 / max(np.abs(grad).sum(), 1e-30))
            slope = np.dot(grad, d)
        if slope == 0:
            break
        t = 1.0
        for _ in range(_MAX_HALVINGS):
            x_new = x + t * d
            f_new, grad_new = fun(x_new.astype(dtype).reshape(shape))
            if np.isfinite(f_new) and f_new <= f + _C1 * t * slope:
                break
            t *= 0.5
        else:
            break
        grad_new = np.asarray(grad_new, np.float64).ravel()
        s, y = x_new - x, grad_new - grad
        sy = np.dot(s, y)
        if sy > 1e-10 * np.dot(y, y):
            pairs.append((s, y, 1.0 / sy))
        x, f, grad = x_new, f_new, grad_new
        if callback is not None:
            callback(step, x.astype(dtype).reshape(shape), f)
    return x.astype(dtype).reshape(shape), f
