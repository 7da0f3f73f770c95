"""Face descriptors with dlib's pretrained ResNet: embed a chip, embed a face in a photo, verify two faces.

Faces are found by MTCNN (:mod:`cnnkit.face.mtcnn`) when no landmarks are given, and
aligned as dlib aligns them: on the landmarks of dlib's 5-point shape predictor
(:mod:`cnnkit.face.landmarks`, weights ``"dlib-shape-predictor-5"``), run from a dlib-like
box derived from MTCNN's box. On the named_faces photos this puts descriptors 0.02-0.09
from dlib's own pipeline (dlib's own descriptors move as much when its box moves by 2%),
against 0.12-0.21 when aligning on MTCNN's 5 points mapped to dlib's template.
The networks are loaded once, on first use, from :mod:`cnnkit.weights` (fetched into the
cache the first time, or ahead with ``cnnkit weights fetch dlib-face-resnet dlib-shape-predictor-5``); every
function also takes an explicit ``network``: dlib's ResNet (or any network with
``embed_chips``, fed dlib's aligned chips) or an embedding that frames faces itself, such
as :class:`cnnkit.face.embedders.TrainedEmbedding` (it has ``embed_face(image, face)``).
"""

import numpy as np

from cnnkit.face.align import align_face
from cnnkit.face.landmarks import ShapePredictor, dlib_box_from_mtcnn
from cnnkit.face.mtcnn import detect_faces
from cnnkit.models.dlib_resnet import SAME_PERSON_DISTANCE, DlibFaceResNet

__all__ = ["default_network", "default_predictor", "embed_chip", "embed", "face_distance", "verify", "detect_face",
           "with_dlib_landmarks", "face_record", "same_person_distance"]

_network = None
_predictor = None


def default_network():
    """The pretrained :class:`DlibFaceResNet`, loaded from the weights cache on first call."""
    global _network
    if _network is None:
        _network = DlibFaceResNet.pretrained()
    return _network


def default_predictor():
    """dlib's 5-point :class:`ShapePredictor`, loaded from the weights cache on first call."""
    global _predictor
    if _predictor is None:
        _predictor = ShapePredictor.pretrained()
    return _predictor


def embed_chip(chip, network=None):
    """The 128-d descriptor of an aligned 150x150 face chip.

    Parameters
    ----------
    chip : ndarray of uint8, shape (150, 150, 3) or (N, 150, 150, 3)
        RGB chips as :func:`cnnkit.face.align.align_face` (or dlib's
        ``get_face_chip(img, shape, 150, 0.25)``) makes them.
    network : DlibFaceResNet, optional
        The pretrained network by default.

    Returns
    -------
    ndarray of float32, shape (128,) or (N, 128)
        Not normalised; the same person when two descriptors are closer than 0.6.
    """
    return (network or default_network()).embed_chips(chip)


def _frames_itself(network):
    """Whether ``network`` embeds a face from the photo and its box (not from dlib's aligned chip)."""
    return hasattr(network, "embed_face")


def detect_face(image, detector=None, network=None):
    """The largest face MTCNN finds in ``image`` (a record of :func:`cnnkit.face.mtcnn.detect_faces`).

    For dlib's ResNet (``network`` None or with ``embed_chips``) the record gains
    ``"dlib_landmarks"``, the (5, 2) points in dlib's order that :func:`embed`
    aligns on, and ``"dlib_box"`` (see :func:`with_dlib_landmarks`); an embedding
    that frames faces itself needs only the box. Raises a ValueError when the image
    holds no face.
    """
    faces = detect_faces(image, detector=detector)
    if not faces:
        raise ValueError(f"no face found in the image ({image.shape[1]}x{image.shape[0]}); pass the face's "
                         f"landmarks to skip detection")
    largest = max(faces, key=lambda f: ((f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]), f["score"]))
    return face_record(largest, image, network)


def face_record(face, image, network=None):
    """An MTCNN detection ready for ``network``: with dlib's landmarks for dlib's ResNet, as it is otherwise."""
    return face if _frames_itself(network) else with_dlib_landmarks(face, image)


