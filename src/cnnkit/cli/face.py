"""``cnnkit face``: detect faces, verify two photos, enrol people in a face database and identify them.

Detection is MTCNN, descriptors dlib's face ResNet (``cnnkit weights fetch mtcnn`` and
``cnnkit weights fetch dlib-face-resnet`` first); ``face train`` trains the triplet
model on the AT&T faces from scratch.
"""
import json
import sys

from cnnkit.cli import face_index
from cnnkit.cli._args import at_least, positive


def register(subparsers):
    """Add the face subcommand and its own subcommands."""
    p = subparsers.add_parser("face", help="face detection, verification and recognition")
    sub = p.add_subparsers(dest="face_command", metavar="ACTION")

    d = sub.add_parser("detect", help="find faces and 5 landmarks (JSON on stdout)")
    d.add_argument("image")
    d.add_argument("-o", "--output", default=None, help="also draw the boxes and landmarks into this PNG")
    d.add_argument("--min-size", type=positive, default=20, help="smallest face side to find, pixels (default 20)")
    d.set_defaults(func=run_detect)

    v = sub.add_parser("verify", help="are the largest faces of two photos the same person?")
    v.add_argument("image_a")
    v.add_argument("image_b")
    v.add_argument("--threshold", type=positive, default=0.6, help="same person below this distance (default 0.6)")
    v.set_defaults(func=run_verify)

    e = sub.add_parser("enroll", help="add a person to a face database (the largest face of each photo)")
    e.add_argument("name")
    e.add_argument("images", nargs="+")
    e.add_argument("--db", required=True, help="the database folder (created if missing)")
    e.set_defaults(func=run_enroll)

    i = sub.add_parser("identify", help="name every face in a photo from a face database")
    i.add_argument("image")
    i.add_argument("--db", required=True, help="the database folder")
    i.set_defaults(func=run_identify)

    t = sub.add_parser("train", help="train the triplet (Siamese) embedding on the AT&T faces from scratch")
    t.add_argument("--root", default=None, help="an att_faces folder (s1 ... s40); default: the copy shipped with cnnkit")
    t.add_argument("--epochs", type=at_least(1), default=40)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("-o", "--output", default="att_embedding.safetensors", help="where to save the trained weights")
    t.set_defaults(func=run_train)
    face_index.register(sub)
    p.set_defaults(func=lambda args: p.print_help() or 2)


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


def _draw(path, image, faces, labels=None):
    """Save ``image`` with each face's box, label and landmarks drawn."""
    from PIL import Image, ImageDraw

    from cnnkit.viz.boxes import draw_detections

    labels = labels or ["face"] * len(faces)
    boxes = [face["box"] for face in faces]
    scores = [face["score"] for face in faces]
    picture = Image.fromarray(draw_detections(image, boxes, scores, list(range(len(faces))), labels))
    draw = ImageDraw.Draw(picture)
    radius = max(2, min(picture.size) // 200)
    for face in faces:
        for x, y in face["landmarks"]:
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(255, 0, 0))
    picture.save(path)


def run_detect(args):
    """Detect, print the faces as JSON, optionally draw them."""
    from cnnkit.face.mtcnn import detect_faces

    image = _read(args.image)
    faces = detect_faces(image, min_size=args.min_size)
    # one face per line: a valid JSON list that stays readable
    print("[" + ",\n ".join(json.dumps(face) for face in _faces_json(faces)) + "]")
    if not faces:
        print(f"no face found in {args.image}", file=sys.stderr)
    if args.output:
        _draw(args.output, image, faces)
    return 0


def _largest_face(path, image):
    """The largest face of an image, or a ValueError naming the file when there is none."""
    from cnnkit.face.embed import detect_face

    try:
        return detect_face(image)
    except ValueError as exc:
        if "no face found" not in str(exc):
            raise
        # the library's advice (pass landmarks) has no flag here
        raise ValueError(f"{path}: no face found in this {image.shape[1]}x{image.shape[0]} picture "
                         f"(faces under 20 pixels across are not detected)") from None


def run_verify(args):
    """Print the distance between the two largest faces and the verdict."""
    from cnnkit.face.embed import verify

    image_a, image_b = _read(args.image_a), _read(args.image_b)
    face_a, face_b = _largest_face(args.image_a, image_a), _largest_face(args.image_b, image_b)
    distance, same = verify(image_a, image_b, args.threshold, face_a, face_b)
    print(f"distance {distance:.4f}: {'same person' if same else 'different people'} (threshold {args.threshold})")
    return 0


def run_enroll(args):
    """Embed the largest face of every image, then store them all at once under the name."""
    from cnnkit.face.database import FaceDatabase

    db = FaceDatabase(args.db)
    images = [_read(path) for path in args.images]
    faces = [_largest_face(path, image) for path, image in zip(args.images, images)]
    db.enroll(args.name, images, faces)
    print(f"enrolled {args.name!r} from {len(images)} image(s); {args.db} holds {len(db.names())} people")
    return 0


def run_identify(args):
    """Name every face in the image (``unknown`` beyond the database's threshold)."""
    from cnnkit.face.database import FaceDatabase

    db = FaceDatabase(args.db)
    if not len(db):
        raise ValueError(f"the face database {args.db} is empty; enrol people with `cnnkit face enroll` first")
    results = db.identify_all(_read(args.image))
    if not results:
        print(f"no face found in {args.image}")
        return 1
    for face, name, distance in results:
        box = ", ".join(f"{v:.0f}" for v in face["box"])
        print(f"({box}): {name or 'unknown'} (distance {distance:.3f})")
    return 0


def run_train(args):
    """Train the AT&T triplet embedding and print its scores on the people held out."""
    from cnnkit.face.siamese import train_att

    _, report = train_att(root=args.root, epochs=args.epochs, out=args.output, seed=args.seed)
    print(f"saved {args.output}; on {len(report['eval_people'])} people never seen in training: verification "
          f"{report['verification_accuracy']:.1%}, one-shot identification {report['one_shot_accuracy']:.1%}")
    return 0
