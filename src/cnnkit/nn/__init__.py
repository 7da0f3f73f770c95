"""Layers and models as Modules: parameters, buffers, state dicts, train/eval, summaries. Channels-last.

Names follow PyTorch (``Conv2d(in_channels, out_channels, kernel_size,
stride, padding)``, ``state_dict()``, ``load_state_dict(strict=True)``), the
layouts follow the course and Keras: images (N, H, W, C), conv weights
(KH, KW, C_in, C_out), dense weights (in, out).
"""
from cnnkit.nn import init
from cnnkit.nn.blocks import BasicBlock, BasicConv2d, ConvBlock, IdentityBlock, InceptionBlock
from cnnkit.nn.channelwise import Affine, PReLU
from cnnkit.nn.containers import Sequential
from cnnkit.nn.depthwise import DepthwiseConv2d, SeparableConv2d
from cnnkit.nn.layers import (AdaptiveAvgPool2d, AvgPool2d, Conv2d, Flatten, GlobalAvgPool2d, Identity, LeakyReLU,
                              Linear, MaxPool2d, ReLU, Sigmoid, Softmax, Tanh)
from cnnkit.nn.regularization import BatchNorm1d, BatchNorm2d, Dropout
from cnnkit.nn.module import Module, Parameter
from cnnkit.nn.summary import Summary, SummaryRow

__all__ = [
    "Module", "Parameter", "Sequential", "init", "Summary", "SummaryRow",
    "Conv2d", "DepthwiseConv2d", "SeparableConv2d", "Linear", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d",
    "AdaptiveAvgPool2d", "Flatten", "Identity",
    "ReLU", "LeakyReLU", "PReLU", "Affine", "Sigmoid", "Tanh", "Softmax", "Dropout", "BatchNorm2d", "BatchNorm1d",
    "BasicBlock", "IdentityBlock", "ConvBlock", "BasicConv2d", "InceptionBlock",
]
