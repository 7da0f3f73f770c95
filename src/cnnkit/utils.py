"""Argument checks and small helpers shared by every layer of cnnkit; imports nothing of cnnkit, so anything may use it."""
import re

import numpy as np


def pair(value, name, low=0, integer=True):
    """``value`` as a pair ``(rows, columns)``: a number is used for both.

    Parameters
    ----------
    value : int, float or sequence of two
    name : str
        Named in the error, e.g. ``"stride"`` or ``"--size"``.
    low : float or None, default 0
        The smallest value allowed (inclusive); ``low=1`` asks for positive ints, None checks no bound
        (for callers that report a bad value with more context).
    integer : bool, default True
        Require ints (and return Python ints); otherwise any positive real, returned as given.

    Returns
    -------
    tuple of two

    Raises
    ------
    ValueError
        When ``value`` is not one or two numbers of the right kind, at least ``low``.
    """
    values = (value, value) if np.ndim(value) == 0 else tuple(np.asarray(value).tolist()) \
        if isinstance(value, np.ndarray) else tuple(value)
    kind = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if len(values) != 2 or not all(isinstance(v, kind) and not isinstance(v, bool) and (low is None or v >= low) for v in values) \
            or (not integer and not all(v > 0 for v in values)):
        what = "an int" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}{f' >= {low}' if integer and low else ''} or a pair of them, "
                         f"got {value!r}")
    return tuple(int(v) for v in values) if integer else values


class MissingExtra(ImportError, RuntimeError):
    """An optional package is not installed (a RuntimeError too, so the CLI reports it in one line)."""


def require_extra(module, extra="ray"):
    """Import the optional ``module`` (e.g. ``"ray"``, ``"pyarrow"``), or raise ``MissingExtra`` naming the extra.

    Returns
    -------
    module
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{module} is not installed; it is needed here: pip install 'cnnkit[{extra}]'") from None


def natural_key(text):
    """A sort key that orders the digit runs of ``text`` by value: ``s2`` before ``s10``, ``img9`` before ``img10``.

    Parameters
    ----------
    text : str (or anything ``str`` accepts)

    Returns
    -------
    tuple
        Text runs compared case-insensitively, digit runs as integers; the
        text itself last, so distinct strings never tie.
    """
    text = str(text)
    # text and number runs alternate from a text run (maybe empty), so equal positions hold equal types
    parts = re.split(r"(\d+)", text)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), text


def natural_sorted(items):
    """``items`` sorted naturally (see :func:`natural_key`): ``["s1", "s2", ..., "s10"]``, not ``s1, s10, s2``."""
    return sorted(items, key=natural_key)
