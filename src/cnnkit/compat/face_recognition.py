"""face_recognition's API on cnnkit: ``import cnnkit.compat.face_recognition as face_recognition``.

The public functions of ageitgey's face_recognition 1.3 (``face_recognition/api.py``)
with its names, signatures, defaults and return types, computed by cnnkit's ports of
the dlib models it wraps, with no dlib and no compiler:

- ``face_locations(img, number_of_times_to_upsample=1, model="hog")``: dlib's HOG
  detector (boxes equal to dlib's) or ``model="cnn"``, its MMOD CNN; boxes as
  ``(top, right, bottom, left)`` trimmed to the image as face_recognition trims them
  (right and bottom at most the width and height);
- ``batch_face_locations(images, number_of_times_to_upsample=1, batch_size=128)``;
- ``face_landmarks(face_image, face_locations=None, model="large")``: dlib's 68 (or
  with ``"small"``, 5) points, as the same dicts of ``(x, y)`` tuples;
- ``face_encodings(face_image, known_face_locations=None, num_jitters=1, model="small")``:
  dlib's face descriptor (float64 arrays of 128) from the 5-point (or ``"large"``:
  68-point) alignment; ``num_jitters > 1`` averages dlib's random jitters, drawn
  from one generator that lives as long as the module, as face_recognition's does;
- ``compare_faces``, ``face_distance``, ``load_image_file``.

The models are loaded on first use (fetched into cnnkit's weights cache the first
time) rather than at import. The private helpers face_recognition's own tests call
(``_raw_face_locations``, ``_raw_face_landmarks``, ``_raw_face_locations_batched``,
``_rect_to_css``, ``_css_to_rect``, ``_trim_css_to_bounds``) are here too, returning
small stand-ins for dlib's ``rectangle``, ``mmod_rectangle`` and
``full_object_detection``.
"""
import numpy as np
from PIL import ImageFile

from cnnkit.data.images import open_image
from cnnkit.face import locate
from cnnkit.face.align import align_face
from cnnkit.face.dlib_jitter import DlibRand, jitter_image
from cnnkit.face.embed import default_network

__all__ = ["load_image_file", "face_locations", "batch_face_locations", "face_landmarks", "face_encodings",
           "compare_faces", "face_distance"]

_jitter_rng = None


class rectangle:
    """A stand-in for ``dlib.rectangle``: integer (left, top, right, bottom), right and bottom inclusive."""

    def __init__(self, left, top, right, bottom):
        self._ltrb = (int(left), int(top), int(right), int(bottom))

    def left(self):
        return self._ltrb[0]

    def top(self):
        return self._ltrb[1]

    def right(self):
        return self._ltrb[2]

    def bottom(self):
        return self._ltrb[3]

    def width(self):
        return self._ltrb[2] - self._ltrb[0] + 1

    def height(self):
        return self._ltrb[3] - self._ltrb[1] + 1

    def __eq__(self, other):
        return isinstance(other, rectangle) and self._ltrb == other._ltrb

    def __repr__(self):
        left, top, right, bottom = self._ltrb
        return f"[({left}, {top}) ({right}, {bottom})]"


class mmod_rectangle:
    """A stand-in for ``dlib.mmod_rectangle``: ``rect`` and ``confidence``."""

    def __init__(self, rect, confidence):
        self.rect, self.confidence = rect, float(confidence)


class point:
    """A stand-in for ``dlib.point``: integer ``x`` and ``y``."""

    def __init__(self, x, y):
        self.x, self.y = int(x), int(y)


class full_object_detection:
    """A stand-in for ``dlib.full_object_detection``: a box and its landmarks."""

    def __init__(self, rect, points):
        self.rect = rect
        self._points = np.asarray(points, dtype=np.int64)

    @property
    def num_parts(self):
        """How many landmarks (5 or 68)."""
        return len(self._points)

    def part(self, index):
        """Landmark ``index`` as a :class:`point`."""
        return point(*self._points[index])

    def parts(self):
        """Every landmark as a :class:`point`."""
        return [point(x, y) for x, y in self._points]


def _rect_to_css(rect):
    """A rectangle as a (top, right, bottom, left) tuple."""
    return rect.top(), rect.right(), rect.bottom(), rect.left()


