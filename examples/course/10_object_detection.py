"""Object detection step by step on real photos: YOLO's grid, the score filter, IoU, non-max suppression; landmarks.

The course's claims:

- YOLO divides the image into an S x S grid; each cell predicts B anchor
  boxes with an objectness score (and class probabilities), all in one
  forward pass of a convolutional network;
- most of the S x S x B boxes have low scores: discard those under a
  threshold;
- the rest cluster around each object; intersection over union (IoU,
  the area of the intersection divided by the area of the union) measures
  their overlap, and non-max suppression keeps the highest-scoring box and
  discards the others that overlap it by more than an IoU threshold,
  leaving one box per object;
- a network can also output landmarks: (x, y) coordinates of points such as
  the eyes, the nose and the mouth corners.

The detector is a real pretrained YOLO: face-api.js's tiny face detector
(``models.get_model("tiny_face_detector", pretrained=True)``, a 13 x 13 grid
with 5 anchors at a 416 x 416 input), run on two photos side by side; its raw
output goes through the course's functions of ``cnnkit.detection.course``
(``yolo_boxes_to_corners``, ``yolo_filter_boxes``, ``scale_boxes``,
``yolo_non_max_suppression``) one step at a time, with ``detection.iou``.
The landmarks are MTCNN's five points (``cnnkit.face.detect_faces``). Training a
localizer and a landmark regressor from scratch on synthetic shapes is
``examples/localization_landmarks.py`` (minutes per network).

    python examples/course/10_object_detection.py [--quick] [--score 0.1] [--iou 0.4]
"""
import numpy as np

import _common
from cnnkit import data, detection, face
from cnnkit.detection.course import scale_boxes, yolo_boxes_to_corners, yolo_filter_boxes, yolo_non_max_suppression
from cnnkit.face.tiny_yolo import TinyYoloFaceDetector, raw_to_course_outputs


def add_arguments(parser):
    parser.add_argument("--score", type=float, default=0.1,
                        help="score threshold (low, to show NMS at work; face-api uses 0.5)")
    parser.add_argument("--iou", type=float, default=0.4, help="NMS IoU threshold (face-api's 0.4)")


def collage(height):
    """Two of the named-faces photos side by side, ``height`` pixels high, RGB floats in [0, 1]."""
    photos = [data.load_image(f"{_common.REPO}/tests/data/named_faces/{name}", size=None) for name in
              ("obama/obama.jpg", "biden/biden.jpg")]
    photos = [data.resize(p, (height, int(round(p.shape[1] * height / p.shape[0])))) for p in photos]
    return np.clip(np.concatenate(photos, axis=1), 0, 1)  # resizing can round a hair past 1


def draw_boxes(ax, boxes, color, scores=None, widths=1.5, alphas=None):
    """Draw (y1, x1, y2, x2) pixel boxes on ``ax``, labelled with their scores when given."""
    from matplotlib.patches import Rectangle

    for i, (y1, x1, y2, x2) in enumerate(boxes):
        alpha = 1.0 if alphas is None else float(alphas[i])
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color=color, lw=widths, alpha=alpha))
        if scores is not None:
            ax.text(x1, y1 - 3, f"{scores[i]:.2f}", color="black", fontsize=9, va="bottom",
                    bbox=dict(facecolor="white", alpha=0.7, lw=0, pad=1))


