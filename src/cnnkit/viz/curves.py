"""Training curves and confusion matrices as PNG files (matplotlib, imported only when drawing).

Uses matplotlib's object-oriented API with the Agg canvas, so drawing needs no
display and leaves pyplot's global state alone. The ``*_figure`` functions
return the figure (for tests and notebooks); the ``plot_*`` functions write it.
"""
import os
import textwrap

import numpy as np

from cnnkit.utils import natural_key

__all__ = ["history_figure", "plot_history", "confusion_figure", "plot_confusion", "top_confusions", "save_figure"]

# Cells hold their counts up to this many classes; beyond, the numbers would not fit.
_COUNTS_UP_TO = 20
# Tick labels are never set smaller than this (points); beyond, every n-th one is shown.
_SMALLEST_TICK_FONT = 5


def _figure(width, height):
    """A matplotlib Figure on an Agg canvas (matplotlib is imported here: it is slow to import)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path, title=None):
    """Write a matplotlib figure to ``path`` (format by its name) through a temporary file renamed into place.

    ``title`` also goes into the file's metadata (a PNG's ``Title`` text), so tools and tests can read it.
    """
    from cnnkit.io.state import atomic_write

    ext = os.path.splitext(os.fspath(path))[1].lstrip(".") or "png"
    metadata = {"Title": title} if title and ext in ("png", "pdf", "svg") else None
    atomic_write(path, lambda f: figure.savefig(f, format=ext, metadata=metadata))


def history_figure(history, title=None):
    """The loss and every metric per epoch (training and validation), one panel each.

    Parameters
    ----------
    history : History or dict
        ``cnnkit.train.History`` or its ``to_dict()``: lists ``loss``, the
        metrics, optionally their ``val_`` versions, and ``epochs``.
    title : str, optional
        Written above the panels: the model, the data and the settings. Default "training curves".

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = history.to_dict() if hasattr(history, "to_dict") else dict(history)
    epochs = np.asarray(values.get("epochs") or np.arange(1, len(values["loss"]) + 1))
    skip = {"epochs", "stopped", "stop_reason", "lr", "seconds"}
    keys = [k for k in values if k not in skip and not k.startswith("val_") and isinstance(values[k], list)]
    keys += [k[4:] for k in values if k.startswith("val_") and k[4:] not in keys]
    figure = _figure(5 * len(keys), 4)
    for index, metric in enumerate(keys):
        ax = figure.add_subplot(1, len(keys), index + 1)
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            if values.get(key):
                column = np.array([np.nan if v is None else v for v in values[key]], dtype=float)
                ax.plot(epochs, column, marker="o", label=label)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric.replace("_", " "))
        ax.set_title(f"{metric.replace('_', ' ')} per epoch", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend()
    # about 13 characters of the title's font fit in an inch
    figure.suptitle(textwrap.fill(title or "training curves", int(13 * 5 * len(keys))))
    figure.tight_layout()
    return figure


def plot_history(history, path, title=None):
    """Draw the curves of :func:`history_figure` into a PNG at ``path``."""
    save_figure(history_figure(history, title), path, title or "training curves")


def top_confusions(confusion, class_names=None, k=10):
    """The k largest off-diagonal cells of a confusion matrix, largest first.

    Parameters
    ----------
    confusion : ndarray, shape (K, K)
        Counts, rows the true class, columns the predicted one.
    class_names : sequence of str, optional
    k : int, default 10

    Returns
    -------
    list of (str, str, int, float)
        ``(true, predicted, count, fraction of the true class)``; only cells with a count above 0.
    """
    confusion = np.asarray(confusion)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(confusion))]
    totals = np.maximum(confusion.sum(1), 1)
    off = confusion.astype(np.float64).copy()
    np.fill_diagonal(off, 0)
    # by count, ties by the larger share of the true class
    order = np.lexsort(((off / totals[:, None]).ravel(), off.ravel()))[::-1]
    found = []
    for flat in order[:k]:
        i, j = divmod(int(flat), len(confusion))
        if off[i, j] <= 0:
            break
        found.append((names[i], names[j], int(confusion[i, j]), float(confusion[i, j] / totals[i])))
    return found


