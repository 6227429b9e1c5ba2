"""Running the uploaded INT8 model for real: LiteRT (ai-edge-litert) or the tflite-micro interpreter.

LiteRT is the default engine for every profile because it is fast enough for live loops; MCU
profiles also load the model into tflite-micro at admission, which gives the exact arena size, and
can run every frame on it (``engine="tflm"``) when the MCU kernels themselves are under test.
"""
import numpy as np

from ..types import TensorSpec

_DTYPES = {np.dtype(np.int8): "int8", np.dtype(np.uint8): "uint8", np.dtype(np.int16): "int16",
           np.dtype(np.int32): "int32", np.dtype(np.float32): "float32"}


def _spec(detail: dict) -> TensorSpec:
    scale, zp = detail.get("quantization", (0.0, 0))
    return TensorSpec(detail["name"], _DTYPES.get(np.dtype(detail["dtype"]), "float32"),
                      tuple(int(d) for d in detail["shape"]), float(scale), int(zp))


class LiteRTEngine:
    name = "litert"

    def __init__(self, model: bytes, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self._model = model  # the interpreter keeps a pointer into this buffer
        # The built-in kernels without the XNNPACK delegate: deterministic, closest to the integer
        # reference kernels boards run, and what the host reference run uses, so outputs compare bit-exactly.
        self._it = Interpreter(model_content=model, num_threads=num_threads,
                               experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self._it.allocate_tensors()
        self._in = self._it.get_input_details()
        self._out = self._it.get_output_details()
        self.inputs = [_spec(d) for d in self._in]
        self.outputs = [_spec(d) for d in self._out]

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        it = self._it
        for d, x in zip(self._in, inputs):
            it.set_tensor(d["index"], x.reshape(d["shape"]))
        it.invoke()
        return [it.get_tensor(d["index"]).copy() for d in self._out]


class TFLMEngine:
    name = "tflm"

    def __init__(self, model: bytes, arena_bytes: int):
        from tflite_micro.python.tflite_micro import runtime

        self._model = model
        self._it = runtime.Interpreter.from_bytes(model, arena_size=arena_bytes)
        self.inputs = [_spec(d) for d in self._it.get_input_details_list()] if hasattr(
            self._it, "get_input_details_list") else [_spec(self._it.get_input_details(i)) for i in range(_count(self._it, True))]
        self.outputs = [_spec(self._it.get_output_details(i)) for i in range(_count(self._it, False))]

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        for i, x in enumerate(inputs):
            self._it.set_input(x.reshape(self.inputs[i].shape), i)
        self._it.invoke()
        return [np.array(self._it.get_output(i)) for i in range(len(self.outputs))]


def _count(it, inputs: bool) -> int:
    n = 0
    get = it.get_input_details if inputs else it.get_output_details
    while True:
        try:
            get(n)
        except Exception:  # the interpreter signals the end of the list by raising
            return n
        n += 1
