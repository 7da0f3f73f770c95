"""``cnnkit face recognize`` and ``cnnkit face locate``: face_recognition's two command-line tools.

``recognize KNOWN_FOLDER IMAGE_OR_FOLDER`` prints face_recognition's lines: for each face
found, ``path,name`` for every known person within the tolerance (``path,name,distance``
with ``--show-distance``), or ``path,unknown_person``; ``path,no_persons_found`` for an
image without faces. The known people are named by their files (``obama.jpg`` ->
``obama``; the first face of each). ``locate IMAGE_OR_FOLDER`` prints
``path,top,right,bottom,left`` for every face, as face_recognition's ``face_detection``.
Images larger than 1600 pixels are shrunk to fit 1600x1600 first, as face_recognition does.
"""
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

_IMAGE_NAME = re.compile(r".*\.(jpg|jpeg|png)", flags=re.I)
_MAX_SIDE = 1600


def register(subparsers):
    """Add ``recognize`` and ``locate`` to the ``cnnkit face`` subcommands."""
    r = subparsers.add_parser("recognize", help="name the faces in images from a folder of known people "
                                                "(face_recognition's CLI)")
    r.add_argument("known_folder", help="one photo per known person, named after them (obama.jpg)")
    r.add_argument("image", help="an image or a folder of images")
    r.add_argument("--tolerance", type=float, default=0.6, help="same person up to this distance (default 0.6)")
    r.add_argument("--show-distance", nargs="?", const=True, default=False, type=_flag, metavar="BOOL",
                   help="also print the distance")
    r.add_argument("--model", choices=("hog", "cnn"), default="hog", help="face detector (default hog)")
    r.add_argument("--cpus", type=int, default=1, help="processes for a folder; -1 means all cores")
    r.set_defaults(func=run_recognize)

    lo = subparsers.add_parser("locate", help="print the face boxes of images (face_recognition's face_detection)")
    lo.add_argument("image", help="an image or a folder of images")
    lo.add_argument("--model", choices=("hog", "cnn"), default="hog", help="face detector (default hog)")
    lo.add_argument("--upsample", type=int, default=0, help="doublings of the image before detection (default 0)")
    lo.add_argument("--cpus", type=int, default=1, help="processes for a folder; -1 means all cores")
    lo.set_defaults(func=run_locate)


def _flag(text):
    """A command-line boolean: 1/0, true/false, yes/no."""
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "y", "on"):
        return True
    if value in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError(f"--show-distance: expected a boolean (1/0, true/false), got {text!r}")


def image_files_in_folder(folder):
    """The .jpg, .jpeg and .png files of a folder, sorted."""
    return [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if _IMAGE_NAME.match(f)]


def _images(path):
    """``path`` itself, or the images of the folder ``path``; a ValueError if it does not exist."""
    if os.path.isdir(path):
        return image_files_in_folder(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such image or folder")
    return [path]


def _load(path):
    """An image file as face_recognition reads it, naming the file on failure."""
    from PIL import UnidentifiedImageError

    from cnnkit.compat import face_recognition

    try:
        return face_recognition.load_image_file(path)
    except (OSError, UnidentifiedImageError) as exc:
        raise ValueError(f"{path}: cannot read the image ({exc})") from None


def _encodings(image, model):
    """face_recognition's encodings of every face, found by the HOG (its default) or the CNN detector."""
    from cnnkit.compat import face_recognition

    if model == "hog":
        return face_recognition.face_encodings(image)
    return face_recognition.face_encodings(image, face_recognition.face_locations(image, model="cnn"))


def scan_known_people(folder, model):
    """(names, encodings) of the first face in each image of ``folder``; warnings on stderr."""
    if not os.path.isdir(folder):
        raise ValueError(f"{folder}: the known people must be a folder of images")
    names, encodings = [], []
    for path in image_files_in_folder(folder):
        found = _encodings(_load(path), model)
        if len(found) > 1:
            print(f"WARNING: More than one face found in {path}. Only considering the first face.", file=sys.stderr)
        if not found:
            print(f"WARNING: No faces found in {path}. Ignoring file.", file=sys.stderr)
        else:
            names.append(os.path.splitext(os.path.basename(path))[0])
            encodings.append(found[0])
    return names, encodings


def _shrunk(image):
    """Images over 1600 pixels fitted into 1600x1600 with Lanczos, as face_recognition's CLI does."""
    import numpy as np
    from PIL import Image

    if max(image.shape) <= _MAX_SIDE:
        return image
    picture = Image.fromarray(image)
    picture.thumbnail((_MAX_SIDE, _MAX_SIDE), Image.LANCZOS)
    return np.array(picture)


def recognize_image(path, names, known, tolerance, show_distance, model):
    """face_recognition's output lines for one image."""
    from cnnkit.compat import face_recognition

    def line(name, distance):
        return f"{path},{name},{distance}" if show_distance else f"{path},{name}"

    lines = []
    encodings = _encodings(_shrunk(_load(path)), model)
    for encoding in encodings:
        distances = face_recognition.face_distance(known, encoding)
        matches = list(distances <= tolerance)
        if True in matches:
            lines += [line(name, distance) for match, name, distance in zip(matches, names, distances) if match]
        else:
            lines.append(line("unknown_person", None))
    if not encodings:
        lines.append(line("no_persons_found", None))
    return lines


def locate_image(path, model, upsample):
    """``path,top,right,bottom,left`` for every face of one image."""
    from cnnkit.compat import face_recognition

    image = _load(path)
    return [f"{path},{top},{right},{bottom},{left}"
            for top, right, bottom, left in face_recognition.face_locations(image, upsample, model)]


def _run_all(task, paths, cpus, *args):
    """``task(path, *args)`` for every path, in worker processes when ``cpus`` is not 1; lines in input order."""
    if cpus == 1 or len(paths) < 2:
        return [task(path, *args) for path in paths]
    workers = None if cpus == -1 else cpus
    if workers is not None and workers < 1:
        raise ValueError(f"--cpus must be -1 (all cores) or at least 1, got {cpus}")
    # fork shares the loaded models with the workers instead of loading them again.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        return list(pool.map(task, paths, *[[a] * len(paths) for a in args]))


def run_recognize(args):
    """Name the faces of an image or a folder of images from the known people."""
    paths = _images(args.image)
    names, known = scan_known_people(args.known_folder, args.model)
    for lines in _run_all(recognize_image, paths, args.cpus, names, known, args.tolerance, args.show_distance,
                          args.model):
        for text in lines:
            print(text)
    return 0


def run_locate(args):
    """Print the face boxes of an image or a folder of images."""
    if args.upsample < 0:
        raise ValueError(f"--upsample must be >= 0, got {args.upsample}")
    for lines in _run_all(locate_image, _images(args.image), args.cpus, args.model, args.upsample):
        for text in lines:
            print(text)
    return 0
