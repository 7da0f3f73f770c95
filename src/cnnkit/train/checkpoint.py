"""Checkpoints: a model's weights plus what is needed to rebuild and use it, in one safetensors file.

The tensors are the model's ``state_dict()`` under its own keys (so the file
also loads as a plain state dict), plus the optimizer's buffers under
``__optimizer__.{index}.{name}`` when one is saved. The metadata strings hold
JSON: ``model`` (``model.config``, for ``get_model``), ``class_names``,
``preprocessing``, ``epoch``, ``optimizer`` (class and parameter groups).
Writes go to a temporary file that is renamed into place.
"""
import json

from cnnkit.io.state import load_state, save_state

FORMAT = "cnnkit.checkpoint/1"
OPTIMIZER_PREFIX = "__optimizer__."


class Checkpoint:
    """What ``load_checkpoint`` returns.

    Attributes
    ----------
    model : Module
        Rebuilt with ``get_model(**config)``, weights loaded, in evaluation mode.
    class_names : list of str or None
    preprocessing : dict or None
        The input pipeline (see ``cnnkit.data.build_preprocessing``) and the
        ``input_shape`` (H, W, C) the model was trained on.
    epoch : int or None
    optimizer_state : dict or None
        For ``optimizer.load_state_dict`` to resume training; also
        ``optimizer_state["type"]``, the optimizer's class name.
    """

    def __init__(self, model, class_names, preprocessing, epoch, optimizer_state):
        self.model, self.class_names, self.preprocessing = model, class_names, preprocessing
        self.epoch, self.optimizer_state = epoch, optimizer_state


def save(model, path, class_names=None, preprocessing=None, optimizer=None, epoch=None):
    """Save a model (and optionally its optimizer) to a safetensors checkpoint, atomically.

    Parameters
    ----------
    model : Module
        Built by ``cnnkit.models.get_model`` (it carries ``model.config``).
    path : str
        The ``.safetensors`` file to write.
    class_names : sequence of str, optional
    preprocessing : dict, optional
        JSON-serialisable, e.g. ``{"resize": [32, 32], "input_shape": [32, 32, 1]}``.
    optimizer : Optimizer, optional
        Save its state too, so ``load_checkpoint`` can resume training.
    epoch : int, optional
    """
    config = getattr(model, "config", None)
    if not isinstance(config, dict) or "name" not in config:
        raise TypeError(f"{type(model).__name__} has no model.config; save models built with cnnkit.models.get_model "
                        f"or set model.config = {{'name': ..., **kwargs}}")
    state = dict(model.state_dict())
    metadata = {"format": FORMAT, "model": json.dumps(config), "class_names": json.dumps(
        None if class_names is None else list(class_names)), "preprocessing": json.dumps(preprocessing),
        "epoch": json.dumps(epoch)}
    if optimizer is not None:
        saved = optimizer.state_dict()
        state.update({OPTIMIZER_PREFIX + key: value for key, value in saved["state"].items()})
        metadata["optimizer"] = json.dumps({"type": type(optimizer).__name__, "param_groups": saved["param_groups"]})
    save_state(path, state, metadata)


def _read(path):
    """The model state, the optimizer state and the decoded metadata of a checkpoint."""
    state, metadata = load_state(path)
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a cnnkit checkpoint (no {FORMAT!r} metadata); "
                         f"load plain state dicts with cnnkit.io.load_state")
    model_state = {k: v for k, v in state.items() if not k.startswith(OPTIMIZER_PREFIX)}
    optimizer_state = None
    if "optimizer" in metadata:
        optimizer_state = json.loads(metadata["optimizer"])
        optimizer_state["state"] = {k[len(OPTIMIZER_PREFIX):]: v for k, v in state.items()
                                    if k.startswith(OPTIMIZER_PREFIX)}
    decoded = {key: json.loads(metadata[key]) for key in ("model", "class_names", "preprocessing", "epoch")}
    return model_state, optimizer_state, decoded


def load_checkpoint(path):
    """Rebuild the model saved in a checkpoint, with its metadata and optimizer state.

    Parameters
    ----------
    path : str
        A file written by ``save``.

    Returns
    -------
    Checkpoint
        ``.model`` (evaluation mode), ``.class_names``, ``.preprocessing``,
        ``.epoch``, ``.optimizer_state``.
    """
    from cnnkit.models import get_model

    model_state, optimizer_state, meta = _read(path)
    model = get_model(**meta["model"])
    _load_into(model, model_state, path, meta["model"]["name"])
    return Checkpoint(model.eval(), meta["class_names"], meta["preprocessing"], meta["epoch"], optimizer_state)


def load(path):
    """Rebuild the model saved in a checkpoint (evaluation mode); see ``load_checkpoint`` for the rest."""
    return load_checkpoint(path).model


def load_weights(model, path):
    """Load a checkpoint's weights into an existing model of the same architecture.

    Parameters
    ----------
    model : Module
    path : str
        A file written by ``save``.

    Raises
    ------
    ValueError
        When the architectures differ; the message lists the missing,
        unexpected and wrongly shaped keys.
    """
    model_state, _, meta = _read(path)
    _load_into(model, model_state, path, meta["model"]["name"])
    return model


def _load_into(model, state, path, saved_name):
    """``model.load_state_dict(state)`` with an error that names the checkpoint and both architectures."""
    try:
        model.load_state_dict(state)
    except ValueError as exc:
        own = getattr(model, "config", {}).get("name", type(model).__name__)
        raise ValueError(f"checkpoint {path} holds a {saved_name} that does not fit this {own}: {exc}") from None
