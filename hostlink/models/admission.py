"""Would a board take this model? The same check runs in the board emulators and in `inspect`.

Each refusal carries the protocol's stable ErrorCode and a message that names the limit and both
numbers, so an emulator can put it straight into an ERROR frame.
"""
from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

from ..protocols import ErrorCode
from .tflite import ModelReport

if TYPE_CHECKING:
    from .imx500_layers import Imx500Table

def __getattr__(name):
    # IMX500_OPS: the TFLite ops that some layer accepted by Sony's converter becomes when exported
    # to INT8 TFLite (hostlink/data/imx500_layers.json, `make imx500-layers`). Read on first use,
    # so that hostlink.models imports (and the probe can write the table) without it.
    if name == "IMX500_OPS":
        from .imx500_layers import load_table

        return load_table().accepted_ops()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    #: A vendor converter's recorded verdicts decide ops and memory instead of ``supported_ops``
    #: and the tflite-micro arena. Board "imx500" gets Sony's table (imx500_layers) by default.
    converter: Imx500Table | None = None

    def __post_init__(self):
        if self.converter is None and self.board == "imx500":
            from .imx500_layers import load_table

            object.__setattr__(self, "converter", load_table())


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


def check(report: ModelReport, limits: BoardLimits, memory_report: dict | None = None) -> list[Refusal]:
    """Every reason ``limits.board`` refuses the model; an empty list means admitted.

    RAM is checked against ``report.arena_bytes`` (analyze(..., with_arena=True)). When the arena
    could not be measured, only the model's own size counts against RAM.

    A board with a ``converter`` table (the IMX500) is judged by it instead: each op by what the
    converter answered for the layers that become it, and memory by the converter's memory report
    (``memory_report``, from ``imx500_layers.parse_memory_report``) or else the memory model
    fitted on its reports, against the converter's on-chip total.
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
    if limits.converter is not None:
        out += _converter_op_refusals(report, limits)
    elif limits.supported_ops is not None:
        missing = sorted({op for op in report.ops if op not in limits.supported_ops})
        if missing:
            out.append(Refusal(ErrorCode.MODEL_OP_UNSUPPORTED,
                               f"{board} cannot run op{'s' if len(missing) > 1 else ''} "
                               f"{', '.join(missing)}"))
    if report.size_bytes > limits.model_store_bytes:
        need, have = _pair(report.size_bytes, limits.model_store_bytes)
        out.append(Refusal(ErrorCode.MODEL_TOO_LARGE,
                           f"model is {need} but {board} has {have} {limits.store_where}"))
    if limits.converter is not None:
        out += _converter_memory_refusals(report, limits, memory_report)
        return out
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


def _converter_op_refusals(report: ModelReport, limits: BoardLimits) -> list[Refusal]:
    table = limits.converter
    ops = sorted(set(report.ops))
    reasons = [why for op in ops if op in table.ops and (why := table.op_refusal(op))]
    unknown = [op for op in ops if op not in table.ops]
    if unknown:
        reasons.append(table.unknown_refusal(unknown))
    if not reasons:
        return []
    return [Refusal(ErrorCode.MODEL_OP_UNSUPPORTED, f"{limits.board} cannot run " + "; ".join(reasons))]


def _converter_memory_refusals(report: ModelReport, limits: BoardLimits,
                               memory_report: dict | None) -> list[Refusal]:
    est = limits.converter.memory_estimate(report, memory_report)
    if est.usage_bytes <= est.available_bytes:
        return []
    need, have = _pair(est.usage_bytes, est.available_bytes)
    if est.error_pct is None:
        how = f"by its {limits.converter.converter} memory report"
    else:
        how = (f"predicted by the memory model fitted on {limits.converter.converter} reports, "
               f"leave-one-out error up to {est.error_pct:.0f} %; convert it for the exact figure")
    return [Refusal(ErrorCode.MODEL_ARENA_TOO_LARGE,
                    f"model needs {need} of on-chip memory ({how}) but {limits.board} has {have}")]
