"""How ``fit`` turns a loss name or callable into ``loss(model, batch) -> (Tensor, outputs)``, and its metrics."""
import cnnkit.functional as F
from cnnkit.autograd.tensor import Tensor
from cnnkit.backend import to_numpy

LOSSES = {"cross_entropy": F.cross_entropy, "mse": F.mse_loss,
          "bce_with_logits": F.binary_cross_entropy_with_logits}


def accuracy(outputs, batch):
    """The fraction of ``batch[1]`` (labels (N,)) equal to the argmax of ``outputs`` (logits (N, K))."""
    return float((to_numpy(getattr(outputs, "data", outputs)).argmax(-1) == batch[1]).mean())


METRICS = {"accuracy": accuracy}


class NamedLoss:
    """``loss(model, batch)`` for a loss of (outputs, targets): the model's outputs for batch[0] against batch[1].

    Parameters
    ----------
    name : str
        A key of ``LOSSES``.
    """

    def __init__(self, name):
        self.name, self.fn = name, LOSSES[name]

    def __call__(self, model, batch):
        if len(batch) < 2:
            raise ValueError(f"the {self.name} loss needs batches of (inputs, targets), got {len(batch)} array(s)")
        outputs = model(Tensor(batch[0]))
        return self.fn(outputs, batch[1]), outputs

    def __repr__(self):
        return f"NamedLoss({self.name!r})"


def resolve_loss(loss):
    """A callable ``(model, batch) -> Tensor or (Tensor, outputs)`` from a name, a functional loss or a callable."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; valid names are {sorted(LOSSES)} or a callable (model, batch)")
        return NamedLoss(loss)
    for name, fn in LOSSES.items():
        if loss is fn:
            return NamedLoss(name)
    if not callable(loss):
        raise TypeError(f"loss must be a name or a callable (model, batch), got {type(loss).__name__}")
    return loss


def resolve_metrics(metrics, loss):
    """``{name: fn(outputs, batch) -> float}``; by default accuracy for cross-entropy, nothing otherwise."""
    if metrics is None:
        metrics = ["accuracy"] if isinstance(loss, NamedLoss) and loss.name == "cross_entropy" else []
    if isinstance(metrics, dict):
        resolved = dict(metrics)
    else:
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; valid names are {sorted(METRICS)}, or pass "
                             f"{{name: fn(outputs, batch)}}")
        resolved = {name: METRICS[name] for name in metrics}
    clash = {"loss", "lr", "seconds"} & set(resolved)
    if clash:
        raise ValueError(f"metric names {sorted(clash)} are reserved")
    return resolved


def split_loss(result):
    """``(loss Tensor, outputs)`` from what a loss callable returned."""
    if isinstance(result, tuple):
        if len(result) != 2 or not isinstance(result[0], Tensor):
            raise TypeError("a loss callable returns a scalar Tensor or a pair (Tensor, outputs)")
        return result
    if not isinstance(result, Tensor):
        raise TypeError(f"a loss callable returns a scalar Tensor, got {type(result).__name__}")
    return result, None


def batch_size_of(batch):
    """The number of samples in a batch (the length of its first array)."""
    return len(batch[0]) if len(batch) else 0
