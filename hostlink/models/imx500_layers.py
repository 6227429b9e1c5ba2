"""What the IMX500 can run, as Sony's own toolchain answered: the table in
hostlink/data/imx500_layers.json, and the memory model fitted on its converter reports.

The IMX500 does not run tflite-micro. A network reaches it through MCT (post-training
quantization with the IMX500 target platform capabilities) and ``imxconv-tf``; what that
converter accepts is what the sensor runs. ``tools/imx500_layer_probe.py`` (``make
imx500-layers``) fed it one small Keras model per layer type and exported the same model to an
INT8 .tflite, so each case records the TFLite ops that layer becomes. A TFLite op is admitted
when some accepted case produces it; it is refused, with the converter's message, when every case
that produces it was refused, and refused as unknown when no case produces it.

On-chip memory is the converter's "Memory Usage" (runtime + model + reserved), checked against
its "Total Memory Available On Chip". With a converter memory report at hand that figure is
used as read; for a bare .tflite it is predicted from the graph by a linear model fitted on the
probe's accepted cases, and the prediction carries the fit's leave-one-out error.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .tflite import EDGE_OPS, ModelReport

TABLE_PATH = Path(__file__).resolve().parents[1] / "data" / "imx500_layers.json"

#: Features of a graph the memory model uses, all read from hostlink's ModelReport so that the
#: same numbers exist at fit time (the probe's exports) and at admission (an uploaded .tflite).
FEATURES = ("params", "act_max", "act_sum")


def _elems(shape) -> int:
    return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


def features(report: ModelReport) -> dict[str, int]:
    """Sizes the converter's memory depends on. Model memory: int8 weights (params). Runtime
    memory: the largest activation tensor and the sum of all of them (elements = int8 bytes). Edge
    QUANTIZE/DEQUANTIZE outputs are left out: the converter folds input quantization into the
    sensor's input tensor and the host dequantizes."""
    body = [layer for layer in report.layers if layer.op not in EDGE_OPS]
    acts = [_elems(t.shape) for t in report.inputs] + [_elems(layer.output_shape) for layer in body
                                                       if layer.output_shape]
    return {"params": int(report.params), "act_max": max(acts, default=0), "act_sum": int(sum(acts))}


# ------------------------------------------------------------------ memory model
def _design(rows: list[dict], terms: tuple[str, ...]) -> np.ndarray:
    return np.array([[1.0] + [float(r[t]) for t in terms] for r in rows])


