"""MTCNN on the named_faces photos, checked against dlib's boxes and landmarks, then the whole recognition pipeline.

For each of the 14 photos in tests/data/named_faces (faces.csv lists dlib's
HOG box and 5 landmarks for each), this prints:

- whether MTCNN found the listed face, the IoU of its box with dlib's (the two
  detectors frame faces differently: MTCNN from brow to chin, dlib a square from
  brow to lip, so about 0.7 is a match), and the detection time;
- how far MTCNN's eye centres are from the midpoints of dlib's eye corners, as a
  fraction of dlib's outer-eye-corner distance;
- the distance between our whole pipeline's descriptor (MTCNN landmarks -> chip ->
  ResNet) and the descriptor of the chip aligned on dlib's landmarks (what dlib's
  own pipeline computes; our ResNet matches dlib's on one chip within 1e-4).

Then every pair of photos with our pipeline: same-person pairs should all be below
0.6 and different-person pairs above. With ``-o``, the first photo with its boxes and
landmarks drawn.

    python examples/face_detect.py [-o faces.png]

Needs ``cnnkit weights fetch mtcnn`` and ``cnnkit weights fetch dlib-face-resnet``.
"""
import argparse
import csv
import itertools
import time
from pathlib import Path

import numpy as np

from cnnkit.data.images import load_image
from cnnkit.detection.boxes import iou
from cnnkit.face.embed import embed, face_distance, with_dlib_landmarks
from cnnkit.face.mtcnn import detect_faces

NAMED_FACES = Path(__file__).resolve().parents[1] / "tests" / "data" / "named_faces"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(NAMED_FACES), help="the named_faces folder")
    parser.add_argument("-o", "--output", default=None, help="draw the detections of the first photo here")
    args = parser.parse_args()
    root = Path(args.root)

    rows = list(csv.DictReader(open(root / "faces.csv")))
    people, ours, reference, gaps, ious = [], [], [], [], []
    for row in rows:
        image = load_image(root / row["file"], dtype=np.uint8)
        box = [float(row[k]) for k in ("left", "top", "right", "bottom")]
        dlib_points = np.array([[float(row[f"p{i}x"]), float(row[f"p{i}y"])] for i in range(5)])
        start = time.perf_counter()
        faces = detect_faces(image)
        seconds = time.perf_counter() - start
        if not faces:
            print(f"{row['file']:36s} MISSED ({seconds:.1f} s)")
            continue
        face = max(faces, key=lambda f: iou(f["box"], box))
        eye_gap = np.linalg.norm(dlib_points[0] - dlib_points[2])
        eyes = np.stack([dlib_points[2:4].mean(axis=0), dlib_points[0:2].mean(axis=0)])
        eye_error = np.linalg.norm(face["landmarks"][:2] - eyes, axis=1).max() / eye_gap
        people.append(row["file"].split("/")[0])
        ours.append(embed(image, with_dlib_landmarks(face, image)))
        reference.append(embed(image, dlib_points))
        gaps.append(face_distance(ours[-1], reference[-1]))
        ious.append(iou(face["box"], box))
        print(f"{row['file']:36s} {len(faces)} face(s) in {seconds:4.1f} s ({image.shape[1]}x{image.shape[0]}); "
              f"IoU with dlib's box {ious[-1]:.2f}; eye centres off by {eye_error:.1%} of the eye span; "
              f"descriptor vs dlib-landmark chip {gaps[-1]:.3f}")
        if args.output and len(people) == 1:
            from cnnkit.cli.face import _draw

            _draw(args.output, image, faces)
            print(f"  drew {args.output}")
    print(f"found {len(people)}/{len(rows)} listed faces; IoU {min(ious):.2f}-{max(ious):.2f}; our descriptor vs "
          f"the dlib-landmark chip's: {min(gaps):.3f}-{max(gaps):.3f} (mean {np.mean(gaps):.3f})")

    for name, descriptors in (("our pipeline", ours), ("dlib's landmarks", reference)):
        pairs = list(itertools.combinations(range(len(people)), 2))
        same = [face_distance(descriptors[i], descriptors[j]) for i, j in pairs if people[i] == people[j]]
        different = [face_distance(descriptors[i], descriptors[j]) for i, j in pairs if people[i] != people[j]]
        verdict = "separated by 0.6" if max(same) < 0.6 < min(different) else "NOT separated by 0.6"
        print(f"{name:16s}: {len(same)} same-person pairs {min(same):.3f}-{max(same):.3f}, {len(different)} "
              f"different-person pairs {min(different):.3f}-{max(different):.3f}: {verdict}")


if __name__ == "__main__":
    main()