def with_dlib_landmarks(face, image, predictor=None):
    """An MTCNN detection record with ``"dlib_landmarks"`` added: what :func:`embed` aligns on.

    Parameters
    ----------
    face : dict
        A record of :func:`cnnkit.face.mtcnn.detect_faces` (``"box"``, ``"landmarks"``).
    image : ndarray of uint8, shape (H, W, 3)
        The photo the face was found in. The landmarks are those of dlib's 5-point
        shape predictor run on it from :func:`cnnkit.face.landmarks.dlib_box_from_mtcnn`
        (also stored as ``"dlib_box"``).
    predictor : ShapePredictor, optional
        :func:`default_predictor` by default.
    """
    box = dlib_box_from_mtcnn(face["box"])
    return {**face, "dlib_landmarks": (predictor or default_predictor()).predict(image, box), "dlib_box": box}


def _landmarks(face):
    """The (5, 2) dlib-order landmarks of ``face``: an array, or a mapping/object with ``landmarks``."""
    if isinstance(face, dict):
        face = face["dlib_landmarks"] if "dlib_landmarks" in face else face["landmarks"]
    elif hasattr(face, "landmarks"):
        face = face.landmarks
    landmarks = np.asarray(face, dtype=np.float64)
    if landmarks.shape != (5, 2):
        raise ValueError(f"a face needs 5 landmarks (x, y), shape (5, 2), got shape {landmarks.shape}")
    return landmarks


def embed(image, face=None, network=None):
    """The descriptor of one face in a photo: dlib's alignment, then the ResNet.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3)
        RGB pixels.
    face : array_like (5, 2), or a mapping or object with ``landmarks``, optional
        The face's 5 landmarks (x, y) in dlib's ``shape_predictor_5_face_landmarks``
        order: outer and inner corner of the image's right eye, outer and inner
        corner of the image's left eye, below the nose. A record with
        ``"dlib_landmarks"`` (from :func:`detect_face`) is aligned on those. None:
        the largest face MTCNN finds (:func:`detect_face`); a ValueError when there is none.
    network : DlibFaceResNet or TrainedEmbedding, optional
        dlib's ResNet by default; an embedding with ``embed_face`` frames the face
        by its detection box instead (``face`` must then be a detection record).

    Returns
    -------
    ndarray of float32, shape (128,) (D for another embedding)
    """
    if face is None:
        face = detect_face(image, network=network)
    if _frames_itself(network):
        return network.embed_face(image, face)
    return embed_chip(align_face(image, _landmarks(face)), network)


def face_distance(a, b):
    """Euclidean distance between descriptors (128,) or rows of (N, 128); float or ndarray (N,)."""
    distance = np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), axis=-1)
    return float(distance) if np.ndim(distance) == 0 else distance


def same_person_distance(network=None):
    """The distance below which ``network``'s embeddings are one person: its ``threshold``, else dlib's 0.6."""
    return float(getattr(network, "threshold", SAME_PERSON_DISTANCE))


def verify(image_a, image_b, threshold=None, face_a=None, face_b=None, network=None):
    """One-to-one verification: are the faces in two photos the same person?

    Parameters
    ----------
    image_a, image_b : ndarray of uint8, shape (H, W, 3)
    threshold : float, optional
        The distance below which two faces are the same person: dlib's 0.6, or
        the ``threshold`` a trained embedding carries.
    face_a, face_b : array_like (5, 2) or face records, optional
        The landmarks of the face in each image (see :func:`embed`); by default
        the largest face MTCNN finds in each.
    network : DlibFaceResNet or TrainedEmbedding, optional

    Returns
    -------
    distance : float
        Euclidean distance between the two descriptors.
    same : bool
        ``distance < threshold``.
    """
    threshold = same_person_distance(network) if threshold is None else threshold
    distance = face_distance(embed(image_a, face_a, network), embed(image_b, face_b, network))
    return distance, distance < threshold
