"""The flags and the report shared by the commands that run over folders: face index, predict, detect predict."""
import sys

from cnnkit.cli._args import at_least


def add_arguments(parser, out_help):
    """``--workers``, ``--ray``, ``--batch-size`` (and ``--out`` when ``out_help`` is given) on ``parser``."""
    if out_help:
        parser.add_argument("--out", default=None, metavar="TABLE.parquet", help=out_help)
    parser.add_argument("--workers", type=at_least(1), default=1,
                        help="Ray actors to spread the images over (default 1: in this process, no Ray)")
    parser.add_argument("--ray", default=None, metavar="ADDRESS",
                        help="join this Ray cluster (from `ray start --head`) instead of starting a local one")
    parser.add_argument("--batch-size", type=at_least(1), default=16, help="images per batch handed to a worker (default 16)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args, pipeline, sources, name):
    """Run ``pipeline`` over ``sources`` into ``args.out``; print what was done. Returns the exit status."""
    from cnnkit.distributed import batch

    report = batch.run(pipeline, sources, args.out, workers=args.workers, address=args.ray,
                       batch_size=args.batch_size, progress=not args.quiet, name=name)
    print(f"{name}: {report['images']} images done now ({report['rows']} rows), {report['skipped']} done before; "
          f"wrote {report['shards']} shard(s) into {args.out}")
    if report["errors"]:
        print(f"{len(report['errors'])} image(s) could not be read (recorded as done; see the warnings)",
              file=sys.stderr)
    return 0
