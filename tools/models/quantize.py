"""Full-integer post-training quantization to TFLite, and running the result on held-out data.

int8 input, int8 weights and activations (TFLITE_BUILTINS_INT8 only), float32 output through a
final DEQUANTIZE: what the paper calls "fully quantized" (papers.md §1).
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def to_int8_tflite(model, representative: np.ndarray) -> bytes:
    """Convert a Keras model, calibrating activation ranges on ``representative`` float inputs."""

    def samples():
        for x in representative:
            yield [x[None].astype(np.float32)]

    # A fixed batch of 1 keeps the graph static: a dynamic batch leaves SHAPE/STRIDED_SLICE/PACK
    # ops around every Flatten/Reshape, which microcontroller runtimes and op checks reject.
    inp = keras.Input(batch_shape=(1, *model.input_shape[1:]), name=model.inputs[0].name)
    fixed = keras.Model(inp, model(inp), name=model.name)
    conv = tf.lite.TFLiteConverter.from_keras_model(fixed)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = samples
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.float32
    return conv.convert()


def _interpreter(model_content: bytes, num_threads: int = 1):
    # Builtin kernels only: XNNPACK would fold ops into a DELEGATE node and round differently from
    # the integer kernels a board runs.
    return tf.lite.Interpreter(
        model_content=model_content, num_threads=num_threads,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)


class TfliteRunner:
    """Runs a (quantized) .tflite one sample at a time, quantizing the input with the tensor's own
    scale and zero point."""

    def __init__(self, model_content: bytes):
        self.interp = _interpreter(model_content, num_threads=2)
        self.interp.allocate_tensors()
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]

    @property
    def input_quant(self):
        scale, zp = self.inp["quantization"]
        return float(scale), int(zp)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        outs = []
        scale, zp = self.input_quant
        for sample in x:
            if self.inp["dtype"] == np.float32:
                q = sample[None].astype(np.float32)
            else:
                info = np.iinfo(self.inp["dtype"])
                q = np.clip(np.round(sample / scale) + zp, info.min, info.max)[None].astype(self.inp["dtype"])
            self.interp.set_tensor(self.inp["index"], q)
            self.interp.invoke()
            y = self.interp.get_tensor(self.out["index"])[0]
            if self.out["dtype"] != np.float32:
                oscale, ozp = self.out["quantization"]
                y = (y.astype(np.float32) - ozp) * oscale
            outs.append(np.array(y, np.float32))
        return np.stack(outs)


def op_names(model_content: bytes) -> list[str]:
    """Builtin op names in the graph, for the card (what a board's op check will see)."""
    interp = _interpreter(model_content)
    return sorted({d["op_name"] for d in interp._get_ops_details()})
