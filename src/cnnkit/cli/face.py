"""``cnnkit face``: detect faces, verify two photos, enrol people in a face database and identify them.

Faces are found by dlib's HOG detector (``--detector hog``, the default), dlib's CNN
detector (``cnn``), MTCNN (``mtcnn``) or face-api's tiny YOLO (``tiny_yolo``); descriptors
are dlib's face ResNet, or with ``--embedding RUN`` the Siamese embedding that ``face
train`` trains on the AT&T faces from scratch into a run folder (``runs/face/<name>/``).
The weights are fetched into the cache on first use. ``face recognize`` and ``face
locate`` are face_recognition's command-line tools (:mod:`cnnkit.cli.face_recognize`).
"""
import json
import sys

from cnnkit.cli import face_index, face_recognize
from cnnkit.cli._args import at_least, positive
from cnnkit.cli._runs import open_run

TRAIN_ARGS = ("root", "epochs", "seed")
DEFAULT_EPOCHS = 40
#: The face detector of detect, verify, enroll and identify (see ``--detector``).
DEFAULT_DETECTOR = "hog"


def register(subparsers):
    """Add the face subcommand and its own subcommands."""
    p = subparsers.add_parser("face", help="face detection, verification and recognition")
    sub = p.add_subparsers(dest="face_command", metavar="ACTION")

    d = sub.add_parser("detect", help="find faces and 5 landmarks (JSON on stdout)")
    d.add_argument("image")
    d.add_argument("-o", "--output", default=None, help="also draw the boxes and landmarks into this PNG")
    d.add_argument("--min-size", type=positive, default=20,
                   help="mtcnn: smallest face side to find, pixels (default 20)")
    _detector_options(d)
    d.set_defaults(func=run_detect)

    v = sub.add_parser("verify", help="are the largest faces of two photos the same person?")
    v.add_argument("image_a")
    v.add_argument("image_b")
    v.add_argument("--threshold", type=positive, default=None,
                   help="same person below this distance (default 0.6 for dlib, the embedding's own with --embedding)")
    _embedding_option(v)
    _detector_options(v)
    v.set_defaults(func=run_verify)

    e = sub.add_parser("enroll", help="add a person to a face database (the largest face of each photo)")
    e.add_argument("name")
    e.add_argument("images", nargs="+")
    e.add_argument("--db", required=True, help="the database folder (created if missing)")
    _embedding_option(e)
    _detector_options(e)
    e.set_defaults(func=run_enroll)

    i = sub.add_parser("identify", help="name every face in a photo from a face database")
    i.add_argument("image")
    i.add_argument("--db", required=True, help="the database folder")
    _embedding_option(i)
    _detector_options(i)
    i.set_defaults(func=run_identify)

    t = sub.add_parser("train", help="train the triplet (Siamese) embedding on the AT&T faces from scratch "
                                     "into a run folder")
    t.add_argument("--root", default=None,
                   help="an att_faces folder (s1 ... s40); default: the copy shipped with cnnkit")
    t.add_argument("--epochs", type=at_least(1), default=None, help=f"default {DEFAULT_EPOCHS}")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--project", default="runs", help="the folder of run folders (default runs)")
    t.add_argument("--name", default="att", help="the run's name (default att; numbered if taken)")
    t.add_argument("--out", default=None, help="the run folder itself (instead of --project/face/--name)")
    t.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its weights/last.safetensors; --epochs may raise the epochs")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run_train)
    face_recognize.register(sub)
    face_index.register(sub)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _detector_options(parser, default=None):
    """``--detector`` and ``--upsample`` for the commands that find faces (``default``: :data:`DEFAULT_DETECTOR`)."""
    from cnnkit.face.locate import DETECTORS

    default = default or DEFAULT_DETECTOR
    parser.add_argument("--detector", choices=DETECTORS, default=default,
                        help=f"dlib's HOG or CNN face detector, MTCNN or face-api's tiny YOLO (default {default})")
    parser.add_argument("--upsample", type=at_least(0), default=1,
                        help="hog/cnn: doublings of the image before detection (default 1)")


def _find(image, args):
    """Every face of an image with the chosen detector (records of :func:`cnnkit.face.locate.find_faces`)."""
    from cnnkit.face.locate import find_faces

    return find_faces(image, args.detector, args.upsample, min_size=getattr(args, "min_size", 20))


def _embedding_option(parser):
    """``--embedding RUN_OR_FILE``: a Siamese embedding from ``cnnkit face train`` instead of dlib's ResNet."""
    parser.add_argument("--embedding", default=None, metavar="RUN_OR_FILE",
                        help="embed with what `cnnkit face train` wrote (a run folder or its weights/*.safetensors) "
                             "instead of dlib's ResNet")


def _network(args):
    """The embedding ``--embedding`` names (None: dlib's ResNet)."""
    if args.embedding is None:
        return None
    from cnnkit.face.embedders import load_embedding

    return load_embedding(args.embedding)


def _read(path):
    """An image file as RGB uint8 (H, W, 3), as MTCNN and dlib read pictures."""
    import numpy as np

    from cnnkit.data.images import load_image

    return load_image(path, dtype=np.uint8)