def _css_to_rect(css):
    """A (top, right, bottom, left) tuple as a rectangle."""
    return rectangle(css[3], css[0], css[1], css[2])


def _trim_css_to_bounds(css, image_shape):
    """A (top, right, bottom, left) tuple clipped to an image of ``image_shape``, as face_recognition clips it."""
    return max(css[0], 0), min(css[1], image_shape[1]), min(css[2], image_shape[0]), max(css[3], 0)


def face_distance(face_encodings, face_to_compare):
    """Euclidean distance from each known encoding to one encoding.

    Parameters
    ----------
    face_encodings : sequence of array (128,) or ndarray (N, 128)
    face_to_compare : array (128,)

    Returns
    -------
    ndarray (N,)
        Empty for no encodings.
    """
    if len(face_encodings) == 0:
        return np.empty((0))
    return np.linalg.norm(face_encodings - face_to_compare, axis=1)


def load_image_file(file, mode="RGB"):
    """An image file (.jpg, .png, ...) as a numpy array, as face_recognition reads it.

    Parameters
    ----------
    file : str, os.PathLike or file object
    mode : {"RGB", "L"} or None, default "RGB"
        Pillow mode to convert to; None keeps the file's.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3) for "RGB" or (H, W) for "L"
        Pixels as stored (no EXIF rotation), truncated files read as far as they go.
    """
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        im = open_image(file)  # Pillow's reader as face_recognition's, with cnnkit's pixel limit
        if mode:
            im = im.convert(mode)
        return np.array(im)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _raw_face_locations(img, number_of_times_to_upsample=1, model="hog"):
    """dlib's detections: rectangles (HOG) or mmod_rectangles with confidences (``model="cnn"``)."""
    if model == "cnn":
        return [mmod_rectangle(rectangle(*box), score)
                for box, score in locate.cnn_detector().detect(img, number_of_times_to_upsample)]
    return [rectangle(*box) for box, *_ in locate.hog_detector().detect(img, number_of_times_to_upsample)]


def face_locations(img, number_of_times_to_upsample=1, model="hog"):
    """Bounding boxes of the faces in an image.

    Parameters
    ----------
    img : ndarray of uint8, shape (H, W, 3) or (H, W)
    number_of_times_to_upsample : int, default 1
        Doublings of the image before detection; more finds smaller faces.
    model : {"hog", "cnn"}, default "hog"
        dlib's HOG detector (fast) or its CNN (more accurate, slower); any other value
        means "hog".

    Returns
    -------
    list of (top, right, bottom, left) tuples of int
    """
    if model == "cnn":
        return [_trim_css_to_bounds(_rect_to_css(face.rect), img.shape)
                for face in _raw_face_locations(img, number_of_times_to_upsample, "cnn")]
    return [_trim_css_to_bounds(_rect_to_css(face), img.shape)
            for face in _raw_face_locations(img, number_of_times_to_upsample, model)]


def _raw_face_locations_batched(images, number_of_times_to_upsample=1, batch_size=128):
    """dlib's CNN detections of same-size images: one list of mmod_rectangles per image."""
    found = locate.cnn_detector().detect(list(images), number_of_times_to_upsample, batch_size=batch_size)
    return [[mmod_rectangle(rectangle(*box), score) for box, score in dets] for dets in found]


def batch_face_locations(images, number_of_times_to_upsample=1, batch_size=128):
    """Face boxes in a list of same-size images with the CNN detector, run in batches.

    Parameters
    ----------
    images : sequence of ndarray (H, W, 3), all of one size
    number_of_times_to_upsample : int, default 1
    batch_size : int, default 128
        Images per forward pass.

    Returns
    -------
    list of list of (top, right, bottom, left) tuples
    """
    def convert_cnn_detections_to_css(detections):
        return [_trim_css_to_bounds(_rect_to_css(face.rect), images[0].shape) for face in detections]

    return list(map(convert_cnn_detections_to_css,
                    _raw_face_locations_batched(images, number_of_times_to_upsample, batch_size)))


