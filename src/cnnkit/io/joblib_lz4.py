"""Reading MTCNN's joblib + lz4 weight lists (PyPI mtcnn 1.0.0) without trusting the pickle.

Each ``{pnet,rnet,onet}.lz4`` is an lz4 frame around a joblib pickle of a list of
float32 arrays. joblib writes every array as a ``NumpyArrayWrapper`` (its subclass,
shape, order and dtype) followed by its raw bytes, so plain ``pickle`` cannot read it.

No joblib code runs here. joblib's own loader builds any object the pickle names, and
even a restricted ``find_class`` on joblib's ``NumpyUnpickler`` is not enough: joblib
1.3-1.5.3 read a wrapper whose dtype claims ``hasobject`` with the plain unpickler,
and a wrapper kept in the pickle's memo can be passed as another wrapper's dtype. The
unpickler here is pickle's own pure-Python machine with three names mapped to inert
placeholders of ours; it builds nothing but lists, tuples, dicts, strings and numbers,
checks each wrapper's fields (a numeric dtype, a shape whose bytes fit in the data) and
reads the raw bytes itself. Every malformed or hostile file is a ``ValueError`` naming it.
"""
import hashlib
import io
import math
import pickle

import numpy as np

__all__ = ["load_joblib_lz4", "mtcnn_state", "MTCNN_LAYERS", "RefusedPickleError", "MAX_DECOMPRESSED_BYTES"]

# Layer order of mtcnn 1.0.0's Keras models (mtcnn/network/{pnet,rnet,onet}.py), which is
# the order of the arrays in each list: conv = kernel + bias, prelu = alpha, fc = kernel + bias.
MTCNN_LAYERS = {
    "pnet": (("conv1", "conv"), ("prelu1", "prelu"), ("conv2", "conv"), ("prelu2", "prelu"),
             ("conv3", "conv"), ("prelu3", "prelu"), ("conv4_1", "conv"), ("conv4_2", "conv")),
    "rnet": (("conv1", "conv"), ("prelu1", "prelu"), ("conv2", "conv"), ("prelu2", "prelu"),
             ("conv3", "conv"), ("prelu3", "prelu"), ("fc4", "fc"), ("prelu4", "prelu"),
             ("fc5_1", "fc"), ("fc5_2", "fc")),
    "onet": (("conv1", "conv"), ("prelu1", "prelu"), ("conv2", "conv"), ("prelu2", "prelu"),
             ("conv3", "conv"), ("prelu3", "prelu"), ("conv4", "conv"), ("prelu4", "prelu"),
             ("fc5", "fc"), ("prelu5", "prelu"), ("fc6_1", "fc"), ("fc6_2", "fc"), ("fc6_3", "fc")),
}

#: Largest decompressed pickle read (mtcnn's largest list, O-Net, is about 1.6 MB).
MAX_DECOMPRESSED_BYTES = 64 << 20

# The fields joblib >= 0.10 gives a NumpyArrayWrapper; any other attribute (such as a
# forged ``hasobject``) is refused.
_WRAPPER_FIELDS = {"subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes"}
_MAX_NDIM = 32


class RefusedPickleError(ValueError, pickle.UnpicklingError):
    """A pickle asked for something other than a list of plain numeric numpy arrays."""


class _NdarrayClass:
    """Stands for ``numpy.ndarray`` where a wrapper names its subclass; it can be neither called nor built."""


_NDARRAY = _NdarrayClass()


class _DtypeSpec:
    """What ``numpy.dtype(code, align, copy)`` and its BUILD state describe, kept inert until checked."""

    def __init__(self, code, align=False, copy=True):
        if not isinstance(code, str) or not (isinstance(align, bool) and isinstance(copy, bool)):
            raise RefusedPickleError(f"refusing numpy dtype arguments {code!r}, {align!r}, {copy!r}")
        self.code, self.endian = code, "="

    def set_state(self, state):
        """Take the byte order from numpy's dtype state ``(version, endian, subdtype, names, fields, ...)``."""
        if not (isinstance(state, tuple) and len(state) >= 5 and state[1] in ("<", ">", "|", "=")
                and state[2:5] == (None, None, None)):
            raise RefusedPickleError(f"refusing numpy dtype state {state!r}: only plain numeric dtypes are allowed")
        self.endian = state[1]

    def resolve(self):
        """The numeric numpy dtype, or RefusedPickleError."""
        try:
            dtype = np.dtype(self.code)
        except (TypeError, ValueError):
            dtype = None
        if dtype is None or dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
            raise RefusedPickleError(f"refusing numpy dtype {self.code!r}: only bool, int and float arrays are allowed")
        return dtype.newbyteorder(self.endian) if self.endian != "|" else dtype


