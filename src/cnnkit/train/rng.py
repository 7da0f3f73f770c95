"""The random state of a training run: every ``np.random.Generator`` reachable from its parts.

A resumed run must draw the same shuffles, augmentations and dropout masks as
an uninterrupted one. Rather than asking every transform and layer to expose
its state, the generators are found by walking the loader, the model, the loss
and the callbacks (attributes, lists, dicts, submodules), named by their path,
and their bit-generator states saved as JSON.
"""
import numpy as np

_MAX_DEPTH = 12


def _children(obj):
    """(name, value) pairs worth walking into: containers, and objects with a ``__dict__``."""
    if isinstance(obj, dict):
        return [(str(k), v) for k, v in obj.items()]
    if isinstance(obj, (list, tuple)):
        return [(str(i), v) for i, v in enumerate(obj)]
    if isinstance(obj, (np.ndarray, str, bytes, int, float, type)) or not hasattr(obj, "__dict__"):
        return []
    return list(vars(obj).items())


def find_generators(roots):
    """Map path -> Generator for every Generator reachable from ``roots`` (name -> object), each once.

    Parameters
    ----------
    roots : dict of str -> object

    Returns
    -------
    dict of str -> numpy.random.Generator
        Paths such as ``"loader.transform.transforms.0.rng"``, in a stable order.
    """
    found, seen = {}, set()
    stack = [(name, obj, 0) for name, obj in reversed(list(roots.items()))]
    while stack:
        path, obj, depth = stack.pop()
        if id(obj) in seen or depth > _MAX_DEPTH:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.random.Generator):
            found[path] = obj
            continue
        stack.extend((f"{path}.{name}", value, depth + 1) for name, value in reversed(_children(obj)))
    return found


def get_state(roots):
    """The JSON-serialisable states of the generators under ``roots``: path -> bit-generator state."""
    return {path: _jsonable(g.bit_generator.state) for path, g in find_generators(roots).items()}


def set_state(roots, state, source="the checkpoint"):
    """Restore the generators under ``roots`` from ``get_state``'s output.

    Raises
    ------
    ValueError
        When the generators found differ from those saved: the run was
        resumed with other data, transforms or model than it was saved with.
    """
    generators = find_generators(roots)
    if set(generators) != set(state):
        missing, extra = sorted(set(state) - set(generators)), sorted(set(generators) - set(state))
        raise ValueError(f"{source} holds random state for {missing or 'nothing else'} but this run has "
                         f"{extra or 'nothing else'}: resume with the same data pipeline, model and options")
    for path, g in generators.items():
        saved = state[path]
        if saved.get("bit_generator") != g.bit_generator.state["bit_generator"]:
            raise ValueError(f"{source}: {path} was a {saved.get('bit_generator')}, "
                             f"now a {g.bit_generator.state['bit_generator']}")
        g.bit_generator.state = saved


def _jsonable(value):
    """Bit-generator states hold Python ints and small dicts (and arrays for MT19937): make them JSON."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    return value
