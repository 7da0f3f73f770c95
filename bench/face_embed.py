"""Descriptors per second: cnnkit's dlib face ResNet against dlib-bin, measured in one run.

Usage: python bench/face_embed.py PATH/TO/dlib_face_recognition_resnet_model_v1.dat [--chips 32]
Both embed the same 150x150 chips (dlib's own chips of the tests/data/named_faces photos, repeated).
"""
import argparse
import csv
import time
from pathlib import Path

import numpy as np
from cnnkit.data.images import load_image
from cnnkit.face.align import align_face
from cnnkit.models.dlib_resnet import DlibFaceResNet

NAMED_FACES = Path(__file__).resolve().parents[1] / "tests" / "data" / "named_faces"


def chips_of_named_faces():
    """Aligned 150x150 chips of every photo in named_faces."""
    chips = []
    with open(NAMED_FACES / "faces.csv", newline="") as f:
        for row in csv.DictReader(f):
            image = load_image(NAMED_FACES / row["file"], dtype=np.uint8)
            landmarks = [[int(row[f"p{i}x"]), int(row[f"p{i}y"])] for i in range(5)]
            chips.append(align_face(image, landmarks))
    return np.stack(chips)


def rate(fn, n, repeats=3):
    """Best of ``repeats`` runs of ``fn()``, as items per second for ``n`` items."""
    best = min(_timed(fn) for _ in range(repeats))
    return n / best


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dat")
    parser.add_argument("--chips", type=int, default=32)
    args = parser.parse_args()
    import dlib

    chips = np.resize(chips_of_named_faces(), (args.chips, 150, 150, 3))
    ours = DlibFaceResNet.pretrained(args.dat)
    recogniser = dlib.face_recognition_model_v1(args.dat)
    chip_list = list(chips)
    theirs = np.array(recogniser.compute_face_descriptor(chip_list))
    mine = ours.embed_chips(chips)
    print(f"max |ours - dlib| over {args.chips} chips: {np.abs(mine - theirs).max():.2e}")
    r_ours = rate(lambda: ours.embed_chips(chips), args.chips)
    r_dlib = rate(lambda: recogniser.compute_face_descriptor(chip_list), args.chips)
    r_one = rate(lambda: ours.embed_chips(chips[0]), 1)
    print(f"cnnkit: {r_ours:.1f} descriptors/s (batches of 32), {r_one:.1f}/s one at a time")
    print(f"dlib-bin: {r_dlib:.1f} descriptors/s; cnnkit / dlib = {r_ours / r_dlib:.2f}")


if __name__ == "__main__":
    main()
