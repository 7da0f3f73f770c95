"""The one checkpoint format: a model's weights plus what is needed to rebuild, use and resume it.

One safetensors file. Its tensors are the model's ``state_dict()`` under its
own keys (so it also loads as a plain state dict), plus the optimizer's
buffers under ``__optimizer__.{index}.{name}``. Its metadata strings hold
JSON: ``model`` (``model.config``, for ``get_model``), ``class_names``,
``preprocessing``, ``extra`` (what a task needs besides: YOLO anchors, an
embedding's input size...), ``epoch``, ``history``, ``optimizer`` (class and
parameter groups), ``scheduler``, ``rng`` (generator states) and
``callbacks``. Writes go to a temporary file that is renamed into place.
"""
import json
import os

from cnnkit.io.state import load_state, save_state

FORMAT = "cnnkit.checkpoint/2"
_READABLE = ("cnnkit.checkpoint/1", FORMAT)
OPTIMIZER_PREFIX = "__optimizer__."
_JSON_KEYS = ("model", "class_names", "preprocessing", "extra", "epoch", "history", "optimizer", "scheduler",
              "rng", "callbacks")


class NotACheckpointError(ValueError):
    """The file is a readable state file but not a cnnkit checkpoint (no format metadata)."""


class Checkpoint:
    """What ``load_checkpoint`` returns.

    Attributes
    ----------
    path : str
        The file read.
    model : Module
        Rebuilt with ``get_model(**config)``, weights loaded, in evaluation mode.
    config : dict
        ``model.config``: the registered name and the builder's arguments.
    class_names : list of str or None
    preprocessing : dict or None
        The input pipeline (see ``cnnkit.data.build_preprocessing``) and the
        ``input_shape`` (H, W, C) the model was trained on.
    extra : dict
        Task-specific metadata (empty when none was saved).
    epoch : int or None
        The number of finished epochs.
    history : dict or None
        ``History.to_dict()`` up to ``epoch``.
    optimizer_state, scheduler_state, rng_state, callback_states : dict or None
        What ``fit(resume=...)`` restores.
    """

    def __init__(self, path, model, meta, optimizer_state):
        self.path, self.model, self.config = path, model, meta["model"]
        self.class_names, self.preprocessing = meta.get("class_names"), meta.get("preprocessing")
        self.extra, self.epoch, self.history = meta.get("extra") or {}, meta.get("epoch"), meta.get("history")
        self.optimizer_state, self.scheduler_state = optimizer_state, meta.get("scheduler")
        self.rng_state, self.callback_states = meta.get("rng"), meta.get("callbacks")


def save(model, path, class_names=None, preprocessing=None, extra=None, optimizer=None, scheduler=None, epoch=None,
         history=None, rng=None, callbacks=None):
    """Save a model (and what resuming needs) to a safetensors checkpoint, atomically.

    Parameters
    ----------
    model : Module
        Built by ``cnnkit.models.get_model`` (it carries ``model.config``).
    path : str
        The ``.safetensors`` file to write.
    class_names : sequence of str, optional
    preprocessing : dict, optional
        JSON-serialisable, e.g. ``{"resize": [32, 32], "mean": [...], "std": [...], "input_shape": [32, 32, 1]}``.
    extra : dict, optional
        JSON-serialisable task metadata, returned as ``Checkpoint.extra``.
    optimizer : Optimizer, optional
        Save its state too, so training can resume.
    scheduler : LRScheduler, optional
    epoch : int, optional
        Finished epochs.
    history : History, optional
    rng : dict, optional
        Generator states from ``cnnkit.train.rng.get_state``.
    callbacks : dict, optional
        JSON states of callbacks, by index.
    """
    config = getattr(model, "config", None)
    if not isinstance(config, dict) or "name" not in config:
        raise TypeError(f"{type(model).__name__} has no model.config; save models built with cnnkit.models.get_model "
                        f"or set model.config = {{'name': ..., **kwargs}}")
    state = dict(model.state_dict())
    values = {"model": config, "class_names": None if class_names is None else [str(c) for c in class_names],
              "preprocessing": preprocessing, "extra": extra, "epoch": epoch,
              "history": None if history is None else history.to_dict(),
              "scheduler": None if scheduler is None else scheduler.state_dict(), "rng": rng, "callbacks": callbacks}
    if optimizer is not None:
        saved = optimizer.state_dict()
        state.update({OPTIMIZER_PREFIX + key: value for key, value in saved["state"].items()})
        values["optimizer"] = {"type": type(optimizer).__name__, "param_groups": saved["param_groups"]}
    metadata = {"format": FORMAT, **{key: json.dumps(value) for key, value in values.items() if value is not None}}
    save_state(path, state, metadata)


