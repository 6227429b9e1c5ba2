"""Model statistics the cards report: parameter and multiply-accumulate counts of a Keras graph."""
from __future__ import annotations

import keras
import numpy as np


def _layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


def macs(model: keras.Model) -> int:
    """Multiply-accumulates of one inference: convolutions, depthwise convolutions, dense layers.

    Batch norms fold into the convolutions and element-wise ops are not MACs, as in the papers.
    """
    total = 0
    for layer in _layers(model):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            out = layer.output.shape
            total += out[1] * out[2] * kh * kw * out[3]
        elif isinstance(layer, keras.layers.SeparableConv2D):
            kh, kw = layer.kernel_size
            cin = layer.input.shape[-1]
            out = layer.output.shape
            total += out[1] * out[2] * (kh * kw * cin * layer.depth_multiplier
                                        + cin * layer.depth_multiplier * out[3])
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            cin = layer.input.shape[-1]
            out = layer.output.shape
            total += out[1] * out[2] * kh * kw * cin * out[3] // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return int(total)


def params(model: keras.Model) -> int:
    return int(model.count_params())
