"""Per-board statistics from the per-frame rows, and the cross-board markdown table."""
from __future__ import annotations

import numpy as np


def _stats(values, prefix: str, unit: str) -> dict:
    v = np.asarray(values, np.float64)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {f"median_{unit}" if prefix == "" else f"{prefix}median_{unit}": float(med),
            f"{prefix}min_{unit}": float(v.min()), f"{prefix}max_{unit}": float(v.max()),
            f"{prefix}iqr_{unit}": float(q3 - q1)}


def board_summary(rows: list[dict], windows: list[dict], stage_order: list[str], meta: dict) -> dict:
    """``stages`` (each: median/min/max/IQR of ms, mW, mJ), ``total_ms``, ``total_energy_mj``."""
    out = dict(meta)
    out["windows"] = len(windows)
    frames = sorted({(r["window"], r["frame"]) for r in rows})
    out["frames"] = len(frames)
    stages = {}
    for name in stage_order:
        sel = [r for r in rows if r["stage"] == name]
        if not sel:
            continue
        s = {}
        s.update(_stats([r["duration_ms"] for r in sel], "", "ms"))
        s.update(_stats([r["mean_mw"] for r in sel], "", "mw"))
        e = _stats([r["energy_mj"] for r in sel], "", "mj")
        s["energy_mj"] = e.pop("median_mj")
        s.update({k.replace("_mj", "_energy_mj"): v for k, v in e.items()})
        s["mean_energy_mj"] = float(np.mean([r["energy_mj"] for r in sel]))
        s["device_median_ms"] = float(np.median([r["device_ms"] for r in sel]))
        s["energy_above_idle_mj"] = float(np.median([r["energy_above_idle_mj"] for r in sel]))
        s["err_bound_mj"] = float(np.median([r["err_bound_mj"] for r in sel]))
        s["n"] = len(sel)
        s["low_confidence"] = any(r["low_confidence"] for r in sel)
        stages[name] = s
    out["stages"] = stages
    per_frame_ms: dict = {}
    per_frame_mj: dict = {}
    for r in rows:
        key = (r["window"], r["frame"])
        per_frame_ms[key] = per_frame_ms.get(key, 0.0) + r["duration_ms"]
        per_frame_mj[key] = per_frame_mj.get(key, 0.0) + r["energy_mj"]
    if frames:
        t = _stats(list(per_frame_ms.values()), "total_", "ms")
        out["total_ms"] = t.pop("total_median_ms")
        out.update(t)
        e = _stats(list(per_frame_mj.values()), "total_", "mj")
        out["total_energy_mj"] = e.pop("total_median_mj")
        out.update({k.replace("_mj", "_energy_mj"): v for k, v in e.items()})
    else:
        out["total_ms"] = out["total_energy_mj"] = None
    idle = [w["idle_mw"] for w in windows if w.get("idle_mw") is not None]
    out["idle_mw"] = float(np.median(idle)) if idle else None
    out["lost_samples"] = int(sum(w["missing"] for w in windows))
    out["samples"] = int(sum(w["samples"] for w in windows))
    ppm = [w["clock_ppm"] for w in windows if w.get("clock_ppm") is not None]
    out["clock_ppm"] = float(np.median(ppm)) if ppm else None
    res = [w["cross_check"]["max_residual_samples"] for w in windows]
    out["max_marker_residual_samples"] = float(max(res)) if res else None
    return out


def _fmt(v, digits=2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def session_markdown(summary: dict) -> str:
    lines = [f"# Session {summary.get('session', '')}", "",
             f"status: {summary.get('status')}" + (f" ({summary['reason']})" if summary.get("reason") else ""), ""]
    for label, b in summary["boards"].items():
        lines += [f"## {label}: {b.get('device', '')}", "",
                  f"model {b.get('model')}, monitor {b.get('monitor')} at {b.get('sample_rate_hz', 0) / 1e3:.0f} kS/s, "
                  f"{b['frames']} frames in {b['windows']} windows, idle {_fmt(b.get('idle_mw'))} mW, "
                  f"lost samples {b.get('lost_samples')}", "",
                  "| stage | median ms | IQR ms | min ms | max ms | median mW | median mJ | IQR mJ | ± bound mJ |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, s in b["stages"].items():
            flag = " (low confidence)" if s["low_confidence"] else ""
            lines.append(f"| {name}{flag} | {s['median_ms']:.3f} | {s['iqr_ms']:.3f} | {s['min_ms']:.3f} | "
                         f"{s['max_ms']:.3f} | {s['median_mw']:.1f} | {s['energy_mj']:.4f} | "
                         f"{s['iqr_energy_mj']:.4f} | {s['err_bound_mj']:.4f} |")
        lines += [f"| **total** | **{_fmt(b['total_ms'], 3)}** | {_fmt(b.get('total_iqr_ms'), 3)} | | | | "
                  f"**{_fmt(b['total_energy_mj'], 4)}** | {_fmt(b.get('total_iqr_energy_mj'), 4)} | |", ""]
    return "\n".join(lines) + "\n"


def comparison_markdown(boards: list[tuple[str, dict]]) -> str:
    """One row per (session, board); ratios against the first row."""
    if not boards:
        return ""
    from .plots import stage_names as ordered

    stage_names = ordered(boards)
    ref = boards[0][1]
    head = ["board", "model", "monitor", "frames", "latency ms", "energy mJ"]
    head += [f"{s} ms / mJ" for s in stage_names]
    head += ["latency vs first", "energy vs first"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 3)]
    for name, b in boards:
        cells = [name, str(b.get("model", "")), str(b.get("monitor", "")), str(b["frames"]),
                 _fmt(b["total_ms"]), _fmt(b["total_energy_mj"])]
        for s in stage_names:
            st = b["stages"].get(s)
            cells.append("-" if st is None else f"{st['median_ms']:.2f} / {st['energy_mj']:.3f}")
        lat = (b["total_ms"] / ref["total_ms"]) if ref.get("total_ms") and b.get("total_ms") else None
        en = ((b["total_energy_mj"] / ref["total_energy_mj"])
              if ref.get("total_energy_mj") and b.get("total_energy_mj") else None)
        cells += ["-" if lat is None else f"{lat:.2f}x", "-" if en is None else f"{en:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
