"""PNG plots (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

STAGE_COLOURS = {"capture": "#4C72B0", "preprocess": "#DD8452", "inference": "#55A868",
                 "transfer": "#C44E52", "idle": "#BBBBBB"}


def stage_names(boards) -> list[str]:
    """Every stage any board reports, in the order boards run them (by marker id)."""
    from ..protocols import Stage

    names = {s for _, b in boards for s in b["stages"]}
    return sorted(names, key=lambda n: Stage[n.upper()].value if n.upper() in Stage.__members__ else 99)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_trace(trace, rows: list[dict], path: Path, title: str, max_frames: int = 3) -> None:
    """Current over time for the first frames of a window, each stage shaded."""
    plt = _pyplot()
    rows = sorted(rows, key=lambda r: r["start_index"])
    frames = []
    for r in rows:
        if r["frame"] not in frames:
            frames.append(r["frame"])
    keep = [r for r in rows if r["frame"] in frames[:max_frames]]
    if not keep:
        return
    rate = trace.sample_rate_hz
    margin = int(0.002 * rate)
    a = max(keep[0]["start_index"] - margin, trace.start_index)
    b = min(keep[-1]["stop_index"] + margin, trace.stop_index)
    part = trace.slice(a, b)
    t_ms = (np.arange(len(part.samples)) + part.start_index - a) / rate * 1e3
    cur_ma = part.samples["current_a"].astype(np.float64) * 1e3
    # a readable line: at most ~4000 points, min/max kept per bucket
    step = max(len(t_ms) // 2000, 1)
    if step > 1:
        m = len(t_ms) // step * step
        tb = t_ms[:m].reshape(-1, step)[:, 0]
        lo = np.nanmin(cur_ma[:m].reshape(-1, step), axis=1)
        hi = np.nanmax(cur_ma[:m].reshape(-1, step), axis=1)
        t_plot, y_plot = np.repeat(tb, 2), np.column_stack((lo, hi)).reshape(-1)
    else:
        t_plot, y_plot = t_ms, cur_ma
    fig, ax = plt.subplots(figsize=(10, 3.6), dpi=110)
    seen = set()
    for r in keep:
        x0 = (r["start_index"] - a) / rate * 1e3
        x1 = (r["stop_index"] - a) / rate * 1e3
        label = r["stage"] if r["stage"] not in seen else None
        seen.add(r["stage"])
        ax.axvspan(x0, x1, color=STAGE_COLOURS.get(r["stage"], "#999999"), alpha=0.25, lw=0, label=label)
    ax.plot(t_plot, y_plot, color="black", lw=0.6)
    ax.set_xlabel("time (ms, monitor clock)")
    ax.set_ylabel("current (mA)")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8, ncol=len(seen))
    ax.set_xlim(t_ms[0] if len(t_ms) else 0, t_ms[-1] if len(t_ms) else 1)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_energy(boards: list[tuple[str, dict]], path: Path, title: str = "Energy per frame by stage") -> None:
    """Stacked bars: median energy of each stage, one bar per board; latency beside it."""
    plt = _pyplot()
    names = [n for n, _ in boards]
    stages = stage_names(boards)
    fig, (ax_e, ax_t) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    x = np.arange(len(boards))
    for ax, key, unit in ((ax_e, "energy_mj", "mJ"), (ax_t, "median_ms", "ms")):
        bottom = np.zeros(len(boards))
        for s in stages:
            vals = np.array([b["stages"].get(s, {}).get(key, 0.0) for _, b in boards])
            ax.bar(x, vals, bottom=bottom, color=STAGE_COLOURS.get(s, "#999999"), label=s, width=0.6)
            bottom += vals
        for xi, total in zip(x, bottom):
            ax.text(xi, total, f"{total:.1f} {unit}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(x, names, rotation=0 if len(names) < 4 else 20)
        ax.set_ylabel(unit)
        ax.set_ylim(0, max(bottom.max() * 1.15, 1e-9))
    ax_e.set_title("energy per frame")
    ax_t.set_title("latency per frame")
    ax_e.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _save(fig, path) -> None:
    """PNG written whole or not at all (a session folder never holds a half-written plot)."""
    from .atomic import atomic_open

    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png")
