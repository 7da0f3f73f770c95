"""One entry point for every face detector: ``detect_faces(image, detector=...)``."""
from cnnkit.face import mtcnn, tiny_yolo

__all__ = ["DETECTORS", "detect_faces"]

#: The detectors by name: MTCNN (boxes, scores, 5 landmarks), face-api's tiny YOLO (boxes, scores), and dlib's
#: HOG and CNN detectors (boxes, scores, dlib's 5 landmarks).
DETECTORS = ("mtcnn", "tiny_yolo", "hog", "cnn")


def detect_faces(image, detector="mtcnn", **options):
    """Find faces in an RGB image with the detector of your choice.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3)
        RGB pixels.
    detector : str or detector object, default "mtcnn"
        ``"mtcnn"`` (:func:`cnnkit.face.mtcnn.detect_faces`) or ``"tiny_yolo"``
        (:func:`cnnkit.face.tiny_yolo.detect_faces_tiny_yolo`, face-api.js's tiny face
        detector), ``"hog"`` or ``"cnn"`` (dlib's detectors with its 5 landmarks,
        :func:`cnnkit.face.locate.find_faces`), or a
        :class:`~cnnkit.face.tiny_yolo.TinyYoloFaceDetector` to use as it
        is, or any other object with MTCNN's method ``detect(image, min_size, thresholds,
        factor)``, such as an :class:`~cnnkit.face.mtcnn.MTCNN`.
    **options
        Passed to that detector's function (``min_size`` and ``thresholds`` for MTCNN;
        ``score_threshold``, ``iou_threshold`` and ``input_size`` for tiny YOLO;
        ``upsample`` for dlib's).

    Returns
    -------
    list of dict, by descending score
        Every record has ``"box"``, ``(x1, y1, x2, y2)`` floats in pixels clipped to the
        image, and ``"score"``; MTCNN's also have ``"landmarks"`` (5, 2).

    Raises
    ------
    ValueError
        For an unknown detector name (the message lists the known ones).
    """
    if isinstance(detector, tiny_yolo.TinyYoloFaceDetector):
        return tiny_yolo.detect_faces_tiny_yolo(image, detector=detector, **options)
    if not isinstance(detector, str) and callable(getattr(detector, "detect", None)):
        return mtcnn.detect_faces(image, detector=detector, **options)
    if detector == "mtcnn":
        return mtcnn.detect_faces(image, **options)
    if detector == "tiny_yolo":
        return tiny_yolo.detect_faces_tiny_yolo(image, **options)
    if detector in ("hog", "cnn"):
        from cnnkit.face.locate import find_faces

        return find_faces(image, detector, **options)
    raise ValueError(f"unknown face detector {detector!r}; known: {', '.join(DETECTORS)}")
