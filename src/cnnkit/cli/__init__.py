"""The ``cnnkit`` command: parses arguments and calls the library; each subcommand lives in its own module.

This module is the one error boundary of the command line: whatever a command raises
becomes one line ``cnnkit <command>: error: ...`` on stderr and an exit status from
:data:`EXIT_CODES`; ``--debug`` (or ``CNNKIT_DEBUG=1``) shows the traceback instead.
"""
import argparse
import importlib
import os
import sys
import warnings

from cnnkit import __version__
from cnnkit.train.interrupt import TrainingInterrupted

# each module defines register(subparsers), whose subparsers set func=handler(args)
COMMANDS = ("weights", "train", "stylize", "edges", "visualize", "detect", "face", "serve")

#: Exit status of ``cnnkit``, documented in ``cnnkit --help`` and the README.
EXIT_CODES = {
    0: "success",
    1: "error: a bad file or value, missing weights, a failed download (one line on stderr)",
    2: "usage: unknown command or option, missing argument",
    3: "training diverged (a loss that is not finite); the last good epoch is kept in the run folder",
    130: "interrupted (Ctrl-C or SIGTERM; training commands first save where they stopped)",
    141: "the reader of the output went away (e.g. `| head`); nothing is printed",
}

# Subcommand attributes that name the action of a command with actions (``weights fetch``, ``face enroll``).
_ACTIONS = ("action", "face_command", "detect_command")


def _epilog():
    """The exit codes and the debug switch, for ``cnnkit --help``."""
    codes = "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items())
    return (f"exit status:\n{codes}\n\nErrors are one line; --debug or CNNKIT_DEBUG=1 shows the traceback.")


def _add_debug(parser, top):
    """Give ``parser`` and every subcommand under it a ``--debug`` switch, wherever it is typed."""
    parser.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="show the full traceback of an error")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_debug(sub, top=False)


def build_parser():
    """The ``cnnkit`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="cnnkit", description="A from-scratch CNN toolkit on NumPy.",
                                     epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cnnkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"cnnkit.cli.{name}").register(subparsers)
    _add_debug(parser, top=True)
    return parser


def _message(exc):
    """The one-line text of an error: the message itself, or the type and message of an unexpected one."""
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    elif isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    if isinstance(exc, MemoryError):
        text = f"out of memory ({text})"
    elif not isinstance(exc, (ValueError, TypeError, OSError, KeyError, RuntimeError)):
        text = f"{type(exc).__name__}: {text} (an unexpected error: rerun with --debug and report the traceback)"
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _quiet_stdout():
    """Point stdout at /dev/null, so that Python's final flush into a closed pipe stays silent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout replaced by an object without a descriptor (tests)
        pass
    finally:
        os.close(devnull)


def main(argv=None):
    """Run the ``cnnkit`` command line; returns the exit status (see :data:`EXIT_CODES`)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, and usage errors (already printed by argparse)
        return exc.code
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    label = " ".join(["cnnkit", args.command] + [getattr(args, a) for a in _ACTIONS if getattr(args, a, None)])
    debug = getattr(args, "debug", False) or os.environ.get("CNNKIT_DEBUG", "") not in ("", "0")
    with warnings.catch_warnings():
        if not debug:  # warnings as one line each, like errors
            warnings.showwarning = lambda message, *rest, **kw: print(f"{label}: warning: {message}", file=sys.stderr)
        return _run(args, label, debug)


def _run(args, label, debug):
    """Call the command's handler inside the error boundary; return the exit status."""
    try:
        status = args.func(args) or 0
        sys.stdout.flush()  # a closed pipe shows here, not in Python's final flush
        return status
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except (KeyboardInterrupt, TrainingInterrupted) as exc:
        if debug:
            raise
        newline = "\n" if sys.stderr.isatty() else ""  # ends a progress bar's line on a terminal
        print(f"{newline}{label}: {str(exc) or 'interrupted'}", file=sys.stderr)
        return 130
    except Exception as exc:  # the error boundary: every failure is one line unless --debug
        if debug:
            raise
        print(f"{label}: error: {_message(exc)}", file=sys.stderr)
        return 1