class _ArrayWrapper:
    """Stands for joblib's ``NumpyArrayWrapper`` until its state is checked and its bytes are read."""


def _array_from_wrapper(state, read, limit):
    """Check a wrapper's state and read its raw bytes with ``read(n)``; return the array."""
    if not isinstance(state, dict):
        raise RefusedPickleError(f"refusing an array wrapper state of type {type(state).__name__}")
    unknown = sorted(str(key) for key in set(state) - _WRAPPER_FIELDS)
    if unknown or not {"shape", "dtype"} <= set(state):
        raise RefusedPickleError(f"refusing an array wrapper with unknown fields {unknown} or without shape and dtype")
    if state.get("subclass", _NDARRAY) is not _NDARRAY:
        raise RefusedPickleError("refusing an array wrapper whose subclass is not numpy.ndarray")
    if type(state["dtype"]) is not _DtypeSpec:
        raise RefusedPickleError(f"refusing an array wrapper whose dtype is a {type(state['dtype']).__name__}, "
                                 f"not a numeric numpy dtype")
    dtype = state["dtype"].resolve()
    shape, order = state["shape"], state.get("order", "C")
    if not (isinstance(shape, tuple) and len(shape) <= _MAX_NDIM and all(type(n) is int and n >= 0 for n in shape)):
        raise ValueError(f"the array shape {shape!r} is not a tuple of at most {_MAX_NDIM} non-negative ints")
    if order not in ("C", "F"):
        raise ValueError(f"the array order {order!r} is neither 'C' nor 'F'")
    # Python ints: the product cannot overflow, and is checked against the data before allocating.
    nbytes = math.prod(shape) * dtype.itemsize
    alignment = state.get("numpy_array_alignment_bytes")
    if alignment is not None:
        if type(alignment) is not int or not 0 < alignment <= 4096:
            raise ValueError(f"the array alignment {alignment!r} is not an int in [1, 4096]")
        padding = read(1)[0]
        if padding > alignment:
            raise ValueError(f"{padding} padding bytes before an array aligned to {alignment}")
        read(padding)
    if nbytes > limit:
        raise ValueError(f"an array of shape {shape} and dtype {dtype} needs {nbytes} bytes, more than the "
                         f"{limit} bytes of the whole pickle")
    raw = read(nbytes)
    if len(raw) != nbytes:
        raise ValueError(f"the data ends {nbytes - len(raw)} bytes into an array of shape {shape}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape, order=order)


class _Unpickler(pickle._Unpickler):
    """pickle's pure-Python unpickler knowing three names only, with BUILD handled by us (never setattr)."""

    _ALLOWED = {("joblib.numpy_pickle", "NumpyArrayWrapper"): _ArrayWrapper, ("numpy", "ndarray"): _NDARRAY,
                ("numpy", "dtype"): _DtypeSpec}

    def __init__(self, file, size):
        super().__init__(file)
        self.size = size

    def find_class(self, module, name):
        """Return our placeholder for an allowed name; refuse everything else before anything is called."""
        if (module, name) not in self._ALLOWED:
            raise RefusedPickleError(f"refusing to load {module}.{name}: this pickle may only hold numpy arrays")
        return self._ALLOWED[module, name]

    def persistent_load(self, pid):
        """Refuse persistent ids (joblib never writes them)."""
        raise RefusedPickleError("refusing a persistent id: this pickle may only hold numpy arrays")

    def load_build(self):
        """BUILD: fill a dtype placeholder, or turn a wrapper into its array; refuse any other target."""
        state = self.stack.pop()
        target = self.stack[-1]
        if type(target) is _DtypeSpec:
            target.set_state(state)
        elif type(target) is _ArrayWrapper:
            self.stack[-1] = _array_from_wrapper(state, self.read, self.size)
        else:
            raise RefusedPickleError(f"refusing to set the state of a {type(target).__name__}")

    dispatch = pickle._Unpickler.dispatch.copy()
    dispatch[pickle.BUILD[0]] = load_build


def _decompress(path, raw, max_bytes):
    """The content of one lz4 frame, refusing more than ``max_bytes`` before producing it."""
    try:
        import lz4.frame
    except ImportError:
        raise ImportError("reading lz4 weights needs lz4: pip install 'cnnkit[weights]'") from None
    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        data = decompressor.decompress(raw, max_length=max_bytes + 1)
    except RuntimeError as exc:
        raise ValueError(f"{path}: not a valid lz4 frame ({exc})") from None
    if len(data) > max_bytes:
        raise ValueError(f"{path}: decompresses to more than {max_bytes} bytes; refusing it as a weights list "
                         f"(pass max_bytes to allow more)")
    if not decompressor.eof:
        raise ValueError(f"{path}: the lz4 frame is truncated")
    return data


def load_joblib_lz4(path, sha256=None, max_bytes=MAX_DECOMPRESSED_BYTES):
    """Read a joblib pickle of a list of numeric arrays from an lz4 frame, executing nothing.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.lz4`` file.
    sha256 : str, optional
        Expected hex digest of the file; checked before anything is decompressed.
    max_bytes : int, default MAX_DECOMPRESSED_BYTES (64 MiB)
        The largest decompressed pickle accepted; checked while decompressing.

    Returns
    -------
    list of numpy.ndarray
        The arrays, as float32.

    Raises
    ------
    RefusedPickleError
        A ValueError: the pickle names anything but joblib's array wrapper,
        ``numpy.ndarray`` or a numeric ``numpy.dtype`` (e.g. ``os.system`` through
        ``__reduce__``), or a wrapper has unknown fields or a non-numeric dtype.
    ValueError
        On a sha256 mismatch, a damaged frame or pickle, or when the pickle holds
        something other than a list of numeric arrays; the message names the file.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if sha256 is not None:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != sha256:
            raise ValueError(f"{path}: sha256 {actual} does not match the expected {sha256}; refusing to unpickle")
    data = _decompress(path, raw, max_bytes)
    try:
        loaded = _Unpickler(io.BytesIO(data), len(data)).load()
    except RefusedPickleError as exc:
        raise RefusedPickleError(f"{path}: {exc}") from None
    except Exception as exc:  # the pickle machine raises many types on malformed input; all mean a bad file
        raise ValueError(f"{path}: not a joblib pickle of numeric arrays ({type(exc).__name__}: {exc})") from None
    if not isinstance(loaded, list) or not all(isinstance(a, np.ndarray) for a in loaded):
        kinds = sorted({type(a).__name__ for a in loaded}) if isinstance(loaded, list) else type(loaded).__name__
        raise ValueError(f"{path}: expected a list of numeric arrays, got {kinds}")
    return [np.ascontiguousarray(a, dtype=np.float32) for a in loaded]


def mtcnn_state(arrays):
    """Name MTCNN's three weight lists after the layers of the Keras models that made them.

    Parameters
    ----------
    arrays : dict of str -> list of numpy.ndarray
        ``{"pnet": [...], "rnet": [...], "onet": [...]}`` as read by :func:`load_joblib_lz4`
        (13, 16 and 21 arrays).

    Returns
    -------
    dict of str -> numpy.ndarray
        ``pnet.conv1.weight`` (3, 3, 3, 10) HWIO, ``pnet.conv1.bias`` (10,),
        ``pnet.prelu1.weight`` (10,) (one alpha per channel), ..., ``rnet.fc4.weight``
        (576, 128) as (in, out), ... ``onet.fc6_3.bias`` (2,). The dense layer after the
        last convolution of R-Net and O-Net reads the feature map flattened in
        (W, H, C) order: the Keras models permute H and W before flattening.
    """
    state = {}
    for net, layers in MTCNN_LAYERS.items():
        expected = sum(1 if kind == "prelu" else 2 for _, kind in layers)
        values = list(arrays[net])
        if len(values) != expected:
            raise ValueError(f"{net}: expected {expected} arrays for layers {[n for n, _ in layers]}, "
                             f"got {len(values)}")
        for name, kind in layers:
            if kind == "prelu":
                alpha = values.pop(0)
                state[f"{net}.{name}.weight"] = alpha.reshape(alpha.shape[-1])  # (1, 1, C) or (C,) -> (C,)
                continue
            weight, bias = values.pop(0), values.pop(0)
            ndim = 4 if kind == "conv" else 2
            if weight.ndim != ndim or bias.shape != weight.shape[-1:]:
                raise ValueError(f"{net}.{name}: weight {weight.shape} and bias {bias.shape} do not form a "
                                 f"{kind} layer ({ndim}-D weight whose last axis is the bias length)")
            state[f"{net}.{name}.weight"], state[f"{net}.{name}.bias"] = weight, bias
    return state
