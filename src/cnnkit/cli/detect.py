"""``cnnkit detect train | predict``: train the tiny YOLO into a run folder, draw and print its detections.

``cnnkit detect train`` trains the tiny YOLO from scratch, by default on
synthetic shapes (circles, squares, triangles on textured backgrounds) drawn
in the process, or on a YOLO-format folder (``images/``, ``labels/``, and an
optional ``classes.txt`` of class names, one a line) whose images are resized
to a square; a fifth of a folder is held out. Anchors come from k-means on the
training boxes; Adam with a cosine learning-rate decay over every batch and
random left-right flips. The run folder (``runs/detect/NAME``) holds
``weights/last.safetensors`` (after every epoch), ``weights/best.safetensors``
(best held-out mAP@0.5), ``results.csv``, ``args.json``, ``curves.png`` and
``predictions.png``; ``--resume RUN_DIR`` continues it.
"""
import json
import os
import pathlib
import sys

import numpy as np

from cnnkit.cli import batch
from cnnkit.cli._args import at_least, fraction, multiple_of, positive
from cnnkit.cli._runs import open_run

SYNTHETIC = "synthetic"
DEFAULT_EPOCHS = 10
# what args.json keeps: a resumed run rebuilds the same data, model and schedule from them
TRAIN_ARGS = ("data", "epochs", "train_images", "test_images", "image_size", "anchors", "batch_size", "lr", "seed")
# exit status when the loss stopped being finite (as cnnkit train)
DIVERGED = 3
PRETRAINED = "tiny_face_detector"


def register(subparsers):
    """Add ``detect`` with its train and predict subcommands."""
    detect = subparsers.add_parser("detect", help="object detection with a tiny YOLO: train, predict")
    commands = detect.add_subparsers(dest="detect_command", metavar="{train,predict}")

    p = commands.add_parser("train", help="train the tiny YOLO into a run folder and print its mAP@0.5",
                            description=__doc__.split("\n\n")[1].replace("``", "'"))
    p.add_argument("--data", default=SYNTHETIC, help="'synthetic' (default) or a YOLO-format folder")
    p.add_argument("--epochs", type=at_least(1), default=None,
                   help=f"default {DEFAULT_EPOCHS}; the learning-rate schedule spans them")
    p.add_argument("--train-images", type=at_least(1), default=4000, help="synthetic training images (default 4000)")
    p.add_argument("--test-images", type=at_least(1), default=500, help="synthetic held-out images (default 500)")
    p.add_argument("--image-size", type=multiple_of(8), default=64, help="square input size, a multiple of 8 (default 64)")
    p.add_argument("--anchors", type=at_least(1), default=3, help="anchors per grid cell (default 3)")
    p.add_argument("--batch-size", type=at_least(1), default=32)
    p.add_argument("--lr", type=positive, default=3e-3, help="Adam's starting learning rate (default 3e-3)")
    p.add_argument("--minutes", type=positive, default=None,
                   help="stop after the batch that passes this many minutes (the epoch is still saved)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--project", default="runs", help="the folder of run folders (default runs)")
    p.add_argument("--name", default=None, help="the run's name (default train; numbered if taken)")
    p.add_argument("--out", default=None, help="the run folder itself (instead of --project/detect/--name)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its weights/last.safetensors, with its arguments; "
                        "--epochs may raise the number of epochs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)

    p = commands.add_parser("predict", help="draw detections on images (PNG) and print them as JSON")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, ... files")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", metavar="RUN_OR_FILE",
                        help="a run folder of cnnkit detect train (its best weights) or a detector checkpoint")
    source.add_argument("--model", choices=[PRETRAINED], help="a pretrained detector: tiny_face_detector "
                        "(face-api.js's tiny YOLO for faces, weights from npm)")
    p.add_argument("--score-threshold", type=fraction, default=0.5)
    p.add_argument("--iou-threshold", type=fraction, default=None,
                   help="NMS overlap (default 0.5; 0.4 for tiny_face_detector, face-api's)")
    p.add_argument("--input-size", type=multiple_of(32), default=416,
                   help="tiny_face_detector's input side, a multiple of 32 (default 416)")
    p.add_argument("-o", "--out", default="detections",
                   help="folder for the PNGs (default ./detections), or a TABLE.parquet to write one row per box of "
                        "every image under the IMAGE folders instead (images already in it are skipped)")
    batch.add_arguments(p, None)
    p.set_defaults(func=run_predict)
    detect.set_defaults(func=lambda args: detect.print_help() or 2)


