"""Our tiny face detector against face-api 1.7.15 in Node (TensorFlow.js 4.22, CPU backend), photo by photo.

Usage: python bench/face_api_agreement.py [--threshold 0.01] [--input-size 416]

Needs Node and ``npm ci --ignore-scripts`` in tests/oracle. Prints, for the photos the
oracle test uses, the number of faces each finds, the largest difference of a box
coordinate (pixels) and of a score, and of the raw network output; the test asserts
boxes within 1 pixel and scores within 1e-4.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from oracle.face_api import missing, photos, run_face_api  # noqa: E402

from cnnkit.face.tiny_yolo import TinyYoloFaceDetector  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.01, help="score threshold of both (default 0.01)")
    parser.add_argument("--input-size", type=int, default=416)
    args = parser.parse_args()
    if missing():
        raise SystemExit(missing())
    images = photos()
    answer = run_face_api([image for _, image in images], args.input_size, args.threshold)
    ours = TinyYoloFaceDetector(input_size=args.input_size)
    print(f"face-api {answer['face_api']} on TensorFlow.js {answer['tfjs']['tfjs-core']} ({answer['backend']}), "
          f"input {args.input_size}, score threshold {args.threshold}\n")
    print("| photo | size | faces (ours / face-api) | max box diff (px) | max score diff | max raw diff |")
    print("|---|---|---|---|---|---|")
    worst = [0.0, 0.0]
    for (name, image), result in zip(images, answer["results"]):
        raw = np.abs(ours.raw(image) - np.asarray(result["raw"]).reshape(result["raw_shape"])).max()
        mine, theirs = ours.detect(image, score_threshold=args.threshold, clip=False), result["detections"]
        box = score = float("nan")
        if len(mine) == len(theirs) and mine:
            box = np.abs(np.array([f["box"] for f in mine]) - [f["box"] for f in theirs]).max()
            score = np.abs(np.array([f["score"] for f in mine]) - [f["score"] for f in theirs]).max()
            worst = [max(worst[0], box), max(worst[1], score)]
        print(f"| {name} | {image.shape[1]}x{image.shape[0]} | {len(mine)} / {len(theirs)} | {box:.2e} | "
              f"{score:.1e} | {raw:.1e} |")
    print(f"\nlargest differences: box {worst[0]:.2e} px, score {worst[1]:.1e}")


if __name__ == "__main__":
    main()
