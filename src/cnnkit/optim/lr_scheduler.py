"""Learning-rate schedules, stepped once per epoch, in PyTorch's closed forms."""
import math


class LRScheduler:
    """Base class: sets each parameter group's ``"lr"`` from ``base_lr`` and the epoch count.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose groups' learning rates are set.

    Attributes
    ----------
    last_epoch : int
        How many times ``step()`` has been called.
    base_lrs : list of float
        Each group's learning rate when the scheduler was made.
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_epoch = 0

    def lr_at(self, base_lr, epoch):
        """The learning rate after ``epoch`` steps for a group that started at ``base_lr``."""
        raise NotImplementedError

    def step(self):
        """Advance one epoch and update the optimizer's learning rates."""
        self.last_epoch += 1
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base_lr, self.last_epoch)

    def get_last_lr(self):
        """Return the current learning rate of each parameter group, as a list."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """Return ``{"last_epoch", "base_lrs"}`` (JSON-serialisable)."""
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state_dict):
        """Restore the epoch count and base rates, and set the optimizer's rates to match."""
        self.last_epoch = int(state_dict["last_epoch"])
        self.base_lrs = [float(lr) for lr in state_dict["base_lrs"]]
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base_lr, self.last_epoch)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    ``lr = base_lr * gamma ** (epoch // step_size)``.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer to schedule.
    step_size : int
        Epochs between decays.
    gamma : float, default 0.1
        The decay factor.
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        if int(step_size) < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Anneal the learning rate along a half cosine from ``base_lr`` to ``eta_min`` over ``T_max`` epochs.

    ``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer to schedule.
    T_max : int
        Epochs of the half period.
    eta_min : float, default 0
        The smallest learning rate.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0):  # noqa: N803  (PyTorch's name)
        if int(T_max) < 1:
            raise ValueError(f"T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = int(T_max), eta_min
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
