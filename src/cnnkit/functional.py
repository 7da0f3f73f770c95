"""The functional API, channels-last: images (N, H, W, C), kernels (KH, KW, C_in, C_out).

Every function accepts Tensors or ndarrays and returns a Tensor. Import as
``import cnnkit.functional as F``.
"""
from cnnkit.ops.activation import dropout, leaky_relu, log_softmax, prelu, relu, sigmoid, softmax, tanh
from cnnkit.ops.conv import conv2d, conv_output_size, zero_pad
from cnnkit.ops.depthwise import depthwise_conv2d
from cnnkit.ops.linalg import linear, matmul
from cnnkit.ops.loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss
from cnnkit.ops.norm import batch_norm
from cnnkit.ops.pool import avg_pool2d, global_avg_pool2d, max_pool2d
from cnnkit.ops.shape import concat, flatten, reshape, transpose

__all__ = [
    "conv_output_size", "zero_pad", "conv2d", "depthwise_conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool2d",
    "linear", "matmul", "flatten", "reshape", "transpose", "concat",
    "relu", "leaky_relu", "prelu", "sigmoid", "tanh", "softmax", "log_softmax", "dropout",
    "cross_entropy", "binary_cross_entropy_with_logits", "mse_loss", "batch_norm",
]
