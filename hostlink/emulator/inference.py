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
        # TFLM's details carry neither tensor names nor a "quantization" pair: names come from the
        # flatbuffer, scale and zero point from "quantization_parameters", so specs equal LiteRT's.
        in_names, out_names = _io_names(model)
        self.inputs = [_tflm_spec(self._it.get_input_details(i), n) for i, n in enumerate(in_names)]
        self.outputs = [_tflm_spec(self._it.get_output_details(i), n) for i, n in enumerate(out_names)]

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        for i, x in enumerate(inputs):
            self._it.set_input(x.reshape(self.inputs[i].shape), i)
        self._it.invoke()
        return [np.array(self._it.get_output(i)) for i in range(len(self.outputs))]


def _io_names(model: bytes) -> tuple[list[str], list[str]]:
    from ai_edge_litert import schema_py_generated as fb

    sg = fb.Model.GetRootAs(model, 0).Subgraphs(0)

    def name(i: int) -> str:
        return (sg.Tensors(i).Name() or b"").decode("utf-8", "replace")

    return ([name(sg.Inputs(i)) for i in range(sg.InputsLength())],
            [name(sg.Outputs(i)) for i in range(sg.OutputsLength())])


def _tflm_spec(detail: dict, name: str) -> TensorSpec:
    q = detail.get("quantization_parameters") or {}
    scales, zps = q.get("scales"), q.get("zero_points")
    scale = float(scales[0]) if scales is not None and len(scales) else 0.0
    zp = int(zps[0]) if zps is not None and len(zps) else 0
    return TensorSpec(name, _DTYPES.get(np.dtype(detail["dtype"]), "float32"),
                      tuple(int(d) for d in detail["shape"]), scale, zp)
