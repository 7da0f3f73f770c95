"""Saving and loading state dicts as safetensors or ``.npz``, never with pickle.

The safetensors format is simple enough to write here, so cnnkit needs no extra
package for it: an 8-byte little-endian header length, a JSON header mapping each
name to ``{"dtype", "shape", "data_offsets"}`` (plus an optional ``"__metadata__"``
of str -> str), then the raw little-endian bytes of every tensor. Files written
here load with ``safetensors.numpy.load_file`` and the other way round.
"""
import json
import math
import os
import tempfile
import zipfile
import zlib

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
#: A header larger than this is a damaged or hostile file: cnnkit's own are under 20 kB; 4 MiB holds 50,000 tensors.
MAX_HEADER_BYTES = 4 << 20
_MAX_NDIM = 32
_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


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


def _header_entry(path, name, info):
    """Check one safetensors header entry; return (dtype, shape, begin, stop, count) with Python ints."""
    def bad(problem):
        return ValueError(f"{path}: header entry {name!r}: {problem}")

    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise bad(f"expected an object with exactly dtype, shape and data_offsets, got {_short(info)}")
    if not isinstance(info["dtype"], str) or info["dtype"] not in _DTYPES:
        raise bad(f"dtype {_short(info['dtype'])} is not one of {sorted(_DTYPES)}")
    shape, offsets = info["shape"], info["data_offsets"]
    if not isinstance(shape, list) or len(shape) > _MAX_NDIM or not all(_is_count(n) for n in shape):
        raise bad(f"shape {_short(shape)} is not a list of at most {_MAX_NDIM} non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(n) for n in offsets):
        raise bad(f"data_offsets {_short(offsets)} is not a list of two non-negative integers")
    dtype = _DTYPES[info["dtype"]]
    # numpy refuses shapes whose non-zero dimensions multiply past its index type, even with a zero among them
    if math.prod(n for n in shape if n) * dtype.itemsize >= 2**62:
        raise bad(f"shape {_short(shape)} is too large for any array")
    return dtype, tuple(shape), offsets[0], offsets[1], math.prod(shape)


def _is_count(value):
    """A JSON integer >= 0 (``bool`` is an int in Python but not here)."""
    return type(value) is int and value >= 0


def _short(value, limit=80):
    """``repr`` cut to ``limit`` characters, for messages about hostile input."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _unique_keys(pairs):
    """``object_pairs_hook`` refusing duplicate keys, which would make a header ambiguous."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"duplicate key {duplicate!r}")
    return result


def _read_header(path, f, file_size):
    """Read and parse the length-prefixed JSON header of an open safetensors file; return (header, size)."""
    prefix = f.read(8)
    if len(prefix) < 8:
        raise ValueError(f"{path}: {file_size} bytes is too short for a safetensors file")
    size = int.from_bytes(prefix, "little")
    if size > MAX_HEADER_BYTES or size > file_size - 8:
        raise ValueError(f"{path}: header length {size} exceeds the file ({file_size} bytes) or the "
                         f"{MAX_HEADER_BYTES}-byte limit for a header; not a safetensors file?")
    try:
        header = json.loads(f.read(size), object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError(f"{path}: the safetensors header is nested too deeply") from None
    except ValueError as exc:  # also UnicodeDecodeError and JSONDecodeError
        raise ValueError(f"{path}: the safetensors header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the safetensors header must be a JSON object, got {type(header).__name__}")
    return header, size


def _load_safetensors(path):
    """Parse a safetensors file into arrays and its metadata, checking every field before allocating."""
    with open(path, "rb") as f:
        file_size = os.fstat(f.fileno()).st_size
        header, size = _read_header(path, f, file_size)
        metadata = header.pop(METADATA_KEY, None) or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise ValueError(f"{path}: {METADATA_KEY} must map str to str")
        entries = {name: _header_entry(path, name, info) for name, info in header.items()}
        data_size = file_size - 8 - size
        # Tensors must tile the data buffer exactly, in offset order, as the format requires.
        end = 0
        for name, (dtype, shape, begin, stop, count) in sorted(entries.items(), key=lambda item: item[1][2]):
            if begin != end or stop - begin != count * dtype.itemsize or stop > data_size:
                raise ValueError(f"{path}: {name!r} with shape {shape} and {header[name]['dtype']} has data_offsets "
                                 f"[{begin}, {stop}], expected [{end}, {end + count * dtype.itemsize}] "
                                 f"within {data_size} data bytes")
            end = stop
        if end != data_size:
            raise ValueError(f"{path}: {data_size - end} trailing bytes after the last tensor")
        # Every size is now known to fit in the file: this allocation is the file's own size.
        buffer = bytearray(data_size)
        if f.readinto(buffer) != data_size:
            raise ValueError(f"{path}: the file changed while it was read")
    state = {}
    for name, (dtype, shape, begin, stop, _) in entries.items():
        array = np.frombuffer(buffer, dtype=dtype, count=(stop - begin) // dtype.itemsize, offset=begin)
        state[name] = (array if dtype.isnative else array.astype(dtype.newbyteorder("="))).reshape(shape)
    return state, dict(metadata)


def _npz_member(path, archive, info, file_size):
    """Read one ``.npy`` member of an ``.npz`` without pickle, checking its size before allocating."""
    what = f"{path}: member {info.filename!r}"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"{what}: compression method {info.compress_type} is neither stored nor deflated")
    # deflate expands at most about 1032 times; a larger claim is a bomb or a lie
    ratio = 1 if info.compress_type == zipfile.ZIP_STORED else 1032
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in _NPY_HEADER_READERS:
            raise ValueError(f"{what}: unsupported .npy version {version}")
        shape, fortran, dtype = _NPY_HEADER_READERS[version](f)
        # numbers, and the fixed-size text of the metadata; object arrays would need pickle
        if dtype.hasobject or dtype.kind not in "biufU" or dtype.fields is not None:
            raise ValueError(f"{what}: dtype {dtype} is not a plain numeric type (object arrays would need "
                             f"pickle, which is never used)")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > info.file_size or info.compress_size > file_size or nbytes > ratio * max(info.compress_size, 1):
            raise ValueError(f"{what}: shape {shape} of {dtype} needs {nbytes} bytes, but the member holds "
                             f"{info.file_size} ({info.compress_size} compressed, in a {file_size}-byte file)")
        buffer = bytearray(nbytes)
        if f.readinto(buffer) != nbytes:
            raise ValueError(f"{what}: truncated: fewer than the {nbytes} bytes of shape {shape}")
    array = np.frombuffer(buffer, dtype=dtype)
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def _load_npz(path):
    """Read an ``.npz`` without pickle; the metadata is the JSON string under ``__metadata__``."""
    state = {}
    with open(path, "rb") as f:  # a missing or unreadable file stays an OSError; the rest is the archive's fault
        try:
            with zipfile.ZipFile(f) as archive:
                file_size = os.fstat(f.fileno()).st_size
                for info in archive.infolist():
                    name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                    if name in state:
                        raise ValueError(f"{path}: member {name!r} appears twice")
                    state[name] = _npz_member(path, archive, info, file_size)
        except ValueError as exc:
            raise exc if str(exc).startswith(str(path)) else ValueError(f"{path}: {exc}") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError, OverflowError) as exc:
            raise ValueError(f"{path}: not a valid .npz archive ({type(exc).__name__}: {exc})") from None
    raw = state.pop(METADATA_KEY, None)
    metadata = {}
    if raw is not None:
        try:
            metadata = json.loads(str(raw)) if raw.dtype.kind == "U" and raw.ndim == 0 else None
        except (ValueError, RecursionError):
            metadata = None
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise ValueError(f"{path}: {METADATA_KEY} must be a JSON string of an object mapping str to str")
    text = [name for name, array in state.items() if array.dtype.kind == "U"]
    if text:
        raise ValueError(f"{path}: {text[0]!r} holds text, not numbers")
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

    Raises
    ------
    ValueError
        For any damaged or hostile file (header over ``MAX_HEADER_BYTES``, wrong JSON
        types, shapes or offsets outside the file, unknown dtypes, object arrays),
        naming the file; sizes are checked before anything is allocated.
    """
    if _format(path) == "npz":
        return _load_npz(path)
    return _load_safetensors(path)
