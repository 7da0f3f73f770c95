"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""
from cnnkit.backend import xp
from cnnkit.optim.optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's update rule.

    With ``g = grad + weight_decay * p`` and momentum ``mu``::

        buf = g                      (first step)
        buf = mu * buf + g           (later steps)
        p  -= lr * (g + mu * buf)    if nesterov else lr * buf

    Parameters
    ----------
    params : iterable of Tensor or of dict
        The parameters (or parameter groups) to update.
    lr : float
        The learning rate.
    momentum : float, default 0
        The momentum factor; 0 gives plain SGD.
    nesterov : bool, default False
        Use Nesterov momentum (needs ``momentum > 0``).
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    """

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"lr, momentum and weight_decay must be >= 0, got {lr}, {momentum}, {weight_decay}")
        if nesterov and momentum <= 0:
            raise ValueError("nesterov momentum needs momentum > 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay))

    def _update(self, p, grad, state, group):
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.data
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.array(grad, dtype=p.dtype, copy=True)
            else:
                buf *= momentum
                buf += grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        p.data -= group["lr"] * grad
