"""Face detectors on real photos against dlib's CNN (MMOD) detector: mAP@0.5, recall and speed, in one run.

Usage: python bench/face_detectors.py [--mmod PATH] [--att N] [--picture FILE]

Reference boxes are those of dlib's CNN face detector (dlib-bin's
``cnn_face_detection_model_v1`` with ``mmod_human_face_detector.dat``, no upsampling),
computed in the same run, on the named faces photos (tests/data/named_faces, 14 photos,
374x630 to 1434x2333) and on the AT&T faces (92x112 grey, shown as RGB). Compared:
face-api's tiny YOLO on cnnkit (input 416, score 0.5), cnnkit's MTCNN (min face 20),
dlib-bin's HOG detector (one upsampling, face_recognition's default) and the CNN
reference itself (its speed; its mAP is 1 by construction). mAP is
``cnnkit.detection.mean_average_precision`` at IoU 0.5; recall is the fraction of
reference faces some detection overlaps by IoU >= 0.5 (and >= 0.3, since the detectors
frame faces differently: face-api and MTCNN from brow to chin, dlib tighter). Speed is
images per second, one image at a time, on this machine as it is (shared: expect noise).

The MMOD weights come from the registry entry holding ``mmod_human_face_detector.dat``
(face-recognition-models 0.3.0), or from ``--mmod``.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from cnnkit import weights
from cnnkit.detection import iou, mean_average_precision

ROOT = Path(__file__).resolve().parents[1]
NAMED_FACES = ROOT / "tests" / "data" / "named_faces"
MMOD = "mmod_human_face_detector.dat"


def mmod_file(path, folder):
    """The MMOD .dat: ``path``, else extracted (sha256-checked) from the registry entry that holds it."""
    if path:
        return str(path)
    for name, entry in weights.REGISTRY.items():
        if any(member.endswith(MMOD) for member in entry.members):
            members = weights.fetch_members(name, Path(folder), progress=True)
            return str(next(file for member, file in members.items() if member.endswith(MMOD)))
    raise SystemExit(f"no registry entry holds {MMOD}; pass --mmod PATH (from face-recognition-models 0.3.0)")


def named_faces():
    """(name, RGB uint8 image) of the named faces photos."""
    from PIL import Image

    return [(str(p.relative_to(NAMED_FACES)), np.asarray(Image.open(p).convert("RGB")))
            for p in sorted(NAMED_FACES.glob("*/*.jpg"))]


def att_faces(count):
    """(name, RGB uint8 image) of the first ``count`` AT&T faces (every person, in turn)."""
    from cnnkit.data import load_att_faces

    images, labels = load_att_faces()
    order = np.argsort(np.arange(len(images)) % 10, kind="stable")[:count]  # image 1 of each person first
    return [(f"s{labels[k] + 1}/{k % 10 + 1}", np.repeat(np.round(images[k] * 255).astype(np.uint8), 3, axis=2))
            for k in order]


def dlib_box(rect):
    """A dlib rectangle (right and bottom inclusive) as corner coordinates (x1, y1, x2, y2)."""
    return (rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1)


def detectors(mmod):
    """name -> function(image) -> [(box, score), ...]."""
    import dlib

    from cnnkit.face import MTCNN, TinyYoloFaceDetector, detect_faces

    cnn, hog = dlib.cnn_face_detection_model_v1(mmod), dlib.get_frontal_face_detector()
    tiny, mtcnn = TinyYoloFaceDetector(), MTCNN.pretrained()

    def hog_run(image):
        rects, scores, _ = hog.run(image, 1, 0.0)
        return [(dlib_box(r), s) for r, s in zip(rects, scores)]

    return {
        "dlib CNN (reference)": lambda image: [(dlib_box(d.rect), d.confidence) for d in cnn(image, 0)],
        "tiny YOLO (cnnkit, face-api weights)": lambda image: [(f["box"], f["score"])
                                                               for f in detect_faces(image, detector=tiny)],
        "MTCNN (cnnkit)": lambda image: [(f["box"], f["score"]) for f in detect_faces(image, detector=mtcnn)],
        "dlib HOG (dlib-bin)": hog_run,
    }


def evaluate(found, reference):
    """mAP@0.5 and recall at IoU 0.5 and 0.3 of ``found`` against ``reference`` (lists per image)."""
    detections = [{"image": i, "class": 0, "score": float(s), "box": b} for i, faces in enumerate(found)
                  for b, s in faces]
    truth = [{"image": i, "class": 0, "box": b} for i, faces in enumerate(reference) for b, _ in faces]
    mean_ap = mean_average_precision(detections, truth, iou_threshold=0.5)
    best = [max([iou(b, t) for b, _ in found[i]], default=0.0) for i, faces in enumerate(reference) for t, _ in faces]
    return mean_ap, float(np.mean(np.asarray(best) >= 0.5)), float(np.mean(np.asarray(best) >= 0.3))


def run(images, detect):
    """Every image's detections and the images per second."""
    start = time.perf_counter()
    found = [detect(image) for _, image in images]
    return found, len(images) / (time.perf_counter() - start)


