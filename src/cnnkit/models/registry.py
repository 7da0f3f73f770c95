"""The model registry: ``register`` records each builder and stamps its arguments on the models it builds."""
import functools
import inspect

import numpy as np

MODELS = {}


def register(builder):
    """Add ``builder`` to :data:`MODELS` under its name and make it set ``model.config``.

    ``model.config`` is ``{"name": ..., **arguments}`` with every argument
    (defaults filled in) except ``rng``, and ``dtype`` as a string, so
    ``get_model(**model.config)`` rebuilds the same architecture, e.g. from a
    checkpoint.
    """
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
            config[key] = list(value) if isinstance(value, tuple) else value
        model.config = config
        return model

    MODELS[builder.__name__] = build
    return build
