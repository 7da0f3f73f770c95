"""Classic CNN architectures, channels-last, with torchvision's layer names and parameter counts.

Every builder takes ``num_classes`` and ``in_channels`` (plus ``dtype`` and
``rng``) and records its arguments in ``model.config``, so
``get_model(**model.config)`` rebuilds the architecture.

Flattening is channels-last: a classifier that flattens a feature map
(LeNet-5, AlexNet, VGG) sees the features in (H, W, C) order, not PyTorch's
(C, H, W); converting torchvision weights permutes the rows of that first
dense layer accordingly.
"""
from cnnkit.models.alexnet import alexnet
from cnnkit.models.dlib_mmod import DlibMMOD, dlib_mmod
from cnnkit.models.dlib_resnet import DlibFaceResNet, dlib_face_resnet
from cnnkit.models.face_embedding import EmbeddingNet, face_embedding
from cnnkit.models.inception import googlenet
from cnnkit.models.lenet import lenet5
from cnnkit.models.localizer import localizer
from cnnkit.models.mtcnn import mtcnn_onet, mtcnn_pnet, mtcnn_rnet
from cnnkit.models.registry import INPUT_SHAPES, MODELS, PRETRAINED
from cnnkit.models.resnet import resnet18, resnet34, resnet50, resnet_small
from cnnkit.models.tiny_face_detector import tiny_face_detector
from cnnkit.models.tiny_yolo import tiny_yolo
from cnnkit.models.vgg import vgg16, vgg19
from cnnkit.models.vgg_features import VGG16Features, hed_edges, vgg16_features

__all__ = ["MODELS", "PRETRAINED", "INPUT_SHAPES", "get_model", "lenet5", "alexnet", "vgg16", "vgg19", "resnet18",
           "resnet34", "resnet50", "resnet_small", "googlenet", "tiny_yolo", "localizer", "tiny_face_detector",
           "vgg16_features", "VGG16Features", "hed_edges", "mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet", "dlib_face_resnet",
           "DlibFaceResNet", "face_embedding", "EmbeddingNet", "dlib_mmod", "DlibMMOD", "default_input_shape"]


def get_model(name, pretrained=False, **kwargs):
    """Build the registered model ``name``.

    Parameters
    ----------
    name : str
        One of ``sorted(MODELS)``: alexnet, dlib_face_resnet, dlib_mmod, face_embedding,
        googlenet, lenet5, localizer, mtcnn_onet, mtcnn_pnet, mtcnn_rnet,
        resnet18, resnet34, resnet50, resnet_small, tiny_face_detector,
        tiny_yolo, vgg16, vgg16_features, vgg19.
    pretrained : bool, default False
        Load the weights of its entry in :mod:`cnnkit.weights` (fetched and
        converted on first use); ``sorted(PRETRAINED)`` lists the models that
        have one. Not recorded in ``model.config``.
    **kwargs
        Passed to the builder, e.g. ``num_classes=6, in_channels=3``.

    Returns
    -------
    Module
        With ``model.config`` recording ``name`` and the arguments.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones), or
        ``pretrained=True`` for a model without registry weights.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names are {sorted(MODELS)}")
    if pretrained and name not in PRETRAINED:
        raise ValueError(f"model {name!r} has no pretrained weights; models with weights: {sorted(PRETRAINED)}")
    model = MODELS[name](**kwargs)
    if pretrained:
        model.load_state_dict(PRETRAINED[name].state_dict())
    return model


def default_input_shape(name):
    """The (H, W, C) of one input that the zoo model ``name`` takes as built by default (224x224 RGB if unrecorded)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names are {sorted(MODELS)}")
    shapes = {"lenet5": (32, 32, 1), "resnet_small": (28, 28, 1), "localizer": (32, 32, 3), "tiny_yolo": (64, 64, 3)}
    return {**shapes, **INPUT_SHAPES}.get(name, (224, 224, 3))
