"""What is inside a TFLite flatbuffer: tensors, ops, MACs, parameters, INT8-ness.

Read with the flatbuffer accessors that ship with ai-edge-litert (``schema_py_generated``). The
lazy accessors are used rather than the object API so that a multi-megabyte weight buffer is
never turned into a Python list. Conventions (what a MAC is, which ops must be INT8) are in
docs/models.md.
"""
from __future__ import annotations

import re
import struct
from dataclasses import asdict, dataclass, field

import numpy as np
from ai_edge_litert import schema_py_generated as fb

from ..errors import ModelFileError
from .arena import measure_arena
from .magic import TFLITE_IDENTIFIER, sniff

EDGETPU_CUSTOM_OP = "edgetpu-custom-op"

_OP_NAMES = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
_DTYPE_NAMES = {v: k.lower() for k, v in vars(fb.TensorType).items() if not k.startswith("_")}
_FLOAT_DTYPES = frozenset({"float32", "float16", "float64", "bfloat16"})
# Constants of these integer types are shape vectors, axes or paddings, not learned parameters,
# unless they are the bias of a MAC op (INT8 models keep biases in int32).
_INDEX_DTYPES = frozenset({"int32", "int64", "uint32", "uint64", "bool", "string"})

#: Ops that only convert between float and integer domains at the model's edges.
EDGE_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})
#: Ops that move or reinterpret data without arithmetic; a float one costs nothing worth flagging
#: when it sits next to the float input or output.
DATA_MOVEMENT_OPS = frozenset({
    "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "SHAPE", "TRANSPOSE", "PACK", "UNPACK", "CONCATENATION",
    "SPLIT", "SPLIT_V", "SLICE", "STRIDED_SLICE", "GATHER", "GATHER_ND", "BROADCAST_TO", "TILE",
})
#: Where each MAC op keeps its bias among its inputs.
_BIAS_INPUT = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "TRANSPOSE_CONV": 3,
               "CONV_3D": 2, "CONV_3D_TRANSPOSE": 3}


@dataclass
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    scale: float = 0.0
    zero_point: int = 0


@dataclass
class Layer:
    index: int
    op: str
    macs: int
    params: int
    output_shape: tuple[int, ...]


@dataclass
class ModelReport:
    format: str
    size_bytes: int
    params: int
    macs: int
    ops: list[str]
    layers: list[Layer]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    int8: bool
    float_ops: list[str]
    custom_ops: list[str]
    arena_bytes: int | None = None
    #: Why tflite-micro could not plan the arena (an op it lacks, a custom op), when it could not.
    arena_error: str | None = None
    subgraphs: int = 1
    op_counts: dict[str, int] = field(default_factory=dict)
    name: str = "model"

    def to_json(self) -> dict:
        out = asdict(self)
        for key in ("inputs", "outputs"):
            for t in out[key]:
                t["shape"] = list(t["shape"])
        for layer in out["layers"]:
            layer["output_shape"] = list(layer["output_shape"])
        return out


def _fail(name: str, message: str, hint: str) -> ModelFileError:
    return ModelFileError(f"{name}: {message}", hint=hint)


def _check_envelope(data: bytes, name: str) -> None:
    if len(data) == 0:
        raise _fail(name, "the model file is empty (0 bytes)",
                    "the upload or export did not finish; write the .tflite again")
    if len(data) < 8:
        raise _fail(name, f"truncated: {len(data)} bytes is too short for a TFLite flatbuffer "
                    "(the header alone is 8 bytes)", "copy the complete .tflite file")
    ident = bytes(data[4:8])
    if ident != TFLITE_IDENTIFIER:
        found = _describe_magic(bytes(data[:8]))
        raise _fail(name, f"not a TFLite model: bytes 4..8 are {ident!r}, not the {TFLITE_IDENTIFIER!r} "
                    f"identifier{found}",
                    "pass a .tflite file (the TFLite converter's or edgetpu_compiler's output)")
    root = struct.unpack_from("<I", data, 0)[0]
    if root + 4 > len(data):
        raise _fail(name, f"truncated: the root table sits at byte {root} but the file has "
                    f"{len(data)} bytes", "copy the complete .tflite file")


def _describe_magic(head: bytes) -> str:
    kind = sniff(head)
    if kind == "packerout-zip":
        return " (this is a zip archive)"
    if kind == "rpk":
        return " (this looks like an IMX500 .rpk firmware package)"
    if head.startswith(b"\x7fELF"):
        return " (this is an ELF executable)"
    if head[:1] in (b"{", b"["):
        return " (this looks like JSON)"
    return ""


