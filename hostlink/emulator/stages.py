"""The boards' stage constants, read from hostlink/data/calibration/board_stages.json.

Every constant there is ``{value, unit, source}``; ``load()`` refuses the file if one has no
source, so a number cannot enter the model without saying where it came from. What the file
cannot hold as a plain number (because it is solved from a measured total) is solved here:

- the Coral Micro's Edge TPU per-invocation overhead: the TinyTracker frame on the Edge TPU
  path must add up to the paper's 34.4 ms once capture, preprocess, transfer and the modelled
  data and compute terms are in place (one measured total, one unknown);
- the Coral Micro's stage powers: relative draws scaled so that frame uses the paper's 34.2 mJ;
- the IMX500 DSP's per-network overhead and throughput, from its two published inference times.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..errors import ModelFileError

DATA_PATH = "data/calibration/board_stages.json"
SOURCE_KINDS = ("measured", "datasheet", "derived", "calibrated", "modelled")


def _walk_constants(node, where: str):
    """Yield (where, constant) for every {value, unit, source} object in the document."""
    if isinstance(node, dict):
        if "value" in node and ("unit" in node or "source" in node):
            yield where, node
            return
        for k, v in node.items():
            yield from _walk_constants(v, f"{where}.{k}" if where else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_constants(v, f"{where}[{i}]")


def validate(doc: dict) -> list[str]:
    """Problems with the document: constants without a unit or a source of a known kind."""
    problems = []
    for where, c in _walk_constants(doc, ""):
        src = str(c.get("source") or "")
        if not src.strip():
            problems.append(f"{where}: no source")
        elif src.split(":", 1)[0].strip() not in SOURCE_KINDS:
            problems.append(f"{where}: source {src[:40]!r} does not start with one of {', '.join(SOURCE_KINDS)}")
        if not c.get("unit"):
            problems.append(f"{where}: no unit")
        if c.get("value") is None and not src.startswith("calibrated"):
            problems.append(f"{where}: no value (only a calibrated constant is solved in code)")
    for p in doc.get("imx500_dsp", {}).get("points", []):
        if not str(p.get("source", "")).startswith("measured"):
            problems.append(f"imx500_dsp point {p.get('model')}: not a measurement")
    return problems


def _text() -> str:
    return resources.files("hostlink").joinpath(DATA_PATH).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def document() -> dict:
    try:
        doc = json.loads(_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{DATA_PATH}: cannot read the board stage constants ({err})",
                             "reinstall hostlink; the file ships with the package") from None
    problems = validate(doc)
    if problems:
        raise ModelFileError(f"{DATA_PATH}: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""),
                             "every constant needs a value, a unit and a source")
    return doc


def value(c: dict) -> float:
    return float(c["value"])


@dataclass(frozen=True)
class StageConst:
    """One stage's constants: duration = fixed + in*per_in + out*per_out (+ inference model)."""

    fixed_us: float = 0.0
    us_per_input_byte: float = 0.0
    us_per_output_byte: float = 0.0
    power_mw: float = 0.0
    sources: tuple[str, ...] = ()

    def duration_us(self, input_bytes: int, output_bytes: int) -> float:
        return self.fixed_us + input_bytes * self.us_per_input_byte + output_bytes * self.us_per_output_byte


@dataclass(frozen=True)
class DspFit:
    """IMX500 DSP: inference_us = network_us + MACs / macs_per_us, through two published points.

    ``loo_errors`` are leave-one-out relative errors: with one point left out, only a
    throughput (no overhead) can be solved from the other, and it predicts the left-out point
    this badly. ``rel_error`` is their largest absolute value.
    """

    network_us: float
    macs_per_us: float
    loo_errors: tuple[float, ...]
    rel_error: float
    source: str


def dsp_fit(doc: dict | None = None) -> DspFit:
    doc = doc or document()
    pts = doc["imx500_dsp"]["points"]
    (m1, t1), (m2, t2) = [(float(p["macs"]), float(p["latency_us"])) for p in pts[:2]]
    rate = (m2 - m1) / (t2 - t1)  # MAC per us
    network = t1 - m1 / rate
    loo = (m1 / (m2 / t2) / t1 - 1.0, m2 / (m1 / t1) / t2 - 1.0)
    names = " and ".join(f"{p['model']} ({p['latency_us'] / 1000:g} ms, {p['macs'] / 1e6:.2f} M MACs)" for p in pts[:2])
    return DspFit(network_us=network, macs_per_us=rate, loo_errors=loo, rel_error=max(abs(e) for e in loo),
                  source=f"IMX500 DSP fit through {names}: {network:.0f} us per network + "
                         f"{rate / 1000:.2f} GMAC/s; leave-one-out error {', '.join(f'{100 * e:+.0f} %' for e in loo)}")
