"""Per-layer inference cost: what work each layer of a .tflite does, and how long a core takes.

``layers()`` walks the model with the same flatbuffer reader and MAC counter as
``hostlink.models.tflite.analyze`` (so the MAC totals agree with ``hostlink inspect``) and adds
what a cost model needs: the op class, element counts and bytes in and out.

``load_fitted()`` reads ``hostlink/data/calibration/fitted.json``, which ``tools/calibrate.py``
fits to the public measurements in ``hostlink/data/calibration/measurements.csv``. The model,
in core cycles so that boards sharing a core and runtime at different clocks pool their rows::

    cycles = net_overhead + sum over layers of (overhead(layer) + work x cycles_per_work[class])
    overhead(layer) = cycles_per_output x output elements   (dot-product layers: each output is
                                                              requantised and stored once)

where work is MACs for the dot-product classes and elements for the others (cycles_per_work is
1/efficiency). docs/calibration.md has the equation, every parameter and the leave-one-out
errors.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from importlib import resources


from ..errors import ConfigError, ModelFileError
from .tflite import (EDGE_OPS, DATA_MOVEMENT_OPS, _prod, _Reader, operators,
                     analyze, layer_macs)

#: Op classes, in the order fitted.json lists their parameters.
MAC_CLASSES = ("conv", "shallow_conv", "depthwise", "pointwise", "fc")
OTHER_CLASSES = ("elementwise", "pooling", "movement", "other")
OP_CLASSES = MAC_CLASSES + OTHER_CLASSES

_ELEMENTWISE = frozenset({
    "ADD", "SUB", "MUL", "DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM", "RELU", "RELU6",
    "RELU_N1_TO_1", "LEAKY_RELU", "PRELU", "LOGISTIC", "TANH", "HARD_SWISH", "ABS", "NEG", "EXP",
    "SQRT", "RSQRT", "SQUARE", "QUANTIZE", "DEQUANTIZE", "ELU", "GELU", "FLOOR", "CEIL", "ROUND",
})
_POOLING = frozenset({"AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D", "MEAN", "SUM", "REDUCE_MAX",
                      "REDUCE_MIN", "REDUCE_PROD"})
_DTYPE_BYTES = {"int8": 1, "uint8": 1, "bool": 1, "int16": 2, "float16": 2, "bfloat16": 2,
                "int32": 4, "uint32": 4, "float32": 4, "int64": 8, "uint64": 8, "float64": 8}

FITTED_PATH = "data/calibration/fitted.json"


@dataclass(frozen=True)
class LayerWork:
    """The work of one op. ``work`` is what its class's efficiency divides: MACs or elements."""

    index: int
    op: str
    op_class: str
    macs: int
    #: Activation elements read (non-constant inputs) and written.
    in_elements: int
    out_elements: int
    #: Activation bytes read and written, and constant (weight/bias) bytes read.
    in_bytes: int
    out_bytes: int
    weight_bytes: int
    #: Kernel height and width for convolutions, (0, 0) otherwise.
    kernel: tuple[int, int] = (0, 0)

    @property
    def work(self) -> int:
        if self.op_class in MAC_CLASSES:
            return self.macs
        return max(self.in_elements, self.out_elements)


def op_class(op: str, kernel: tuple[int, int] = (0, 0), in_channels: int = 0) -> str:
    """Which efficiency an op runs at. A 1x1 CONV_2D is ``pointwise``: the kernels that run it
    (CMSIS-NN's 1x1 fast path, vendor GEMMs) skip the im2col of a k x k convolution. A k x k
    CONV_2D over at most 4 input channels (a network's first layer on RGB or a spectrogram) is
    ``shallow_conv``: the int8 SIMD kernels consume 4 channels per instruction pair, so such a
    layer spends most of its time gathering patches rather than multiplying."""
    if op == "CONV_2D":
        if tuple(kernel) == (1, 1):
            return "pointwise"
        return "shallow_conv" if 0 < in_channels <= 4 else "conv"
    if op in ("TRANSPOSE_CONV", "CONV_3D", "CONV_3D_TRANSPOSE"):
        return "conv"
    if op == "DEPTHWISE_CONV_2D":
        return "depthwise"
    if op in ("FULLY_CONNECTED", "BATCH_MATMUL"):
        return "fc"
    if op in _ELEMENTWISE or op in EDGE_OPS:
        return "elementwise"
    if op in _POOLING:
        return "pooling"
    if op in DATA_MOVEMENT_OPS:
        return "movement"
    return "other"


