"""Would a board take this model? The same check runs in the board emulators and in `inspect`.

Each refusal carries the protocol's stable ErrorCode and a message that names the limit and both
numbers, so an emulator can put it straight into an ERROR frame.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..protocols import ErrorCode
from .tflite import ModelReport

#: IMX500 TPC v4.0 operator sets (boards.md §3.1, edge-mdt-tpc) and the TFLite builtins that
#: express each of them. Sets with no entry leave no op of their own in a TFLite graph:
#: BATCH_NORM folds into the preceding conv (or MUL+ADD), DROPOUT vanishes at export, SWISH and
#: HARDSIGMOID decompose into LOGISTIC/MUL and ADD/RELU6/MUL. SSD_POST_PROCESS appears as the
#: custom op TFLite_Detection_PostProcess.
IMX500_TPC_V4_TO_TFLITE: dict[str, tuple[str, ...]] = {
    "ADD": ("ADD",), "ARGMAX": ("ARG_MAX",), "BATCH_NORM": (), "CAST": ("CAST",),
    "COMBINED_NON_MAX_SUPPRESSION": ("NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5"),
    "CONCATENATE": ("CONCATENATION",), "CONV": ("CONV_2D",), "CONV_TRANSPOSE": ("TRANSPOSE_CONV",),
    "DEPTHWISE_CONV": ("DEPTHWISE_CONV_2D",), "DIV": ("DIV",), "DROPOUT": (),
    "EQUAL": ("EQUAL",), "EXPAND": ("BROADCAST_TO",), "FLATTEN": ("RESHAPE",),
    "FULLY_CONNECTED": ("FULLY_CONNECTED",), "GATHER": ("GATHER",), "GELU": ("GELU",),
    "GET_ITEM": ("STRIDED_SLICE", "SLICE", "GATHER"), "HARDSIGMOID": (),
    "HARDSWISH": ("HARD_SWISH",), "HARD_TANH": ("RELU_N1_TO_1", "RELU_0_TO_1"),
    "LEAKY_RELU": ("LEAKY_RELU",), "MAX": ("MAXIMUM", "REDUCE_MAX"), "MAXPOOL": ("MAX_POOL_2D",),
    "MIN": ("MINIMUM", "REDUCE_MIN"), "MUL": ("MUL",), "PAD": ("PAD", "PADV2"),
    "PERMUTE": ("TRANSPOSE",), "PRELU": ("PRELU",), "RELU": ("RELU",), "RELU6": ("RELU6",),
    "RESHAPE": ("RESHAPE",), "SIGMOID": ("LOGISTIC",), "SIZE": ("SHAPE",),
    "SPLIT_CHUNK": ("SPLIT", "SPLIT_V"), "SQUEEZE": ("SQUEEZE",),
    "SSD_POST_PROCESS": ("TFLite_Detection_PostProcess",), "STACK": ("PACK",),
    "STRIDED_SLICE": ("STRIDED_SLICE",), "SUB": ("SUB",), "SWISH": (), "TANH": ("TANH",),
    "TOPK": ("TOPK_V2",), "TRANSPOSE": ("TRANSPOSE",), "UNSQUEEZE": ("EXPAND_DIMS", "RESHAPE"),
    "UNSTACK": ("UNPACK",), "ZERO_PADDING2D": ("PAD",),
}

#: Ops an IMX500 network may contain, as TFLite op names: the TPC v4.0 sets above plus the
#: QUANTIZE/DEQUANTIZE pair at the edges (the TPC's FAKE_QUANT; the converter folds input
#: quantization into the sensor's input tensor and the host dequantizes outputs). Pooling by
#: averaging (AVERAGE_POOL_2D, MEAN), SOFTMAX and RESIZE_* are not in the TPC list and so are not
#: here; upsampling must be a TRANSPOSE_CONV. See docs/models.md.
# RESIZE_NEAREST_NEIGHBOR is added by hand: the TPC lists only ops with IMX500-specific
# quantization settings, and nearest-neighbour upsampling needs none (it copies int8 values);
# the Q-Segment network, which runs in-sensor, upsamples this way.
IMX500_OPS: frozenset[str] = frozenset(
    op for ops in IMX500_TPC_V4_TO_TFLITE.values() for op in ops) | {"QUANTIZE", "DEQUANTIZE", "RESIZE_NEAREST_NEIGHBOR"}


@dataclass(frozen=True)
class BoardLimits:
    board: str
    formats: frozenset[str]
    model_store_bytes: int
    #: RAM for the tensor arena, plus the model itself when ``model_in_ram``.
    ram_bytes: int
    model_in_ram: bool
    #: None: anything tflite-micro / LiteRT runs.
    supported_ops: frozenset[str] | None
    requires_int8: bool = True
    #: Where the RAM is, finishing "but <board> has N KB ..." (e.g. "for the main core").
    ram_where: str = "of RAM"
    #: Where models are stored, finishing "but <board> has N KB ..." (e.g. "of flash for models").
    store_where: str = "of model storage"


@dataclass
class Refusal:
    code: ErrorCode
    message: str


def fmt_bytes(n: int) -> str:
    """Sizes as boards quote them: KB and MB of 1024."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        kb = n / 1024
        return f"{kb:.1f} KB" if kb < 10 else f"{kb:.0f} KB"
    return f"{n / (1024 * 1024):.2f} MB"


