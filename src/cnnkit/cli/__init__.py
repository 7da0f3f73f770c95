"""The ``cnnkit`` command: parses arguments and calls the library; each subcommand lives in its own module."""
import argparse
import importlib
import sys

# each module defines register(subparsers), whose subparsers set func=handler(args)
COMMANDS = ("weights", "train", "stylize", "edges", "visualize", "detect", "face")


def main(argv=None):
    """Run the ``cnnkit`` command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="cnnkit", description="A from-scratch CNN toolkit on NumPy.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"cnnkit.cli.{name}").register(subparsers)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as exc:
        print(f"cnnkit {args.command}: error: {exc}", file=sys.stderr)
        return 1