def resolve(path):
    """The checkpoint file behind ``path``: the file itself, or a run folder's best (else last) weights.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist, or is a folder without ``weights/best.safetensors`` or ``weights/last.safetensors``.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        for name in ("best", "last"):
            candidate = os.path.join(path, "weights", f"{name}.safetensors")
            if os.path.isfile(candidate):
                return candidate
        raise FileNotFoundError(f"{path} is a folder but not a run folder: it has no weights/best.safetensors "
                                f"or weights/last.safetensors")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    return path


def _read(path):
    """The model state, the optimizer state and the decoded metadata of a checkpoint file."""
    return _decode(path, *load_state(path))


def _decode(path, state, metadata):
    """Split a checkpoint's tensors into model and optimizer state, and decode and check its metadata."""
    if metadata.get("format") not in _READABLE:
        if metadata.get("format") == "cnnkit.detector/1":
            reason = "an old detector file: retrain it with `cnnkit detect train`"
        elif metadata.get("model") == "EmbeddingNet":
            reason = "an old face-embedding file: retrain it with `cnnkit face train`"
        else:
            reason = "no format metadata"
        raise NotACheckpointError(f"{path} is not a cnnkit checkpoint ({reason}); plain state dicts load with "
                                  f"cnnkit.io.load_state or train.load_weights")
    meta = {}
    for key in _JSON_KEYS:
        if key in metadata:
            try:
                meta[key] = json.loads(metadata[key])
            except (TypeError, ValueError):
                raise ValueError(f"{path}: its {key!r} metadata is not valid JSON") from None
    _check_meta(path, meta)
    model_state = {k: v for k, v in state.items() if not k.startswith(OPTIMIZER_PREFIX)}
    optimizer_state = None
    if isinstance(meta.get("optimizer"), dict):
        optimizer_state = dict(meta["optimizer"])
        optimizer_state["state"] = {k[len(OPTIMIZER_PREFIX):]: v for k, v in state.items()
                                    if k.startswith(OPTIMIZER_PREFIX)}
    return model_state, optimizer_state, meta


def _check_meta(path, meta):
    """Types and sizes of the metadata, checked before anything is built from it."""
    config = meta.get("model")
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        raise ValueError(f"{path}: its 'model' metadata must be an object with a 'name', got {config!r:.80}")
    names = meta.get("class_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise ValueError(f"{path}: 'class_names' must be a list of strings")
    for key in ("preprocessing", "extra", "history", "scheduler", "rng", "callbacks"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise ValueError(f"{path}: {key!r} metadata must be an object, got {type(meta[key]).__name__}")
    epoch = meta.get("epoch")
    if epoch is not None and (not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0):
        raise ValueError(f"{path}: 'epoch' must be a non-negative int, got {epoch!r}")
    shape = (meta.get("preprocessing") or {}).get("input_shape")
    if shape is not None and not (isinstance(shape, list) and len(shape) == 3
                                  and all(isinstance(n, int) and 1 <= n <= 16384 for n in shape)):
        raise ValueError(f"{path}: preprocessing 'input_shape' must be [H, W, C] of ints in 1..16384, got {shape!r}")


def build_model(path, model_state, config):
    """``get_model(**config)`` with the weights loaded, refusing configs larger than the file's tensors."""
    from cnnkit.models import MODELS, get_model
    from cnnkit.nn.module import size_limit

    if config["name"] not in MODELS:
        raise ValueError(f"{path} holds a {config['name']!r}, which is not a model of this cnnkit; "
                         f"valid names are {sorted(MODELS)}")
    stored = sum(int(v.size) for v in model_state.values())
    kwargs = {k: v for k, v in config.items() if k != "name"}
    with size_limit(stored, f"checkpoint {path}"):
        try:
            model = get_model(config["name"], **kwargs)
        except TypeError as exc:
            raise ValueError(f"{path}: its model config does not fit {config['name']}: {exc}") from None
    _load_into(model, model_state, path, config["name"])
    return model


def load_checkpoint(path):
    """Rebuild the model saved in a checkpoint, with its metadata and training state.

    Parameters
    ----------
    path : str
        A file written by ``save``, or a run folder (its best, else last, weights).

    Returns
    -------
    Checkpoint
    """
    path = resolve(path)
    model_state, optimizer_state, meta = _read(path)
    model = build_model(path, model_state, meta["model"])
    names, classes = meta.get("class_names"), meta["model"].get("num_classes")
    if names is not None and isinstance(classes, int) and len(names) != classes:
        raise ValueError(f"{path}: {len(names)} class names for a model of {classes} classes")
    return Checkpoint(path, model.eval(), meta, optimizer_state)


def load(path):
    """Rebuild the model saved in a checkpoint or run folder (evaluation mode); see ``load_checkpoint``."""
    return load_checkpoint(path).model


def load_weights(model, path):
    """Load weights into an existing model: from a checkpoint, a run folder or a plain state-dict file.

    Parameters
    ----------
    model : Module
    path : str
        A checkpoint written by ``save`` or ``fit``, a run folder, or a
        safetensors/npz file of a state dict with the model's keys.

    Returns
    -------
    Module
        ``model``, with the weights loaded.

    Raises
    ------
    ValueError
        When the architectures differ; the message lists the missing,
        unexpected and wrongly shaped keys.
    """
    path = resolve(path)
    state, metadata = load_state(path)
    if metadata.get("format") is None:
        saved_name = "state dict"
    else:
        state, _, meta = _decode(path, state, metadata)
        saved_name = meta["model"]["name"]
    _load_into(model, state, path, saved_name)
    return model


def _load_into(model, state, path, saved_name):
    """``model.load_state_dict(state)`` with an error that names the checkpoint and both architectures."""
    try:
        model.load_state_dict(state)
    except ValueError as exc:
        own = getattr(model, "config", {}).get("name", type(model).__name__)
        raise ValueError(f"checkpoint {path} holds a {saved_name} that does not fit this {own}: {exc}") from None
