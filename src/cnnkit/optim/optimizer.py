"""The optimizer base class: parameter groups, zero_grad, and a state dict of arrays."""
import copy

import numpy as np

from cnnkit.backend import xp


class Optimizer:
    """Base class of the optimizers: holds parameter groups and per-parameter state.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
        The tensors to update, or parameter groups: dicts with a ``"params"``
        list and any hyperparameters that override ``defaults`` for that group
        (as in PyTorch, e.g. a smaller learning rate for a pretrained body).
    defaults : dict
        The hyperparameters of every group that does not set its own.

    Attributes
    ----------
    param_groups : list of dict
        Each group's ``"params"`` and hyperparameters; schedulers change ``"lr"`` here.
    state : dict
        Per-parameter buffers keyed by ``id(param)``, arrays in the parameter's dtype.
    """

    def __init__(self, params, defaults):
        groups = list(params)
        if not groups:
            raise ValueError("the optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.defaults = defaults
        self.param_groups = []
        for group in groups:
            unknown = set(group) - set(defaults) - {"params"}
            if unknown:
                raise ValueError(f"unknown hyperparameters {sorted(unknown)}; expected {sorted(defaults)}")
            params = list(group["params"])
            for p in params:
                if not hasattr(p, "data") or not hasattr(p, "grad"):
                    raise TypeError(f"optimizers update Tensors, got {type(p).__name__}")
            self.param_groups.append({**defaults, **group, "params": params})
        self.state = {}

    def _params(self):
        """Every parameter, in group order (the order state_dict indexes them by)."""
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self):
        """Forget the gradients of every parameter (set them to None)."""
        for p in self._params():
            p.grad = None

    def step(self):
        """Update every parameter that has a gradient, in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(id(p))
                if state is None:
                    state = self.state[id(p)] = self._init_state(p, group)
                self._update(p, p.grad, state, group)

    def _init_state(self, p, group):
        """The fresh buffers of one parameter (none by default; subclasses may add lazily)."""
        return {}

    def _update(self, p, grad, state, group):
        """Apply one update to ``p.data`` in place."""
        raise NotImplementedError

    def state_dict(self):
        """Return the state needed to resume training.

        Returns
        -------
        dict
            ``"state"``: a flat dict of arrays, keys ``"{index}.{name}"`` where
            ``index`` counts the parameters in group order (step counts are
            int64 arrays of shape ()); ``"param_groups"``: a list of dicts of
            hyperparameters (JSON-serialisable), with ``"params"`` listing the
            indices of the group's parameters.
        """
        state, groups, index = {}, [], 0
        for group in self.param_groups:
            indices = []
            for p in group["params"]:
                for name, value in self.state.get(id(p), {}).items():
                    state[f"{index}.{name}"] = np.array(value) if not isinstance(value, xp.ndarray) else value.copy()
                indices.append(index)
                index += 1
            hyper = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items() if k != "params"}
            groups.append({**hyper, "params": indices})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore the state saved by ``state_dict``.

        Parameters
        ----------
        state_dict : dict
            As returned by ``state_dict()``, for the same parameters in the same order.
        """
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)):
            raise ValueError(
                f"the saved state has groups of sizes {[len(g['params']) for g in groups]}, "
                f"this optimizer {[len(g['params']) for g in self.param_groups]}")
        params = self._params()
        self.state = {}
        for key, value in state_dict["state"].items():
            index, name = key.split(".", 1)
            p = params[int(index)]
            value = xp.asarray(value)
            if value.ndim and value.shape != p.shape:
                raise ValueError(f"state {key!r} has shape {value.shape}, the parameter {p.shape}")
            if value.dtype.kind == "f":
                value = value.astype(p.dtype, copy=True)
            self.state.setdefault(id(p), {})[name] = value
        for own, saved in zip(self.param_groups, groups):
            for k, v in copy.deepcopy(saved).items():
                if k != "params":
                    own[k] = tuple(v) if isinstance(own.get(k), tuple) else v
