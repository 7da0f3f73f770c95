"""Finding faces with dlib's HOG or CNN detector, or MTCNN, as records that :func:`cnnkit.face.embed.embed` aligns.

The pretrained detectors and landmark models are loaded once, on first use, from
:mod:`cnnkit.weights` (fetched into the cache the first time): ``"dlib-hog-face"``,
``"dlib-mmod-face"``, ``"mtcnn"``, ``"dlib-shape-predictor-5"`` and
``"dlib-shape-predictor-68"``. With dlib's detectors the 5 landmarks come from dlib's
5-point model run on dlib's own box: face_recognition's pipeline, whose descriptors
equal dlib's. MTCNN's boxes are mapped to dlib-like ones first
(:func:`cnnkit.face.embed.with_dlib_landmarks`).
"""
import numpy as np

__all__ = ["DETECTORS", "find_faces", "hog_detector", "cnn_detector", "shape_predictor"]

#: The face detectors :func:`find_faces` knows (those of :data:`cnnkit.face.detect.DETECTORS`).
DETECTORS = ("hog", "cnn", "mtcnn", "tiny_yolo")

_loaded = {}


def _load(key, build):
    """The pretrained object ``key``, built on first use and kept."""
    if key not in _loaded:
        _loaded[key] = build()
    return _loaded[key]


def hog_detector():
    """dlib's HOG frontal face detector (:class:`cnnkit.face.dlib_hog.HOGFaceDetector`), loaded once."""
    from cnnkit.face.dlib_hog import HOGFaceDetector

    return _load("hog", HOGFaceDetector.pretrained)


def cnn_detector():
    """dlib's CNN (MMOD) face detector (:class:`cnnkit.face.dlib_cnn.CNNFaceDetector`), loaded once."""
    from cnnkit.face.dlib_cnn import CNNFaceDetector

    return _load("cnn", CNNFaceDetector.pretrained)


def shape_predictor(points=5):
    """dlib's 5-point or 68-point landmark model (:class:`cnnkit.face.landmarks.ShapePredictor`), loaded once."""
    if points == 5:
        from cnnkit.face.embed import default_predictor

        return default_predictor()
    if points == 68:
        from cnnkit import weights
        from cnnkit.face.landmarks import ShapePredictor

        return _load("predictor68", lambda: ShapePredictor(weights.load("dlib-shape-predictor-68")))
    raise ValueError(f"shape_predictor: dlib's landmark models have 5 or 68 points, not {points!r}")


def find_faces(image, detector="hog", upsample=1, min_size=20):
    """Every face in an image, with the 5 dlib landmarks the descriptor is aligned on.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3)
        RGB pixels.
    detector : {"hog", "cnn", "mtcnn", "tiny_yolo"}, default "hog"
        dlib's HOG detector (face_recognition's default), dlib's CNN detector, MTCNN or
        face-api's tiny YOLO.
    upsample : int, default 1
        For dlib's detectors: how many times to double the image first (1 finds faces
        down to about 40 pixels with HOG, 20 with the CNN).
    min_size : float, default 20
        For MTCNN: the smallest face side to look for, in pixels.

    Returns
    -------
    list of dict, by descending score
        ``"box"``: dlib's ``(left, top, right, bottom)`` (ints, right and bottom
        inclusive, possibly outside the image) or MTCNN's ``(x1, y1, x2, y2)``;
        ``"score"``; ``"landmarks"`` (5, 2): dlib's 5 points for dlib's detectors,
        MTCNN's own for MTCNN, dlib's 5 points on the mapped box for tiny YOLO; ``"dlib_landmarks"`` (5, 2) and ``"dlib_box"``: what
        :func:`cnnkit.face.embed.embed` aligns on.
    """
    if detector not in DETECTORS:
        raise ValueError(f"unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"find_faces needs an RGB uint8 image (H, W, 3), got shape {image.shape} and dtype "
                         f"{image.dtype}")
    if detector in ("mtcnn", "tiny_yolo"):
        from cnnkit.face.detect import detect_faces
        from cnnkit.face.embed import with_dlib_landmarks

        options = {"min_size": min_size} if detector == "mtcnn" else {}
        faces = [with_dlib_landmarks(face, image) for face in detect_faces(image, detector, **options)]
        # tiny YOLO finds no landmarks: dlib's 5 points stand in, as for dlib's detectors
        return [face if "landmarks" in face else {**face, "landmarks": face["dlib_landmarks"]} for face in faces]
    found = (hog_detector() if detector == "hog" else cnn_detector()).detect(image, upsample)
    faces = []
    for box, score, *_ in found:
        landmarks = shape_predictor(5).predict(image, box)
        faces.append({"box": tuple(box), "score": float(score), "landmarks": landmarks,
                      "dlib_landmarks": landmarks, "dlib_box": np.array(box, dtype=np.float64)})
    return faces