class _Reader:
    """Walks one parsed model; every accessor may raise on a corrupt or cut buffer."""

    def __init__(self, data: bytes, name: str):
        self.data = data
        self.name = name
        self.model = fb.Model.GetRootAs(data, 0)
        self.buffer_bytes = self._buffer_sizes()
        self.opnames = [self._opname(self.model.OperatorCodes(i))
                        for i in range(self.model.OperatorCodesLength())]

    def _buffer_sizes(self) -> list[int]:
        sizes = []
        n = len(self.data)
        for i in range(self.model.BuffersLength()):
            buf = self.model.Buffers(i)
            if buf is None:
                sizes.append(0)
                continue
            if not buf.DataIsNone():
                try:
                    # A zero-copy view; numpy refuses one that would run past the end of the file.
                    sizes.append(int(buf.DataAsNumpy().size))
                except ValueError:
                    raise _fail(self.name, f"truncated: weight buffer {i} ({buf.DataLength():,} "
                                f"bytes) runs past the end of the file ({n:,} bytes)",
                                "copy the complete .tflite file") from None
            elif buf.Size() > 0:
                end = buf.Offset() + buf.Size()
                if end > n:
                    raise _fail(self.name, f"truncated: weight buffer {i} needs bytes up to {end} "
                                f"but the file has {n}", "copy the complete .tflite file")
                sizes.append(buf.Size())
            else:
                sizes.append(0)
        return sizes

    @staticmethod
    def _opname(code) -> str:
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == fb.BuiltinOperator.CUSTOM:
            custom = code.CustomCode()
            return custom.decode("utf-8", "replace") if custom else "CUSTOM"
        return _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")


def _tensor_info(t) -> TensorInfo:
    shape = tuple(int(t.Shape(j)) for j in range(t.ShapeLength()))
    scale, zp = 0.0, 0
    q = t.Quantization()
    if q is not None and q.ScaleLength() > 0:
        scale = float(q.Scale(0))
        zp = int(q.ZeroPoint(0)) if q.ZeroPointLength() > 0 else 0
    name = t.Name()
    return TensorInfo(name=name.decode("utf-8", "replace") if name else "",
                      dtype=_DTYPE_NAMES.get(t.Type(), f"type{t.Type()}"),
                      shape=shape, scale=scale, zero_point=zp)


def _prod(shape) -> int:
    return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


def layer_macs(op: str, ins: list[TensorInfo | None], outs: list[TensorInfo]) -> int:
    """Multiply-accumulates of one op (docs/models.md): dot-product ops only, elementwise = 0."""
    if not outs:
        return 0
    out = outs[0].shape
    if op == "CONV_2D" and len(ins) > 1 and ins[1] is not None:
        _, kh, kw, cin_per_group = ins[1].shape  # filter OHWI, I = in_c / groups
        return _prod(out) * kh * kw * cin_per_group
    if op == "DEPTHWISE_CONV_2D" and len(ins) > 1 and ins[1] is not None:
        kh, kw = ins[1].shape[1:3]  # filter 1HW(C*multiplier)
        return _prod(out) * kh * kw
    if op == "FULLY_CONNECTED" and len(ins) > 1 and ins[1] is not None:
        return _prod(out) * ins[1].shape[-1]  # weights [units, in_features]
    if op == "TRANSPOSE_CONV" and len(ins) > 2 and ins[1] is not None and ins[2] is not None:
        cout, kh, kw, _ = ins[1].shape  # every input element is scattered through the kernel
        return _prod(ins[2].shape) * kh * kw * cout
    if op == "CONV_3D" and len(ins) > 1 and ins[1] is not None:
        kd, kh, kw, cin, _ = ins[1].shape  # filter DHWIO
        return _prod(out) * kd * kh * kw * cin
    if op == "BATCH_MATMUL" and len(ins) > 1 and ins[0] is not None:
        return _prod(out) * ins[0].shape[-1]
    return 0


def analyze(data: bytes, *, name: str = "model", with_arena: bool = False) -> ModelReport:
    """Parse a TFLite model and report its tensors, ops, MACs, parameters and INT8-ness.

    ``with_arena`` also runs tflite-micro to measure the tensor arena (see ``measure_arena``);
    when tflite-micro cannot plan the model, ``arena_bytes`` stays None and ``arena_error`` says why.
    Raises ModelFileError for empty, truncated, non-TFLite or corrupt input.
    """
    data = bytes(data)
    _check_envelope(data, name)
    try:
        report = _analyze(_Reader(data, name), data)
    except ModelFileError:
        raise
    except (struct.error, IndexError, ValueError, TypeError, UnicodeDecodeError, OverflowError) as err:
        past = re.search(r"at least (\d+) bytes", str(err))
        if past and int(past.group(1)) > len(data):
            what = (f"truncated or corrupt: the model's tables need at least "
                    f"{int(past.group(1)):,} bytes but the file has {len(data):,}")
        else:
            what = (f"corrupt TFLite flatbuffer: the TFL3 identifier is there but the model tables "
                    f"cannot be read ({type(err).__name__}: {err})")
        raise _fail(name, what, "the file is damaged or was cut short; export or copy it "
                    "again and compare its size with the original") from err
    report.name = name
    if with_arena:
        try:
            report.arena_bytes = measure_arena(data)
        except ModelFileError as err:
            report.arena_error = err.message
            if report.custom_ops:
                report.arena_error += f" (custom ops: {', '.join(report.custom_ops)})"
    return report


