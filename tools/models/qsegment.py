"""Q-Segment-class retinal vessel segmenter in Keras (papers.md §2).

Q-Segment's own layer list is not public; this follows the public template by the same author: a
depthwise-separable U-Net on 96x96x3, encoder 48 -> 96 -> 160 -> 256 channels (stride-2 3x3
downsampling), 320-channel bottleneck, decoder of depthwise-separable convs (192, 128, 80, 40)
with nearest-neighbour upsampling and additive skips through 1x1 convs, 1x1 head to one channel.

Each decoder stage convolves at the coarse resolution, then upsamples and adds the skip: four
times fewer MACs than convolving after the upsampling. The last skip is a 1x1 projection of the
input itself, so thin vessels at full resolution survive. Only IMX500-legal ops (boards.md §3.1):
CONV, DEPTHWISE_CONV, BATCH_NORM (folded), RELU, ADD, nearest resize, SIGMOID.
"""
from __future__ import annotations

import keras
from keras import layers

INPUT = (96, 96, 3)
ENCODER = (48, 96, 160, 256)
BOTTLENECK = 320
DECODER = (192, 128, 80, 40)


def _bn_relu(x, name):
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _ds_conv(x, ch: int, stride: int, name: str):
    """Depthwise 3x3 (BN, ReLU) then pointwise 1x1 (BN, ReLU)."""
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = _bn_relu(x, f"{name}_dw")
    x = layers.Conv2D(ch, 1, use_bias=False, name=f"{name}_pw")(x)
    return _bn_relu(x, f"{name}_pw")


def _upsample2x(x, name: str):
    """Nearest-neighbour 2x. Keras 3 exports UpSampling2D as TILE + RESHAPE, which tflite-micro
    cannot run, while Resizing exports RESIZE_NEAREST_NEIGHBOR; Resizing needs a static size, so
    the crop-trained (dynamic) model uses UpSampling2D and the exported fixed-size twin, which gets
    the same weights (neither layer has any), uses Resizing. Both compute the same values."""
    h, w = x.shape[1], x.shape[2]
    if h is None or w is None:
        return layers.UpSampling2D(2, interpolation="nearest", name=name)(x)
    return layers.Resizing(h * 2, w * 2, interpolation="nearest", name=name)(x)


def qsegment(input_shape=INPUT) -> keras.Model:
    inp = keras.Input(input_shape, name="fundus")
    x = layers.Conv2D(ENCODER[0], 3, strides=2, padding="same", use_bias=False, name="enc1")(inp)
    x = _bn_relu(x, "enc1")
    skips = [inp, x]
    for i, ch in enumerate(ENCODER[1:], start=2):
        x = _ds_conv(x, ch, 2, f"enc{i}")
        skips.append(x)
    skips.pop()  # the deepest encoder map feeds the bottleneck, not a skip
    x = _ds_conv(x, BOTTLENECK, 1, "bottleneck")
    for i, (ch, skip) in enumerate(zip(DECODER, reversed(skips)), start=1):
        x = _ds_conv(x, ch, 1, f"dec{i}")
        x = _upsample2x(x, f"dec{i}_up")
        s = layers.Conv2D(ch, 1, use_bias=False, name=f"dec{i}_skip")(skip)
        s = layers.BatchNormalization(name=f"dec{i}_skip_bn")(s)
        x = layers.Add(name=f"dec{i}_add")([x, s])
        x = layers.ReLU(name=f"dec{i}_relu")(x)
    # One full-resolution depthwise pass mixes the upsampled decoder with the input projection.
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="refine_dw")(x)
    x = _bn_relu(x, "refine")
    x = layers.Conv2D(1, 1, name="head")(x)
    out = layers.Activation("sigmoid", name="vessel_prob")(x)
    return keras.Model(inp, out, name="qsegment")