def picture(path, rows, methods, height=420):
    """Rows of photos with each detector's boxes in its colour, a legend above."""
    from PIL import Image, ImageDraw

    from cnnkit.viz.boxes import PALETTE
    from cnnkit.viz.images import save_image

    def panel(image):
        scale = height / image.shape[0]
        drawn = Image.fromarray(image).resize((round(image.shape[1] * scale), height), Image.BILINEAR)
        draw = ImageDraw.Draw(drawn)
        for c, detect in enumerate(methods.values()):
            for box, _ in detect(image):
                draw.rectangle([v * scale for v in box], outline=PALETTE[c], width=3)
        return np.asarray(drawn)

    rows = [np.concatenate([panel(image) for image in row], axis=1) for row in rows]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    legend = Image.new("RGB", (width, 28), (255, 255, 255))
    draw, x = ImageDraw.Draw(legend), 8
    for c, name in enumerate(methods):
        draw.rectangle([x, 8, x + 24, 20], outline=PALETTE[c], width=3)
        draw.text((x + 32, 8), name, fill=(0, 0, 0))
        x += 48 + int(draw.textlength(name))
    save_image(path, np.concatenate([np.asarray(legend), *rows]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mmod", help=f"path to {MMOD} (default: from the weights registry)")
    parser.add_argument("--att", type=int, default=400, help="AT&T faces to use (default all 400)")
    parser.add_argument("--picture", help="write every detector's boxes on seven named faces photos to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        methods = detectors(mmod_file(args.mmod, folder))
    datasets = {"named faces": named_faces(), "AT&T": att_faces(args.att)}
    table = {}
    for dataset, images in datasets.items():
        results = {name: run(images, detect) for name, detect in methods.items()}
        reference = results["dlib CNN (reference)"][0]
        table[dataset] = {name: (*evaluate(found, reference), speed) for name, (found, speed) in results.items()}
        faces = sum(len(r) for r in reference)
        print(f"{dataset}: {len(images)} images, {faces} reference faces", flush=True)
    if args.picture:
        photos = dict(datasets["named faces"])
        rows = [("alex_lacamoire/alex-lacamoire.jpg", "kit_harington/john2.jpg", "obama/obama2.jpg"),
                ("biden/biden2.jpg", "obama/obama.jpg", "rose_leslie/img2.jpg", "alex_lacamoire/img1.jpg")]
        picture(args.picture, [[photos[name] for name in row] for row in rows], methods)
    print(f"\n| detector | " + " | ".join(f"{d}: mAP@0.5 | recall@0.5 (@0.3) | images/s" for d in table) + " |")
    print("|---|" + "---|---|---|" * len(table))
    for name in methods:
        cells = [f"{m:.3f} | {r5:.2f} ({r3:.2f}) | {s:.2g}" for m, r5, r3, s in (table[d][name] for d in table)]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