def _pair(need: int, have: int) -> tuple[str, str]:
    a, b = fmt_bytes(need), fmt_bytes(have)
    if a == b:  # rounding hid the difference: show the bytes
        a, b = f"{a} ({need:,} bytes)", f"{b} ({have:,} bytes)"
    return a, b


def check(report: ModelReport, limits: BoardLimits) -> list[Refusal]:
    """Every reason ``limits.board`` refuses the model; an empty list means admitted.

    RAM is checked against ``report.arena_bytes`` (analyze(..., with_arena=True)). When the arena
    could not be measured, only the model's own size counts against RAM.
    """
    out: list[Refusal] = []
    board = limits.board
    if report.format not in limits.formats:
        want = " or ".join(sorted(limits.formats))
        out.append(Refusal(ErrorCode.MODEL_FORMAT_UNSUPPORTED,
                           f"{board} runs {want} models; this one is {report.format}"))
    if limits.requires_int8 and not report.int8:
        out.append(Refusal(ErrorCode.MODEL_NOT_INT8,
                           f"{board} runs INT8 models only; these ops compute in float: "
                           f"{', '.join(report.float_ops)} (convert with full-integer "
                           "quantization: int8 weights and activations)"))
    if limits.supported_ops is not None:
        missing = sorted({op for op in report.ops if op not in limits.supported_ops})
        if missing:
            out.append(Refusal(ErrorCode.MODEL_OP_UNSUPPORTED,
                               f"{board} cannot run op{'s' if len(missing) > 1 else ''} "
                               f"{', '.join(missing)}"))
    if report.size_bytes > limits.model_store_bytes:
        need, have = _pair(report.size_bytes, limits.model_store_bytes)
        out.append(Refusal(ErrorCode.MODEL_TOO_LARGE,
                           f"model is {need} but {board} has {have} {limits.store_where}"))
    arena = report.arena_bytes
    in_ram = report.size_bytes if limits.model_in_ram else 0
    if arena is not None or in_ram:
        total = (arena or 0) + in_ram
        if total > limits.ram_bytes:
            need, have = _pair(total, limits.ram_bytes)
            if arena is not None and in_ram:
                parts = f" (arena {fmt_bytes(arena)} + model {fmt_bytes(in_ram)})"
            elif arena is not None:
                parts = " for its tensor arena"
            else:
                parts = " for the model alone (arena not measured)"
            out.append(Refusal(ErrorCode.MODEL_ARENA_TOO_LARGE,
                               f"model needs {need} of RAM{parts} but {board} has {have} "
                               f"{limits.ram_where}"))
    return out
