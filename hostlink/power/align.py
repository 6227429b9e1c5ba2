"""From a trace with marker pins to energy per stage per frame.

The board writes the id of the stage it enters on its marker pins in one port write (0 = idle);
the monitor samples those pins with every current sample, so a stage is a run of samples with the
same code and the time base is the sample index. Steps:

1. ``decode_markers``: run-length code the marker bits; runs shorter than ``debounce`` samples
   (transient codes while pins settle) are merged into the run that follows.
2. ``integrate``: energy = sum of I*V*dt over each segment's samples; lost samples are counted and
   their energy estimated from the segment's mean power (never silently dropped); an error bound
   covers boundary quantisation, missing samples and noise; segments under ``MIN_SAMPLES`` samples
   are low confidence.
3. ``frames_from_segments``: group segments into frames (a frame starts at the board's first stage
   or after idle).
4. ``cross_check``: fit sample index against the board's own stage timestamps; the residual says
   whether markers and timestamps tell the same story.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import SampleFlag, Trace

#: Segments shorter than this many samples get ``low_confidence`` (edge quantisation dominates).
MIN_SAMPLES = 20

SEGMENT_DTYPE = np.dtype([
    ("stage_id", "<u2"),
    ("start", "<i8"),  # absolute sample index, inclusive
    ("stop", "<i8"),  # exclusive
])

STAGE_DTYPE = np.dtype([
    ("stage_id", "<u2"),
    ("start", "<i8"),
    ("stop", "<i8"),
    ("energy_j", "<f8"),
    ("charge_c", "<f8"),
    ("mean_power_w", "<f8"),
    ("n_missing", "<i4"),
    ("err_bound_j", "<f8"),
    ("low_confidence", "?"),
])


def decode_markers(trace: Trace, mask: int = 0xFF, debounce: int = 3) -> np.ndarray:
    """Runs of constant ``digital & mask`` -> SEGMENT_DTYPE rows covering the whole trace."""
    codes = trace.samples["digital"] & np.uint8(mask)
    n = len(codes)
    if n == 0:
        return np.zeros(0, SEGMENT_DTYPE)
    edges = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.concatenate(([0], edges))
    stops = np.concatenate((edges, [n]))
    values = codes[starts]
    if debounce > 1 and len(starts) > 1:
        long_enough = (stops - starts) >= debounce
        long_enough[-1] = True  # the trace end cuts the last run short; keep it
        kept = np.flatnonzero(long_enough)
        # a transient belongs to the stage being entered: each kept run starts where the previous
        # kept run ended
        starts = np.concatenate(([0], stops[kept[:-1]]))
        values = values[kept]
        # neighbours that became equal after dropping a transient merge
        keep = np.concatenate(([True], values[1:] != values[:-1]))
        starts, values = starts[keep], values[keep]
        stops = np.concatenate((starts[1:], [n]))
    out = np.empty(len(starts), SEGMENT_DTYPE)
    out["stage_id"] = values
    out["start"] = starts + trace.start_index
    out["stop"] = stops + trace.start_index
    return out


def integrate(trace: Trace, segments: np.ndarray, min_samples: int = MIN_SAMPLES) -> np.ndarray:
    """Energy, charge, mean power, missing count and error bound for each segment."""
    out = np.zeros(len(segments), STAGE_DTYPE)
    if len(segments) == 0:
        return out
    out["stage_id"] = segments["stage_id"]
    out["start"] = segments["start"]
    out["stop"] = segments["stop"]
    dt = trace.dt
    s = trace.samples
    cur = s["current_a"].astype(np.float64)
    volt = s["voltage_v"].astype(np.float64)
    missing = (s["flags"] & np.uint8(SampleFlag.MISSING)) != 0
    power = np.where(missing, 0.0, cur * volt)
    current = np.where(missing, 0.0, cur)
    # prefix sums make each segment O(1)
    cp = np.concatenate(([0.0], np.cumsum(power)))
    cc = np.concatenate(([0.0], np.cumsum(current)))
    cm = np.concatenate(([0], np.cumsum(missing, dtype=np.int64)))
    cp2 = np.concatenate(([0.0], np.cumsum(power * power)))
    a = segments["start"] - trace.start_index
    b = segments["stop"] - trace.start_index
    n = (b - a).astype(np.float64)
    n_missing = cm[b] - cm[a]
    n_good = np.maximum(n - n_missing, 1)
    p_sum = cp[b] - cp[a]
    mean_p = p_sum / n_good
    mean_i = (cc[b] - cc[a]) / n_good
    energy = mean_p * n * dt  # lost samples carry the segment's mean power
    charge = mean_i * n * dt
    de, dq = _edge_split(power, missing, cp, cp2, cc, cm, a, b, dt)
    out["energy_j"] = energy + de
    out["charge_c"] = charge + dq
    out["mean_power_w"] = out["energy_j"] / np.maximum(n * dt, dt)
    out["n_missing"] = n_missing
    # error bound: each edge may be off by one sample of the power step there, each lost sample
    # by the spread of the segment, plus the statistical error of the mean
    var = np.maximum((cp2[b] - cp2[a]) / n_good - mean_p ** 2, 0.0)
    std = np.sqrt(var)
    left = np.abs(mean_p - np.concatenate(([mean_p[0]], mean_p[:-1])))
    right = np.abs(mean_p - np.concatenate((mean_p[1:], [mean_p[-1]])))
    out["err_bound_j"] = (dt * (left + right) + n_missing * dt * 2 * std
                          + dt * std * np.sqrt(n_good))
    out["low_confidence"] = n < min_samples
    return out


def _edge_split(power, missing, cp, cp2, cc, cm, a, b, dt):
    """Energy moved across each boundary so that the sample straddling it is shared by level.

    A monitor's sample is the mean over its interval, and the marker pins are read once per
    sample, so the sample in which a stage begins holds energy of both stages. Left alone, each
    edge shifts on average a quarter of a sample of the power step into the wrong stage (0.8 % of
    a 0.86 ms stage between 270 mW neighbours at 100 kS/s). Where the step stands well above the
    noise, the straddling sample's own level tells how much of it belongs to each side.
    """
    m = len(a)
    de = np.zeros(m)
    dq = np.zeros(m)
    if m < 2:
        return de, dq
    n = b - a
    ai, bi = a + 1, np.maximum(b - 1, a + 1)
    good = np.maximum((bi - ai) - (cm[bi] - cm[ai]), 1)
    level = (cp[bi] - cp[ai]) / good
    amps = (cc[bi] - cc[ai]) / good
    spread = np.sqrt(np.maximum((cp2[bi] - cp2[ai]) / good - level ** 2, 0.0))
    for i in range(m - 1):
        if n[i] < 3 or n[i + 1] < 3:
            continue
        p_left, p_right = level[i], level[i + 1]
        step = p_left - p_right
        if abs(step) <= 8 * (spread[i] + spread[i + 1]) or step == 0:
            continue
        e = b[i]
        for k, owner_left in ((e - 1, True), (e, False)):
            if missing[k]:
                continue
            # the sample is f of its interval at the left level and 1 - f at the right level
            f = min(max((power[k] - p_right) / step, 0.0), 1.0)
            if owner_left:  # its right part leaves the left stage
                e_move, q_move = -(1.0 - f) * p_right * dt, -(1.0 - f) * amps[i + 1] * dt
            else:  # its left part joins the left stage
                e_move, q_move = f * p_left * dt, f * amps[i] * dt
            de[i] += e_move
            de[i + 1] -= e_move
            dq[i] += q_move
            dq[i + 1] -= q_move
    return de, dq


@dataclass
class Frame:
    """One frame seen in the trace: its stage rows (STAGE_DTYPE) in order."""

    stages: np.ndarray

    @property
    def start(self) -> int:
        return int(self.stages["start"][0])

    @property
    def stop(self) -> int:
        return int(self.stages["stop"][-1])

    def stage_ids(self) -> list[int]:
        return [int(x) for x in self.stages["stage_id"]]


def frames_from_segments(stages: np.ndarray, first_stage: int, trace_start: int | None = None,
                         trace_stop: int | None = None) -> list[Frame]:
    """Group non-idle stage rows into frames.

    A frame starts at ``first_stage`` or at the first non-idle row after idle. Frames that touch
    the trace's first or last sample are cut by the recording, not by the board, and are left out.
    """
    frames: list[Frame] = []
    current: list[int] = []

    def close():
        if current:
            frames.append(Frame(stages[current[0]:current[-1] + 1]))
            current.clear()

    for i, sid in enumerate(stages["stage_id"].tolist()):
        if sid == 0:
            close()
            continue
        if sid == first_stage and current:
            close()
        current.append(i)
    close()
    if trace_start is not None:
        frames = [f for f in frames if f.start > trace_start]
    if trace_stop is not None:
        frames = [f for f in frames if f.stop < trace_stop]
    return frames


@dataclass
class CrossCheck:
    """Sample index = offset + slope * board_us, fitted on every stage edge of a window."""

    offset: float
    slope: float  # samples per board microsecond (rate / 1e6 when the clocks agree)
    max_residual_samples: float
    edges: int
    #: the edge with the largest residual: frame (position in the window), stage_id, "start" or
    #: "end", its marker sample index, the board's timestamp (us) and the sample the fit predicts
    worst: dict | None = None

    def clock_ppm(self, sample_rate_hz: float) -> float:
        """How far the board clock runs from the monitor's nominal rate, in ppm."""
        return (self.slope / (sample_rate_hz / 1e6) - 1.0) * 1e6

    def as_dict(self) -> dict:
        return {"offset": self.offset, "slope": self.slope,
                "max_residual_samples": self.max_residual_samples, "edges": self.edges, "worst": self.worst}


