"""YOLO-format labels: one ``.txt`` per image, one object per line ``class cx cy w h``, normalised to [0, 1].

A folder of labelled images is laid out as ``root/images/NAME.jpg`` (or .png,
.bmp...) with ``root/labels/NAME.txt``; an image without a label file has no
objects, as in Darknet and Ultralytics.
"""
import os
import pathlib
import tempfile

import numpy as np

from cnnkit.detection.boxes import xywh_to_xyxy
from cnnkit.utils import natural_key

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: The class indices accepted when no class count is known (no classes.txt): a detector's
#: output layer grows with the class count, so a stray 999999999 must not size one.
MAX_CLASSES_WITHOUT_NAMES = 1000


def read_yolo_labels(path, num_classes=None, names_file=None):
    """Read one YOLO label file.

    Parameters
    ----------
    path : str or path-like
        A text file of lines ``class cx cy w h``; blank lines are skipped.
    num_classes : int, optional
        Refuse a class index from this on (checked line by line, before any array
        is sized from the classes). By default only ``MAX_CLASSES_WITHOUT_NAMES`` is.
    names_file : str or path-like, optional
        Where ``num_classes`` comes from, named in the error (``classes.txt``).

    Returns
    -------
    classes : ndarray of int64, shape (M,)
    boxes : ndarray of float32, shape (M, 4)
        ``(cx, cy, w, h)`` as fractions of the image width and height.

    Raises
    ------
    ValueError
        For a line without exactly five fields, a class that is not a
        non-negative integer below the class count, a coordinate that is not a
        number in [0, 1], or a file that is not UTF-8 text; the message names the
        file and the line number (from 1).
    """
    limit = MAX_CLASSES_WITHOUT_NAMES if num_classes is None else num_classes
    classes, boxes = [], []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                fields = line.split()
                if not fields:
                    continue
                classes.append(_parse_class(fields, path, number, limit, num_classes is None, names_file))
                boxes.append(_parse_box(fields, path, number))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from None
    return np.asarray(classes, dtype=np.int64), np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def _parse_class(fields, path, number, limit, unnamed, names_file):
    """The class index of a label line, checked against the class count ``limit``."""
    if len(fields) != 5:
        raise ValueError(f"{path}, line {number}: expected 5 fields 'class cx cy w h', got {len(fields)}: "
                         f"{' '.join(fields)[:80]!r}")
    text = fields[0]
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{path}, line {number}: the class must be a non-negative integer, got {text[:20]!r}")
    # compared as text first: int() of thousands of digits is slow and then refused by Python itself
    if len(text.lstrip("0")) > len(str(limit)) or int(text) >= limit:
        where = (f"the {limit} classes allowed without a classes.txt (name the classes, one a line, in "
                 f"classes.txt next to images/)" if unnamed else
                 f"the {limit} classes" + (f" named in {names_file}" if names_file else ""))
        raise ValueError(f"{path}, line {number}: class {text[:20]} is not below {where}")
    return int(text)


def _parse_box(fields, path, number):
    """The four normalised coordinates of a label line, checked."""
    try:
        values = [float(v) for v in fields[1:]]
    except ValueError:
        raise ValueError(f"{path}, line {number}: coordinates must be numbers, got {fields[1:]}") from None
    if not all(0.0 <= v <= 1.0 for v in values):  # also rejects NaN
        raise ValueError(f"{path}, line {number}: coordinates must be in [0, 1], got {fields[1:]}")
    return values


def write_yolo_labels(path, classes, boxes):
    """Write one YOLO label file atomically (a temporary file renamed over ``path``).

    Parameters
    ----------
    path : str or path-like
    classes : array_like of int, shape (M,)
        Non-negative class indices.
    boxes : array_like, shape (M, 4)
        ``(cx, cy, w, h)`` normalised to [0, 1]; written as float32 in the
        shortest text that reads back to the same float32.
    """
    classes = np.asarray(classes).reshape(-1)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if len(classes) != len(boxes):
        raise ValueError(f"{len(classes)} classes for {len(boxes)} boxes")
    if classes.dtype.kind not in "iu" or (classes < 0).any():
        raise ValueError(f"classes must be non-negative integers, got {classes.tolist()}")
    outside = ~((boxes >= 0) & (boxes <= 1)).all(axis=1)
    if outside.any():
        raise ValueError(f"boxes must be normalised to [0, 1]; rows {np.flatnonzero(outside).tolist()} are not")
    lines = "".join(f"{c} " + " ".join(np.format_float_positional(v, unique=True, trim="-") for v in box) + "\n"
                    for c, box in zip(classes.tolist(), boxes))
    path = pathlib.Path(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(lines)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


class YoloFolder:
    """A detection dataset in a YOLO-format folder: ``root/images/*`` and ``root/labels/*.txt``.

    Parameters
    ----------
    root : str or path-like
        The folder holding ``images/``, ``labels/`` and optionally ``classes.txt``
        (the class names, one a line).

    Indexing gives ``(image, boxes, classes)``: the image as float32 (H, W, 3)
    in [0, 1], corner boxes ``(x1, y1, x2, y2)`` (M, 4) in pixels (float32),
    and int64 classes (M,). Images are listed in natural file-name order.
    ``class_names`` is the list of ``classes.txt``, or None without one; class
    indices are checked against its length (else against
    ``MAX_CLASSES_WITHOUT_NAMES``) as each label file is read.
    """

    def __init__(self, root):
        self.root = pathlib.Path(root)
        images = self.root / "images"
        if not images.is_dir():
            raise ValueError(f"{self.root} has no images/ folder")
        self.image_paths = sorted((p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
        self.class_names = self._read_class_names(self.root / "classes.txt")

    @staticmethod
    def _read_class_names(path):
        """The non-blank lines of ``classes.txt``, or None when there is none."""
        if not path.exists():
            return None
        try:
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from None
        if not names:
            raise ValueError(f"{path} names no class")
        return names

    def __len__(self):
        return len(self.image_paths)

    def label_path(self, index):
        """The label file of image ``index`` (it may not exist)."""
        return self.root / "labels" / (self.image_paths[index].stem + ".txt")

    def __getitem__(self, index):
        from cnnkit.data import load_image

        pixels = load_image(self.image_paths[index])
        height, width = pixels.shape[:2]
        label_path = self.label_path(index)
        if label_path.exists():
            count = None if self.class_names is None else len(self.class_names)
            classes, boxes = read_yolo_labels(label_path, count, self.root / "classes.txt")
        else:
            classes, boxes = np.zeros(0, dtype=np.int64), np.zeros((0, 4), dtype=np.float32)
        boxes = xywh_to_xyxy(boxes) * np.asarray([width, height, width, height], dtype=np.float32)
        return pixels, boxes, classes
