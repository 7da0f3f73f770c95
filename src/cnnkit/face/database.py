"""A face database on disk: names and descriptors, for one-shot identification.

Layout of the directory: ``faces.json`` (format version, model, threshold, one
name per descriptor, and the name of the tensor file) and
``descriptors-<id>.safetensors`` (a float32 (M, 128) tensor ``descriptors``).
Every change writes a new tensor file, then replaces ``faces.json`` atomically,
then deletes the old tensor file: the JSON is the commit point, so an interrupted
write leaves the previous database intact. Changes hold a file lock
(``faces.lock``) and read the database again under it, so concurrent enrolments
from several processes keep every person. The database reads and deletes only
files in its own directory named as it names them.
"""
import json
import math
import os
import re
import uuid
from pathlib import Path

import numpy as np

from cnnkit.face.embed import embed, face_distance, face_record, same_person_distance
from cnnkit.face.mtcnn import detect_faces
from cnnkit.io.lock import file_lock
from cnnkit.io.state import atomic_write, load_state, save_state
from cnnkit.utils import natural_sorted

__all__ = ["FaceDatabase", "FORMAT_VERSION"]

#: Version of the on-disk format written by this code; newer versions are refused.
FORMAT_VERSION = 1
_INDEX = "faces.json"
_LOCK = "faces.lock"
_DLIB = "dlib-face-resnet"  # the model of databases filled by dlib's ResNet (every database before trained embeddings)
# The only tensor file names the database writes, reads or deletes: no separator, no "..".
_TENSOR_FILE = re.compile(r"descriptors-[0-9a-f]{32}\.safetensors")