def _tick_labels(ax, names, inches):
    """Class names on both axes, sized to a row's space; every n-th one when even the smallest would overlap."""
    K = len(names)
    fits = 0.55 * inches * 72 * 0.7 / max(K, 1)  # points per row (the axes take about 70% of the figure)
    size = float(np.clip(fits, _SMALLEST_TICK_FONT, 10))
    step = max(1, int(np.ceil(_SMALLEST_TICK_FONT / fits)))
    ticks = list(range(0, K, step))
    ax.set_xticks(ticks, [names[t] for t in ticks], rotation=90, fontsize=size)
    ax.set_yticks(ticks, [names[t] for t in ticks], fontsize=size)


def confusion_figure(confusion, class_names=None, normalize=True, title=None, top_k=10):
    """A confusion matrix as a heat map with the commonest confusions listed beside it.

    Classes are shown in natural order of their names (``s2`` before ``s10``).
    Colours are row-normalised (the fraction of each true class predicted as
    each class), so rare and common classes read alike; with 20 classes or
    fewer each cell also shows its count. Tick labels shrink with the number
    of classes and are thinned out when even the smallest would overlap.

    Parameters
    ----------
    confusion : ndarray, shape (K, K)
        Counts, as ``cnnkit.train.evaluate(...)["confusion"]``: rows true, columns predicted.
    class_names : sequence of str, optional
        Class index -> name; the indices by default.
    normalize : bool, default True
        Colour by the fraction of each true class; else by the counts.
    title : str, optional
        What the matrix is of (model, data); the accuracy and image count are added.
    top_k : int, default 10
        How many of the largest confusions to list (``true → predicted: n (p%)``); 0 for none.

    Returns
    -------
    matplotlib.figure.Figure
    """
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"a confusion matrix must be square (K, K), got shape {confusion.shape}")
    K = len(confusion)
    names = [str(n) for n in class_names] if class_names is not None else [str(i) for i in range(K)]
    if len(names) != K:
        raise ValueError(f"{len(names)} class names for a {K}x{K} confusion matrix")
    order = sorted(range(K), key=lambda i: natural_key(names[i]))
    confusion, names = confusion[np.ix_(order, order)], [names[i] for i in order]
    shown = confusion / np.maximum(confusion.sum(1, keepdims=True), 1) if normalize else confusion
    listed = top_confusions(confusion, names, top_k) if top_k else []
    side = float(np.clip(0.22 * K + 3, 5, 14))
    figure = _figure(side + (3.6 if top_k else 0), side)
    grid = figure.add_gridspec(1, 2, width_ratios=(side, 3.6)) if top_k else figure.add_gridspec(1, 1)
    ax = figure.add_subplot(grid[0, 0])
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None, interpolation="nearest")
    bar = figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("fraction of the true class predicted as each class" if normalize else "images")
    if K <= _COUNTS_UP_TO:
        threshold = (shown.max() or 1) / 2
        for i in range(K):
            for j in range(K):
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if shown[i, j] > threshold else "black")
    _tick_labels(ax, names, side)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = int(confusion.sum())
    accuracy = np.trace(confusion) / max(total, 1)
    heading = f"{title}: " if title else "confusion matrix: "
    ax.set_title(f"{heading}{K} classes, {total} images, accuracy {accuracy:.1%}"
                 + ("\ncolour: row-normalised" if normalize else ""), fontsize=10)
    if top_k:
        side_ax = figure.add_subplot(grid[0, 1])
        side_ax.axis("off")
        lines = [f"{t} → {p}: {n} ({share:.0%})" for t, p, n, share in listed] or ["no confusions"]
        side_ax.set_title(f"top {len(listed)} confusions\ntrue → predicted: n (% of true)", fontsize=10, loc="left")
        side_ax.text(0, 1, "\n".join(lines), va="top", ha="left", fontsize=10, family="monospace",
                     transform=side_ax.transAxes)
    figure.tight_layout()
    return figure


def plot_confusion(confusion, path, class_names=None, normalize=True, title=None, top_k=10):
    """Draw :func:`confusion_figure` into a PNG at ``path`` (the arguments are the same)."""
    figure = confusion_figure(confusion, class_names, normalize, title, top_k)
    save_figure(figure, path, figure.axes[0].get_title().replace("\n", "; "))
