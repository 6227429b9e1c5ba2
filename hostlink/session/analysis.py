"""One window: the monitor's trace plus the board's capture results -> per-frame stage rows,
with the checks that make a window valid or reject it with the reason."""
from __future__ import annotations

import numpy as np

from ..errors import HostlinkError
from ..power import align
from ..power.base import SampleFlag, Trace
from ..protocols import Stage


class SessionInvalid(HostlinkError):
    """A window failed a validity check; the message says which and why."""

    exit_code = 5


def stage_id(name: str) -> int:
    try:
        return int(Stage[name.upper()])
    except KeyError:
        raise SessionInvalid(f"the board reported a stage {name!r} that has no marker id",
                             "update hostlink: protocols.Stage lists the stages boards may mark") from None


def analyse_window(trace: Trace, results: list, *, label: str, window: int, stage_order: tuple[str, ...],
                   checks, debounce: int = 3, clock_hz: float = 1e6) -> dict:
    """Rows (one per frame per stage) and checks; raises SessionInvalid with the reason."""
    rate = trace.sample_rate_hz
    n = len(trace.samples)
    missing = int(((trace.samples["flags"] & np.uint8(SampleFlag.MISSING)) != 0).sum())
    info = {"board": label, "window": window, "samples": n, "missing": missing,
            "start_index": trace.start_index, "sample_rate_hz": rate, "frames": len(results)}

    device_us = sum(r.total_ms for r in results) * 1000.0
    expected = device_us * rate / 1e6
    if n < 0.9 * expected:
        raise SessionInvalid(
            f"{label} window {window}: too few samples: the monitor delivered {n} but the frames "
            f"took {device_us / 1000:.1f} ms, i.e. {expected:.0f} samples",
            "the monitor is losing data or is not running: check its USB link")
    if n and missing / n > checks.max_lost_fraction:
        raise SessionInvalid(
            f"{label} window {window}: lost samples over threshold: {missing} of {n} "
            f"({missing / n:.2%} > {checks.max_lost_fraction:.2%})",
            "use a direct USB port (no hub or dock), or raise checks.max_lost_fraction")

    first = stage_id(stage_order[0])
    measured = align.measure(trace, first, debounce=debounce, trace_start=trace.start_index,
                             trace_stop=trace.stop_index)
    frames = measured.frames
    ids = [stage_id(s) for s in stage_order]
    # The window starts where the host stopped reading before the capture, a host-time boundary:
    # samples still in flight then (USB batching) can put the previous window's last frames at the
    # head of this trace. The window's own frames are the last ones; the cross-check against the
    # board timestamps below confirms the pairing.
    leading = len(frames) - len(results)
    if leading > 0:
        frames = frames[leading:]
    info["leading_frames_dropped"] = max(leading, 0)
    if len(frames) != len(results):
        raise SessionInvalid(
            f"{label} window {window}: marker discontinuity: {len(results)} frames captured but "
            f"{len(frames)} seen on the marker pins",
            "check the marker wiring (stage id bits to the monitor's digital inputs, common ground, "
            "logic reference voltage)")
    device_stages = []
    for k, (frame, res) in enumerate(zip(frames, results)):
        names = [s for s in stage_order if s in res.stages]
        want = [stage_id(s) for s in names]
        if frame.stage_ids() != want:
            raise SessionInvalid(
                f"{label} window {window}: marker discontinuity in frame {res.frame}: the pins "
                f"show stages {frame.stage_ids()}, the board reported {want}",
                "a marker bit is stuck or miswired, or the firmware writes the stage id in several steps")
        device_stages.append([(stage_id(s), res.stages[s].start_us, res.stages[s].end_us) for s in names])
    xc = align.cross_check(frames, device_stages)
    if xc.edges >= 4 and xc.max_residual_samples > checks.max_residual_samples:
        w = xc.worst
        floor = align.quantisation_samples(rate, clock_hz)
        raise SessionInvalid(
            f"{label} window {window}: markers and board timestamps disagree by up to "
            f"{xc.max_residual_samples:.1f} samples ({xc.max_residual_samples / rate * 1e6:.0f} us at "
            f"{rate / 1e3:g} kS/s; limit {checks.max_residual_samples:g}, sampling and tick rounding "
            f"explain {floor:.2f}): frame {results[w['frame']].frame} {Stage(w['stage_id']).name.lower()} "
            f"{w['edge']} is at sample {w['marker_sample']} on the pins, the board's {w['board_us']:.0f} us "
            f"puts it at {w['predicted_sample']:.1f}",
            "the pins and the board's clock tell different times: on a real board an irregular clock or "
            "marker write, on an emulated real-time board a host that fell behind; see the window's "
            "trace in the session folder")
    idle_w = measured.idle_w
    rows = []
    for frame, res, dev in zip(frames, results, device_stages):
        for row in align.stage_rows(frame, dev, rate, idle_w):
            rows.append({"board": label, "window": window, "frame": int(res.frame), **row})
    info.update(rows=rows, idle_mw=None if idle_w is None else idle_w * 1e3,
                cross_check=xc.as_dict(), clock_ppm=xc.clock_ppm(rate) if xc.slope else None,
                stage_ids=ids)
    return info
