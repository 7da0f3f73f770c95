"""Reading TensorFlow.js weights: a ``weights_manifest.json`` and its binary shards, from scratch.

A manifest (or the ``weightsManifest`` of a ``model.json``) is a list of groups
``{"paths": [shard, ...], "weights": [spec, ...]}``. The shards of a group,
concatenated in order, hold the raw little-endian bytes of its weights one after
another, in the order of the specs. A spec is ``{"name", "shape", "dtype"}`` with
an optional ``"quantization": {"dtype", "scale", "min"}``:

=================  ==========================  =====================================
stored as          weight dtype                value
=================  ==========================  =====================================
float32 / int32    float32 / int32             the raw bytes
bool               bool                        one byte each
uint8 / uint16     float32                     ``q * scale + min``
uint8 / uint16     int32                       ``round(q * scale + min)`` (half up)
float16            float32                     the half-precision value
=================  ==========================  =====================================

TensorFlow.js dequantizes in double precision and stores float32; so does this
reader, so the weights are bit for bit the ones TensorFlow.js computes with.
Sizes are checked against the manifest before any array is allocated; nothing
in the files is executed.
"""
import json
import math
import os
from pathlib import Path

import numpy as np

__all__ = ["read_tfjs_manifest", "load_tfjs_weights"]

# A manifest is a few KB of JSON; anything far larger is not one.
_MAX_MANIFEST_BYTES = 16 * 2**20
# Bytes per stored value of each weight dtype and quantization dtype.
_STORED = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "bool": np.dtype("u1"),
           "uint8": np.dtype("u1"), "uint16": np.dtype("<u2"), "float16": np.dtype("<f2")}
_QUANTIZED = {"float32": ("uint8", "uint16", "float16"), "int32": ("uint8", "uint16")}


def read_tfjs_manifest(path):
    """Read and check a TF.js weights manifest.

    Parameters
    ----------
    path : str or os.PathLike
        A ``*weights_manifest.json`` (a list of groups) or a ``model.json`` holding
        one under ``"weightsManifest"``.

    Returns
    -------
    list of dict
        The groups, each ``{"paths": [str, ...], "weights": [spec, ...]}``, with every
        spec checked: a name, a shape of non-negative ints, a supported dtype and
        quantization.

    Raises
    ------
    ValueError
        Naming the file and the offending entry, for anything else.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > _MAX_MANIFEST_BYTES:
        raise ValueError(f"{path}: {size} bytes is too large for a TF.js weights manifest")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a JSON weights manifest ({exc})") from None
    if isinstance(manifest, dict) and "weightsManifest" in manifest:
        manifest = manifest["weightsManifest"]
    if not isinstance(manifest, list) or not manifest:
        raise ValueError(f"{path}: a weights manifest is a non-empty list of groups "
                         f"{{'paths': [...], 'weights': [...]}}")
    for g, group in enumerate(manifest):
        if (not isinstance(group, dict) or not isinstance(group.get("paths"), list)
                or not isinstance(group.get("weights"), list)
                or not all(isinstance(p, str) and p for p in group["paths"])):
            raise ValueError(f"{path}: group {g} needs 'paths' (shard file names) and 'weights' (specs)")
        for spec in group["weights"]:
            _check_spec(path, g, spec)
    return manifest


def _check_spec(path, g, spec):
    """Raise ValueError naming the file unless ``spec`` is a weight this reader can decode."""
    name = spec.get("name") if isinstance(spec, dict) else None
    where = f"{path}: group {g}, weight {name!r}"
    if not isinstance(name, str) or not name:
        raise ValueError(f"{path}: group {g} has a weight spec without a name: {spec!r}")
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                              for n in shape):
        raise ValueError(f"{where}: the shape must be a list of non-negative ints, got {shape!r}")
    dtype = spec.get("dtype")
    if dtype not in ("float32", "int32", "bool"):
        raise ValueError(f"{where}: dtype {dtype!r} is not supported (float32, int32, bool)")
    quantization = spec.get("quantization")
    if quantization is None:
        return
    stored = quantization.get("dtype") if isinstance(quantization, dict) else None
    if stored not in _QUANTIZED.get(dtype, ()):
        raise ValueError(f"{where}: quantization {stored!r} of a {dtype} weight is not supported "
                         f"({', '.join(_QUANTIZED.get(dtype, ())) or 'none'})")
    if stored in ("uint8", "uint16"):
        scale, low = quantization.get("scale"), quantization.get("min")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in (scale, low)):
            raise ValueError(f"{where}: {stored} quantization needs finite numbers 'scale' and 'min', "
                             f"got {quantization!r}")


def _stored_dtype(spec):
    """The dtype of a weight's bytes in the shard: its quantization's, else its own."""
    return _STORED[spec["quantization"]["dtype"] if "quantization" in spec else spec["dtype"]]


def _decode(spec, raw):
    """A weight's array from its stored values (already the right count)."""
    shape = tuple(spec["shape"])
    quantization = spec.get("quantization")
    if quantization is None:
        return (raw.astype(bool) if spec["dtype"] == "bool" else raw).reshape(shape)
    if quantization["dtype"] == "float16":
        return raw.astype(np.float32).reshape(shape)
    values = raw.astype(np.float64) * quantization["scale"] + quantization["min"]
    if spec["dtype"] == "int32":
        # JavaScript's Math.round rounds halves up, NumPy's round to even
        return np.floor(values + 0.5).astype(np.int32).reshape(shape)
    return values.astype(np.float32).reshape(shape)


def load_tfjs_weights(manifest, shards=None):
    """Read every weight of a TF.js manifest from its shards.

    Parameters
    ----------
    manifest : str or os.PathLike
        The ``weights_manifest.json`` (or ``model.json``).
    shards : dict of str -> path, optional
        The file holding each shard name listed in the manifest's ``paths``; by
        default the files of those names next to the manifest.

    Returns
    -------
    dict of str -> numpy.ndarray
        Each weight under its manifest name (``"conv1/depthwise_filter"``), in its
        manifest shape: float32 (dequantized), int32 or bool.

    Raises
    ------
    ValueError
        Naming the file: a bad manifest, a missing shard, or shards whose total size
        differs from what the manifest's weights need (checked before reading them).
    """
    manifest_path = Path(manifest)
    groups = read_tfjs_manifest(manifest_path)
    state = {}
    for g, group in enumerate(groups):
        files = []
        for name in group["paths"]:
            if shards is not None:
                file = Path(shards[name]) if name in shards else None
            else:
                # shard names are plain file names next to the manifest, never paths elsewhere
                file = manifest_path.parent / name if Path(name).name == name and name not in (".", "..") else None
            if file is None or not file.is_file():
                raise ValueError(f"{manifest_path}: shard {name!r} of group {g} was not found")
            files.append(file)
        counts = [math.prod(spec["shape"]) for spec in group["weights"]]
        needed = sum(n * _stored_dtype(spec).itemsize for n, spec in zip(counts, group["weights"]))
        present = sum(os.path.getsize(f) for f in files)
        if present != needed:
            raise ValueError(f"{manifest_path}: the shards of group {g} ({', '.join(group['paths'])}) hold "
                             f"{present} bytes but its {len(counts)} weights need {needed}")
        data = b"".join(f.read_bytes() for f in files)
        offset = 0
        for n, spec in zip(counts, group["weights"]):
            stored = _stored_dtype(spec)
            if spec["name"] in state:
                raise ValueError(f"{manifest_path}: weight {spec['name']!r} appears twice")
            state[spec["name"]] = _decode(spec, np.frombuffer(data, dtype=stored, count=n, offset=offset))
            offset += n * stored.itemsize
    return state
