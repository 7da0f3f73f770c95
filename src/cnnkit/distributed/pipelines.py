"""What :func:`cnnkit.distributed.batch.run` runs over folders: the face index, classification and detection.

Each pipeline is built in the driver, travels (pickled) to the workers, loads
its models there once in ``setup()``, and turns a batch of image paths into
rows through the public APIs: ``cnnkit.face`` (MTCNN, dlib's landmarks and
alignment, dlib's face ResNet), ``train.predict`` and ``detection.detect``.
Checkpoints travel as bytes, so workers on other machines need no shared disk.
"""
import os
import tempfile

import numpy as np

FLOAT = np.float32


def _read_rgb(path):
    """An image file as RGB uint8 (H, W, 3); a ValueError naming the file when it cannot be read."""
    from cnnkit.data import load_image

    return load_image(path, dtype=np.uint8)


def _read_all(paths, read):
    """``(images, paths read, {path: message})``: ``read(path)`` of each path, unreadable files set aside."""
    images, kept, errors = [], [], {}
    for path in paths:
        try:
            images.append(read(path))
            kept.append(path)
        except ValueError as exc:
            errors[path] = str(exc)
    return images, kept, errors


class _FromCheckpoint:
    """A pipeline whose model is a checkpoint file: loaded here, carried to workers as the file's bytes."""

    def __init__(self, weights):
        from cnnkit.train.checkpoint import resolve

        with open(resolve(weights), "rb") as f:
            self.checkpoint = f.read()
        self.loaded = None

    def __getstate__(self):
        # workers rebuild the model from the bytes in setup(); the loaded one stays in this process
        return {**self.__dict__, "loaded": None}

    def setup(self):
        """Load the model (in a worker; in this process it is loaded already)."""
        if self.loaded is None:
            self.loaded = self._load(self._loader)

    def _load(self, loader):
        """``loader(path)`` on the checkpoint written to a temporary file (workers may not see the driver's disk)."""
        with tempfile.TemporaryDirectory() as scratch:
            path = os.path.join(scratch, "weights.safetensors")
            with open(path, "wb") as f:
                f.write(self.checkpoint)
            return loader(path)


class FaceIndexPipeline:
    """Every face of every image: its box, score, landmarks and 128-d descriptor (one row per face).

    Rows as ``face_recognition`` gives faces: ``top, right, bottom, left`` (MTCNN's
    box, pixels, float), ``score`` (MTCNN's), ``landmarks`` (5, 2) (x, y) in dlib's
    5-point order, the points the face was aligned on, and ``descriptor`` (128,)
    from dlib's face ResNet. Images without a face give no row (they are
    recorded as done).

    Parameters
    ----------
    min_size : float, default 20
        Smallest face side to look for, pixels.
    detector, predictor, network : optional
        MTCNN, the 5-point shape predictor and the descriptor network; the
        pretrained ones (loaded by each worker from its weights cache) by default.
    """

    columns = {"path": (str, ()), "top": (FLOAT, ()), "right": (FLOAT, ()), "bottom": (FLOAT, ()),
               "left": (FLOAT, ()), "score": (FLOAT, ()), "landmarks": (FLOAT, (5, 2)),
               "descriptor": (FLOAT, (128,))}

    def __init__(self, min_size=20, detector=None, predictor=None, network=None):
        self.min_size, self.detector, self.predictor, self.network = min_size, detector, predictor, network

    def setup(self):
        """Load the pretrained networks not given."""
        from cnnkit.face.embed import default_network, default_predictor
        from cnnkit.face.mtcnn import default_detector

        self.detector = self.detector or default_detector()
        self.predictor = self.predictor or default_predictor()
        self.network = self.network or default_network()

    def __call__(self, paths):
        from cnnkit.face import align_face, detect_faces, embed_chip
        from cnnkit.face.embed import with_dlib_landmarks

        rows, chips = {name: [] for name in self.columns if name != "descriptor"}, []
        images, kept, errors = _read_all(paths, _read_rgb)
        for path, image in zip(kept, images):
            for face in detect_faces(image, min_size=self.min_size, detector=self.detector):
                face = with_dlib_landmarks(face, image, self.predictor)
                left, top, right, bottom = face["box"]
                for name, value in zip(("path", "top", "right", "bottom", "left", "score", "landmarks"),
                                       (path, top, right, bottom, left, face["score"], face["dlib_landmarks"])):
                    rows[name].append(value)
                chips.append(align_face(image, face["dlib_landmarks"]))
        descriptors = embed_chip(np.stack(chips), self.network) if chips else np.zeros((0, 128), FLOAT)
        columns = {name: np.asarray(values, dtype=self.columns[name][0]).reshape(-1, *self.columns[name][1])
                   for name, values in rows.items()}
        return {**columns, "descriptor": np.asarray(descriptors, dtype=FLOAT)}, errors


