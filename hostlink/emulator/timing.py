"""One model of a board's frame: per-stage time and power, and per-layer inference time.

``board_frame(board, model, path)`` is the single function that the emulator (each frame it
times), ``hostlink inspect --board`` (the per-layer table) and, through the emulator, sessions
use. Stages other than inference come from the constants in
hostlink/data/calibration/board_stages.json (stages.py); inference comes from the compute unit
of the board's path:

- an MCU core (Cortex-M7 on the Coral Micro, Cortex-M4F on the Spresense): the per-layer cost
  model fitted to public measurements (hostlink.models.cost, docs/calibration.md), at the
  board's clock;
- the IMX500 DSP: a per-network overhead plus MACs at the DSP's throughput, solved from the
  published IMX500 inference times (stages.dsp_fit);
- the Coral Micro's Edge TPU: a per-invocation overhead (calibrated on the TinyTracker total),
  activations over the internal USB 2.0 link and MACs at the Edge TPU's measured rate; ops the
  Edge TPU compiler would not map, and everything after the first of them, run on the M7.

docs/timing-model.md lists every constant and its source.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..protocols import Stage
from . import stages as S

_STAGE_ORDER = (Stage.CAPTURE, Stage.PREPROCESS, Stage.INFERENCE, Stage.TRANSFER)


@dataclass(frozen=True)
class LayerTime:
    """One layer's predicted time, like a row of TFLM's profiler; ``unit`` is where it runs."""

    index: int
    op: str
    op_class: str
    macs: int
    us: float
    unit: str


@dataclass(frozen=True)
class StageTime:
    stage: Stage
    duration_us: float
    power_mw: float
    #: Median absolute leave-one-out error of the fit behind this stage (0.12 = 12 %); None
    #: where the stage is not fitted (a measured, datasheet or modelled constant).
    rel_error: float | None
    max_rel_error: float | None
    source: str

    @property
    def energy_mj(self) -> float:
        return self.duration_us * self.power_mw / 1e6


@dataclass(frozen=True)
class FramePrediction:
    board: str
    path: str
    engine: str
    stages: tuple[StageTime, ...]
    #: Inference, per layer; with ``overhead_us`` (per network, per invocation) they add up to
    #: the inference stage.
    layers: tuple[LayerTime, ...]
    overhead_us: float
    overhead_source: str
    idle_mw: float
    notes: tuple[str, ...] = field(default=())

    def plan(self, *, capture: bool = True) -> list[tuple[Stage, float, float]]:
        """[(stage, duration_us, power_mw)] in the order the board runs them."""
        return [(s.stage, s.duration_us, s.power_mw) for s in self.stages if capture or s.stage != Stage.CAPTURE]

    def stage(self, stage: Stage) -> StageTime:
        return next(s for s in self.stages if s.stage == stage)

    @property
    def frame_us(self) -> float:
        return sum(s.duration_us for s in self.stages)

    @property
    def energy_mj(self) -> float:
        return sum(s.energy_mj for s in self.stages)


# ------------------------------------------------------------------ the paths' constants
@dataclass(frozen=True)
class PathModel:
    board: str
    path: str
    stages: tuple[tuple[Stage, S.StageConst], ...]  # inference: power only
    compute: dict
    idle_mw: float
    energy_basis: str


def _const(stage_doc: dict, key: str, default: float = 0.0) -> float:
    return S.value(stage_doc[key]) if key in stage_doc else default


def _stage_const(stage_doc: dict, power_mw: float) -> S.StageConst:
    srcs = tuple(f"{k}: {v['source']}" for k, v in stage_doc.items() if isinstance(v, dict) and "source" in v)
    return S.StageConst(fixed_us=_const(stage_doc, "fixed_us"), us_per_input_byte=_const(stage_doc, "us_per_input_byte"),
                        us_per_output_byte=_const(stage_doc, "us_per_output_byte"), power_mw=power_mw, sources=srcs)


def board_paths(board: str) -> tuple[str, ...]:
    doc = S.document()
    if board not in doc["boards"]:
        raise ConfigError(f"unknown board {board!r}", f"choose one of: {', '.join(doc['boards'])}")
    return tuple(doc["boards"][board]["paths"])


@lru_cache(maxsize=None)
def path_model(board: str, path: str) -> PathModel:
    doc = S.document()
    paths = board_paths(board)
    if path not in paths:
        raise ConfigError(f"{board} has no {path!r} compute path", f"choose one of: {', '.join(paths)}")
    bdoc = doc["boards"][board]
    pdoc = bdoc["paths"][path]
    if "energy_total" in bdoc:  # only the frame total is published: powers solved from it
        powers = _calibrated_powers(board)
    else:
        powers = {(path, Stage[n.upper()]): S.value(sd["power_mw"]) for n, sd in pdoc["stages"].items()}
    consts = []
    for name, sdoc in pdoc["stages"].items():
        st = Stage[name.upper()]
        src_doc = bdoc["paths"][sdoc["same_as"]]["stages"][name] if "same_as" in sdoc else sdoc
        consts.append((st, _stage_const(src_doc, powers[(path, st)])))
    consts.sort(key=lambda sc: _STAGE_ORDER.index(sc[0]))
    return PathModel(board=board, path=path, stages=tuple(consts), compute=pdoc["compute"],
                     idle_mw=S.value(bdoc["idle_mw"]), energy_basis=pdoc["energy_basis"])


# ------------------------------------------------------------------ inference per compute unit
def _cost():
    from ..models import cost

    return cost


@lru_cache(maxsize=1)
def _fitted() -> dict:
    return _cost().load_fitted()


def mcu_params(compute: dict):
    """The fitted (core, runtime) pair of a compute spec, or its first documented substitute
    (board_stages.json says why each substitute stands in); with a note when substituted."""
    fitted = _fitted()
    want = (compute["core"], compute["runtime"])
    if want in fitted:
        return fitted[want], ""
    for sub in compute.get("substitutes", []):
        key = (sub["core"], sub["runtime"])
        if key in fitted:
            return fitted[key], f"{want[0]}/{want[1]} not measured publicly: {key[0]}/{key[1]} cycles stand in ({sub['why']})"
    have = ", ".join(f"{c}/{r}" for c, r in sorted(fitted))
    raise ConfigError(f"no fitted cost model for {want[0]}/{want[1]} (have: {have})",
                      "run `make calibrate` to fit hostlink/data/calibration/fitted.json again")


def _mcu(lws, compute: dict, unit: str):
    params, note = mcu_params(compute)
    pred = params.predict(lws, float(compute["clock_hz"]))
    rows = [LayerTime(lw.index, lw.op, lw.op_class, lw.macs, us, unit) for lw, us in zip(lws, pred.per_layer_us)]
    mhz = float(compute["clock_hz"]) / 1e6
    src = f"{pred.source}; at {mhz:g} MHz" + (f"; {note}" if note else "")
    return rows, pred.net_overhead_us, f"per-network overhead of {params.core}/{params.runtime} at {mhz:g} MHz", \
        pred.rel_error, pred.max_rel_error, src


def _dsp(lws):
    fit = S.dsp_fit()
    rows = [LayerTime(lw.index, lw.op, lw.op_class, lw.macs, lw.macs / fit.macs_per_us, "dsp") for lw in lws]
    return rows, fit.network_us, "IMX500 DSP per-network overhead (fit)", fit.rel_error, fit.rel_error, fit.source


def _edgetpu_split(lws, mapped: frozenset[str]) -> int:
    """Index of the first layer the Edge TPU compiler would leave to the CPU (len if none)."""
    for i, lw in enumerate(lws):
        if lw.op not in mapped:
            return i
    return len(lws)


def _edgetpu_parts(lws, in_bytes: int, out_bytes: int, compute: dict):
    """(TPU rows, data_us, M7 rows, M7 overhead, fallback params or None, cut index) without the calibrated fixed term."""
    e = S.document()["edgetpu"]
    rate = S.value(e["macs_per_us"])
    usb = S.value(e["usb_bytes_per_us"])
    cut = _edgetpu_split(lws, frozenset(e["mapped_ops"]["value"]))
    tpu = [LayerTime(lw.index, lw.op, lw.op_class, lw.macs, lw.macs / rate, "edgetpu") for lw in lws[:cut]]
    # activations cross the USB link into the TPU and back: the model input and the output of
    # the TPU part (the model output, or the tensor handed to the M7 at the cut)
    out_of_tpu = out_bytes if cut == len(lws) else lws[cut].in_bytes
    data_us = (in_bytes + out_of_tpu) / usb
    cpu, cpu_over, params = [], 0.0, None
    if cut < len(lws):
        fb = compute["fallback"]
        params, _ = mcu_params(fb)
        pred = params.predict(lws[cut:], float(fb["clock_hz"]))
        cpu = [LayerTime(lw.index, lw.op, lw.op_class, lw.macs, us, fb["core"]) for lw, us in zip(lws[cut:], pred.per_layer_us)]
        cpu_over = pred.net_overhead_us
    return tpu, data_us, cpu, cpu_over, params, cut


def _edgetpu(lws, in_bytes, out_bytes, compute):
    fixed = edgetpu_invoke_us()
    tpu, data_us, cpu, cpu_over, params, cut = _edgetpu_parts(lws, in_bytes, out_bytes, compute)
    src = (f"Edge TPU: {fixed:.0f} us per invocation (calibrated on the TinyTracker Coral Micro total), "
           f"activations over USB 2.0 ({data_us:.0f} us here), MACs at {S.value(S.document()['edgetpu']['macs_per_us']) / 1e3:.0f} GMAC/s")
    if cut < len(lws):
        src += f"; layers {cut}..{len(lws) - 1} (from {lws[cut].op}) run on the M7: {params.source}"
    # no fit behind the Edge TPU terms: one calibration point, so no error estimate
    return tpu + cpu, fixed + data_us + cpu_over, "Edge TPU per-invocation overhead and USB 2.0 activations" + (
        " + M7 per-network overhead" if cut < len(lws) else ""), None, None, src


def _tensor_bytes(tensors) -> int:
    return int(sum(int(np.prod(t.shape, dtype=np.int64)) * np.dtype(t.dtype).itemsize for t in tensors))


# ------------------------------------------------------------------ calibration solves
def _reference_model() -> bytes:
    from ..bundled import bundled_model

    return bundled_model(S.document()["reference_workload"]["model"]).read_bytes()


@lru_cache(maxsize=1)
def _reference():
    from ..models.tflite import analyze

    data = _reference_model()
    report = analyze(data, name="reference")
    return _cost().layers(data), _tensor_bytes(report.inputs), _tensor_bytes(report.outputs)


def _edgetpu_other_stages_us() -> dict[Stage, float]:
    doc = S.document()["boards"]["coralmicro"]["paths"]["edgetpu"]["stages"]
    _, ib, ob = _reference()
    return {Stage[n.upper()]: _stage_const(sd, 0.0).duration_us(ib, ob) for n, sd in doc.items() if n != "inference"}


@lru_cache(maxsize=1)
def edgetpu_invoke_us() -> float:
    """The Edge TPU's per-invocation overhead: what is left of the measured TinyTracker frame."""
    bdoc = S.document()["boards"]["coralmicro"]
    total_us = S.value(bdoc["energy_total"]["frame_ms"]) * 1000.0
    lws, ib, ob = _reference()
    tpu, data_us, cpu, cpu_over, _, _ = _edgetpu_parts(lws, ib, ob, bdoc["paths"]["edgetpu"]["compute"])
    rest = sum(_edgetpu_other_stages_us().values()) + data_us + sum(r.us for r in tpu + cpu) + cpu_over
    fixed = total_us - rest
    if fixed <= 0:
        raise ConfigError("board_stages.json: the modelled Coral Micro stages already exceed the measured 34.4 ms",
                          "revise the capture, preprocess or transfer constants")
    return fixed