@dataclass
class OpSite:
    """One operator of a model with its tensors: what every per-layer walk needs."""

    subgraph: int
    op: str  # builtin name, or the custom op's name
    operator: object  # the flatbuffer Operator
    in_idx: list[int]
    ins: list  # TensorInfo per input slot (None for an omitted optional input)
    outs: list
    infos: list  # TensorInfo of every tensor of the subgraph
    is_const: object  # tensor index -> bool: a weight or constant held in a buffer

    @property
    def activations(self) -> list:
        """Inputs that are not constants (activations read by the layer)."""
        return [self.infos[i] for i in self.in_idx if i >= 0 and not self.is_const(i)]

    @property
    def constants(self) -> list:
        return [self.infos[i] for i in self.in_idx if i >= 0 and self.is_const(i)]


def operators(r: _Reader):
    """Every operator of every subgraph, in order, with its tensors (``analyze`` and the per-layer
    cost model walk the graph through this one function)."""
    for s in range(r.model.SubgraphsLength()):
        sg = r.model.Subgraphs(s)
        tensors = [sg.Tensors(i) for i in range(sg.TensorsLength())]
        infos = [_tensor_info(t) for t in tensors]

        def is_const(i: int, tensors=tensors) -> bool:
            return 0 <= i < len(tensors) and r.buffer_bytes[tensors[i].Buffer()] > 0

        for k in range(sg.OperatorsLength()):
            o = sg.Operators(k)
            in_idx = [int(o.Inputs(j)) for j in range(o.InputsLength())]
            out_idx = [int(o.Outputs(j)) for j in range(o.OutputsLength())]
            yield OpSite(s, r.opnames[o.OpcodeIndex()], o, in_idx, [infos[i] if i >= 0 else None for i in in_idx],
                         [infos[i] for i in out_idx if i >= 0], infos, is_const)


def _analyze(r: _Reader, data: bytes) -> ModelReport:
    model = r.model
    if model.SubgraphsLength() == 0:
        raise _fail(r.name, "corrupt TFLite model: it has no subgraph", "export the model again")
    layers: list[Layer] = []
    ops: list[str] = []
    float_ops: list[str] = []
    custom: list[str] = []
    counted: set[tuple[int, int]] = set()
    total_params = 0

    for site in operators(r):
        s, op, o, in_idx, ins, outs, infos = site.subgraph, site.op, site.operator, site.in_idx, site.ins, \
            site.outs, site.infos
        ops.append(op)
        code = model.OperatorCodes(o.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == fb.BuiltinOperator.CUSTOM \
                and op not in custom:
            custom.append(op)

        params = 0
        for pos, i in enumerate(in_idx):
            if not site.is_const(i):
                continue
            if infos[i].dtype in _INDEX_DTYPES and _BIAS_INPUT.get(op) != pos:
                continue
            n = _prod(infos[i].shape)
            params += n
            if (s, i) not in counted:
                counted.add((s, i))
                total_params += n

        if op not in EDGE_OPS and op not in DATA_MOVEMENT_OPS:
            # Activations in and out: only the edge ops may cross between float and integer.
            if any(t.dtype in _FLOAT_DTYPES for t in site.activations + outs) and op not in float_ops:
                float_ops.append(op)

        layers.append(Layer(index=len(layers), op=op, macs=layer_macs(op, ins, outs),
                            params=params, output_shape=outs[0].shape if outs else ()))
    sg = model.Subgraphs(0)
    infos = [_tensor_info(sg.Tensors(i)) for i in range(sg.TensorsLength())]
    inputs = [infos[int(sg.Inputs(j))] for j in range(sg.InputsLength())]
    outputs = [infos[int(sg.Outputs(j))] for j in range(sg.OutputsLength())]

    counts: dict[str, int] = {}
    for op in ops:
        counts[op] = counts.get(op, 0) + 1
    return ModelReport(
        name=r.name,
        format="edgetpu-tflite" if EDGETPU_CUSTOM_OP in custom else "tflite",
        size_bytes=len(data),
        params=total_params,
        macs=sum(layer.macs for layer in layers),
        ops=ops,
        layers=layers,
        inputs=inputs,
        outputs=outputs,
        int8=not float_ops,
        float_ops=float_ops,
        custom_ops=custom,
        subgraphs=model.SubgraphsLength(),
        op_counts=counts,
    )
