"""Keras-like model summary: output shape, parameters and multiply-adds of each leaf layer."""
from collections import namedtuple

import numpy as np

from cnnkit.autograd.tensor import Tensor, no_grad
from cnnkit.backend import xp
from cnnkit.nn.layers import Conv2d, Linear

SummaryRow = namedtuple("SummaryRow", "name type output_shape params macs")
SummaryRow.__doc__ = """One leaf layer call: path, class name, output shape without the batch axis,
parameter elements of the layer, multiply-adds per image."""


class Summary:
    """The result of :func:`summary`; ``str(summary)`` is the printed table.

    Attributes
    ----------
    rows : list of SummaryRow
        One per call of a leaf layer, in execution order (a layer called twice,
        such as a shared ReLU, has two rows).
    total_params : int
        ``trainable_params + non_trainable_params``: every parameter element,
        PyTorch's ``sum(p.numel() for p in model.parameters())``.
    trainable_params : int
        Elements of parameters with ``requires_grad``.
    non_trainable_params : int
        Elements of frozen parameters.
    buffer_elements : int
        Elements of buffers (BatchNorm's running mean and variance): state
        that is saved but not learned, counted apart from the parameters.
    macs : int
        Multiply-adds per image: a convolution costs ``OH*OW*C_out*KH*KW*C_in``,
        a dense layer ``in*out``; other layers count 0.
    """

    def __init__(self, rows, trainable_params, non_trainable_params, buffer_elements=0):
        self.rows = rows
        self.trainable_params = trainable_params
        self.non_trainable_params = non_trainable_params
        self.total_params = trainable_params + non_trainable_params
        self.buffer_elements = buffer_elements
        self.macs = sum(row.macs for row in rows)

    def __str__(self):
        header = ("Layer (type)", "Output shape", "Param #", "Mult-adds")
        body = [(f"{r.name} ({r.type})", str((None,) + r.output_shape), f"{r.params:,}", f"{r.macs:,}")
                for r in self.rows]
        widths = [max(len(line[i]) for line in [header] + body) for i in range(4)]
        rule = "-" * (sum(widths) + 6)

        def fmt(line):
            return f"{line[0]:<{widths[0]}}  {line[1]:<{widths[1]}}  {line[2]:>{widths[2]}}  {line[3]:>{widths[3]}}"

        lines = [rule, fmt(header), rule.replace("-", "=")] + [fmt(line) for line in body] + [rule]
        lines += [f"Total params: {self.total_params:,}", f"Trainable params: {self.trainable_params:,}",
                  f"Non-trainable params: {self.non_trainable_params:,}",
                  f"Buffers (not parameters): {self.buffer_elements:,}", f"Mult-adds per image: {self.macs:,}", rule]
        return "\n".join(lines)

    def __repr__(self):
        return (f"Summary(total_params={self.total_params}, trainable_params={self.trainable_params}, "
                f"non_trainable_params={self.non_trainable_params}, buffer_elements={self.buffer_elements}, "
                f"macs={self.macs}, rows={len(self.rows)})")


def _macs(module, output_shape):
    """Multiply-adds per image of one call of ``module`` producing ``output_shape`` (batch axis dropped)."""
    if isinstance(module, Conv2d):
        OH, OW, C_out = output_shape
        KH, KW = module.kernel_size
        return OH * OW * C_out * KH * KW * module.in_channels
    if isinstance(module, Linear):
        return int(np.prod(output_shape[:-1], dtype=np.int64)) * module.in_features * module.out_features
    return 0


def trace(model, input_shape, dtype=None):
    """Run a zero batch of one image through ``model`` and list the calls of its leaf layers.

    The forward pass runs under ``no_grad`` in evaluation mode (BatchNorm's
    running statistics are left untouched; the previous mode is restored),
    with a forward hook on every leaf module.

    Parameters
    ----------
    model : Module
    input_shape : tuple of int
        One input without the batch axis, channels-last, e.g. ``(28, 28, 1)``.
    dtype : dtype, optional
        Of the zero batch; the dtype of the model's first parameter (float32 when none).

    Returns
    -------
    list of (str, Module, tuple, tuple)
        ``(name, module, input_shape, output_shape)`` per call in execution
        order, shapes without the batch axis.
    """
    input_shape = tuple(int(n) for n in input_shape)
    if dtype is None:
        first = next(model.parameters(), None)
        dtype = np.float32 if first is None else first.dtype
    names = {id(module): name or type(module).__name__ for name, module in model.named_modules()}
    leaves = [m for m in model.modules() if not any(c is not None for c in m.children())]
    calls = []

    def record(module, inputs, output):
        calls.append((names[id(module)], module, tuple(inputs[0].shape[1:]), tuple(output.shape[1:])))

    handles = [leaf.register_forward_hook(record) for leaf in leaves]
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            model(Tensor(xp.zeros((1,) + input_shape, dtype=dtype)))
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes:
            object.__setattr__(module, "training", mode)
    return calls


def summary(model, input_shape, dtype=None, show=True):
    """Run a zero batch of one image through ``model`` and tabulate its leaf layers.

    Parameters
    ----------
    model, input_shape, dtype
        As for :func:`trace`, which runs the forward pass.
    show : bool, default True
        Print the table.

    Returns
    -------
    Summary
        ``.rows``, ``.total_params`` (trainable + frozen parameters), ``.trainable_params``,
        ``.non_trainable_params``, ``.buffer_elements``, ``.macs``.
    """
    rows = []
    for name, module, _, shape in trace(model, input_shape, dtype):
        params = sum(int(p.size) for p in module._parameters.values() if p is not None)
        rows.append(SummaryRow(name, type(module).__name__, shape, params, _macs(module, shape)))
    trainable = sum(int(p.size) for p in model.parameters() if p.requires_grad)
    frozen = sum(int(p.size) for p in model.parameters() if not p.requires_grad)
    result = Summary(rows, trainable, frozen, sum(int(b.size) for b in model.buffers()))
    if show:
        print(result)
    return result