def _faces_json(faces):
    """Detection records as JSON-ready dicts (boxes and landmarks rounded to 0.1 pixel)."""
    return [{"box": [round(v, 1) for v in face["box"]], "score": round(face["score"], 4),
             "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in face["landmarks"]]}
            for face in faces]


def _draw(path, image, faces, detector, labels=None):
    """Save ``image`` with each face's box, label and landmarks drawn, one colour per label (identity)."""
    import numpy as np
    from PIL import Image, ImageDraw

    from cnnkit.viz.boxes import colour_for, draw_detections
    from cnnkit.viz.images import save_image

    labels = labels or ["face"] * len(faces)
    names = sorted(set(labels))
    boxes = [face["box"] for face in faces]
    scores = [face["score"] for face in faces]
    picture = Image.fromarray(draw_detections(image, boxes, scores, [names.index(n) for n in labels], names,
                                              colour_by="name"))
    draw = ImageDraw.Draw(picture)
    radius = max(2, min(picture.size) // 200)
    for face, label in zip(faces, labels):
        for x, y in face["landmarks"]:
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour_for(label),
                         outline=(0, 0, 0), width=max(1, radius // 3))
    save_image(path, np.asarray(picture), title=f"{len(faces)} face(s) found by the {detector} detector, with their "
                                                f"landmarks")


def run_detect(args):
    """Detect, print the faces as JSON, optionally draw them."""
    image = _read(args.image)
    faces = _find(image, args)
    # one face per line: a valid JSON list that stays readable
    print("[" + ",\n ".join(json.dumps(face) for face in _faces_json(faces)) + "]")
    if not faces:
        print(f"no face found in {args.image}", file=sys.stderr)
    if args.output:
        _draw(args.output, image, faces, args.detector)
        # stdout holds the JSON, so that it stays parseable
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _largest_face(path, image, args):
    """The largest face of an image, or a ValueError naming the file when there is none."""
    faces = _find(image, args)
    if not faces:
        raise ValueError(f"{path}: no face found in the image ({image.shape[1]}x{image.shape[0]}, detector "
                         f"{args.detector})")
    return max(faces, key=lambda f: ((f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]), f["score"]))


def run_verify(args):
    """Print the distance between the two largest faces and the verdict."""
    from cnnkit.face.embed import same_person_distance, verify

    network = _network(args)
    threshold = same_person_distance(network) if args.threshold is None else args.threshold
    image_a, image_b = _read(args.image_a), _read(args.image_b)
    face_a, face_b = _largest_face(args.image_a, image_a, args), _largest_face(args.image_b, image_b, args)
    distance, same = verify(image_a, image_b, threshold, face_a, face_b, network)
    print(f"distance {distance:.4f}: {'same person' if same else 'different people'} (threshold {threshold:g})")
    return 0


def run_enroll(args):
    """Embed the largest face of every image, then store them all at once under the name."""
    from cnnkit.face.database import FaceDatabase

    network = _network(args)
    db = FaceDatabase(args.db, network=network)
    images = [_read(path) for path in args.images]
    faces = [_largest_face(path, image, args) for path, image in zip(args.images, images)]
    db.enroll(args.name, images, faces)
    print(f"enrolled {args.name!r} from {len(images)} image(s); {args.db} holds {len(db.names())} people")
    return 0


def run_identify(args):
    """Name every face in the image (``unknown`` beyond the database's threshold)."""
    from cnnkit.face.database import FaceDatabase
    from cnnkit.face.embed import embed

    db = FaceDatabase(args.db, network=_network(args))
    if not len(db):
        raise ValueError(f"the face database {args.db} is empty; enrol people with `cnnkit face enroll` first")
    image = _read(args.image)
    results = [(face, *db.nearest(embed(image, face, db.network))) for face in _find(image, args)]
    if not results:
        print(f"no face found in {args.image}")
        return 1
    for face, name, distance in results:
        box = ", ".join(f"{v:.0f}" for v in face["box"])
        print(f"({box}): {name or 'unknown'} (distance {distance:.3f})")
    return 0


def run_train(args):
    """Train the AT&T triplet embedding into a run folder and print its scores on the people held out."""
    from cnnkit import train
    from cnnkit.face.siamese import train_att

    run = open_run(args, "face", TRAIN_ARGS, DEFAULT_EPOCHS, "att", "cnnkit face train")
    run.write_args({key: getattr(args, key) for key in TRAIN_ARGS})  # a resumed run records its new --epochs
    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    print(f"training the face embedding on the AT&T faces, {args.epochs} epochs, into {run.path}", file=sys.stderr)
    try:
        _, report = train_att(root=args.root, epochs=args.epochs, run=run, seed=args.seed, progress=not args.quiet,
                              resume=run.path if args.resume else None)
    except train.TrainingInterrupted as exc:
        where = (f"epoch {exc.last_epoch} is saved in {exc.checkpoint}; continue with: cnnkit face train --resume "
                 f"{run.path}" if exc.checkpoint else "no epoch had finished, nothing was saved")
        print(f"cnnkit face train: interrupted ({exc.signal_name}) in epoch {exc.epoch}; {where}", file=sys.stderr)
        return 130
    if report["stopped"] == "nan":
        print(f"cnnkit face train: error: {report['stop_reason']}; {run.last} keeps the last good epoch",
              file=sys.stderr)
        return 3
    print(f"on {len(report['eval_people'])} people never seen in training: verification "
          f"{report['verification_accuracy']:.1%}, one-shot identification {report['one_shot_accuracy']:.1%}")
    print(f"wrote {run.path}: weights/last.safetensors, weights/best.safetensors, results.csv, curves.png; "
          f"use it with --embedding {run.path}")
    return 0
