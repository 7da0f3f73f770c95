"""RMSprop."""
from cnnkit.backend import xp
from cnnkit.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop (Hinton), PyTorch's update rule.

    With ``g = grad + weight_decay * p``::

        s  = alpha * s + (1 - alpha) * g**2
        buf = momentum * buf + g / (sqrt(s) + eps);  p -= lr * buf   (momentum > 0)
        p -= lr * g / (sqrt(s) + eps)                                (momentum = 0)

    Parameters
    ----------
    params : iterable of Tensor or of dict
        The parameters (or parameter groups) to update.
    lr : float, default 1e-2
        The learning rate.
    alpha : float, default 0.99
        Decay rate of the squared-gradient average.
    eps : float, default 1e-8
        Added to the denominator for numerical stability.
    momentum : float, default 0
        The momentum factor.
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
        if lr < 0 or eps < 0 or momentum < 0 or weight_decay < 0 or not 0 <= alpha < 1:
            raise ValueError(f"need lr, eps, momentum, weight_decay >= 0 and 0 <= alpha < 1, "
                             f"got lr={lr}, alpha={alpha}, eps={eps}, momentum={momentum}, "
                             f"weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum, weight_decay=weight_decay))

    def _init_state(self, p, group):
        state = {"step": xp.zeros((), dtype=xp.int64), "square_avg": xp.zeros_like(p.data)}
        if group["momentum"]:
            state["momentum_buffer"] = xp.zeros_like(p.data)
        return state

    def _update(self, p, grad, state, group):
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p.data
        state["step"] += 1
        square_avg = state["square_avg"]
        square_avg *= group["alpha"]
        square_avg += (1 - group["alpha"]) * grad * grad
        scaled = grad / (xp.sqrt(square_avg) + group["eps"])
        if group["momentum"]:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += scaled
            scaled = buf
        p.data -= group["lr"] * scaled
