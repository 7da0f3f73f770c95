"""``cnnkit face index | search | cluster``: every face of a folder into a Parquet index, searched and clustered.

``face index`` runs MTCNN, dlib's alignment and dlib's face ResNet over every
image under a folder, on one core or on a Ray cluster (``--workers``,
``--ray``), and writes a row per face; rerun it to finish an interrupted index
or to add new photos. ``face search`` finds the faces nearest a photo's
largest face; ``face cluster`` groups the faces into people (Chinese whispers).
"""
import csv
import io
import sys

from cnnkit.cli import batch
from cnnkit.cli._args import at_least, positive


def register(sub):
    """Add index, search and cluster to the ``face`` subcommand's parser ``sub``."""
    p = sub.add_parser("index", help="embed every face of every image under a folder into a Parquet index")
    p.add_argument("folder", nargs="+", metavar="FOLDER", help="folders (searched recursively) or image files")
    batch.add_arguments(p, "the index to write (a folder of Parquet shards); images already in it are skipped")
    p.add_argument("--min-size", type=positive, default=20, help="smallest face side to find, pixels (default 20)")
    p.set_defaults(func=run_index)

    s = sub.add_parser("search", help="the faces of an index nearest the largest face of a photo")
    s.add_argument("index", help="a face index written by `cnnkit face index`")
    s.add_argument("image")
    s.add_argument("--k", type=at_least(1), default=5, help="how many matches (default 5)")
    from cnnkit.cli.face import _detector_options

    _detector_options(s, default="mtcnn")  # the detector `face index` uses, so both frame faces alike
    s.set_defaults(func=run_search)

    c = sub.add_parser("cluster", help="group an index's faces into people (Chinese whispers, as dlib)")
    c.add_argument("index", help="a face index written by `cnnkit face index`")
    c.add_argument("--out", required=True, metavar="CLUSTERS.csv", help="one row per face with its cluster")
    c.add_argument("--threshold", type=positive, default=0.6, help="faces closer than this are linked (default 0.6)")
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(func=run_cluster)


def run_index(args):
    """Index the folders."""
    from cnnkit.distributed.pipelines import FaceIndexPipeline

    if not args.out:
        raise ValueError("--out INDEX.parquet is required")
    return batch.run(args, FaceIndexPipeline(min_size=args.min_size), args.folder, "face index")


def run_search(args):
    """Print the k nearest faces: distance, file and box."""
    from cnnkit.cli.face import _largest_face, _read
    from cnnkit.face import embed
    from cnnkit.face.index import FaceIndex

    index = FaceIndex.load(args.index)
    if not len(index):
        raise ValueError(f"the face index {args.index} holds no face")
    image = _read(args.image)
    distances, rows = index.search(embed(image, _largest_face(args.image, image, args)), k=args.k)
    for distance, i in zip(distances, rows):
        row = index.row(i)
        box = ", ".join(f"{row[key]:.0f}" for key in ("top", "right", "bottom", "left"))
        print(f"{distance:.4f}  {row['path']}  (top, right, bottom, left) = ({box})")
    return 0


def run_cluster(args):
    """Write the clusters CSV and print how many people were found."""
    from cnnkit.face.cluster import cluster_faces
    from cnnkit.face.index import FaceIndex
    from cnnkit.io.state import atomic_write

    index = FaceIndex.load(args.index)
    labels = cluster_faces(index, threshold=args.threshold, seed=args.seed)
    lines = [["path", "top", "right", "bottom", "left", "cluster"]]
    lines += [[index.rows["path"][i], *(f"{index.rows[k][i]:.1f}" for k in ("top", "right", "bottom", "left")),
               int(labels[i])] for i in range(len(index))]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines)
    atomic_write(args.out, lambda f: f.write(buffer.getvalue().encode()))
    sizes = sorted(((labels == c).sum() for c in set(labels.tolist())), reverse=True)
    print(f"{len(index)} faces in {len(sizes)} clusters (largest: {', '.join(map(str, sizes[:5]))}); wrote {args.out}")
    if not len(index):
        print(f"the face index {args.index} holds no face", file=sys.stderr)
    return 0