def main(argv=None):
    args = _common.parse_args(__doc__, add_arguments, argv)
    image = collage(160 if args.quick else 320)
    H, W = image.shape[:2]
    size = 224 if args.quick else 416
    detector = TinyYoloFaceDetector(input_size=size)
    raw = detector.raw(image)
    grid = raw.shape[1]
    box_xy, box_wh, confidence, class_probs = raw_to_course_outputs(raw, (H, W), size)
    corners = yolo_boxes_to_corners(box_xy, box_wh)                       # (S, S, B, 4) fractions
    every = scale_boxes(corners.reshape(-1, 4), (H, W))
    every_scores = confidence.reshape(-1)
    scores, boxes, classes = yolo_filter_boxes(confidence, corners, class_probs, threshold=args.score)
    boxes = scale_boxes(boxes, (H, W))
    kept_scores, kept, _ = yolo_non_max_suppression(scores, boxes, classes, max_boxes=10, iou_threshold=args.iou,
                                                    per_class=False)
    print(f"image {H}x{W}; network input {size}x{size} -> {grid}x{grid} grid x {raw.shape[-1] // 5} anchors")
    _common.table(["step", "boxes"],
                  [("all grid cells x anchors", len(every_scores)),
                   (f"score >= {args.score} (yolo_filter_boxes)", len(scores)),
                   (f"after NMS at IoU {args.iou}", len(kept))], "YOLO, one step at a time:")
    overlaps = detection.iou(boxes, kept)                                 # (filtered, kept)
    for k in range(len(kept)):
        near = np.flatnonzero(overlaps[:, k] > args.iou)
        print(f"  kept box {k} (score {kept_scores[k]:.2f}) suppressed {len(near) - 1} boxes with IoU "
              f"{', '.join(f'{v:.2f}' for v in sorted(overlaps[near, k])[:-1]) or '-'}")

    faces = face.detect_faces(image)
    mtcnn_boxes = np.array([[f["box"][1], f["box"][0], f["box"][3], f["box"][2]] for f in faces]).reshape(-1, 4)
    if len(kept) and len(mtcnn_boxes):
        print("IoU of each YOLO box with its best-matching MTCNN box: " +
              ", ".join(f"{v:.2f}" for v in detection.iou(kept, mtcnn_boxes).max(axis=1)))
    for i, f in enumerate(faces):
        print(f"  MTCNN face {i}: score {f['score']:.3f}, landmarks (x, y) " +
              " ".join(f"({x:.0f}, {y:.0f})" for x, y in f["landmarks"]))

    fig = _common.figure(14, 8.2)
    cell = max(H, W) / grid   # the letterbox pads the image to a square at the bottom or right
    steps = [f"1. a {grid}x{grid} grid, {raw.shape[-1] // 5} anchor boxes per cell",
             f"2. all {len(every_scores)} boxes, drawn by score",
             f"3. {len(scores)} boxes with score >= {args.score}",
             f"4. non-max suppression (IoU > {args.iou}): {len(kept)} left",
             f"5. landmarks: MTCNN's 5 points per face"]
    for i, title in enumerate(steps):
        ax = fig.add_subplot(2, 3, i + 1)
        _common.show_image(ax, image, title)
        if i == 0:
            for k in range(1, grid):
                ax.axvline(k * cell - 0.5, color="yellow", lw=0.6)
                ax.axhline(k * cell - 0.5, color="yellow", lw=0.6)
        elif i == 1:
            strong = every_scores >= 0.01
            draw_boxes(ax, every[strong], "cyan", widths=0.8, alphas=np.clip(every_scores[strong], 0.05, 1))
        elif i == 2:
            draw_boxes(ax, boxes, "orange", widths=1)
        elif i == 3:
            draw_boxes(ax, kept, "lime", scores=kept_scores, widths=2)
        else:
            draw_boxes(ax, mtcnn_boxes, "lime", widths=1.5)
            for f in faces:
                ax.plot(f["landmarks"][:, 0], f["landmarks"][:, 1], "r.", ms=6)
        ax.set_xlim(-0.5, W - 0.5)
        ax.set_ylim(H - 0.5, -0.5)
    ax = fig.add_subplot(2, 3, 6)
    ax.hist(every_scores, bins=50, range=(0, 1), color="tab:blue", log=True)
    ax.axvline(args.score, color="tab:red", ls="--", label=f"threshold {args.score}")
    ax.set_xlabel("objectness score (sigmoid)")
    ax.set_ylabel("boxes (log scale)")
    ax.set_title("most of the grid's boxes score near 0")
    ax.legend()
    _common.save(fig, args, "10_object_detection.png",
                 "YOLO step by step (face-api's pretrained tiny YOLO through the course's functions), and landmarks")
    _common.done(args)
    return len(every_scores), len(scores), len(kept)


if __name__ == "__main__":
    main()