def _lstsq_rel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares on relative error: the points span 10 KB to MBs, and a fit on absolute
    error would let the largest network decide every coefficient."""
    w = 1.0 / y
    coef, *_ = np.linalg.lstsq(x * w[:, None], y * w, rcond=None)
    return coef


#: The two parts of the converter's report and what each is fitted on: the simplest form whose
#: coefficients are all positive (adding act_max or a per-layer count lowered the leave-one-out
#: median a little but came out with a negative coefficient, a sign of fitting 10 points too hard).
MEMORY_TERMS = {"model_bytes": ("params",), "runtime_bytes": ("act_sum",)}


def _memory_rows(cases: list[dict]) -> list[dict]:
    return [dict(c["features"], name=c["name"], kind=c["kind"],
                 **{k: c["memory"][k] for k in ("model_bytes", "runtime_bytes", "reserved_bytes", "usage_bytes")})
            for c in cases if (c.get("memory") or {}).get("model_bytes") is not None and c.get("features")]


def _fit_parts(rows: list[dict]) -> dict[str, list[float]]:
    return {part: _lstsq_rel(_design(rows, terms), np.array([max(r[part], 1) for r in rows], float)).tolist()
            for part, terms in MEMORY_TERMS.items()}


def _predict(coefs: dict, reserved: float, r: dict) -> float:
    return reserved + sum(max(float(np.dot(coefs[p], _design([r], t)[0])), 0.0) for p, t in MEMORY_TERMS.items())


def fit_memory_model(cases: list[dict]) -> dict:
    """Fit the converter's "Memory Usage" = reserved + model part + runtime part on the probe's
    whole-network cases, and report every point's leave-one-out error.

    Only networks are fitted: the question is whether a network fits in 8 MB, and single-layer
    cases (10-120 KB) are dominated by per-op minimum buffers that say nothing about that regime.
    How the network fit does on them is reported too (``layer_cases``), out of sample.
    """
    rows = _memory_rows(cases)
    nets = [r for r in rows if r["kind"] == "network"]
    if len(nets) < 6:
        raise ConfigError(f"only {len(nets)} whole-network memory reports to fit the IMX500 memory model on",
                          hint="run the probe with its default network cases (make imx500-layers)")
    reserved = int(np.median([r["reserved_bytes"] for r in rows]))
    coefs = _fit_parts(nets)
    points = []
    for i, r in enumerate(nets):
        pred_loo = _predict(_fit_parts(nets[:i] + nets[i + 1:]), reserved, r)
        points.append({"name": r["name"], "usage_bytes": r["usage_bytes"],
                       "predicted_bytes": round(_predict(coefs, reserved, r)),
                       "loo_predicted_bytes": round(pred_loo),
                       "loo_error_pct": round(100.0 * (pred_loo - r["usage_bytes"]) / r["usage_bytes"], 2)})
    errs = np.abs([p["loo_error_pct"] for p in points])
    layer_errs = np.abs([100.0 * (_predict(coefs, reserved, r) - r["usage_bytes"]) / r["usage_bytes"]
                         for r in rows if r["kind"] != "network"])
    usage = np.array([r["usage_bytes"] for r in nets], dtype=float)
    # Networks the converter refused for memory state only what they needed: a check, not a point.
    refused = [{"name": c["name"], "required_bytes": c["memory"]["usage_bytes"],
                "predicted_bytes": round(_predict(coefs, reserved, c["features"])),
                "error_pct": round(100.0 * (_predict(coefs, reserved, c["features"]) - c["memory"]["usage_bytes"])
                                   / c["memory"]["usage_bytes"], 2)}
               for c in cases if c.get("kind") == "network" and c.get("features")
               and (c.get("memory") or {}).get("from") == "refusal message"]
    return {
        "formula": "usage = reserved + (a0 + a1*params) + (b0 + b1*act_sum), "
                   "bytes; each part fitted by least squares on relative error to the converter's model and "
                   "runtime figures over the whole-network cases",
        "terms": {p: ["const", *t] for p, t in MEMORY_TERMS.items()},
        "coefficients": {p: [round(v, 6) for v in c] for p, c in coefs.items()},
        "reserved_bytes": reserved,
        "points": len(nets),
        "usage_range_bytes": [int(usage.min()), int(usage.max())],
        "loo_median_pct": round(float(np.median(errs)), 2),
        "loo_max_pct": round(float(np.max(errs)), 2),
        "per_point": points,
        "refused_for_memory": refused,
        "layer_cases": {"points": int(len(layer_errs)),
                        "median_error_pct": round(float(np.median(layer_errs)), 2) if len(layer_errs) else None,
                        "max_error_pct": round(float(np.max(layer_errs)), 2) if len(layer_errs) else None},
    }


@dataclass(frozen=True)
class MemoryEstimate:
    usage_bytes: int
    available_bytes: int
    #: "converter memory report" or "memory model"
    source: str
    #: The model's leave-one-out error bound (max |error| %), None for a report read as is.
    error_pct: float | None = None
    runtime_bytes: int | None = None
    model_bytes: int | None = None


@dataclass(frozen=True)
class OpVerdict:
    op: str
    accepted: bool
    #: Case names that produce the op, split by the converter's answer.
    accepted_by: tuple[str, ...]
    refused_by: tuple[str, ...]


class Imx500Table:
    """The committed probe table: versions, cases, op verdicts and the memory model."""

    def __init__(self, doc: dict, path: Path | None = None):
        self.doc = doc
        self.path = path
        self.versions: dict = doc["versions"]
        self.date: str = doc["date"]
        self.cases: list[dict] = doc["cases"]
        self.memory_model: dict = doc["memory_model"]
        self._by_name = {c["name"]: c for c in self.cases}
        verdicts: dict[str, tuple[list, list]] = {}
        for c in self.cases:
            if c.get("kind") != "layer" or c.get("accepted") is None:
                continue
            for op in c.get("tflite_ops", []):
                verdicts.setdefault(op, ([], []))[0 if c["accepted"] else 1].append(c["name"])
        self.ops: dict[str, OpVerdict] = {
            op: OpVerdict(op, bool(acc), tuple(acc), tuple(ref)) for op, (acc, ref) in sorted(verdicts.items())}

    @property
    def converter(self) -> str:
        return f"imxconv-tf {self.versions['imx500_converter']}"

    @property
    def available_bytes(self) -> int:
        # From the memory reports ("Total Memory Available On Chip", bytes); a refusal message
        # rounds it to "8.00MB".
        got = {c["memory"]["available_bytes"] for c in self.cases
               if (c.get("memory") or {}).get("model_bytes") is not None}
        return max(got)

    def accepted_ops(self) -> frozenset[str]:
        return frozenset(op for op, v in self.ops.items() if v.accepted)

    def case(self, name: str) -> dict:
        return self._by_name[name]

    def op_refusal(self, op: str) -> str | None:
        """None when the converter accepted a layer that becomes ``op``; else why not."""
        v = self.ops.get(op)
        if v is None:
            return self.unknown_refusal([op])
        if v.accepted:
            return None
        first = self._by_name[v.refused_by[0]]
        return (f"op {op} ({first['keras']}): {self.converter} refused it: {first['message']}")

    def unknown_refusal(self, ops: list[str]) -> str:
        s, it = ("s", "them") if len(ops) > 1 else ("", "it")
        return (f"op{s} {', '.join(ops)}: no layer probed against {self.converter} becomes {it}, so whether the "
                f"converter takes {it} is unknown (add a case to tools/imx500_layer_probe.py and run "
                "`make imx500-layers`)")

    def memory_estimate(self, report: ModelReport, memory_report: dict | None = None) -> MemoryEstimate:
        if memory_report:
            return MemoryEstimate(int(memory_report["usage_bytes"]),
                                  int(memory_report.get("available_bytes") or self.available_bytes),
                                  "converter memory report", None, memory_report.get("runtime_bytes"),
                                  memory_report.get("model_bytes"))
        mm = self.memory_model
        f = features(report)
        parts = {p: float(np.dot(mm["coefficients"][p], [1.0] + [f[t] for t in mm["terms"][p][1:]]))
                 for p in mm["coefficients"]}
        parts = {p: max(v, 0.0) for p, v in parts.items()}
        usage = mm["reserved_bytes"] + sum(parts.values())
        return MemoryEstimate(int(round(usage)), self.available_bytes, "memory model", float(mm["loo_max_pct"]),
                              int(round(parts["runtime_bytes"])), int(round(parts["model_bytes"])))


@lru_cache(maxsize=4)
def load_table(path: str | None = None) -> Imx500Table:
    p = Path(path) if path else TABLE_PATH
    try:
        doc = json.loads(p.read_text())
        return Imx500Table(doc, p)
    except FileNotFoundError:
        raise ConfigError(f"the IMX500 layer table {p} is missing",
                          hint="reinstall hostlink, or regenerate it with `make imx500-layers`") from None
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"the IMX500 layer table {p} cannot be read ({type(err).__name__}: {err})",
                          hint="restore it from git, or regenerate it with `make imx500-layers`") from None


def parse_memory_report(doc: dict) -> dict:
    """An imxconv-tf ``*_MemoryReport.json`` (any --report-size-unit) as byte counts."""
    from .imx500_convert import parse_size

    rep = doc.get("Memory Report", doc)
    keys = {"usage_bytes": "Memory Usage", "available_bytes": "Total Memory Available On Chip",
            "runtime_bytes": "Runtime Memory Physical Size", "model_bytes": "Model Memory Physical Size",
            "reserved_bytes": "Reserved Memory"}
    out = {k: parse_size(str(rep.get(v, "")).replace(" ", "")) for k, v in keys.items()}
    if out["usage_bytes"] is None:
        raise ConfigError("not an imxconv-tf memory report (no 'Memory Usage')",
                          hint="pass the NAME_MemoryReport.json that imxconv-tf wrote")
    out["fits"] = bool(rep.get("Fit In Chip", True))
    return out
