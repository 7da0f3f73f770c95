"""The AT&T (ORL) Database of Faces, shipped with cnnkit: 40 people x 10 greyscale 112x92 photographs.

The images live in the package (``cnnkit/data/att_faces/s1`` ... ``s40``, each
with ``1.pgm`` ... ``10.pgm``), so :func:`load_att_faces` works from any folder
with nothing to download or configure. Acknowledgement: The ORL Database of
Faces, AT&T Laboratories Cambridge (formerly Olivetti Research Laboratory);
Samaria & Harter (1994). See ``att_faces/README.md`` for the terms.
"""
from pathlib import Path

import numpy as np

from cnnkit.data.datasets import Dataset
from cnnkit.data.images import load_image

__all__ = ["ATT_FACES_DIR", "load_att_faces", "split_people"]

#: The package's copy of the database.
ATT_FACES_DIR = Path(__file__).resolve().parent / "att_faces"
_PEOPLE, _PER_PERSON, _SHAPE = 40, 10, (112, 92)


def load_att_faces(root=None):
    """All 400 AT&T face images with their person ids.

    Parameters
    ----------
    root : str or Path, optional
        A folder with ``s1`` ... ``s40``; the copy shipped with cnnkit (``ATT_FACES_DIR``) by default.

    Returns
    -------
    Dataset
        ``images`` (400, 112, 92, 1) float32 in [0, 1], ordered by person then
        by image number; ``labels`` (400,) int64, person ids 0 ... 39 (folder
        ``s{k}`` is id ``k - 1``); ``class_names`` ``"s1"`` ... ``"s40"``.

    Raises
    ------
    FileNotFoundError
        When any of the 400 images is missing.
    ValueError
        When an image cannot be read (:class:`cnnkit.data.images.ImageError`) or is not 112x92.
    """
    root = ATT_FACES_DIR if root is None else Path(root)
    images = np.empty((_PEOPLE * _PER_PERSON,) + _SHAPE + (1,), dtype=np.float32)
    for person in range(1, _PEOPLE + 1):
        for number in range(1, _PER_PERSON + 1):
            path = root / f"s{person}" / f"{number}.pgm"
            if not path.is_file():
                raise FileNotFoundError(f"missing AT&T face image {path} (expected s1 ... s40 with 1.pgm ... 10.pgm)")
            image = load_image(path, mode="gray")
            if image.shape[:2] != _SHAPE:
                raise ValueError(f"{path}: AT&T faces are 112x92 (H x W), got {image.shape[:2]}")
            images[(person - 1) * _PER_PERSON + number - 1] = image
    labels = np.repeat(np.arange(_PEOPLE, dtype=np.int64), _PER_PERSON)
    return Dataset(images, labels, [f"s{k}" for k in range(1, _PEOPLE + 1)], "att-faces")


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
