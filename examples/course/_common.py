"""What every course script shares: the --quick/--out arguments, a table printer, figures and saving them.

Figures use matplotlib's object-oriented API on an Agg canvas (no display,
no pyplot state), as ``cnnkit.viz.curves`` does.
"""
import argparse
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO, "docs", "course")
# a real photo (face_recognition's examples, MIT: see tests/data/named_faces/README.md)
PHOTO = os.path.join(REPO, "tests", "data", "named_faces", "obama", "obama.jpg")


def parse_args(doc, add_arguments=None, argv=None):
    """Parse ``--quick`` and ``--out`` (plus the script's own options) with the script's docstring as help."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tiny run in seconds (for CI); the numbers are rough")
    parser.add_argument("--out", default=DEFAULT_OUT, help="folder for the picture (default: docs/course)")
    parser.add_argument("--seed", type=int, default=0)
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    args.started = (time.perf_counter(), time.process_time())
    return args


def photo(longer_side=None, mode="rgb"):
    """The course's real photo as floats in [0, 1]: (H, W, 3), or (H, W, 1) with ``mode="gray"``."""
    from cnnkit import data

    return data.load_image(PHOTO, longer_side=longer_side, mode=mode)


def figure(width, height):
    """A matplotlib Figure on an Agg canvas (matplotlib imported here)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def show_image(ax, image, title, cmap="gray", colorbar=None, vmin=None, vmax=None):
    """Draw an image on ``ax`` without ticks, titled; ``colorbar`` labels a colour bar beside it."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3:
        image = np.clip(image, 0, 1)  # float rounding can step past 1, which imshow warns about
    shown = ax.imshow(image, cmap=cmap if image.ndim == 2 else None, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04).set_label(colorbar)
    return shown


def annotate_grid(ax, values, fmt="{:g}", color="black"):
    """Write each entry of a small 2-D array in its cell of an ``imshow`` picture."""
    for (i, j), v in np.ndenumerate(np.asarray(values)):
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8, color=color)


def save(fig, args, name, title=None):
    """Title, lay out and write ``fig`` to ``args.out/name`` (via a temporary file and a rename); return the path."""
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, name)
    partial = f"{path}.{os.getpid()}.part.png"
    fig.savefig(partial)
    os.replace(partial, path)
    print(f"wrote {path}")
    return path


def table(headers, rows, title=None):
    """Print rows as a plain text table with right-aligned columns."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if title:
        print(title)
    for index, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if index == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def done(args):
    """Print the run's wall and CPU time (the numbers quoted in docs/course.md; wall time depends on the load)."""
    mode = "quick" if args.quick else "full"
    wall, cpu = time.perf_counter() - args.started[0], time.process_time() - args.started[1]
    print(f"{mode} run took {wall:.1f} s wall, {cpu:.1f} s CPU")