def _raw_face_landmarks(face_image, face_locations=None, model="large"):
    """dlib's landmarks of each face: full_object_detections of 68 points (5 with ``model="small"``)."""
    if face_locations is None:
        rects = _raw_face_locations(face_image)
    else:
        rects = [_css_to_rect(face_location) for face_location in face_locations]
    predictor = locate.shape_predictor(5 if model == "small" else 68)
    return [full_object_detection(rect, predictor.predict(face_image, (rect.left(), rect.top(), rect.right(),
                                                                       rect.bottom())))
            for rect in rects]


def face_landmarks(face_image, face_locations=None, model="large"):
    """The facial features (eyes, nose, lips, ...) of each face, as dicts of point lists.

    Parameters
    ----------
    face_image : ndarray of uint8, shape (H, W, 3) or (H, W)
    face_locations : list of (top, right, bottom, left), optional
        By default the faces the HOG detector finds (upsampling once).
    model : {"large", "small"}, default "large"
        68 points (chin, eyebrows, nose bridge and tip, eyes, lips) or dlib's 5.

    Returns
    -------
    list of dict of str -> list of (x, y) tuples of int
    """
    landmarks = _raw_face_landmarks(face_image, face_locations, model)
    landmarks_as_tuples = [[(p.x, p.y) for p in landmark.parts()] for landmark in landmarks]
    if model == "large":
        return [{
            "chin": points[0:17],
            "left_eyebrow": points[17:22],
            "right_eyebrow": points[22:27],
            "nose_bridge": points[27:31],
            "nose_tip": points[31:36],
            "left_eye": points[36:42],
            "right_eye": points[42:48],
            "top_lip": points[48:55] + [points[64]] + [points[63]] + [points[62]] + [points[61]] + [points[60]],
            "bottom_lip": points[54:60] + [points[48]] + [points[60]] + [points[67]] + [points[66]] + [points[65]]
            + [points[64]],
        } for points in landmarks_as_tuples]
    if model == "small":
        return [{"nose_tip": [points[4]], "left_eye": points[2:4], "right_eye": points[0:2]}
                for points in landmarks_as_tuples]
    raise ValueError("Invalid landmarks model type. Supported models are ['small', 'large'].")


def _descriptor(face_image, landmarks, num_jitters):
    """dlib's ``compute_face_descriptor(img, shape, num_jitters)``: a float64 (128,) descriptor."""
    global _jitter_rng
    network = default_network()
    chip = align_face(face_image, landmarks)
    if num_jitters <= 1:
        return network.embed_chips(chip).astype(np.float64)
    if _jitter_rng is None:
        _jitter_rng = DlibRand()
    descriptors = network.embed_chips(np.stack([jitter_image(chip, _jitter_rng) for _ in range(num_jitters)]))
    total = descriptors[0].copy()
    for row in descriptors[1:]:
        total += row
    return (total / np.float32(num_jitters)).astype(np.float64)


def face_encodings(face_image, known_face_locations=None, num_jitters=1, model="small"):
    """The 128-dimensional encoding of each face in an image.

    Parameters
    ----------
    face_image : ndarray of uint8, shape (H, W, 3)
    known_face_locations : list of (top, right, bottom, left), optional
        By default the faces the HOG detector finds (upsampling once).
    num_jitters : int, default 1
        Re-samplings of each face to average (100 is 100 times slower).
    model : {"small", "large"}, default "small"
        Align on dlib's 5 landmarks or its 68.

    Returns
    -------
    list of ndarray of float64, shape (128,)
    """
    raw_landmarks = _raw_face_landmarks(face_image, known_face_locations, model)
    return [_descriptor(face_image, landmark._points, num_jitters) for landmark in raw_landmarks]


def compare_faces(known_face_encodings, face_encoding_to_check, tolerance=0.6):
    """Which known encodings match an encoding (distance at most ``tolerance``).

    Parameters
    ----------
    known_face_encodings : sequence of array (128,)
    face_encoding_to_check : array (128,)
    tolerance : float, default 0.6
        Lower is stricter; 0.6 is dlib's threshold.

    Returns
    -------
    list of bool
    """
    return list(face_distance(known_face_encodings, face_encoding_to_check) <= tolerance)
