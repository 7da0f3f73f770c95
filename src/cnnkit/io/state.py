"""Saving and loading state dicts as safetensors or ``.npz``, never with pickle.

The safetensors format is simple enough to write here, so cnnkit needs no extra
package for it: an 8-byte little-endian header length, a JSON header mapping each
name to ``{"dtype", "shape", "data_offsets"}`` (plus an optional ``"__metadata__"``
of str -> str), then the raw little-endian bytes of every tensor. Files written
here load with ``safetensors.numpy.load_file`` and the other way round.
"""
import json
import os
import tempfile

import numpy as np

__all__ = ["save_state", "load_state", "atomic_write"]

METADATA_KEY = "__metadata__"

# Matches the dtype names of the safetensors specification.
_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {dtype.newbyteorder("="): name for name, dtype in _DTYPES.items()}
# A header larger than this is not a state dict but a damaged or hostile file.
_MAX_HEADER = 100 * 1024 * 1024


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it onto ``path``.

    Readers never see a half-written file: the rename is atomic on POSIX and Windows
    because the temporary file lies in the same directory.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a cache or checkpoint should be readable like any file
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _format(path):
    """Return "safetensors" or "npz" from the file name."""
    name = os.fspath(path).lower()
    if name.endswith(".safetensors"):
        return "safetensors"
    if name.endswith(".npz"):
        return "npz"
    raise ValueError(f"unknown state file type {os.fspath(path)!r}: use a .safetensors or .npz name")


def _check_inputs(state_dict, metadata):
    """Return the state as contiguous arrays after checking names, dtypes and metadata."""
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str) or not name or name == METADATA_KEY:
            raise ValueError(f"state dict keys must be non-empty strings other than {METADATA_KEY!r}, got {name!r}")
        if not isinstance(value, np.ndarray):
            value = getattr(value, "data", value)  # a cnnkit Tensor or Parameter keeps its array in .data
        array = np.asarray(value, order="C")
        if array.dtype.newbyteorder("=") not in _NAMES:
            raise TypeError(f"{name!r} has dtype {array.dtype}; supported: {sorted(_DTYPES)}")
        arrays[name] = array
    metadata = dict(metadata or {})
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str (JSON-encode structured values), got {key!r}: {value!r}")
    return arrays, metadata


def save_state(path, state_dict, metadata=None):
    """Write a state dict atomically as safetensors or ``.npz`` (chosen by the extension).

    Parameters
    ----------
    path : str or os.PathLike
        Destination ending in ``.safetensors`` or ``.npz``. The file is written to a
        temporary name in the same directory and renamed, so it is never half-written.
    state_dict : dict of str -> array-like
        Tensors of any shape; float, int, uint or bool dtypes. ``Tensor`` values are
        saved through their ``.data``.
    metadata : dict of str -> str, optional
        Free-form strings (JSON-encode structured values). Stored in the safetensors
        header, or as a JSON string under ``"__metadata__"`` in an ``.npz``.
    """
    fmt = _format(path)
    arrays, metadata = _check_inputs(state_dict, metadata)
    if fmt == "npz":
        entries = dict(arrays)
        if metadata:
            entries[METADATA_KEY] = np.array(json.dumps(metadata))
        atomic_write(path, lambda f: np.savez(f, **entries))
        return
    header, offset = {}, 0
    for name, array in arrays.items():
        header[name] = {"dtype": _NAMES[array.dtype.newbyteorder("=")], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    if metadata:
        header[METADATA_KEY] = metadata
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
    encoded += b" " * (-len(encoded) % 8)

    def write(f):
        f.write(len(encoded).to_bytes(8, "little"))
        f.write(encoded)
        for array in arrays.values():
            f.write(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())

    atomic_write(path, write)


def _load_safetensors(path):
    """Parse a safetensors file into arrays and its metadata, checking every offset."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes is too short for a safetensors file")
    size = int.from_bytes(data[:8], "little")
    if size > min(_MAX_HEADER, len(data) - 8):
        raise ValueError(f"{path}: header length {size} exceeds the file ({len(data)} bytes)")
    try:
        header = json.loads(data[8:8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: the safetensors header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the safetensors header must be a JSON object")
    metadata = header.pop(METADATA_KEY, None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{path}: {METADATA_KEY} must map str to str")
    buffer = memoryview(bytearray(data[8 + size:]))
    state, end = {}, 0
    # Tensors must tile the data buffer exactly, in offset order, as the format requires.
    for name, info in sorted(header.items(), key=lambda item: item[1].get("data_offsets", [0])[0]):
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = tuple(int(n) for n in info["shape"])
            begin, stop = (int(n) for n in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: bad header entry for {name!r}: {info!r}") from None
        count = int(np.prod(shape, dtype=np.int64))
        if begin != end or stop - begin != count * dtype.itemsize or stop > len(buffer) or min(shape, default=0) < 0:
            raise ValueError(f"{path}: {name!r} with shape {shape} and {info['dtype']} has data_offsets "
                             f"[{begin}, {stop}], expected [{end}, {end + count * dtype.itemsize}] "
                             f"within {len(buffer)} data bytes")
        array = np.frombuffer(buffer[begin:stop], dtype=dtype).reshape(shape)
        state[name] = array if dtype.isnative else array.astype(dtype.newbyteorder("="))
        end = stop
    if end != len(buffer):
        raise ValueError(f"{path}: {len(buffer) - end} trailing bytes after the last tensor")
    return {name: state[name] for name in header}, dict(metadata)


def _load_npz(path):
    """Read an ``.npz`` without pickle; the metadata is the JSON string under ``__metadata__``."""
    with np.load(path, allow_pickle=False) as archive:
        state = {name: archive[name] for name in archive.files}
    raw = state.pop(METADATA_KEY, None)
    metadata = json.loads(str(raw)) if raw is not None else {}
    return state, metadata


def load_state(path):
    """Read a state dict saved by :func:`save_state` (or by safetensors / ``np.savez``).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.safetensors`` or ``.npz`` file. Nothing in it is executed: ``.npz`` is read
        with ``allow_pickle=False`` and safetensors holds only raw bytes.

    Returns
    -------
    state : dict of str -> numpy.ndarray
        The tensors, in the order they were saved, with their saved shapes and dtypes.
    metadata : dict of str -> str
        The metadata strings (empty when none were saved).
    """
    if _format(path) == "npz":
        return _load_npz(path)
    return _load_safetensors(path)
