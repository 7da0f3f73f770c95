"""Reading MTCNN's joblib + lz4 weight lists (PyPI mtcnn 1.0.0) without trusting the pickle.

Each ``{pnet,rnet,onet}.lz4`` is an lz4 frame around a joblib pickle of a list of
float32 arrays. joblib writes every array as a ``NumpyArrayWrapper`` followed by its raw
bytes, so plain ``pickle`` cannot read it; joblib's own loader would build any object
the pickle names. The reader here checks the file's sha256 when one is given, then
unpickles with a subclass of joblib's ``NumpyUnpickler`` that admits only the three
classes the files name and refuses everything else before it is called.
"""
import hashlib
import inspect
import io
import os
import pickle

import numpy as np

__all__ = ["load_joblib_lz4", "mtcnn_state", "MTCNN_LAYERS", "RefusedPickleError"]

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


class RefusedPickleError(pickle.UnpicklingError):
    """A pickle asked for a class or function that is not a plain numpy array part."""


def _safe_dtype(*args):
    """Build a numpy dtype for the unpickler, refusing object and structured dtypes."""
    dtype = np.dtype(*args)
    if dtype.kind not in "biuf":
        raise RefusedPickleError(f"refusing numpy dtype {dtype!r}: only bool, int and float arrays are allowed")
    return dtype


def _restricted_unpickler(source, data):
    """Return an unpickler over ``data`` that builds nothing but numpy arrays."""
    try:
        from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler
    except ImportError:
        raise ImportError("reading joblib weights needs joblib and lz4: pip install 'cnnkit[weights]'") from None

    allowed = {("joblib.numpy_pickle", "NumpyArrayWrapper"): NumpyArrayWrapper,
               ("numpy", "ndarray"): np.ndarray,
               ("numpy", "dtype"): _safe_dtype}

    class RestrictedUnpickler(NumpyUnpickler):
        def find_class(self, module, name):
            if (module, name) not in allowed:
                raise RefusedPickleError(f"{source}: refusing to load {module}.{name}: this pickle may "
                                         f"only hold numpy arrays")
            return allowed[module, name]

    # joblib 1.5 added the ensure_native_byte_order argument; older versions lack it.
    kwargs = {}
    if "ensure_native_byte_order" in inspect.signature(NumpyUnpickler.__init__).parameters:
        kwargs["ensure_native_byte_order"] = True
    return RestrictedUnpickler(source, io.BytesIO(data), **kwargs)


def load_joblib_lz4(path, sha256=None):
    """Read a joblib pickle of a list of float arrays from an lz4 frame, executing nothing.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.lz4`` file.
    sha256 : str, optional
        Expected hex digest of the file; checked before anything is decompressed.

    Returns
    -------
    list of numpy.ndarray
        The arrays, as float32.

    Raises
    ------
    RefusedPickleError
        If the pickle names anything but joblib's array wrapper, ``numpy.ndarray`` or a
        numeric ``numpy.dtype`` (e.g. ``os.system`` through ``__reduce__``).
    ValueError
        On a sha256 mismatch, or when the pickle holds something other than a list of
        numeric arrays.
    """
    try:
        import lz4.frame
    except ImportError:
        raise ImportError("reading lz4 weights needs lz4 and joblib: pip install 'cnnkit[weights]'") from None
    with open(path, "rb") as f:
        raw = f.read()
    if sha256 is not None:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != sha256:
            raise ValueError(f"{path}: sha256 {actual} does not match the expected {sha256}; refusing to unpickle")
    source = os.path.basename(os.fspath(path))
    try:
        data = lz4.frame.decompress(raw)
    except RuntimeError as exc:
        raise ValueError(f"{path}: not a valid lz4 frame ({exc})") from None
    loaded = _restricted_unpickler(source, data).load()
    if not isinstance(loaded, list) or not all(isinstance(a, np.ndarray) and a.dtype.kind in "biuf" for a in loaded):
        raise ValueError(f"{path}: expected a list of numeric arrays, got {type(loaded).__name__}")
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
