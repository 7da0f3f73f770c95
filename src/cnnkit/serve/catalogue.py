"""The models the playground offers: the zoo, and the checkpoints found in the run folders, by id (never by path)."""
import glob
import inspect
import os
import threading

from cnnkit.models import MODELS, PRETRAINED, default_input_shape, get_model

_cache, _lock = {}, threading.Lock()
_CACHE_SIZE = 6


def checkpoints(project, task):
    """``{id: path}`` of the runs of ``task`` ("classify" or "detect") under ``project`` with a weights file.

    The id is ``task/run-name``; the best weights are taken when there are, else the last.
    """
    found = {}
    for folder in sorted(glob.glob(os.path.join(glob.escape(project), task, "*"))):
        for kind in ("best", "last"):
            path = os.path.join(folder, "weights", f"{kind}.safetensors")
            if os.path.isfile(path):
                found[f"{task}/{os.path.basename(folder)}"] = path
                break
    return found


def listing(project):
    """What the pickers show: zoo models, classifier checkpoints and detector checkpoints, as ids and labels."""
    def label(name, kind):
        return f"{name} ({kind}, input {'x'.join(map(str, default_input_shape(name)))})"
    return {"zoo": [{"id": f"zoo:{name}:pretrained", "label": label(name, "pretrained")} for name in sorted(PRETRAINED)]
            + [{"id": f"zoo:{name}", "label": label(name, "untrained")} for name in sorted(MODELS)],
            "classify": [{"id": f"run:{key}", "label": key} for key in checkpoints(project, "classify")],
            "detect": [{"id": f"run:{key}", "label": key} for key in checkpoints(project, "detect")]}


class Loaded:
    """A model ready to run: the module, its input shape (H, W, C), class names and input normalisation."""

    def __init__(self, model_id, model, input_shape, class_names=None, preprocessing=None, extra=None):
        self.id, self.model, self.input_shape = model_id, model, tuple(int(n) for n in input_shape)
        self.class_names, self.preprocessing, self.extra = class_names, preprocessing or {}, extra or {}

    def normalize(self, images):
        """Images (N, H, W, C) in [0, 1] at the input shape -> what the model takes (the checkpoint's mean/std)."""
        from cnnkit import data
        return data.build_preprocessing({"mean": self.preprocessing.get("mean"),
                                         "std": self.preprocessing.get("std")})(images)


def load(project, model_id, task="classify"):
    """The model with this id (``zoo:NAME``, ``zoo:NAME:pretrained`` or ``run:TASK/RUN``), built once and cached."""
    model_id = str(model_id or "")
    if model_id.startswith("zoo:"):
        name = model_id[4:].removesuffix(":pretrained")
        if name not in MODELS or (model_id.endswith(":pretrained") and name not in PRETRAINED):
            raise ValueError(f"model: unknown zoo model {name!r}; known: {', '.join(sorted(MODELS))}")
        key = (model_id, None)
    elif model_id.startswith("run:"):
        runs = checkpoints(project, task)
        if model_id[4:] not in runs:
            known = ", ".join(runs) or "none yet: train one on the Training tab"
            raise ValueError(f"model: no {task} checkpoint {model_id[4:]!r}; known: {known}")
        path = runs[model_id[4:]]
        key = (model_id, os.path.getmtime(path))
    else:
        raise ValueError(f"model must be zoo:NAME or run:TASK/RUN, got {model_id!r}")
    with _lock:
        if key in _cache:
            return _cache[key]
    loaded = _build(model_id, path if model_id.startswith("run:") else None)
    with _lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = loaded
    return loaded


def _build(model_id, path):
    """Build a zoo model (seed 0, evaluation mode) or read a checkpoint."""
    if path is None:
        name, pretrained = model_id[4:].removesuffix(":pretrained"), model_id.endswith(":pretrained")
        seed = {"rng": 0} if "rng" in inspect.signature(MODELS[name]).parameters else {}
        model = get_model(name, pretrained=pretrained, **seed)
        model.eval()
        return Loaded(model_id, model, default_input_shape(name))
    from cnnkit.train import load_checkpoint
    checkpoint = load_checkpoint(path)
    shape = (checkpoint.preprocessing or {}).get("input_shape")
    if shape is None:
        raise ValueError(f"model: the checkpoint of {model_id} records no input shape; it was not written by cnnkit")
    checkpoint.model.eval()
    return Loaded(model_id, checkpoint.model, shape, checkpoint.class_names, checkpoint.preprocessing,
                  checkpoint.extra)
