"""A face embedding trained with ``cnnkit face train``, used on photos as dlib's ResNet is.

dlib's ResNet reads a chip aligned on 5 landmarks; the Siamese embedding learnt the
AT&T faces as they are framed there: greyscale, the head upright in a 92x112
portrait. :class:`TrainedEmbedding` cuts that framing around an MTCNN box
(:data:`ATT_FRAMING`), turns it grey, resizes it to the network's input by area
averaging (as the AT&T faces were halved for training) and embeds it. Everything it
needs travels in the checkpoint: the input shape in ``preprocessing``, the framing
and the distance threshold (chosen on the training people's pairs) in ``extra``.
"""
import hashlib

import numpy as np

from cnnkit.face.evaluation import embed_images

__all__ = ["ATT_FRAMING", "TASK", "TrainedEmbedding", "load_embedding"]

#: ``extra["task"]`` of the checkpoints ``cnnkit face train`` writes.
TASK = "face_embedding"

#: How the AT&T photos frame a face, relative to its MTCNN box (width w, height h):
#: the portrait's centre is ``box centre + (0.024 w, -0.073 h)``, its height ``1.235 h``,
#: its width 92/112 of that. Measured: MTCNN (min_size 30) finds one face in each of
#: the 400 photos; these are the medians (box 70.5 x 90.7 pixels centred at (44.3, 62.6)
#: in the 92 x 112 frame).
ATT_FRAMING = {"centre": [0.024, -0.073], "height": 1.235, "aspect": 92 / 112}

class TrainedEmbedding:
    """A face-embedding network with the framing, input size and threshold it was trained with.

    Parameters
    ----------
    model : Module
        Maps (N, H, W, C) images in [0, 1] to (N, D) embeddings.
    input_shape : (int, int, int)
        (H, W, C); C is 1 (grey) or 3 (RGB).
    threshold : float
        Two faces are the same person when their distance is below it.
    framing : dict
        ``centre`` (dx, dy as fractions of the box's width and height), ``height``
        (the crop's height in box heights) and ``aspect`` (width / height), as
        :data:`ATT_FRAMING`.
    name : str
        Identifies the weights (a face database remembers which embedding filled it).

    Attributes
    ----------
    dim : int
        D, the length of an embedding.
    """

    def __init__(self, model, input_shape, threshold, framing, name):
        self.model, self.input_shape = model.eval(), tuple(int(n) for n in input_shape)
        if len(self.input_shape) != 3 or self.input_shape[2] not in (1, 3):
            raise ValueError(f"input_shape must be (H, W, 1) or (H, W, 3), got {input_shape!r}")
        self.threshold, self.framing, self.name = float(threshold), dict(framing), str(name)
        self.dim = int(embed_images(self.model, np.zeros((1,) + self.input_shape, np.float32)).shape[1])

    def crop(self, image, box):
        """The framed face, resized to the input: (H, W, 3) uint8 photo and (x1, y1, x2, y2) box -> (H, W, C) float32.

        Parts of the frame outside the photo repeat its edge pixels.
        """
        from cnnkit.data.images import resize, to_gray

        x1, y1, x2, y2 = (float(v) for v in box)
        w, h = x2 - x1, y2 - y1
        if not (w > 0 and h > 0):
            raise ValueError(f"a face box must have x2 > x1 and y2 > y1, got {tuple(box)}")
        cx = (x1 + x2) / 2 + self.framing["centre"][0] * w
        cy = (y1 + y2) / 2 + self.framing["centre"][1] * h
        height = self.framing["height"] * h
        width = self.framing["aspect"] * height
        top, left = int(round(cy - height / 2)), int(round(cx - width / 2))
        bottom, right = top + max(int(round(height)), 1), left + max(int(round(width)), 1)
        H, W = image.shape[:2]
        pad = ((max(0, -top), max(0, bottom - H)), (max(0, -left), max(0, right - W)), (0, 0))
        inside = image[max(top, 0):min(bottom, H), max(left, 0):min(right, W)]
        frame = np.pad(inside, pad, mode="edge").astype(np.float32) / np.float32(255)
        if self.input_shape[2] == 1:
            frame = to_gray(frame)
        return resize(frame, self.input_shape[:2], method="area")

    def embed_face(self, image, face):
        """The (D,) embedding of one face: ``face`` is a detection record (its ``"box"``) of ``image``."""
        if not isinstance(face, dict) or "box" not in face:
            raise ValueError(f"{self.name} frames a face by its detection box: pass a record of detect_faces, "
                             f"not {type(face).__name__}")
        return embed_images(self.model, self.crop(_rgb_uint8(image), face["box"])[None])[0]


def _rgb_uint8(image):
    """``image`` as RGB uint8 (H, W, 3), or a ValueError naming what it is."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"a face embedding needs an RGB uint8 photo (H, W, 3), got shape {image.shape} and "
                         f"dtype {image.dtype}")
    return image


def _fingerprint(state):
    """A short hash of a state dict's tensors: which weights filled a face database."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(state[key]).tobytes())
    return digest.hexdigest()[:12]


def load_embedding(path):
    """Load what ``cnnkit face train`` wrote: a run folder (its best weights) or one of its checkpoints.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    TrainedEmbedding

    Raises
    ------
    ValueError
        For a file of an older cnnkit (retrain), or a checkpoint that is not a
        face embedding; FileNotFoundError when nothing is there.
    """
    from cnnkit import train

    checkpoint = train.load_checkpoint(path)  # it refuses the files of older cnnkits, saying how to retrain
    extra, shape = checkpoint.extra, (checkpoint.preprocessing or {}).get("input_shape")
    if extra.get("task") != TASK or shape is None or extra.get("threshold") is None:
        raise ValueError(f"{checkpoint.path} holds a {checkpoint.config['name']}, not a face embedding trained by "
                         f"`cnnkit face train` (no face_embedding task, input shape and threshold in it)")
    name = f"{checkpoint.config['name']}@{_fingerprint(checkpoint.model.state_dict())}"
    return TrainedEmbedding(checkpoint.model, shape, extra["threshold"], extra.get("framing", ATT_FRAMING), name)