def _nbytes(info) -> int:
    return _prod(info.shape) * _DTYPE_BYTES.get(info.dtype, 1)


def _read(model) -> tuple[bytes, str]:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model), "model"
    path = os.fspath(model)
    try:
        with open(path, "rb") as f:
            return f.read(), os.path.basename(path)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the model file ({err.strerror})",
                          hint="pass the path of a .tflite file") from None


def layers(model) -> list[LayerWork]:
    """Per-layer work of a .tflite model given as bytes or a path.

    Raises ModelFileError for a file that is not a readable TFLite model (the same checks and
    messages as ``analyze``), ConfigError for a path that cannot be read.
    """
    data, name = _read(model)
    # analyze() validates the envelope and every table, and gives the reference MAC count.
    report = analyze(data, name=name)
    out: list[LayerWork] = []
    for site in operators(_Reader(data, name)):
        op, ins, outs = site.op, site.ins, site.outs
        acts, consts = site.activations, site.constants
        kernel, cin = (0, 0), 0
        if op == "CONV_2D" and len(ins) > 1 and ins[1] is not None and len(ins[1].shape) == 4:
            kernel = (int(ins[1].shape[1]), int(ins[1].shape[2]))
            cin = int(ins[1].shape[3])  # OHWI: input channels per group
        elif op == "DEPTHWISE_CONV_2D" and len(ins) > 1 and ins[1] is not None \
                and len(ins[1].shape) == 4:
            kernel = (int(ins[1].shape[1]), int(ins[1].shape[2]))
        out.append(LayerWork(
            index=len(out), op=op, op_class=op_class(op, kernel, cin),
            macs=layer_macs(op, ins, outs),
            in_elements=sum(_prod(t.shape) for t in acts),
            out_elements=sum(_prod(t.shape) for t in outs),
            in_bytes=sum(_nbytes(t) for t in acts),
            out_bytes=sum(_nbytes(t) for t in outs),
            weight_bytes=sum(_nbytes(t) for t in consts),
            kernel=kernel))
    total = sum(lw.macs for lw in out)
    if total != report.macs or len(out) != len(report.layers):
        # Both walks use the same reader and counter; a mismatch is a bug, not bad input.
        raise AssertionError(f"{name}: cost.layers counted {total} MACs in {len(out)} layers, "
                             f"analyze() {report.macs} in {len(report.layers)}")
    return out


def class_work(lws: list[LayerWork]) -> dict[str, int]:
    """Total work per op class, the number of layers (``"layers"``) and the output elements of
    the dot-product layers (``"mac_outputs"``: each is requantised and stored once)."""
    totals = {c: 0 for c in OP_CLASSES}
    for lw in lws:
        totals[lw.op_class] += lw.work
    totals["layers"] = len(lws)
    totals["mac_outputs"] = sum(lw.out_elements for lw in lws if lw.op_class in MAC_CLASSES)
    return totals


@dataclass
class Prediction:
    """Predicted inference time. ``rel_error`` is the pair's median absolute leave-one-out error
    (0.12 = 12 %) and ``max_rel_error`` its largest, both from fitted.json."""

    per_layer_us: list[float]
    total_us: float
    net_overhead_us: float
    rel_error: float
    max_rel_error: float
    source: str


