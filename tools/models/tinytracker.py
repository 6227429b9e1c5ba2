"""TinyTracker and TinyTrackerS gaze estimators in Keras (papers.md §1).

TinyTracker: 112x112 face crop (RGB + 2 grid-embedding planes = 5 channels) -> 1x1 conv to 3
channels -> MobileNetV3-Small (minimalistic, width 1.0, no top) -> 4x4x576 -> 1x1 conv to 2 ->
flatten 32 -> FC 128 ReLU -> FC 2 tanh -> x30 = gaze point in cm (XCam, YCam).

TinyTrackerS (the Spresense variant): 96x96 grey + 2 grid planes -> Conv3x3 s2 8 ch -> five
inverted-residual blocks (8/e1 s2, 16/e6 s2, 32/e6, 32/e6, 64/e6 s2) -> 1x1 128 -> global average
pool -> FC 64 ReLU -> FC 2 tanh -> x10 cm.

The output scale is a frozen 2x2 dense layer (30*I): the IMX500 converter rejects Keras'
Rescaling layer, while FULLY_CONNECTED is legal on every target. The TFLite graph ends in
tanh -> FULLY_CONNECTED -> DEQUANTIZE.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

TINYTRACKER_INPUT = (112, 112, 5)
TINYTRACKERS_INPUT = (96, 96, 3)


def tinytracker(input_shape=TINYTRACKER_INPUT, out_scale_cm: float = 30.0) -> keras.Model:
    inp = keras.Input(input_shape, name="face_grid")
    x = layers.Conv2D(3, 1, name="to_rgb")(inp)
    backbone = keras.applications.MobileNetV3Small(
        input_shape=(input_shape[0], input_shape[1], 3), alpha=1.0, minimalistic=True,
        include_top=False, weights=None, include_preprocessing=False)
    x = backbone(x)
    x = layers.Conv2D(2, 1, name="squeeze")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="fc1")(x)
    x = layers.Dense(2, activation="tanh", name="fc2")(x)
    out = _scale(x, out_scale_cm)
    return keras.Model(inp, out, name="tinytracker")


def _scale(x, cm: float):
    """tanh output in [-1, 1] -> cm, as a frozen dense layer (see the module docstring)."""
    kernel = keras.initializers.Constant(np.eye(2, dtype="float32") * cm)
    return layers.Dense(2, use_bias=False, kernel_initializer=kernel, trainable=False, name="gaze_cm")(x)


def _inverted_residual(x, expand: int, out_ch: int, stride: int, name: str):
    in_ch = x.shape[-1]
    y = x
    if expand != 1:
        y = layers.Conv2D(in_ch * expand, 1, use_bias=False, name=f"{name}_expand")(y)
        y = layers.BatchNormalization(name=f"{name}_expand_bn")(y)
        y = layers.ReLU(6.0, name=f"{name}_expand_relu")(y)
    y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(y)
    y = layers.BatchNormalization(name=f"{name}_dw_bn")(y)
    y = layers.ReLU(6.0, name=f"{name}_dw_relu")(y)
    y = layers.Conv2D(out_ch, 1, use_bias=False, name=f"{name}_project")(y)
    y = layers.BatchNormalization(name=f"{name}_project_bn")(y)
    if stride == 1 and in_ch == out_ch:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def tinytrackers(input_shape=TINYTRACKERS_INPUT, out_scale_cm: float = 10.0) -> keras.Model:
    inp = keras.Input(input_shape, name="face_grid")
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(inp)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    for i, (expand, ch, stride) in enumerate([(1, 8, 2), (6, 16, 2), (6, 32, 1), (6, 32, 1), (6, 64, 2)]):
        x = _inverted_residual(x, expand, ch, stride, name=f"block{i + 1}")
    x = layers.Conv2D(128, 1, use_bias=False, name="head")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.ReLU(6.0, name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(64, activation="relu", name="fc1")(x)
    x = layers.Dense(2, activation="tanh", name="fc2")(x)
    out = _scale(x, out_scale_cm)
    return keras.Model(inp, out, name="tinytrackers")
