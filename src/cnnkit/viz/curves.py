"""Training curves and confusion matrices as PNG files (matplotlib, imported only when drawing).

Uses matplotlib's object-oriented API with the Agg canvas, so drawing needs no
display and leaves pyplot's global state alone.
"""
import numpy as np


def _figure(width, height):
    """A matplotlib Figure on an Agg canvas (matplotlib is imported here: it is slow to import)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def plot_history(history, path, title=None):
    """Draw the loss and every metric per epoch (training and validation), one panel each, into a PNG.

    Parameters
    ----------
    history : History or dict
        ``cnnkit.train.History`` or its ``to_dict()``: lists ``loss``, the
        metrics, optionally their ``val_`` versions, and ``epochs``.
    path : str
        The PNG file to write.
    title : str, optional
        Written above the panels, e.g. the model and the data.
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
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path)


def plot_confusion(confusion, path, class_names=None, normalize=True):
    """Draw a confusion matrix (rows: true class, columns: predicted) as a PNG heat map.

    Parameters
    ----------
    confusion : ndarray, shape (K, K)
        Counts, as ``cnnkit.train.evaluate(...)["confusion"]``.
    path : str
        The PNG file to write.
    class_names : sequence of str, optional
        Tick labels; class indices by default.
    normalize : bool, default True
        Colour by the fraction of each true class; the cells show the counts.
    """
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"a confusion matrix must be square (K, K), got shape {confusion.shape}")
    K = len(confusion)
    names = list(class_names) if class_names is not None else [str(i) for i in range(K)]
    if len(names) != K:
        raise ValueError(f"{len(names)} class names for a {K}x{K} confusion matrix")
    shown = confusion / np.maximum(confusion.sum(1, keepdims=True), 1) if normalize else confusion
    size = max(4.0, 0.5 * K + 2)
    figure = _figure(size, size)
    ax = figure.add_subplot(1, 1, 1)
    image = ax.imshow(shown, cmap="Blues")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if K <= 30:  # beyond that the numbers would not fit in the cells
        threshold = shown.max() / 2
        for i in range(K):
            for j in range(K):
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if shown[i, j] > threshold else "black")
    ax.set_xticks(range(K), names, rotation=45, ha="right")
    ax.set_yticks(range(K), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    figure.tight_layout()
    figure.savefig(path)
