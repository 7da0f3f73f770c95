"""The model registry: ``register`` records each builder, stamps its arguments on the models it builds, and
says which entry of :mod:`cnnkit.weights` holds its pretrained weights."""
import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

MODELS = {}
PRETRAINED = {}
INPUT_SHAPES = {}  # name -> the (H, W, C) of one input the model takes as built by default (for summaries)


@dataclass(frozen=True)
class Pretrained:
    """Where a registered model's pretrained weights come from.

    ``weights`` names an entry of :mod:`cnnkit.weights`; ``convert`` (optional)
    takes that entry's cached ``(state, metadata)`` and returns the model's
    ``state_dict`` (e.g. one network's keys out of a file that holds three).
    """

    weights: str
    convert: object = None

    def state_dict(self):
        """The converted state dict, from the weights cache (fetched on first use)."""
        from cnnkit import weights as registry

        state, metadata = registry.load(self.weights, return_metadata=True)
        return state if self.convert is None else self.convert(state, metadata)


def register(builder=None, *, weights=None, convert=None, input_shape=None):
    """Add ``builder`` to :data:`MODELS` under its name and make it set ``model.config``.

    ``model.config`` is ``{"name": ..., **arguments}`` with every argument
    (defaults filled in) except ``rng``, ``dtype`` as a string and a state dict as None, so
    ``get_model(**model.config)`` rebuilds the same architecture, e.g. from a
    checkpoint.

    Used bare (``@register``) or with the model's pretrained weights
    (``@register(weights="mtcnn", convert=pnet_state)``): ``weights`` names an
    entry of :mod:`cnnkit.weights`, ``convert(state, metadata) -> state_dict``
    maps that entry's tensors onto the model's keys; ``get_model(name,
    pretrained=True)`` then loads them. ``input_shape`` (H, W, C) records the
    input a model built with the defaults takes, where it is not a 224x224 RGB image.
    """
    if builder is None:
        return functools.partial(register, weights=weights, convert=convert, input_shape=input_shape)
    signature = inspect.signature(builder)

    @functools.wraps(builder)
    def build(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        model = builder(*bound.args, **bound.kwargs)
        config = {"name": builder.__name__}
        for key, value in bound.arguments.items():
            if key == "rng":
                continue
            if key == "dtype" and value is not None:
                value = np.dtype(value).name
            if isinstance(value, Mapping):
                value = None  # a state dict is weights, not architecture: the checkpoint carries it
            config[key] = list(value) if isinstance(value, tuple) else value
        model.config = config
        return model

    MODELS[builder.__name__] = build
    if weights is not None:
        PRETRAINED[builder.__name__] = Pretrained(weights, convert)
    if input_shape is not None:
        INPUT_SHAPES[builder.__name__] = tuple(input_shape)
    return build
