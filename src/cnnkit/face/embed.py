"""Face descriptors with dlib's pretrained ResNet: embed a chip, embed a face in a photo, verify two faces.

Faces are found by MTCNN (:mod:`cnnkit.face.mtcnn`) when no landmarks are given.
The network is loaded once, on first use, from the ``"dlib-face-resnet"`` entry of
:mod:`cnnkit.weights` (fetch it with ``cnnkit weights fetch dlib-face-resnet``);
every function also takes an explicit ``network``.
"""
import numpy as np

from cnnkit.face.align import align_face
from cnnkit.face.dlib_resnet import SAME_PERSON_DISTANCE, DlibFaceResNet
from cnnkit.face.mtcnn import detect_faces, dlib_landmarks

__all__ = ["default_network", "embed_chip", "embed", "face_distance", "verify", "detect_face", "with_dlib_landmarks"]

_network = None


def default_network():
    """The pretrained :class:`DlibFaceResNet`, loaded from the weights cache on first call."""
    global _network
    if _network is None:
        _network = DlibFaceResNet.pretrained()
    return _network


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


def detect_face(image, detector=None):
    """The largest face MTCNN finds in ``image`` (a record of :func:`cnnkit.face.mtcnn.detect_faces`).

    The record gains ``"dlib_landmarks"``: the (5, 2) points in dlib's order that align
    the face as MTCNN's landmarks do (:func:`cnnkit.face.mtcnn.dlib_landmarks`).
    Raises a ValueError when the image holds no face.
    """
    faces = detect_faces(image, detector=detector)
    if not faces:
        raise ValueError(f"no face found in the image ({image.shape[1]}x{image.shape[0]}); pass the face's "
                         f"landmarks to skip detection")
    return with_dlib_landmarks(max(faces, key=lambda f: ((f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]),
                                                         f["score"])))


def with_dlib_landmarks(face):
    """A detection record with ``"dlib_landmarks"`` added: what :func:`embed` aligns on."""
    return {**face, "dlib_landmarks": dlib_landmarks(face["landmarks"])}


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
    network : DlibFaceResNet, optional

    Returns
    -------
    ndarray of float32, shape (128,)
    """
    if face is None:
        face = detect_face(image)
    return embed_chip(align_face(image, _landmarks(face)), network)


def face_distance(a, b):
    """Euclidean distance between descriptors (128,) or rows of (N, 128); float or ndarray (N,)."""
    distance = np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), axis=-1)
    return float(distance) if np.ndim(distance) == 0 else distance


def verify(image_a, image_b, threshold=SAME_PERSON_DISTANCE, face_a=None, face_b=None, network=None):
    """One-to-one verification: are the faces in two photos the same person?

    Parameters
    ----------
    image_a, image_b : ndarray of uint8, shape (H, W, 3)
    threshold : float, default 0.6
        dlib's distance below which two faces are the same person.
    face_a, face_b : array_like (5, 2) or face records, optional
        The landmarks of the face in each image (see :func:`embed`); by default
        the largest face MTCNN finds in each.
    network : DlibFaceResNet, optional

    Returns
    -------
    distance : float
        Euclidean distance between the two descriptors.
    same : bool
        ``distance < threshold``.
    """
    distance = face_distance(embed(image_a, face_a, network), embed(image_b, face_b, network))
    return distance, distance < threshold
