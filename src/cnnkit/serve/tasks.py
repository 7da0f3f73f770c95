"""The tasks page's API: classify, detect, faces (detect, verify, identify, enrol), edges and style transfer."""
import threading

import numpy as np

from cnnkit.serve import catalogue
from cnnkit.serve.images import png_url, read_picture

FACE_SIDE = 512          # uploads are scaled so the longer side is at most this before face detection
STYLE_SIZES = (32, 384)
STYLE_STEPS = (1, 300)
MAX_NAME = 64
_style_net, _style_lock = [], threading.Lock()


def style_network():
    """VGG-16 with the vgg16-hed weights, read once (it takes seconds) and kept for the next style jobs."""
    from cnnkit.models import vgg16_features
    with _style_lock:
        if not _style_net:
            _style_net.append(vgg16_features("vgg16-hed"))
        return _style_net[0]


async def classify(project, form):
    """The top-5 classes of a picture under a classifier checkpoint."""
    from cnnkit.serve.explorer import picture_for, top_classes
    from cnnkit.train import predict
    loaded = catalogue.load(project, form.get("model"))
    image = await picture_for(loaded, form)
    probabilities = predict(loaded.model, loaded.normalize(image[None]))
    return {"model": loaded.id, "input": png_url(image), "prediction": top_classes(loaded, probabilities)}


async def detect(project, form):
    """Boxes of a detection checkpoint drawn on the picture, and the detections as JSON."""
    from cnnkit.data.images import resize
    from cnnkit.detection.train import detect as run_detect, load_detector
    from cnnkit.viz.boxes import draw_detections
    runs = catalogue.checkpoints(project, "detect")
    key = str(form.get("model") or "").removeprefix("run:")
    if key not in runs:
        raise ValueError(f"model: no detection checkpoint {key!r}; known: "
                         f"{', '.join(runs) or 'none yet (cnnkit detect train writes one under runs/detect)'}")
    model, anchors, names = load_detector(runs[key])
    size = model.config["image_size"]
    threshold = _fraction(form, "score_threshold", 0.5)
    image = await read_picture(form, "image", longer_side=FACE_SIDE)
    result = run_detect(model, resize(image, size)[None], anchors, len(names), threshold)[0]
    H, W = image.shape[:2]
    boxes = result["boxes"] * np.asarray([W / size, H / size, W / size, H / size])
    drawn = draw_detections(image, boxes, result["scores"], result["classes"], names,
                            scale=max(1, -(-256 // max(H, W))))
    return {"png": png_url(drawn),
            "detections": [{"class": names[c], "score": round(float(s), 4), "box": [round(float(v), 1) for v in b]}
                           for b, s, c in zip(boxes, result["scores"], result["classes"])]}


def _fraction(form, name, default):
    """A number in [0, 1] from the form."""
    text = form.get(name) or default
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number between 0 and 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")
    return value


def _face_record(face):
    """A face record of MTCNN as JSON: box, score and 5 landmarks."""
    record = {"box": [round(float(v), 1) for v in face["box"]], "score": round(float(face["score"]), 4)}
    if "landmarks" in face:
        record["landmarks"] = np.round(np.asarray(face["landmarks"], dtype=np.float64), 1).tolist()
    return record


async def faces(form):
    """Every face MTCNN finds, with its 5 landmarks; the picture is returned for the page to draw on."""
    from cnnkit.face import detect_faces
    image = await read_picture(form, "image", longer_side=FACE_SIDE, dtype=np.uint8)
    found = detect_faces(image)
    return {"png": png_url(image), "width": image.shape[1], "height": image.shape[0],
            "faces": [_face_record(f) for f in found]}


async def verify(form):
    """Are the largest faces of two photos the same person? dlib's descriptor distance and the 0.6 verdict."""
    from cnnkit.face.embed import SAME_PERSON_DISTANCE, verify as run_verify
    a = await read_picture(form, "image_a", longer_side=FACE_SIDE, dtype=np.uint8)
    b = await read_picture(form, "image_b", longer_side=FACE_SIDE, dtype=np.uint8)
    distance, same = run_verify(a, b)
    return {"distance": round(float(distance), 4), "same": bool(same), "threshold": SAME_PERSON_DISTANCE,
            "a": png_url(a), "b": png_url(b)}


def _person(form):
    """The name to enrol: 1..MAX_NAME printable characters."""
    name = str(form.get("name") or "").strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ValueError(f"name must be 1 to {MAX_NAME} printable characters, got {name!r}")
    return name


async def enroll(face_db, form):
    """Add the largest face of a photo to the face database under a name."""
    from cnnkit.face.database import FaceDatabase
    name = _person(form)
    image = await read_picture(form, "image", longer_side=FACE_SIDE, dtype=np.uint8)
    db = FaceDatabase(face_db)
    db.enroll(name, [image])
    return {"enrolled": name, "people": db.names()}


def people(face_db):
    """The names in the face database."""
    from cnnkit.face.database import FaceDatabase
    return {"people": FaceDatabase(face_db).names()}


async def identify(face_db, form):
    """Name every face of a photo from the face database (None for an unknown face)."""
    from cnnkit.face.database import FaceDatabase
    image = await read_picture(form, "image", longer_side=FACE_SIDE, dtype=np.uint8)
    db = FaceDatabase(face_db)
    if not len(db):
        raise ValueError("the face database is empty: enrol someone first")
    found = db.identify_all(image)
    return {"png": png_url(image), "width": image.shape[1], "height": image.shape[0],
            "faces": [dict(_face_record(face), name=name, distance=round(float(d), 4)) for face, name, d in found]}


async def edges(form):
    """An edge map: Sobel, Scharr, vertical, horizontal (cnnkit.filters) or HED (pretrained VGG-16)."""
    from cnnkit.filters import detect_edges
    kind = form.get("kind") or "sobel"
    if kind not in ("sobel", "scharr", "vertical", "horizontal", "hed"):
        raise ValueError(f"kind must be sobel, scharr, vertical, horizontal or hed, got {kind!r}")
    image = await read_picture(form, "image", longer_side=320 if kind == "hed" else 512)
    result = detect_edges(image, kind=kind)
    if kind != "hed":
        result = result / max(float(result.max()), 1e-12)
    return {"kind": kind, "input": png_url(image), "png": png_url(result)}


def _bounded(form, name, default, bounds):
    """An integer in bounds from the form."""
    text = str(form.get(name) or default)
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{name} must be between {bounds[0]} and {bounds[1]}, got {value}")
    return value


async def style_job(form):
    """Read a style-transfer form; returns ``(label, run)`` for the job queue."""
    from cnnkit.style.transfer import stylize
    size = _bounded(form, "size", 128, STYLE_SIZES)
    steps = _bounded(form, "steps", 30, STYLE_STEPS)
    content = await read_picture(form, "content", longer_side=max(size * 2, 256))
    style = await read_picture(form, "style", longer_side=max(size * 2, 256))

    def run(job):
        every = max(1, steps // 15)

        def report(step, image, losses):
            if job.cancelled:
                raise InterruptedError("stopped")
            job.update(step / steps, f"step {step} of {steps}, cost {float(losses['total']):.4g}", png_url(image))

        job.update(0, "loading VGG-16")
        net = style_network()
        job.update(0, "computing the style and content targets")
        try:
            result = stylize(content, style, size=size, steps=steps, callback=report, every=every, model=net)
        except InterruptedError:
            return None
        return {"png": png_url(result.image), "seconds_per_step": round(float(result.seconds_per_step), 3)}

    return f"style {size}px, {steps} steps", run