@lru_cache(maxsize=None)
def _calibrated_powers(board: str) -> dict[tuple[str, Stage], float]:
    """Stage powers of every path of a board whose energy is published only as a frame total:
    relative draws scaled so the reference frame on the measured path uses the measured energy."""
    bdoc = S.document()["boards"][board]
    et = bdoc["energy_total"]
    ref_path = et["path"]
    durations = dict(_edgetpu_other_stages_us())
    durations[Stage.INFERENCE] = S.value(et["frame_ms"]) * 1000.0 - sum(durations.values())
    weights = {Stage[n.upper()]: S.value(sd["power_weight"]) for n, sd in bdoc["paths"][ref_path]["stages"].items()}
    k = S.value(et["frame_mj"]) * 1e6 / sum(durations[s] * weights[s] for s in durations)  # mW per weight unit
    out = {}
    for path, pdoc in bdoc["paths"].items():
        for name, sdoc in pdoc["stages"].items():
            src = bdoc["paths"][sdoc["same_as"]]["stages"][name] if "same_as" in sdoc else sdoc
            out[(path, Stage[name.upper()])] = S.value(src["power_weight"]) * k
    return out


# ------------------------------------------------------------------ the one function
def board_frame(board: str, model, *, path: str | None = None, report=None, engine: str = "") -> FramePrediction:
    """A board's frame for a model (bytes or a path), on ``path`` (default: the board's first)."""
    from ..models.tflite import analyze

    path = path or board_paths(board)[0]
    pm = path_model(board, path)
    data = model if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
    report = report or analyze(bytes(data), name="model")
    lws = _cost().layers(bytes(data))
    ib, ob = _tensor_bytes(report.inputs), _tensor_bytes(report.outputs)
    kind = pm.compute["core"]
    if kind == "imx500-dsp":
        rows, over, over_src, rel, rel_max, src = _dsp(lws)
    elif kind == "edgetpu":
        rows, over, over_src, rel, rel_max, src = _edgetpu(lws, ib, ob, pm.compute)
    else:
        rows, over, over_src, rel, rel_max, src = _mcu(lws, pm.compute, kind)
    out = []
    for st, c in pm.stages:
        if st == Stage.INFERENCE:
            out.append(StageTime(st, sum(r.us for r in rows) + over, c.power_mw, rel, rel_max, src))
        else:
            out.append(StageTime(st, c.duration_us(ib, ob), c.power_mw, None, None, "; ".join(c.sources)))
    return FramePrediction(board=board, path=path, engine=engine, stages=tuple(out), layers=tuple(rows),
                           overhead_us=over, overhead_source=over_src, idle_mw=pm.idle_mw,
                           notes=(pm.energy_basis,))
