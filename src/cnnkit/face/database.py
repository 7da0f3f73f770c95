"""A face database on disk: names and descriptors, for one-shot identification.

Layout of the directory: ``faces.json`` (format version, model, threshold, one
name per descriptor, and the name of the tensor file) and
``descriptors-<id>.safetensors`` (a float32 (M, 128) tensor ``descriptors``).
Every change writes a new tensor file, then replaces ``faces.json`` atomically,
then deletes the old tensor file: the JSON is the commit point, so an interrupted
write leaves the previous database intact.
"""
import json
import os
import uuid
from pathlib import Path

import numpy as np

from cnnkit.face.dlib_resnet import SAME_PERSON_DISTANCE
from cnnkit.face.embed import embed, face_distance, with_dlib_landmarks
from cnnkit.face.mtcnn import detect_faces
from cnnkit.io.state import atomic_write, load_state, save_state

__all__ = ["FaceDatabase", "FORMAT_VERSION"]

#: Version of the on-disk format written by this code; newer versions are refused.
FORMAT_VERSION = 1
_INDEX = "faces.json"
_DIM = 128


class FaceDatabase:
    """Named face descriptors stored in a directory; identify a face by its nearest neighbour.

    Parameters
    ----------
    path : str or os.PathLike
        The directory (created on the first enrolment).
    threshold : float, default 0.6
        Distance from which a face is "unknown"; stored with the database.
    network : DlibFaceResNet, optional
        Used by :meth:`enroll` and :meth:`identify`; the pretrained one by default.

    Examples
    --------
    >>> db = FaceDatabase("people")                        # doctest: +SKIP
    >>> db.enroll("obama", [photo], faces=[landmarks])     # doctest: +SKIP
    >>> db.identify(other_photo, face=other_landmarks)     # doctest: +SKIP
    ('obama', 0.41)
    """

    def __init__(self, path, threshold=SAME_PERSON_DISTANCE, network=None):
        self.path = Path(path)
        self.network = network
        self.threshold = float(threshold)
        self._names, self._descriptors, self._file = [], np.zeros((0, _DIM), dtype=np.float32), None
        index = self.path / _INDEX
        if index.exists():
            self._load(index)

    def _load(self, index):
        """Read ``faces.json`` and its tensor file, refusing newer formats and inconsistent files."""
        with open(index) as f:
            meta = json.load(f)
        version = meta.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(f"{index}: written by a newer cnnkit (format version {version!r}; this cnnkit reads "
                             f"up to {FORMAT_VERSION}); upgrade cnnkit to open it")
        state, _ = load_state(self.path / meta["descriptors_file"])
        descriptors = state["descriptors"]
        if descriptors.shape != (len(meta["names"]), _DIM):
            raise ValueError(f"{index}: {len(meta['names'])} names but descriptors of shape {descriptors.shape}")
        self._names, self._descriptors = list(meta["names"]), descriptors.astype(np.float32)
        self._file, self.threshold = meta["descriptors_file"], float(meta["threshold"])

    def _save(self, names, descriptors):
        """Write a new tensor file, commit it by replacing the index, then drop the old file."""
        self.path.mkdir(parents=True, exist_ok=True)
        new_file = f"descriptors-{uuid.uuid4().hex}.safetensors"
        save_state(self.path / new_file, {"descriptors": np.ascontiguousarray(descriptors, dtype=np.float32)})
        meta = {"format_version": FORMAT_VERSION, "model": "dlib-face-resnet", "threshold": self.threshold,
                "names": names, "descriptors_file": new_file}
        try:
            atomic_write(self.path / _INDEX, lambda f: f.write(json.dumps(meta, indent=1).encode()))
        except BaseException:
            os.unlink(self.path / new_file)
            raise
        old, self._file = self._file, new_file
        self._names, self._descriptors = list(names), descriptors
        if old is not None:
            (self.path / old).unlink(missing_ok=True)

    def names(self):
        """The enrolled names, sorted, each once."""
        return sorted(set(self._names))

    def __len__(self):
        """The number of stored descriptors."""
        return len(self._names)

    def add(self, name, descriptors):
        """Store descriptors (128,) or (K, 128) under ``name`` (kept alongside earlier ones) and save."""
        descriptors = np.asarray(descriptors, dtype=np.float32)
        descriptors = descriptors[None] if descriptors.ndim == 1 else descriptors
        if not isinstance(name, str) or not name:
            raise ValueError(f"a name must be a non-empty string, got {name!r}")
        if descriptors.ndim != 2 or descriptors.shape[1] != _DIM or not len(descriptors) \
                or not np.isfinite(descriptors).all():
            raise ValueError(f"descriptors for {name!r} must be finite, shape ({_DIM},) or (K, {_DIM}), got "
                             f"shape {descriptors.shape}")
        self._save(self._names + [name] * len(descriptors), np.concatenate([self._descriptors, descriptors]))

    def enroll(self, name, images, faces=None):
        """Enrol a person from one or more photos (one is enough: one-shot).

        Parameters
        ----------
        name : str
        images : sequence of ndarray of uint8, shape (H, W, 3)
        faces : sequence of (5, 2) landmarks or face records, one per image, optional
            See :func:`cnnkit.face.embed.embed`; by default the largest face MTCNN
            finds in each image (a ValueError names an image without one).
        """
        faces = [None] * len(images) if faces is None else faces
        if len(images) != len(faces) or not images:
            raise ValueError(f"enroll {name!r}: give one face per image, got {len(images)} images and "
                             f"{len(faces)} faces")
        self.add(name, np.stack([embed(image, face, self.network) for image, face in zip(images, faces)]))

    def remove(self, name):
        """Forget every descriptor of ``name``; KeyError if it is not enrolled."""
        if name not in self._names:
            raise KeyError(f"{name!r} is not enrolled; enrolled: {self.names()}")
        keep = [i for i, n in enumerate(self._names) if n != name]
        self._save([self._names[i] for i in keep], self._descriptors[keep])

    def nearest(self, descriptor):
        """``(name or None, distance)`` of the closest stored descriptor; None beyond the threshold."""
        if not self._names:
            return None, float("inf")
        distances = face_distance(self._descriptors, np.asarray(descriptor, dtype=np.float32)[None])
        best = int(np.argmin(distances))
        distance = float(distances[best])
        return (self._names[best] if distance < self.threshold else None), distance

    def identify(self, image, face=None):
        """Who is this face? ``(name or None for an unknown face, distance to the closest enrolled face)``.

        Parameters
        ----------
        image : ndarray of uint8, shape (H, W, 3)
        face : (5, 2) landmarks or a face record (see :func:`cnnkit.face.embed.embed`), optional
            By default the largest face MTCNN finds; :meth:`identify_all` names every face.
        """
        return self.nearest(embed(image, face, self.network))

    def identify_all(self, image, detector=None):
        """Name every face in a photo (a group photo): one ``(face, name or None, distance)`` per face found.

        Parameters
        ----------
        image : ndarray of uint8, shape (H, W, 3)
        detector : MTCNN, optional
            The pretrained one by default.

        Returns
        -------
        list of tuple
            ``face`` is the record of :func:`cnnkit.face.mtcnn.detect_faces` (box, score,
            landmarks, and the ``dlib_landmarks`` the descriptor was aligned on), by
            descending score; empty when there is no face.
        """
        results = []
        for face in (with_dlib_landmarks(f, image) for f in detect_faces(image, detector=detector)):
            results.append((face, *self.nearest(embed(image, face, self.network))))
        return results