def _resize_with_boxes(image, boxes, size):
    """An image resized to size x size (the one bilinear resize) and its corner boxes scaled with it."""
    from cnnkit.data.images import resize
    H, W = image.shape[:2]
    return resize(image, size), np.asarray(boxes, np.float32) * [size / W, size / H, size / W, size / H]


def _folder_data(path, size, seed):
    """(train, held-out, class names) from a YOLO-format folder: each split a tuple (images, boxes, classes)."""
    from cnnkit.detection import YoloFolder
    folder = YoloFolder(path)
    if len(folder) < 2:
        raise ValueError(f"{path} holds {len(folder)} images in images/; training and testing need at least 2")
    images, boxes, classes = [], [], []
    for k in range(len(folder)):
        image, b, c = folder[k]
        image, b = _resize_with_boxes(image, b, size)
        images.append(image)
        boxes.append(b)
        classes.append(c)
    num_classes = max((int(c.max()) + 1 for c in classes if len(c)), default=1)
    names = folder.class_names or [str(c) for c in range(num_classes)]
    order = np.random.default_rng(seed).permutation(len(images))
    held_out = max(1, len(images) // 5)

    def split(index):
        return np.stack([images[i] for i in index]), [boxes[i] for i in index], [classes[i] for i in index]

    return split(order[held_out:]), split(order[:held_out]), names


def run_train(args):
    """Train into a run folder, print mAP@0.5 on the held-out images; exit 3 if the loss stopped being finite."""
    from cnnkit import train as engine
    from cnnkit.detection import CLASS_NAMES, make_shapes_dataset
    from cnnkit.detection.targets import anchors_from_boxes
    from cnnkit.detection.train import detect, train_yolo
    from cnnkit.models import get_model
    from cnnkit.viz.boxes import detection_grid
    from cnnkit.viz.images import save_image, with_title

    run = open_run(args, "detect", TRAIN_ARGS, DEFAULT_EPOCHS, "train", "cnnkit detect train")
    if args.data == SYNTHETIC:
        train = make_shapes_dataset(args.train_images, args.image_size, seed=args.seed + 1)
        # another seed, so the held-out images are never trained on
        test = make_shapes_dataset(args.test_images, args.image_size, seed=args.seed + 1_000_003)
        names = list(CLASS_NAMES)
    else:
        train, test, names = _folder_data(args.data, args.image_size, args.seed)
    model = get_model("tiny_yolo", num_classes=len(names), num_anchors=args.anchors, image_size=args.image_size,
                      rng=args.seed)
    anchors = anchors_from_boxes(train[1], args.anchors, model.stride, seed=args.seed)
    run.class_names, run.extra, run.monitor = names, {"anchors": anchors.tolist()}, "val_map50"
    run.title = f"tiny_yolo on {os.path.basename(os.path.normpath(args.data))}"
    run.write_args({key: getattr(args, key) for key in TRAIN_ARGS})  # a resumed run records its new --epochs
    print(f"training tiny_yolo on {args.data}: {len(train[0])} train / {len(test[0])} held-out images of "
          f"{args.image_size}x{args.image_size}, {len(names)} classes, {args.epochs} epochs, into {run.path}",
          file=sys.stderr)
    try:
        history = train_yolo(model, *train, anchors, val=test, epochs=args.epochs, batch_size=args.batch_size,
                             lr=args.lr, seed=args.seed, time_limit=args.minutes * 60 if args.minutes else None,
                             run=run, resume=run.path if args.resume else None, verbose=not args.quiet)
    except engine.TrainingInterrupted as exc:
        where = (f"epoch {exc.last_epoch} is saved in {exc.checkpoint}; continue with: cnnkit detect train "
                 f"--resume {run.path}" if exc.checkpoint else "no epoch had finished, nothing was saved")
        print(f"cnnkit detect train: interrupted ({exc.signal_name}) in epoch {exc.epoch}; {where}",
              file=sys.stderr)
        return 130
    if history.stop_reason and history.stopped != "nan":  # a NaN has been told as a warning
        print(history.stop_reason, file=sys.stderr)
    if history.stopped == "nan":
        print(f"cnnkit detect train: error: training diverged; {run.last} keeps the last good epoch (lower --lr?)",
              file=sys.stderr)
        return DIVERGED
    shown = min(16, len(test[0]))
    picture = os.path.join(run.path, "predictions.png")
    title = (f"tiny_yolo on {os.path.basename(os.path.normpath(args.data))} after epoch {len(history)}: detections "
             f"(score >= 0.5, NMS IoU 0.5) on {shown} held-out images, one colour per class")
    grid = detection_grid(test[0][:shown], detect(model, test[0][:shown], anchors, len(names)), names)
    save_image(picture, with_title(grid, title), title=title)
    print(f"mAP@0.5: {history['val_map50'][-1]:.4f} ({len(test[0])} held-out images, after epoch {len(history)}; "
          f"{sum(history['seconds']) / 60:.1f} min of training)")
    print(f"wrote {run.path}: weights/last.safetensors, weights/best.safetensors, results.csv, curves.png, "
          f"predictions.png")
    return 0


def run_predict(args):
    """Detect objects in each image, write IMAGE-NAME.png with the boxes drawn, print the detections as JSON."""
    from cnnkit.data.images import load_image, resize
    from cnnkit.detection.train import detect, load_detector
    from cnnkit.viz.boxes import save_detections

    if args.iou_threshold is None:
        args.iou_threshold = 0.4 if args.model else 0.5
    if args.out.endswith(".parquet"):
        if args.model:
            raise ValueError("-o TABLE.parquet works with --weights; --model tiny_face_detector draws PNGs only")
        from cnnkit.distributed.pipelines import DetectPipeline
        return batch.run(args, DetectPipeline(args.weights, args.score_threshold, args.iou_threshold), args.images,
                         "detect predict")
    if args.model:
        return _predict_faces(args)
    model, anchors, names = load_detector(args.weights)
    size = model.config["image_size"]
    # read every image first, so a bad file stops the run before any output is written
    originals = [load_image(path) for path in args.images]
    inputs = np.stack([resize(image, size) for image in originals])
    results = detect(model, inputs, anchors, len(names), args.score_threshold, args.iou_threshold)
    os.makedirs(args.out, exist_ok=True)
    report = []
    for path, image, result in zip(args.images, originals, results):
        H, W = image.shape[:2]
        boxes = result["boxes"] * np.asarray([W / size, H / size, W / size, H / size])
        # small images are enlarged so the labels stay legible
        scale = max(1, -(-256 // max(H, W)))
        output = os.path.join(args.out, pathlib.Path(path).stem + ".png")
        save_detections(output, image, boxes, result["scores"], result["classes"], names, scale=scale,
                        title=f"tiny_yolo detections in {os.path.basename(path)} (score >= {args.score_threshold:g})")
        detections = [{"class": names[c], "class_id": int(c), "score": round(float(s), 4),
                       "box": [round(float(v), 2) for v in b]}
                      for b, s, c in zip(boxes, result["scores"], result["classes"])]
        if not detections:
            print(f"{path}: no detections with a score of at least {args.score_threshold}", file=sys.stderr)
        report.append({"image": path, "output": output, "detections": detections})
    print(json.dumps(report, indent=2))
    # stdout holds the JSON, so that it stays parseable
    print(f"wrote {len(report)} picture(s) into {args.out}", file=sys.stderr)
    return 0


def _predict_faces(args):
    """``--model tiny_face_detector``: face-api's tiny YOLO on each image, boxes drawn and printed as JSON."""
    from cnnkit.data.images import load_image
    from cnnkit.face.tiny_yolo import TinyYoloFaceDetector
    from cnnkit.viz.boxes import save_detections

    # read every image first, so a bad file stops the run before any download or output
    originals = [load_image(path, dtype=np.uint8) for path in args.images]
    detector = TinyYoloFaceDetector(input_size=args.input_size)
    os.makedirs(args.out, exist_ok=True)
    report = []
    for path, image in zip(args.images, originals):
        faces = detector.detect(image, args.score_threshold, args.iou_threshold)
        boxes, scores = [f["box"] for f in faces], [f["score"] for f in faces]
        output = os.path.join(args.out, pathlib.Path(path).stem + ".png")
        save_detections(output, image, boxes, scores, [0] * len(faces), ["face"],
                        scale=max(1, -(-256 // max(image.shape[:2]))),
                        title=f"tiny_face_detector faces in {os.path.basename(path)} "
                              f"(score >= {args.score_threshold:g})")
        if not faces:
            print(f"{path}: no faces with a score of at least {args.score_threshold}", file=sys.stderr)
        report.append({"image": path, "output": output, "detections": [
            {"class": "face", "class_id": 0, "score": round(f["score"], 4), "box": [round(v, 2) for v in f["box"]]}
            for f in faces]})
    print(json.dumps(report, indent=2))
    # stdout holds the JSON, so that it stays parseable
    print(f"wrote {len(report)} picture(s) into {args.out}", file=sys.stderr)
    return 0