class ClassifyPipeline(_FromCheckpoint):
    """The class probabilities of each image under a classifier checkpoint (one row per image).

    Rows: ``path``, ``label`` (the best class's name), ``class_id``, ``score``
    (its probability) and ``probabilities`` (K,). Images are read as
    ``cnnkit predict`` reads them: resized to the checkpoint's input shape and
    standardised with its mean and standard deviation.

    Parameters
    ----------
    weights : str
        A checkpoint written by ``cnnkit train`` or a run folder.
    invert : bool, default False
        Read every picture as its negative (``1 - x``): black-on-white
        pictures for a model trained on white-on-black ones (see :meth:`check`).
    """

    def __init__(self, weights, invert=False):
        from cnnkit.train import load_checkpoint

        super().__init__(weights)
        self.invert = bool(invert)
        checkpoint = load_checkpoint(weights)
        preprocessing = checkpoint.preprocessing or {}
        if "input_shape" not in preprocessing:
            raise ValueError(f"{weights} records no input_shape; it was not written by cnnkit train")
        self.preprocessing = preprocessing
        classes = int(checkpoint.model.config.get("num_classes") or len(checkpoint.class_names or []))
        self.names = checkpoint.class_names or [str(i) for i in range(classes)]
        self.columns = {"path": (str, ()), "label": (str, ()), "class_id": (np.int64, ()), "score": (FLOAT, ()),
                        "probabilities": (FLOAT, (len(self.names),))}
        self.loaded = checkpoint.model

    @staticmethod
    def _loader(path):
        """The model of a checkpoint file."""
        from cnnkit.train import load

        return load(path)

    def probabilities(self, images):
        """Class probabilities (N, K) of images (N, H, W, C) read at the checkpoint's input shape."""
        from cnnkit import data, train

        normalize = data.build_preprocessing({"mean": self.preprocessing.get("mean"),
                                              "std": self.preprocessing.get("std")})
        return train.predict(self.loaded, normalize(images)).astype(FLOAT)

    def read(self, path):
        """One image as the model takes it: (H, W, C) floats at the checkpoint's input shape."""
        from cnnkit.data import load_image

        H, W, C = self.preprocessing["input_shape"]
        image = load_image(path, (H, W), mode="gray" if C == 1 else "rgb")
        return 1 - image if self.invert else image

    def check(self, path):
        """How the picture at ``path`` differs from the training data (see :func:`cnnkit.data.checks.compare_with_training`).

        The picture is measured as the model receives it, after any ``invert``.
        """
        from PIL import Image

        from cnnkit.data import load_image
        from cnnkit.data.checks import compare_with_training

        H, W, _ = self.preprocessing["input_shape"]
        image = load_image(path, (H, W), mode="rgb")
        image = 1 - image if self.invert else image
        with Image.open(path) as picture:  # the header only: the file's own size and bands
            bands = 3 if picture.mode in ("P", "PA") else len(picture.getbands())
            shape = (picture.height, picture.width, bands)
        return compare_with_training(image, shape, self.preprocessing)

    def __call__(self, paths):
        images, kept, errors = _read_all(paths, self.read)
        p = self.probabilities(np.stack(images)) if images else np.zeros((0, len(self.names)), FLOAT)
        best = p.argmax(-1)
        return {"path": np.asarray(kept, dtype=str), "label": np.asarray([self.names[i] for i in best], dtype=str),
                "class_id": best.astype(np.int64), "score": p[np.arange(len(p)), best], "probabilities": p}, errors


class DetectPipeline(_FromCheckpoint):
    """The objects a detector finds in each image (one row per box).

    Rows: ``path``, ``label``, ``class_id``, ``score`` and ``box`` (4,) as
    ``(x1, y1, x2, y2)`` pixels of the original image, as ``cnnkit detect
    predict`` prints them.

    Parameters
    ----------
    weights : str
        A checkpoint written by ``cnnkit detect train`` or its run folder.
    score_threshold, iou_threshold : float, default 0.5
    """

    columns = {"path": (str, ()), "label": (str, ()), "class_id": (np.int64, ()), "score": (FLOAT, ()),
               "box": (FLOAT, (4,))}

    def __init__(self, weights, score_threshold=0.5, iou_threshold=0.5):
        from cnnkit.detection.train import load_detector

        super().__init__(weights)
        self.loaded = load_detector(weights)
        self.names = self.loaded[2]
        self.score_threshold, self.iou_threshold = score_threshold, iou_threshold

    @staticmethod
    def _loader(path):
        """``(model, anchors, class_names)`` of a detector checkpoint file."""
        from cnnkit.detection.train import load_detector

        return load_detector(path)

    def __call__(self, paths):
        from cnnkit.data import load_image, resize
        from cnnkit.detection.train import detect

        model, anchors, names = self.loaded
        size = model.config["image_size"]
        images, kept, errors = _read_all(paths, load_image)
        results = detect(model, np.stack([resize(image, size) for image in images]), anchors,
                         len(names), self.score_threshold, self.iou_threshold) if images else []
        rows = {name: [] for name in self.columns}
        for path, image, result in zip(kept, images, results):
            H, W = image.shape[:2]
            boxes = result["boxes"] * np.asarray([W / size, H / size, W / size, H / size])
            for box, score, c in zip(boxes, result["scores"], result["classes"]):
                for name, value in zip(self.columns, (path, names[c], c, score, box)):
                    rows[name].append(value)
        return {name: np.asarray(values, dtype=self.columns[name][0]).reshape(-1, *self.columns[name][1])
                for name, values in rows.items()}, errors