def minimax_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, offset) of the line y = offset + slope * x with the smallest largest residual.

    The residuals the cross-check bounds are quantisation errors, bounded and flat (a marker edge
    lands anywhere within half a sample, a timestamp within half a tick), and the check compares
    their maximum with that bound. A least-squares line does not minimise the maximum: on 40 edges
    of a perfect board its tilt alone adds up to a few tenths of a sample, so a perfect board could
    fail a check set at the quantisation floor. The minimax line never does, since the true line
    is one candidate. The spread s -> max(y - s*x) - min(y - s*x) is convex in the slope, so a
    golden-section search in a bracket around the least-squares slope finds it."""
    s0 = float(np.polyfit(x, y, 1)[0])

    def spread(s: float) -> float:
        r = y - s * x
        return float(r.max() - r.min())

    # any slope whose spread beats s0's lies within 2*spread(s0)/ptp(x) of s0
    half = 2.0 * spread(s0) / float(np.ptp(x)) + 1e-18
    lo, hi = s0 - half, s0 + half
    g = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = spread(a), spread(b)
    for _ in range(90):  # 0.618**90 ~ 1e-19 of the bracket: below a double's resolution
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = spread(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = spread(b)
    s = (lo + hi) / 2.0
    if spread(s0) <= spread(s):
        s = s0
    r = y - s * x
    return s, float((r.max() + r.min()) / 2.0)


def cross_check(frames: list[Frame], device_stages: list[list[tuple[int, float, float]]]) -> CrossCheck:
    """Fit marker edges (sample index) against the board's stage timestamps (board µs).

    ``device_stages[k]`` lists (stage_id, start_us, end_us) of frame k as the board reported it.
    The caller has already checked that the frames and stage ids correspond one to one.
    """
    xs, ys, where = [], [], []
    for k, (frame, dev) in enumerate(zip(frames, device_stages)):
        for row, (sid, start_us, end_us) in zip(frame.stages, dev):
            xs += [start_us, end_us]
            ys += [float(row["start"]), float(row["stop"])]
            where += [(k, int(sid), "start"), (k, int(sid), "end")]
    x = np.asarray(xs, np.float64)
    y = np.asarray(ys, np.float64)
    if len(x) < 2 or np.ptp(x) == 0:
        return CrossCheck(float(y[0] - x[0]) if len(x) else 0.0, 0.0, 0.0, len(x))
    x0 = x.mean()
    slope, offset = minimax_line(x - x0, y)
    predicted = offset + slope * (x - x0)
    resid = np.abs(y - predicted)
    # the minimax line leaves several edges at the largest residual (one edge off by d puts it at
    # +d/2 and two others at -d/2): name the one that also stands out from the least-squares line
    ls_slope, ls_offset = np.polyfit(x - x0, y, 1)
    ls_resid = np.abs(y - (ls_offset + ls_slope * (x - x0)))
    extremal = np.flatnonzero(resid >= resid.max() - 1e-6)
    i = int(extremal[np.argmax(ls_resid[extremal])])
    frame_pos, sid, edge = where[i]
    worst = {"frame": frame_pos, "stage_id": sid, "edge": edge, "marker_sample": int(y[i]),
             "board_us": float(x[i]), "predicted_sample": float(predicted[i])}
    return CrossCheck(float(offset - slope * x0), float(slope), float(resid[i]), len(x), worst)


def quantisation_samples(sample_rate_hz: float, clock_hz: float) -> float:
    """The largest marker-vs-timestamp residual a perfect board and monitor can show: a marker
    edge is seen at the first sample whose midpoint is past it (up to half a sample late or
    early), and a board timestamp is rounded to its clock tick (half a tick, in samples)."""
    return 0.5 + 0.5 * sample_rate_hz / clock_hz


def idle_baseline_w(stages: np.ndarray) -> float | None:
    """Mean power over all idle rows (weighted by length), or None if the trace has no idle."""
    idle = stages[stages["stage_id"] == 0]
    if len(idle) == 0:
        return None
    n = (idle["stop"] - idle["start"]).astype(np.float64)
    return float((idle["mean_power_w"] * n).sum() / n.sum())


def bits_needed(max_stage_id: int) -> int:
    return max(int(max_stage_id).bit_length(), 1)


@dataclass
class Measured:
    """A trace taken through steps 1-3: its stage rows, the frames on the marker pins (cut by the
    trace ends or not, per ``frames_from_segments``) and the idle baseline (W, None without idle)."""

    stages: np.ndarray
    frames: list[Frame]
    idle_w: float | None


def measure(trace: Trace, first_stage: int, *, debounce: int = 3, trace_start: int | None = None,
            trace_stop: int | None = None) -> Measured:
    """Markers decoded, stages integrated, frames grouped, idle baseline: what a session window
    and a live demo both need from a trace."""
    stages = integrate(trace, decode_markers(trace, debounce=debounce))
    frames = frames_from_segments(stages, first_stage, trace_start, trace_stop)
    return Measured(stages, frames, idle_baseline_w(stages))


def stage_rows(frame: Frame, device_stages: list[tuple[int, float, float]], sample_rate_hz: float,
               idle_w: float | None) -> list[dict]:
    """One row per stage of a frame paired with the board's own (stage_id, start_us, end_us):
    sample range, duration by the pins and by the board, mean power, energy (total and above the
    idle baseline), error bound, lost samples. Energies in mJ, power in mW."""
    from ..protocols import Stage

    rows = []
    for row, (sid, a_us, b_us) in zip(frame.stages, device_stages):
        count = int(row["stop"] - row["start"])
        dur_s = count / sample_rate_hz
        energy_j = float(row["energy_j"])
        rows.append({
            "stage": Stage(sid).name.lower(), "stage_id": int(sid), "start_index": int(row["start"]),
            "stop_index": int(row["stop"]), "n_samples": count, "duration_ms": dur_s * 1e3,
            "device_ms": (b_us - a_us) / 1e3, "mean_mw": float(row["mean_power_w"]) * 1e3,
            "energy_mj": energy_j * 1e3, "energy_above_idle_mj": (energy_j - (idle_w or 0.0) * dur_s) * 1e3,
            "err_bound_mj": float(row["err_bound_j"]) * 1e3, "n_missing": int(row["n_missing"]),
            "low_confidence": bool(row["low_confidence"]),
        })
    return rows
