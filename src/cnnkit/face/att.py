"""The AT&T (ORL) Database of Faces: 40 people x 10 greyscale 112x92 photographs, read from its PGM files.

The folder holds ``s1`` ... ``s40``, each with ``1.pgm`` ... ``10.pgm``. It is
found from ``CNNKIT_ATT_FACES`` when set, else as ``shared/datasets/att_faces``
in a folder above this package or the working directory (the project keeps it
next to the repository). Credit: The ORL Database of Faces, AT&T Laboratories
Cambridge (formerly Olivetti Research Laboratory); Samaria & Harter (1994).
"""
import os
import re
from pathlib import Path

import numpy as np

__all__ = ["ATT_ENV", "default_att_root", "read_pgm", "load_att_faces", "split_people"]

ATT_ENV = "CNNKIT_ATT_FACES"
_RELATIVE = Path("shared") / "datasets" / "att_faces"
_HEADER = re.compile(rb"\A(P5)\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s")


def default_att_root():
    """The AT&T faces folder: ``$CNNKIT_ATT_FACES``, else ``shared/datasets/att_faces`` above the package or cwd.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        When the variable names a missing folder, or no candidate folder exists.
    """
    if os.environ.get(ATT_ENV):
        root = Path(os.environ[ATT_ENV])
        if not root.is_dir():
            raise FileNotFoundError(f"{ATT_ENV}={root} is not a folder; point it at the AT&T faces (s1 ... s40)")
        return root
    here, cwd = Path(__file__).resolve(), Path.cwd().resolve()
    candidates = [parent / _RELATIVE for parent in (*here.parents, cwd, *cwd.parents)]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the AT&T faces were not found in {_RELATIVE} above {here.parent} or {cwd}; "
                            f"set {ATT_ENV} to the folder that holds s1 ... s40")


def read_pgm(path):
    """Read a binary (P5) greyscale PGM file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    pixels : ndarray of uint8 (maxval < 256) or uint16, shape (H, W)
    maxval : int
        The value of white.

    Raises
    ------
    ValueError
        When the file is not a P5 PGM or is shorter than its header says.
    """
    data = Path(path).read_bytes()
    match = _HEADER.match(data)
    if match is None:
        raise ValueError(f"{path}: not a binary PGM (expected a 'P5' header), starts with {data[:16]!r}")
    W, H, maxval = (int(g) for g in match.groups()[1:])
    if not 0 < maxval < 65536:
        raise ValueError(f"{path}: PGM maxval must be in 1..65535, got {maxval}")
    dtype = np.dtype(np.uint8) if maxval < 256 else np.dtype(">u2")  # 16-bit PGM samples are big-endian
    body = data[match.end():match.end() + H * W * dtype.itemsize]
    if len(body) < H * W * dtype.itemsize:
        raise ValueError(f"{path}: the header says {W}x{H} pixels but only {len(body)} bytes follow")
    return np.frombuffer(body, dtype=dtype).reshape(H, W).astype(dtype.newbyteorder("=")), maxval


def load_att_faces(root=None):
    """All 400 AT&T face images with their person ids.

    Parameters
    ----------
    root : str or Path, optional
        The folder with ``s1`` ... ``s40``; :func:`default_att_root` when None.

    Returns
    -------
    images : ndarray of float32, shape (400, 112, 92, 1)
        Pixels in [0, 1], ordered by person then by image number.
    labels : ndarray of int64, shape (400,)
        Person ids 0 ... 39 (folder ``s{k}`` is id ``k - 1``).

    Raises
    ------
    FileNotFoundError
        When the folder or any of its 400 images is missing.
    ValueError
        When an image is not a 112x92 PGM.
    """
    root = default_att_root() if root is None else Path(root)
    images, labels = [], []
    for person in range(1, 41):
        for number in range(1, 11):
            path = root / f"s{person}" / f"{number}.pgm"
            if not path.is_file():
                raise FileNotFoundError(f"missing AT&T face image {path} (expected s1 ... s40 with 1.pgm ... 10.pgm)")
            pixels, maxval = read_pgm(path)
            if pixels.shape != (112, 92):
                raise ValueError(f"{path}: AT&T faces are 112x92 (H x W), got {pixels.shape}")
            images.append(pixels.astype(np.float32) / np.float32(maxval))
            labels.append(person - 1)
    return np.stack(images)[..., None], np.asarray(labels, dtype=np.int64)


def split_people(labels, n_eval=10, seed=0):
    """Split the people (not the images) into a training and an evaluation group.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
    n_eval : int, default 10
        People held out; none of their images is used for training.
    seed : int, default 0
        The draw is ``numpy.random.default_rng(seed).permutation`` of the sorted ids.

    Returns
    -------
    train_people, eval_people : ndarray of int64
        Sorted person ids.
    """
    people = np.unique(np.asarray(labels))
    if not 0 < n_eval < len(people):
        raise ValueError(f"n_eval must be between 1 and {len(people) - 1} (there are {len(people)} people), "
                         f"got {n_eval}")
    order = np.random.default_rng(seed).permutation(people)
    return np.sort(order[n_eval:]).astype(np.int64), np.sort(order[:n_eval]).astype(np.int64)