@dataclass
class CostParams:
    """Fitted cycle costs of one (core, runtime) pair.

    ``cycles_per_work[c]`` is cycles per MAC (dot-product classes) or per element (others);
    ``cycles_per_output`` is cycles per output element of a dot-product layer; ``layer_overhead``
    (cycles per layer, any op) and ``net_overhead`` (cycles per inference) are fixed costs.
    """

    core: str
    runtime: str
    cycles_per_work: dict[str, float]
    cycles_per_output: float
    layer_overhead: float
    net_overhead: float
    rel_error: float
    max_rel_error: float
    rows: int
    source: str
    clock_mhz: list[float] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.core, self.runtime)

    def layer_cycles(self, lw: LayerWork) -> float:
        c = self.layer_overhead + lw.work * self.cycles_per_work[lw.op_class]
        if lw.op_class in MAC_CLASSES:
            c += lw.out_elements * self.cycles_per_output
        return c

    def predict(self, lws: list[LayerWork], clock_hz: float) -> Prediction:
        if not clock_hz or clock_hz <= 0 or not math.isfinite(clock_hz):
            raise ConfigError(f"clock must be a positive frequency in Hz, not {clock_hz!r}",
                              hint="pass the core clock, e.g. 156e6 for Spresense")
        us_per_cycle = 1e6 / float(clock_hz)
        per_layer = [self.layer_cycles(lw) * us_per_cycle for lw in lws]
        net = self.net_overhead * us_per_cycle
        return Prediction(per_layer_us=per_layer, total_us=float(sum(per_layer) + net),
                          net_overhead_us=net, rel_error=self.rel_error,
                          max_rel_error=self.max_rel_error, source=self.source)


def _fitted_text() -> str:
    return resources.files("hostlink").joinpath(FITTED_PATH).read_text(encoding="utf-8")


def _source_text(p: dict) -> str:
    err = (f"leave-one-out median error {100 * p['loo_median_abs_error']:.0f} %, "
           f"max {100 * p['loo_max_abs_error']:.0f} %")
    d = p.get("derived_from")
    if d:
        return (f"hostlink cost model for {p['runtime']} measured on {d['core']}, carried to "
                f"{p['core']} by the {d['cycle_ratio']:.2f}x cycle ratio {d['runtimes']} other "
                f"runtimes show between the two cores (public measurements in "
                f"hostlink/data/calibration/measurements.csv); {err}")
    return (f"hostlink cost model fitted to {p['rows']} public measurements "
            f"({p['core']}, {p['runtime']}; hostlink/data/calibration/measurements.csv); {err}")


def load_fitted(text: str | None = None) -> dict[tuple[str, str], CostParams]:
    """The fitted (core, runtime) pairs from fitted.json (or from ``text``, a fitted.json body)."""
    try:
        doc = json.loads(_fitted_text() if text is None else text)
    except (OSError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{FITTED_PATH}: cannot read the fitted cost model ({err})",
                             hint="run `make calibrate` to write it again") from None
    out: dict[tuple[str, str], CostParams] = {}
    for p in doc["pairs"]:
        key = (p["core"], p["runtime"])
        out[key] = CostParams(
            core=p["core"], runtime=p["runtime"],
            cycles_per_work={c: float(p["cycles_per_work"][c]) for c in OP_CLASSES},
            cycles_per_output=float(p["cycles_per_output"]),
            layer_overhead=float(p["layer_overhead_cycles"]),
            net_overhead=float(p["net_overhead_cycles"]),
            rel_error=float(p["loo_median_abs_error"]), max_rel_error=float(p["loo_max_abs_error"]),
            rows=int(p["rows"]), clock_mhz=[float(c) for c in p.get("clock_mhz", [])],
            source=_source_text(p))
    return out


def predict_total_us(params: CostParams, model, clock_hz: float) -> float:
    """Convenience: total predicted microseconds of a model (bytes or path) on one pair."""
    return params.predict(layers(model), clock_hz).total_us


__all__ = ["LayerWork", "CostParams", "Prediction", "OP_CLASSES", "MAC_CLASSES", "layers",
           "class_work", "load_fitted", "op_class", "predict_total_us"]