class FaceDatabase:
    """Named face descriptors stored in a directory; identify a face by its nearest neighbour.

    Parameters
    ----------
    path : str or os.PathLike
        The directory (created on the first enrolment).
    threshold : float, optional
        Distance from which a face is "unknown"; stored with the database. By
        default dlib's 0.6, or the threshold of ``network``.
    network : DlibFaceResNet or TrainedEmbedding, optional
        Used by :meth:`enroll` and :meth:`identify`; dlib's pretrained ResNet by
        default. A database holds the descriptors of one embedding: opening it
        with another is refused.

    Examples
    --------
    >>> db = FaceDatabase("people")                        # doctest: +SKIP
    >>> db.enroll("obama", [photo], faces=[landmarks])     # doctest: +SKIP
    >>> db.identify(other_photo, face=other_landmarks)     # doctest: +SKIP
    ('obama', 0.41)
    """

    def __init__(self, path, threshold=None, network=None):
        self.path = Path(path)
        self.network = network
        self.threshold = same_person_distance(network) if threshold is None else float(threshold)
        self.model, self.dim = getattr(network, "name", _DLIB), int(getattr(network, "dim", 128))
        self._names, self._descriptors, self._file = [], np.zeros((0, self.dim), dtype=np.float32), None
        if (self.path / _INDEX).exists():
            try:
                self._read()
            except FileNotFoundError:
                self._load()  # another process committed a change between our two reads: read its version

    def _load(self):
        """Read the database, naming faces.json when the tensor file it names does not exist."""
        try:
            self._read()
        except FileNotFoundError as exc:
            if not (self.path / _INDEX).exists():
                raise
            raise ValueError(f"{self.path / _INDEX}: its tensor file {exc.filename} does not exist") from None

    def _read(self):
        """Read ``faces.json`` and its tensor file, refusing newer formats, inconsistent files and foreign paths."""
        index = self.path / _INDEX
        try:
            with open(index, encoding="utf-8") as f:
                meta = json.load(f)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
            raise ValueError(f"{index}: not a face database index ({exc})") from None
        if not isinstance(meta, dict):
            raise ValueError(f"{index}: not a face database index (a JSON {type(meta).__name__}, not an object)")
        version = meta.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(f"{index}: written by a newer cnnkit (format version {version!r}; this cnnkit reads "
                             f"up to {FORMAT_VERSION}); upgrade cnnkit to open it")
        if meta.get("model", _DLIB) != self.model:
            raise ValueError(f"{index}: this database holds descriptors of {str(meta.get('model', _DLIB))[:80]}, "
                             f"not of {self.model}; open it with the embedding that filled it")
        names, file, threshold = meta.get("names"), meta.get("descriptors_file"), meta.get("threshold")
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"{index}: 'names' must be a list of non-empty strings")
        if not isinstance(file, str) or not _TENSOR_FILE.fullmatch(file):
            raise ValueError(f"{index}: refusing descriptors_file {str(file)[:80]!r}: a database only reads files "
                             f"of its own folder named descriptors-<32 hex digits>.safetensors")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
            raise ValueError(f"{index}: 'threshold' must be a finite number, got {threshold!r}")
        state, _ = load_state(self.path / file)
        descriptors = state.get("descriptors")
        if descriptors is None or descriptors.shape != (len(names), self.dim) or descriptors.dtype.kind != "f":
            raise ValueError(f"{self.path / file}: expected a float tensor 'descriptors' of shape "
                             f"({len(names)}, {self.dim}) for the {len(names)} names of {index}, got "
                             f"{None if descriptors is None else (descriptors.dtype, descriptors.shape)}")
        self._names, self._descriptors = names, descriptors.astype(np.float32)
        self._file, self.threshold = file, float(threshold)

    def _change(self, change):
        """Under the lock, re-read the database, apply ``change(names, descriptors) -> (names, descriptors)``, save.

        Writes a new tensor file, commits it by replacing the index, then deletes the tensor
        files no longer referenced (the previous one, and any left by an interrupted writer).
        """
        self.path.mkdir(parents=True, exist_ok=True)
        with file_lock(self.path / _LOCK):
            if (self.path / _INDEX).exists():
                self._load()
            else:
                self._names, self._descriptors, self._file = [], np.zeros((0, self.dim), dtype=np.float32), None
            names, descriptors = change(list(self._names), self._descriptors)
            new_file = f"descriptors-{uuid.uuid4().hex}.safetensors"
            save_state(self.path / new_file, {"descriptors": np.ascontiguousarray(descriptors, dtype=np.float32)})
            meta = {"format_version": FORMAT_VERSION, "model": self.model, "threshold": self.threshold,
                    "names": names, "descriptors_file": new_file}
            try:
                atomic_write(self.path / _INDEX, lambda f: f.write(json.dumps(meta, indent=1).encode()))
            except BaseException:
                os.unlink(self.path / new_file)
                raise
            self._file, self._names, self._descriptors = new_file, list(names), descriptors
            for stale in self.path.iterdir():
                if _TENSOR_FILE.fullmatch(stale.name) and stale.name != new_file:
                    stale.unlink(missing_ok=True)

    def names(self):
        """The enrolled names, sorted naturally, each once."""
        return natural_sorted(set(self._names))

    def __len__(self):
        """The number of stored descriptors."""
        return len(self._names)

    def add(self, name, descriptors):
        """Store descriptors (D,) or (K, D) under ``name`` (kept alongside earlier ones) and save; D is 128 for dlib."""
        descriptors = np.asarray(descriptors, dtype=np.float32)
        descriptors = descriptors[None] if descriptors.ndim == 1 else descriptors
        if not isinstance(name, str) or not name:
            raise ValueError(f"a name must be a non-empty string, got {name!r}")
        if descriptors.ndim != 2 or descriptors.shape[1] != self.dim or not len(descriptors) \
                or not np.isfinite(descriptors).all():
            raise ValueError(f"descriptors for {name!r} must be finite, shape ({self.dim},) or (K, {self.dim}), got "
                             f"shape {descriptors.shape}")
        self._change(lambda names, stored: (names + [name] * len(descriptors), np.concatenate([stored, descriptors])))

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
        def forget(names, descriptors):
            if name not in names:
                raise KeyError(f"{name!r} is not enrolled; enrolled: {natural_sorted(set(names))}")
            keep = [i for i, n in enumerate(names) if n != name]
            return [names[i] for i in keep], descriptors[keep]

        self._change(forget)

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
        for face in (face_record(f, image, self.network) for f in detect_faces(image, detector=detector)):
            results.append((face, *self.nearest(embed(image, face, self.network))))
        return results
