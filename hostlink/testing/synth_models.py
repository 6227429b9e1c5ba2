"""Small, valid TFLite models written without TensorFlow, for tests, the emulator and benchmarks.

Graphs are assembled with the flatbuffer object API of ai-edge-litert's schema
(``ModelT``/``SubGraphT``/``OperatorT``...) and packed with the ``TFL3`` identifier, so LiteRT
and tflite-micro load them like converter output. Weights are seeded random numbers; INT8 graphs
use per-channel symmetric int8 weights, int32 biases (scale = input scale x weight scale) and
int8 activations, the layout the TFLite converter emits for full-integer quantization.

    GraphBuilder(int8=True) -> .input() -> .conv2d()/.depthwise_conv2d()/.fully_connected()...
    -> .build(outputs) -> bytes
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as fb

from ..models.magic import TFLITE_IDENTIFIER

_BUFFER_ALIGN = 16  # the converter aligns every weight buffer to 16 bytes; SIMD kernels expect it
_ACT = {"NONE": fb.ActivationFunctionType.NONE, "RELU": fb.ActivationFunctionType.RELU,
        "RELU6": fb.ActivationFunctionType.RELU6}
_PAD = {"SAME": fb.Padding.SAME, "VALID": fb.Padding.VALID}


class _AlignedBufferT(fb.BufferT):
    def Pack(self, builder):
        data = None
        if self.data is not None:
            raw = np.ascontiguousarray(self.data, dtype=np.uint8)
            builder.StartVector(1, raw.size, _BUFFER_ALIGN)
            builder.head = builder.head - raw.size
            builder.Bytes[builder.head:builder.head + raw.size] = raw.tobytes()
            data = builder.EndVector()
        fb.BufferStart(builder)
        if data is not None:
            fb.BufferAddData(builder, data)
        return fb.BufferEnd(builder)


@dataclass
class _Tensor:
    shape: tuple[int, ...]
    dtype: int
    scale: float | None
    zero_point: int


class GraphBuilder:
    """Append ops to one subgraph; every method returns the index of the tensor it creates."""

    def __init__(self, *, int8: bool = True, seed: int = 0,
                 calibration: dict[str, float] | None = None):
        self.int8 = int8
        self.rng = np.random.default_rng(seed)
        #: activation name -> int8 scale measured on the float twin (see ``calibrated``)
        self.calibration = calibration or {}
        self._names: dict[str, int] = {}
        self.tensors: list[fb.TensorT] = []
        self.meta: list[_Tensor] = []
        self.buffers: list[fb.BufferT] = [_AlignedBufferT()]  # buffer 0: the empty sentinel
        self.opcodes: list[fb.OperatorCodeT] = []
        self.operators: list[fb.OperatorT] = []
        self.inputs: list[int] = []

    # tensors
    def _tensor(self, shape, dtype, name, *, data: np.ndarray | None = None,
                scale=None, zero_point=0, axis: int = 0) -> int:
        # Unique names let ``calibrated`` match each int8 tensor to its float twin.
        seen = self._names.get(name, 0)
        self._names[name] = seen + 1
        name = f"{name}_{seen}" if seen else name
        t = fb.TensorT()
        t.shape = list(shape)
        t.type = dtype
        t.name = name
        if data is not None:
            buf = _AlignedBufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        if scale is not None:
            q = fb.QuantizationParametersT()
            scales = np.atleast_1d(np.asarray(scale, dtype=np.float32))
            q.scale = [float(s) for s in scales]
            q.zeroPoint = [int(zero_point)] * len(scales)
            q.quantizedDimension = axis
            t.quantization = q
        self.tensors.append(t)
        first_scale = float(np.atleast_1d(scale)[0]) if scale is not None else None
        self.meta.append(_Tensor(tuple(shape), dtype, first_scale, zero_point))
        return len(self.tensors) - 1

    def _activation(self, shape, name, scale: float) -> int:
        if self.int8:
            scale = self.calibration.get(self._next_name(name), scale)
            return self._tensor(shape, fb.TensorType.INT8, name, scale=scale, zero_point=0)
        return self._tensor(shape, fb.TensorType.FLOAT32, name)

    def _next_name(self, name: str) -> str:
        seen = self._names.get(name, 0)
        return f"{name}_{seen}" if seen else name

    def _weights(self, shape, name, fan_in: int, axis: int) -> tuple[int, np.ndarray | None]:
        w = self.rng.normal(0.0, 1.0 / math.sqrt(fan_in), size=shape).astype(np.float32)
        if not self.int8:
            return self._tensor(shape, fb.TensorType.FLOAT32, name, data=w), None
        reduce = tuple(i for i in range(len(shape)) if i != axis)
        scale = np.maximum(np.abs(w).max(axis=reduce), 1e-6) / 127.0
        bshape = [1] * len(shape)
        bshape[axis] = -1
        q = np.clip(np.round(w / scale.reshape(bshape)), -127, 127).astype(np.int8)
        return self._tensor(shape, fb.TensorType.INT8, name, data=q, scale=scale, axis=axis), scale

    def _bias(self, n: int, name: str, in_scale: float | None, w_scale) -> int:
        b = self.rng.normal(0.0, 0.05, size=n).astype(np.float32)
        if not self.int8:
            return self._tensor((n,), fb.TensorType.FLOAT32, name, data=b)
        s = (in_scale * w_scale).astype(np.float32)
        q = np.round(b / s).astype(np.int32)
        return self._tensor((n,), fb.TensorType.INT32, name, data=q, scale=s, axis=0)

    def _out_scale(self, x: int, fan_in: int) -> float:
        # A rough running estimate keeps int8 activations inside their range; exactness is not
        # the point of a synthetic model, only that it quantizes like a real one.
        return (self.meta[x].scale or 1.0) * math.sqrt(fan_in) * 0.5

    def _opcode(self, op: str | int) -> int:
        if isinstance(op, str) and not hasattr(fb.BuiltinOperator, op):
            key = ("custom", op)
        else:
            key = ("builtin", getattr(fb.BuiltinOperator, op) if isinstance(op, str) else op)
        for i, code in enumerate(self.opcodes):
            have = ("custom", code.customCode) if code.customCode else ("builtin", code.builtinCode)
            if have == key:
                return i
        code = fb.OperatorCodeT()
        if key[0] == "custom":
            code.builtinCode = code.deprecatedBuiltinCode = fb.BuiltinOperator.CUSTOM
            code.customCode = op
        else:
            code.builtinCode = key[1]
            code.deprecatedBuiltinCode = min(key[1], 127)  # the old int8 field saturates at 127
        self.opcodes.append(code)
        return len(self.opcodes) - 1

    def op(self, op: str, inputs: list[int], outputs: list[int], *, options_type: int = 0,
           options=None, custom_options: bytes | None = None) -> None:
        """Append any op, builtin (by its BuiltinOperator name) or custom (any other name)."""
        o = fb.OperatorT()
        o.opcodeIndex = self._opcode(op)
        o.inputs = list(inputs)
        o.outputs = list(outputs)
        o.builtinOptionsType = options_type
        o.builtinOptions = options
        if custom_options is not None:
            o.customOptions = list(custom_options)
        self.operators.append(o)

    # layers
    def input(self, shape=(1, 8, 8, 3), name: str = "input", *, scale: float = 1 / 128,
              zero_point: int = 0) -> int:
        if self.int8:
            i = self._tensor(shape, fb.TensorType.INT8, name, scale=scale, zero_point=zero_point)
        else:
            i = self._tensor(shape, fb.TensorType.FLOAT32, name)
        self.inputs.append(i)
        return i

    def float_input(self, shape=(1, 8, 8, 3), name: str = "input") -> int:
        """A float32 model input; follow it with ``quantize`` for the INT8 body."""
        i = self._tensor(shape, fb.TensorType.FLOAT32, name)
        self.inputs.append(i)
        return i

    def quantize(self, x: int, scale: float = 1 / 128, zero_point: int = 0) -> int:
        """float -> int8 at the input edge; nothing in a float graph."""
        if not self.int8:
            return x
        out = self._tensor(self.meta[x].shape, fb.TensorType.INT8, "quantize", scale=scale,
                           zero_point=zero_point)
        self.op("QUANTIZE", [x], [out])
        return out

    def dequantize(self, x: int) -> int:
        """int8 -> float32 at the output edge; nothing in a float graph."""
        if not self.int8:
            return x
        out = self._tensor(self.meta[x].shape, fb.TensorType.FLOAT32, "dequantize")
        self.op("DEQUANTIZE", [x], [out])
        return out

    @staticmethod
    def _spatial(size: int, k: int, stride: int, padding: str) -> int:
        return -(-size // stride) if padding == "SAME" else (size - k) // stride + 1

    def conv2d(self, x: int, out_c: int, k: int = 3, *, stride: int = 1, padding: str = "SAME",
               activation: str = "RELU", name: str = "conv") -> int:
        n, h, w, c = self.meta[x].shape
        wt, ws = self._weights((out_c, k, k, c), f"{name}/w", k * k * c, axis=0)
        b = self._bias(out_c, f"{name}/b", self.meta[x].scale, ws)
        oh, ow = self._spatial(h, k, stride, padding), self._spatial(w, k, stride, padding)
        out = self._activation((n, oh, ow, out_c), name, self._out_scale(x, k * k * c))
        opt = fb.Conv2DOptionsT()
        opt.padding, opt.strideH, opt.strideW = _PAD[padding], stride, stride
        opt.fusedActivationFunction = _ACT[activation]
        self.op("CONV_2D", [x, wt, b], [out], options_type=fb.BuiltinOptions.Conv2DOptions,
                options=opt)
        return out

    def depthwise_conv2d(self, x: int, k: int = 3, *, multiplier: int = 1, stride: int = 1,
                         padding: str = "SAME", activation: str = "RELU",
                         name: str = "dwconv") -> int:
        n, h, w, c = self.meta[x].shape
        oc = c * multiplier
        wt, ws = self._weights((1, k, k, oc), f"{name}/w", k * k, axis=3)
        b = self._bias(oc, f"{name}/b", self.meta[x].scale, ws)
        oh, ow = self._spatial(h, k, stride, padding), self._spatial(w, k, stride, padding)
        out = self._activation((n, oh, ow, oc), name, self._out_scale(x, k * k))
        opt = fb.DepthwiseConv2DOptionsT()
        opt.padding, opt.strideH, opt.strideW = _PAD[padding], stride, stride
        opt.depthMultiplier = multiplier
        opt.fusedActivationFunction = _ACT[activation]
        self.op("DEPTHWISE_CONV_2D", [x, wt, b], [out],
                options_type=fb.BuiltinOptions.DepthwiseConv2DOptions, options=opt)
        return out

    def fully_connected(self, x: int, units: int, *, activation: str = "NONE",
                        name: str = "fc") -> int:
        shape = self.meta[x].shape
        features = int(np.prod(shape[1:]))
        wt, ws = self._weights((units, features), f"{name}/w", features, axis=0)
        b = self._bias(units, f"{name}/b", self.meta[x].scale, ws)
        out = self._activation((shape[0], units), name, self._out_scale(x, features))
        opt = fb.FullyConnectedOptionsT()
        opt.fusedActivationFunction = _ACT[activation]
        self.op("FULLY_CONNECTED", [x, wt, b], [out],
                options_type=fb.BuiltinOptions.FullyConnectedOptions, options=opt)
        return out

    def add(self, a: int, b: int, name: str = "add") -> int:
        scale = max(self.meta[a].scale or 1.0, self.meta[b].scale or 1.0) * 2
        out = self._activation(self.meta[a].shape, name, scale)
        opt = fb.AddOptionsT()
        self.op("ADD", [a, b], [out], options_type=fb.BuiltinOptions.AddOptions, options=opt)
        return out

    def average_pool(self, x: int, k: int, *, stride: int | None = None,
                     padding: str = "VALID", name: str = "avgpool") -> int:
        n, h, w, c = self.meta[x].shape
        stride = stride or k
        oh, ow = self._spatial(h, k, stride, padding), self._spatial(w, k, stride, padding)
        out = self._activation((n, oh, ow, c), name, self.meta[x].scale or 1.0)
        opt = fb.Pool2DOptionsT()
        opt.padding, opt.strideH, opt.strideW = _PAD[padding], stride, stride
        opt.filterHeight, opt.filterWidth = k, k
        self.op("AVERAGE_POOL_2D", [x], [out], options_type=fb.BuiltinOptions.Pool2DOptions,
                options=opt)
        return out

    # int8 TANH and LOGISTIC kernels insist on these fixed output quantizations.
    _FIXED_OUT = {"TANH": (1 / 128, 0), "LOGISTIC": (1 / 256, -128)}

    def unary(self, op: str, x: int, name: str | None = None) -> int:
        """A shape-preserving op without options (TANH, LOGISTIC, RELU, HARD_SWISH, or a custom one)."""
        name = name or op.lower()
        if self.int8 and op in self._FIXED_OUT:
            scale, zp = self._FIXED_OUT[op]
            out = self._tensor(self.meta[x].shape, fb.TensorType.INT8, name, scale=scale, zero_point=zp)
        else:
            out = self._activation(self.meta[x].shape, name, self.meta[x].scale or 1.0)
        self.op(op, [x], [out])
        return out

    def mul_const(self, x: int, value: float, name: str = "mul") -> int:
        """x * value with a constant scalar operand (TinyTracker's x30 output scaling)."""
        if self.int8:
            c = self._tensor((1,), fb.TensorType.INT8, f"{name}/c", data=np.array([127], np.int8),
                             scale=value / 127, zero_point=0)
        else:
            c = self._tensor((1,), fb.TensorType.FLOAT32, f"{name}/c",
                             data=np.array([value], np.float32))
        out = self._activation(self.meta[x].shape, name, (self.meta[x].scale or 1.0) * abs(value))
        opt = fb.MulOptionsT()
        self.op("MUL", [x, c], [out], options_type=fb.BuiltinOptions.MulOptions, options=opt)
        return out

    def build(self, outputs: list[int], *, description: str = "hostlink synthetic model") -> bytes:
        sg = fb.SubGraphT()
        sg.tensors = self.tensors
        sg.inputs = self.inputs
        sg.outputs = list(outputs)
        sg.operators = self.operators
        sg.name = "main"
        model = fb.ModelT()
        model.version = 3
        model.operatorCodes = self.opcodes
        model.subgraphs = [sg]
        model.buffers = self.buffers
        model.description = description
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
        return bytes(builder.Output())


def calibrated(graph: Callable[[GraphBuilder], list[int]], *, seed: int = 0,
               samples: int = 4) -> bytes:
    """An INT8 model whose activation scales come from running its float twin.

    ``graph(g)`` adds the layers to ``g`` and returns the output tensors; it is called once on a
    float builder and once on an INT8 builder with the same seed, so both get the same weights.
    The float model runs in LiteRT on uniform [-1, 1] inputs (the range the int8 input scale
    1/128 covers) and every activation's largest magnitude becomes its int8 scale: the same
    post-training calibration the TFLite converter does with a representative dataset.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    fg = GraphBuilder(int8=False, seed=seed)
    twin = fg.build(graph(fg))
    resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with warnings.catch_warnings():  # "preserve_all_tensors is for debugging": it is what we want
        warnings.simplefilter("ignore")
        # No XNNPACK: it would announce itself on stderr and hides intermediate tensors anyway.
        it = Interpreter(model_content=twin, experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=resolver)
    it.allocate_tensors()
    rng = np.random.default_rng(seed)
    peak: dict[str, float] = {}
    for _ in range(samples):
        for d in it.get_input_details():
            it.set_tensor(d["index"], rng.uniform(-1, 1, d["shape"]).astype(np.float32))
        it.invoke()
        for d in it.get_tensor_details():
            if not d["name"] or d["name"].endswith(("/w", "/b", "/c")):
                continue
            try:
                v = it.get_tensor(d["index"])
            except ValueError:
                continue
            peak[d["name"]] = max(peak.get(d["name"], 0.0), float(np.abs(v).max()) if v.size else 0.0)
    scales = {name: max(p, 1e-3) / 127.0 for name, p in peak.items()}
    g = GraphBuilder(int8=True, seed=seed, calibration=scales)
    return g.build(graph(g))


def _tiny_graph(input_shape, channels: int, classes: int, float_output: bool = True):
    def graph(g: GraphBuilder) -> list[int]:
        x = g.input(input_shape)
        x = g.conv2d(x, channels, 3)
        x = g.depthwise_conv2d(x, 3)
        x = g.fully_connected(x, classes)
        return [g.dequantize(x) if float_output else x]
    return graph


def tiny_int8_model(input_shape=(1, 8, 8, 3), *, channels: int = 8, classes: int = 4,
                    float_output: bool = True, seed: int = 0) -> bytes:
    """conv 3x3 -> depthwise 3x3 -> FC, full-integer INT8 like the TinyTracker export, calibrated.

    ``float_output`` ends in a DEQUANTIZE (float32 output tensor), as the TFLite converter does
    when only the input type is set to int8.
    """
    return calibrated(_tiny_graph(input_shape, channels, classes, float_output), seed=seed)


def tiny_float_model(input_shape=(1, 8, 8, 3), *, channels: int = 8, classes: int = 4,
                     seed: int = 0) -> bytes:
    """The same graph as ``tiny_int8_model`` left in float32 (what every INT8 board refuses)."""
    g = GraphBuilder(int8=False, seed=seed)
    return g.build(_tiny_graph(input_shape, channels, classes)(g))


def _depth8(v: float) -> int:
    """MobileNetV3's channel rounding: nearest multiple of 8, never 10 % below the request."""
    d = max(8, int(v + 4) // 8 * 8)
    return d + 8 if d < 0.9 * v else d


def _tinytracker_graph(channels: int, size: int):
    def graph(g: GraphBuilder) -> list[int]:
        x = g.input((1, size, size, channels))
        x = g.conv2d(x, 3, 1, activation="NONE", name="grid_mix")
        x = g.conv2d(x, 16, 3, stride=2, name="stem")
        # (expansion, out channels, stride) of MobileNetV3-Small; minimalistic: kernel 3, ReLU, no SE
        blocks = [(1, 16, 2), (72 / 16, 24, 2), (88 / 24, 24, 1), (4, 40, 2), (6, 40, 1),
                  (6, 40, 1), (3, 48, 1), (3, 48, 1), (6, 96, 2), (6, 96, 1), (6, 96, 1)]
        for i, (expansion, out_c, stride) in enumerate(blocks):
            in_c = g.meta[x].shape[-1]
            y = x
            if expansion != 1:
                y = g.conv2d(y, _depth8(in_c * expansion), 1, name=f"b{i}/expand")
            y = g.depthwise_conv2d(y, 3, stride=stride, name=f"b{i}/dw")
            y = g.conv2d(y, out_c, 1, activation="NONE", name=f"b{i}/project")
            x = g.add(x, y, name=f"b{i}/add") if stride == 1 and in_c == out_c else y
        x = g.conv2d(x, 576, 1, name="last_conv")
        x = g.conv2d(x, 2, 1, activation="NONE", name="head_conv")
        x = g.fully_connected(x, 128, activation="RELU", name="fc1")
        x = g.fully_connected(x, 2, name="fc2")
        x = g.unary("TANH", x)
        x = g.mul_const(x, 30.0, name="scale_cm")
        return [g.dequantize(x)]
    return graph


def tinytracker_model(*, int8: bool = True, channels: int = 5, size: int = 112, seed: int = 0) -> bytes:
    """TinyTracker's graph (papers.md section 1) with random weights: architecture only, no skill.

    1x1 conv 5->3, MobileNetV3-Small minimalistic backbone (no SE, ReLU, 3x3 depthwise), 1x1 conv
    576->2, flatten, FC 32->128 ReLU, FC 128->2, tanh, x30. Useful where the real model's shapes,
    MACs and memory matter but its weights do not (timing, admission, benchmarks).
    """
    graph = _tinytracker_graph(channels, size)
    if int8:
        return calibrated(graph, seed=seed)
    g = GraphBuilder(int8=False, seed=seed)
    return g.build(graph(g), description="TinyTracker architecture, random weights (hostlink synth)")


def network_from_spec(spec: dict, *, seed: int = 0) -> bytes:
    """An INT8 model with the layer shapes of a network description (random weights).

    Some measured networks are known only by their layer shapes: a runtime that ran its own
    variant of a benchmark network publishes its generated code, not a model file
    (hostlink/data/calibration/networks/ holds the description and this build of it). ``spec``::

        {"input": [96, 96, 3], "layers": [
            {"op": "CONV_2D", "filters": 8, "kernel": 3, "stride": 2},
            {"op": "DEPTHWISE_CONV_2D", "kernel": 3, "stride": 1},
            {"op": "AVERAGE_POOL_2D", "pool": 3},
            {"op": "FULLY_CONNECTED", "units": 2}, {"op": "SOFTMAX"}]}

    Convolutions pad SAME (output = ceil(input / stride)) with a fused ReLU, as the converter
    emits them; only the shapes matter to the cost model, so no calibration run is needed.
    """
    g = GraphBuilder(int8=True, seed=seed)
    x = g.input((1, *[int(v) for v in spec["input"]]))
    for i, layer in enumerate(spec["layers"]):
        op = layer["op"]
        if op == "CONV_2D":
            x = g.conv2d(x, int(layer["filters"]), int(layer["kernel"]), stride=int(layer.get("stride", 1)),
                         name=f"l{i}")
        elif op == "DEPTHWISE_CONV_2D":
            x = g.depthwise_conv2d(x, int(layer["kernel"]), stride=int(layer.get("stride", 1)), name=f"l{i}")
        elif op == "AVERAGE_POOL_2D":
            x = g.average_pool(x, int(layer["pool"]), name=f"l{i}")
        elif op == "FULLY_CONNECTED":
            x = g.fully_connected(x, int(layer["units"]), name=f"l{i}")
        elif op == "SOFTMAX":
            x = g.unary("SOFTMAX", x, name=f"l{i}")
        else:
            raise ValueError(f"layer {i}: op {op!r} is not one a network description can hold "
                             "(CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, FULLY_CONNECTED, SOFTMAX)")
    return g.build([x], description=spec.get("what", "hostlink network description"))
