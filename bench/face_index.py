"""Face index throughput with 1 worker and 2 Ray workers on the AT&T faces, and the clustering's adjusted Rand index.

``cnnkit face index`` (MTCNN, dlib's 5-point landmarks and alignment, dlib's
face ResNet) over ``--images`` AT&T photos (all 400 by default), in this process
and then on 2 Ray actors (local cluster), each with one CPU (the in-process run
is held to one BLAS thread too), timed end to end (images per second; the
2-worker time includes starting the actors, not the cluster); checks that both
wrote the same rows. Then it clusters the faces by Chinese whispers and scores
the clusters against the people (40 x 10 photos) with the adjusted Rand index:
at the default threshold 0.6 over 5 seeds, and at 0.5 and 0.4.

    python bench/face_index.py [--images 400] [--root ATT_FACES_FOLDER]
"""
import argparse
import os
import shutil
import tempfile
import time

import numpy as np
import ray
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from cnnkit.distributed import batch
from cnnkit.distributed.pipelines import FaceIndexPipeline
from cnnkit.data import ATT_FACES_DIR
from cnnkit.face.cluster import cluster_faces
from cnnkit.face.index import FaceIndex
from cnnkit.io.shards import ShardFolder


def sorted_rows(out):
    """An index's rows sorted by path and score."""
    parts = list(ShardFolder(out).read())
    table = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((-table["score"], table["path"].astype(str)))
    return {k: v[order] for k, v in table.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=400, help="photos to index (default 400: all)")
    parser.add_argument("--root", default=None, help="the AT&T faces folder (s1 ... s40; default: the bundled one)")
    args = parser.parse_args()
    root = args.root or str(ATT_FACES_DIR)
    people = [f"s{i}" for i in range(1, 41)]
    photos = [os.path.join(root, p, f"{i}.pgm") for i in range(1, 11) for p in people]   # spread over people
    work = tempfile.mkdtemp()
    try:
        subset = photos[:args.images]
        start = time.perf_counter()
        with threadpool_limits(1):   # one CPU per worker, as each Ray worker has
            batch.run(FaceIndexPipeline(), subset, os.path.join(work, "one.parquet"), progress=False)
        one = time.perf_counter() - start
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", _node_ip_address="127.0.0.1")
        start = time.perf_counter()
        batch.run(FaceIndexPipeline(), subset, os.path.join(work, "two.parquet"), workers=2, progress=False)
        two = time.perf_counter() - start
        a, b = sorted_rows(os.path.join(work, "one.parquet")), sorted_rows(os.path.join(work, "two.parquet"))
        same = all(np.array_equal(a[k], b[k]) for k in a)
        print(f"face index of {len(subset)} AT&T photos ({len(a['path'])} faces)")
        print(f"1 worker, 1 thread:      {one:7.1f} s  {len(subset) / one:6.2f} images/s")
        print(f"2 Ray workers:           {two:7.1f} s  {len(subset) / two:6.2f} images/s  (speed-up {one / two:.2f}x)")
        print(f"rows and descriptors equal: {same}; largest descriptor difference "
              f"{np.abs(a['descriptor'] - b['descriptor']).max() if len(a['path']) == len(b['path']) else 'n/a'}")
        index = FaceIndex.load(os.path.join(work, "two.parquet"))
        truth = [os.path.basename(os.path.dirname(p)) for p in index.rows["path"]]
        print(f"{len(subset) - len(set(index.rows['path']))} photos without a face; {len(set(truth))} people")
        scores = [adjusted_rand_score(truth, cluster_faces(index, 0.6, seed=seed)) for seed in range(5)]
        print(f"Chinese whispers at 0.6 (the default), 5 seeds: adjusted Rand index {np.mean(scores):.3f} "
              f"({min(scores):.3f} - {max(scores):.3f}), {cluster_faces(index, 0.6).max() + 1} clusters (seed 0)")
        for threshold in (0.5, 0.4):
            labels = cluster_faces(index, threshold)
            print(f"Chinese whispers at {threshold}: {labels.max() + 1} clusters, adjusted Rand index "
                  f"{adjusted_rand_score(truth, labels):.3f}")
        ray.shutdown()
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
