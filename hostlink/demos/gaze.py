"""The live gaze loop: frame -> face box -> INT8 input -> board -> gaze point -> overlay.

Host-side latency, as measured here and by bench/bench_gaze.py: the wall time from a decoded
frame in hand to its overlay drawn (face search on the loop's thread, crop and quantization,
the protocol round trip, calibration, drawing), minus the board's own inference work. On the
in-process emulator that work is the interpreter's ``run`` call, timed by ``InterpreterProbe``;
everything else the emulator does (frame decoding, CRCs, staging the input) is host CPU and
counts as host-side. On a real board the whole CAPTURE round trip is left out instead, and the
link's share of it shows in the board's own "transfer" stage. Video decoding (the camera's job)
and showing or encoding the result are timed separately.
"""
from __future__ import annotations

import collections
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError, HostlinkError
from .boardcall import InterpreterProbe, ensure_model
from .calibration import MIN_POINTS, Calibration, CalibrationSchedule, Screen
from .facedetect import AsyncFaceTracker, Box, FaceTracker, crop_from_face
from .gazeinput import GazeInputBuilder
from .energy import STRIP_S, EnergyMeter, FrameEnergy
from .overlay import GREEN, Hud, StripChart, draw_box, draw_gaze, draw_target, stage_line

DEFAULT_MODEL = "tinytracker_int8.tflite"


def search_image(frame: np.ndarray) -> tuple[np.ndarray, int]:
    """The grey image faces are searched in, and its scale-up factor to frame pixels.

    Frames wider than 400 px are halved first (an integer-ratio area resize is cheap): faces the
    model can use are far larger than the cascade's 20 px window, and every later resize is 4x cheaper.
    """
    if frame.shape[1] >= 400:
        small = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), 2
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), 1


@dataclass
class GazeFrame:
    index: int
    face: Box | None = None
    crop: Box | None = None
    raw_cm: tuple[float, float] | None = None
    gaze_cm: tuple[float, float] | None = None
    stages: dict = field(default_factory=dict)
    board_total_ms: float | None = None
    host: dict = field(default_factory=dict)  # ms per step
    host_side_ms: float = 0.0
    board: str = ""  # the lane's label when several boards run side by side
    #: None: no monitor, or nothing sent; "pending" until the monitor's samples are in; then
    #: "measured" (``energy`` set) or "missing" (the monitor lost this frame's samples)
    energy_state: str | None = None
    energy: FrameEnergy | None = None
    twins: list = field(default_factory=list)  # the same frame on the other boards (GazeFrame each)

    def to_json(self) -> dict:
        r = lambda v: None if v is None else [round(float(x), 4) for x in v]  # noqa: E731
        out = dict(frame=self.index, face=r(self.face), crop=r(self.crop), raw_cm=r(self.raw_cm),
                   gaze_cm=r(self.gaze_cm), board_ms={k: round(v.duration_ms, 4) for k, v in self.stages.items()},
                   board_total_ms=self.board_total_ms, host_ms={k: round(v, 4) for k, v in self.host.items()},
                   host_side_ms=round(self.host_side_ms, 4))
        if self.board:
            out["board"] = self.board
        if self.energy_state is not None:
            out["energy"] = None if self.energy is None else self.energy.to_json()
            if self.energy is None:
                out["energy_missing"] = True  # the monitor lost this frame (the run says why once)
        return out

    def resolved(self) -> bool:
        return all(g.energy_state != "pending" for g in [self] + self.twins)


@dataclass
class Lane:
    """One board in the loop: its device, model, interpreter probe and (with a monitor) energy meter."""

    dev: object
    model_path: Path
    model: object
    model_sha256: str
    probe: InterpreterProbe
    label: str
    meter: EnergyMeter | None = None
    hud: Hud = field(default_factory=Hud)
    energies: list = field(default_factory=list)  # FrameEnergy of every measured frame


class GazePipeline:
    """One board, one gaze model, one face tracker; ``process`` turns a BGR frame into a GazeFrame."""

    def __init__(self, dev, model: str | Path | None = None, *, calibration: Calibration | None = None,
                 screen: Screen | None = None, async_detect: bool = False, tracker: FaceTracker | None = None,
                 monitor: str | None = None):
        """``dev``: a device, or several: each frame goes to all of them (side by side in the overlay).
        ``monitor``: a power monitor address (one per board, as a list, or one for all when the
        address is emulated and so wired to each emulated board)."""
        devs = list(dev) if isinstance(dev, (list, tuple)) else [dev]
        monitors = list(monitor) if isinstance(monitor, (list, tuple)) else [monitor] * len(devs)
        if len(monitors) != len(devs):
            raise ConfigError(f"{len(monitors)} monitor addresses for {len(devs)} boards",
                              "give one --monitor per --board, in the same order, or one emulated:// for all")
        self.lanes: list[Lane] = []
        try:
            for i, (d, mon) in enumerate(zip(devs, monitors)):
                path, data, info = ensure_model(d, model, DEFAULT_MODEL)
                if len(info.inputs) != 1 or len(info.outputs) != 1 or int(np.prod(info.outputs[0].shape)) != 2:
                    raise ConfigError(f"{path.name} has {len(info.inputs)} inputs and {len(info.outputs)} "
                                      "outputs; a gaze model has one input and one (x, y) output", "use tinytracker_int8.tflite")
                if self.lanes and tuple(info.inputs[0].shape) != tuple(self.lanes[0].model.inputs[0].shape):
                    raise ConfigError(f"the boards' models take different inputs ({self.lanes[0].model.inputs[0].shape} "
                                      f"and {info.inputs[0].shape}); side by side they get the same tensor",
                                      "run the same --model on every board")
                label = d.info.board if len(devs) > 1 else ""
                if len(devs) > 1 and any(ln.label == label for ln in self.lanes):
                    label = f"{label}#{i + 1}"
                lane = Lane(d, path, info, hashlib.sha256(data).hexdigest(), InterpreterProbe(d), label,
                            hud=Hud(origin=(8, 8)))
                self.lanes.append(lane)
                if mon:
                    lane.meter = EnergyMeter.open(mon, d)
        except BaseException:
            self._close_meters()
            raise
        first = self.lanes[0]
        self.dev, self.model_path, self.model, self.model_sha256 = first.dev, first.model_path, first.model, first.model_sha256
        self.builder = GazeInputBuilder(self.model.inputs[0])
        self.calibration = calibration
        self.screen = screen or (calibration.screen if calibration else Screen())
        tracker = tracker or FaceTracker()
        self.tracker = AsyncFaceTracker(tracker) if async_detect else tracker
        self.probe = first.probe
        self.frames = 0
        self.last_host_side_ms = 0.0  # the HUD shows the frame before: a frame's own is known after drawing

    @property
    def face_tracker(self) -> FaceTracker:
        return self.tracker.tracker if isinstance(self.tracker, AsyncFaceTracker) else self.tracker

    def process(self, frame: np.ndarray) -> GazeFrame:
        t0 = time.perf_counter()
        gf = GazeFrame(self.frames)
        self.frames += 1
        grey, k = search_image(frame)
        if isinstance(self.tracker, AsyncFaceTracker):
            face = self.tracker.submit(grey)
            if face is None and gf.index == 0:
                face = self.tracker.wait_idle()  # the first frame: wait for a box rather than skip
        else:
            face = self.tracker.update(grey)
        if face is not None and k != 1:
            face = Box(face.x * k, face.y * k, face.w * k, face.h * k)
        t1 = time.perf_counter()
        gf.host["detect"] = (t1 - t0) * 1e3
        if face is None:
            return gf
        gf.face = face
        gf.crop = crop_from_face(face)
        x = self.builder.build(frame, gf.crop)
        t2 = time.perf_counter()
        gf.host["prep"] = (t2 - t1) * 1e3
        gf.board = self.lanes[0].label
        for lane in self.lanes[1:]:
            gf.twins.append(GazeFrame(gf.index, face=gf.face, crop=gf.crop, board=lane.label))
        for lane, g in zip(self.lanes, [gf] + gf.twins):
            self._infer(lane, g, x)
        if self.metered:
            t4 = time.perf_counter()
            for lane in self.lanes:
                if lane.meter is not None:
                    self._settle(lane, lane.meter.poll())
            gf.host["energy"] = (time.perf_counter() - t4) * 1e3  # reading and aligning the samples
        return gf

    def _infer(self, lane: Lane, gf: GazeFrame, x: np.ndarray) -> None:
        t2 = time.perf_counter()
        result = lane.dev.capture(input=x)[0]
        t3 = time.perf_counter()
        gf.host["board_call"] = gf.host.get("board_call", 0.0) + (t3 - t2) * 1e3
        interp, interp_cpu = lane.probe.take(), lane.probe.take_cpu()
        if interp is not None:
            gf.host["interpreter"] = gf.host.get("interpreter", 0.0) + interp * 1e3
            gf.host["interpreter_cpu"] = gf.host.get("interpreter_cpu", 0.0) + interp_cpu * 1e3
        out = result.dequantized()[0].reshape(-1)
        gf.raw_cm = (float(out[0]), float(out[1]))
        gf.gaze_cm = tuple(float(v) for v in self.calibration.apply(gf.raw_cm)) if self.calibration else gf.raw_cm
        gf.stages = result.stages
        gf.board_total_ms = round(result.total_ms, 4)
        if lane.meter is not None:
            gf.energy_state = "pending"
            lane.meter.submit(gf, result)

    @staticmethod
    def _settle(lane: Lane, resolved) -> None:
        for g, fe in resolved:
            g.energy, g.energy_state = fe, ("measured" if fe is not None else "missing")
            if fe is not None:
                lane.energies.append(fe)

    def finish_energy(self) -> None:
        """Resolve every frame still waiting for the monitor (the end of a run)."""
        for lane in self.lanes:
            if lane.meter is not None:
                self._settle(lane, lane.meter.finish(lane.dev))

    def notices(self) -> list[str]:
        """What happened to the monitors since the last call, each said once."""
        out = []
        for lane in self.lanes:
            if lane.meter is not None:
                msg = lane.meter.notice()
                if msg:
                    out.append(f"{lane.label or lane.dev.info.board}: {msg}; the demo goes on, frames from now on "
                               "carry no energy")
        return out

    @property
    def metered(self) -> bool:
        return any(lane.meter is not None for lane in self.lanes)

    def finish(self, gf: GazeFrame, t_ready: float, cpu_ready: float | None = None) -> None:
        """Close the frame's host-side account once its overlay is drawn.

        ``host_side_ms`` is wall time, what a user waits; with ``cpu_ready`` (``time.thread_time()``
        when the frame was in hand) the loop thread's CPU time for the same span is kept as
        ``host["host_side_cpu"]``, a figure that other processes on a busy machine do not inflate.
        """
        total = (time.perf_counter() - t_ready) * 1e3
        gf.host["frame_total"] = total
        board = gf.host.get("interpreter", gf.host.get("board_call", 0.0))
        gf.host_side_ms = total - board
        if cpu_ready is not None:
            cpu = (time.thread_time() - cpu_ready) * 1e3
            gf.host["host_side_cpu"] = cpu - gf.host.get("interpreter_cpu", 0.0)
        self.last_host_side_ms = gf.host_side_ms

    def draw(self, frame: np.ndarray, gf: GazeFrame, hud: Hud) -> None:
        if gf.face is not None:
            draw_box(frame, gf.face, GREEN, 2)
            draw_box(frame, gf.crop, (120, 120, 120), 1)
        hud.draw(frame)
        if gf.gaze_cm is not None:  # after the HUD: the point stays visible on top of it
            h, w = frame.shape[:2]
            px, py = self.screen.to_pixels(gf.gaze_cm, w, h)
            draw_gaze(frame, px, py, self.calibration is not None)

    def _close_meters(self) -> None:
        for lane in getattr(self, "lanes", []):
            if lane.meter is not None:
                lane.meter.close()

    def close(self) -> None:
        if isinstance(self.tracker, AsyncFaceTracker):
            self.tracker.close()
        self._close_meters()


class RateMeter:
    """Frames per second over the last ``window`` frames."""

    def __init__(self, window: int = 30):
        self.stamps: collections.deque = collections.deque(maxlen=window)

    def tick(self, t: float | None = None) -> float:
        self.stamps.append(time.perf_counter() if t is None else t)
        if len(self.stamps) < 2:
            return 0.0
        return (len(self.stamps) - 1) / max(1e-9, self.stamps[-1] - self.stamps[0])


def hud_lines(pipe: GazePipeline, gf: GazeFrame, fps: float, note: str = "", lane: Lane | None = None) -> list[str]:
    lane = lane or pipe.lanes[0]
    info = lane.dev.info
    head = f"{info.board} | {lane.model.name} | {lane.model.engine}"
    lines = [head if len(head) <= 56 else head[:53] + "..."]
    metered = lane.meter is not None and lane.meter.last is not None and not lane.meter.dropped
    if not gf.stages:
        lines.append("board: no face, nothing sent")
    elif not metered:  # with energy, the stage table below has the times
        lines.append(stage_line(gf.stages, gf.board_total_ms))
    lines.append(f"host {fps:5.1f} fps | host-side {pipe.last_host_side_ms:4.1f} ms | face search {gf.host.get('detect', 0):4.1f} ms")
    if gf.gaze_cm is not None:
        tag = "calibrated" if pipe.calibration else "uncalibrated"
        lines.append(f"gaze x {gf.gaze_cm[0]:+5.1f} cm  y {gf.gaze_cm[1]:+5.1f} cm ({tag})")
    if lane.meter is not None:
        lines += energy_lines(lane.meter)
    if note:
        lines.append(note)
    return lines


def energy_lines(meter: EnergyMeter) -> list[str]:
    """The last measured frame and the rolling median, per stage: time and energy."""
    if meter.dropped:
        return [f"energy: monitor lost ({meter.measured} frames measured)"]
    fe = meter.last
    if fe is None:
        return ["energy: waiting for the monitor's samples"]
    med, total = meter.medians()
    lines = [f"energy         last frame   | median of {len(meter.history)}"]
    for k, v in fe.stages.items():
        ms, mj = med.get(k, (float("nan"), float("nan")))
        lines.append(f"{k:<10} {v['duration_ms']:5.2f} ms {v['energy_mj']:6.3f} mJ | {ms:5.2f} ms {mj:6.3f} mJ")
    idle = "?" if meter.idle_mw is None else f"{meter.idle_mw:.0f}"
    lines.append(f"frame      {fe.duration_ms:5.2f} ms {fe.energy_mj:6.3f} mJ | {total:6.3f} mJ  (+/-{fe.err_bound_mj:.3f})")
    lines.append(f"{fe.mean_mw:.0f} mW busy, idle {idle} mW ({meter.monitor.info.model})")
    strip = [v for v in meter.strip if v == v]
    if strip:
        idle_ma = "?" if meter.idle_ma is None else f"{meter.idle_ma:.1f}"
        lines.append(f"current, last {STRIP_S:g} s: peak {max(strip):.0f} mA, idle {idle_ma} mA (dashed)")
    return lines


def strip_chart(meter: EnergyMeter | None) -> StripChart | None:
    if meter is None or meter.dropped:
        return None
    return StripChart(meter.strip, meter.idle_ma)


@dataclass
class LoopSummary:
    frames: int = 0
    faces: int = 0
    wall_s: float = 0.0
    host_side_ms: list = field(default_factory=list)
    read_ms: list = field(default_factory=list)
    sink_ms: list = field(default_factory=list)
    steps: dict = field(default_factory=lambda: collections.defaultdict(list))
    board: dict = field(default_factory=lambda: collections.defaultdict(list))
    calibration: Calibration | None = None
    stopped_by_user: bool = False
    notices: list = field(default_factory=list)  # what happened to the monitors, each said once

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s else 0.0

    def add(self, gf: GazeFrame) -> None:
        self.frames += 1
        self.faces += gf.face is not None
        if gf.face is not None:
            self.host_side_ms.append(gf.host_side_ms)
            for k, v in gf.host.items():
                self.steps[k].append(v)
            for k, v in gf.stages.items():
                self.board[k].append(v.duration_ms)

    def to_json(self) -> dict:
        med = lambda v: round(float(np.median(v)), 3) if len(v) else None  # noqa: E731
        p90 = lambda v: round(float(np.percentile(v, 90)), 3) if len(v) else None  # noqa: E731
        return dict(frames=self.frames, frames_with_face=self.faces, wall_s=round(self.wall_s, 3), fps=round(self.fps, 2),
                    host_side_ms=dict(median=med(self.host_side_ms), p90=p90(self.host_side_ms)),
                    read_ms=dict(median=med(self.read_ms)), sink_ms=dict(median=med(self.sink_ms)),
                    steps_ms={k: med(v) for k, v in self.steps.items()},
                    board_ms={k: med(v) for k, v in self.board.items()},
                    calibration=None if self.calibration is None else self.calibration.to_json())


def energy_json(pipe: GazePipeline) -> dict:
    """``energy`` (the first board's) and, with several boards, ``boards``: what --json adds."""
    out: dict = {}
    lanes = [dict(board=ln.dev.info.board, engine=ln.model.engine,
                  energy=None if ln.meter is None else ln.meter.summary(ln.energies)) for ln in pipe.lanes]
    if pipe.metered:
        out["energy"] = lanes[0]["energy"]
    if len(lanes) > 1:
        out["boards"] = lanes
    return out


def run_loop(pipe: GazePipeline, source, *, window=None, sink=None, max_frames: int | None = None,
             log=None, schedule: CalibrationSchedule | None = None, on_frame=None, warn=None) -> LoopSummary:
    """Run frames from ``source`` until it ends, ``max_frames``, Esc/q in the window, or the schedule ends.

    With a calibration ``schedule`` the overlay shows its dots, raw predictions are collected, and
    the fitted Calibration is returned in the summary (and made the pipeline's calibration).
    With monitors, a frame is logged (``log``) once its energy is in, so log lines stay in frame
    order; ``warn`` hears, once, that a monitor stopped.
    """
    summary = LoopSummary()
    meter = RateMeter()
    hud_note = ""
    waiting: collections.deque = collections.deque()  # frames whose energy is still to come, in order

    def release(force: bool = False) -> None:
        while waiting and (force or waiting[0].resolved()):
            gf = waiting.popleft()
            summary.add(gf)
            if log is not None:
                log(gf)
        for msg in pipe.notices():
            summary.notices.append(msg)
            if warn is not None:
                warn(msg)

    start = time.perf_counter()
    done = 0
    try:
        while max_frames is None or done < max_frames:
            if schedule is not None and schedule.at(pipe.frames) is None:
                break  # before reading: the next frame belongs to whatever runs after calibration
            t_read = time.perf_counter()
            frame = source.read()
            if frame is None:
                break
            t_ready, cpu_ready = time.perf_counter(), time.thread_time()
            summary.read_ms.append((t_ready - t_read) * 1e3)
            gf = pipe.process(frame)
            done += 1
            note = ""
            if schedule is not None:
                schedule.add(gf.index, gf.raw_cm)
                k, collecting = schedule.at(gf.index)
                h, w = frame.shape[:2]
                draw_target(frame, *pipe.screen.to_pixels(schedule.points[k], w, h), collecting)
                note = f"calibration: look at the dot ({k + 1}/{len(schedule.points)})"
            fps = meter.tick()
            now = time.perf_counter()
            redo = any(ln.hud.due(now) for ln in pipe.lanes) or note != hud_note
            views = [frame] + [frame.copy() for _ in pipe.lanes[1:]]
            for lane, g, view in zip(pipe.lanes, [gf] + (gf.twins or [gf] * (len(pipe.lanes) - 1)), views):
                if redo:
                    lane.hud.update(hud_lines(pipe, g, fps, note, lane), now, strip_chart(lane.meter))
                pipe.draw(view, g, lane.hud)
            hud_note = note
            if len(views) > 1:
                frame = np.concatenate(views, axis=1)  # side by side: the same frame on each board
            pipe.finish(gf, t_ready, cpu_ready)
            waiting.append(gf)
            release()
            if on_frame is not None:
                on_frame(frame, gf)
            t_sink = time.perf_counter()
            if sink is not None:
                sink.write(frame)
            if window is not None:
                key = window.show(frame)
                if key in (27, ord("q")):
                    summary.stopped_by_user = True
                    break
            summary.sink_ms.append((time.perf_counter() - t_sink) * 1e3)
    finally:
        summary.wall_s = time.perf_counter() - start
        try:
            if pipe.metered:
                pipe.finish_energy()
        except HostlinkError:
            pass  # the board went away at the end: its last frames stay without energy
        release(force=True)
    if schedule is not None:
        raw, target = schedule.fixations()
        if len(raw) < MIN_POINTS:
            raise ConfigError(f"calibration got usable fixations on only {len(raw)} of {len(schedule.points)} dots; "
                              f"it needs at least {MIN_POINTS}, so nothing was saved or applied",
                              "keep your face in view and well lit while the dots show, then calibrate again")
        summary.calibration = Calibration.fit(raw, target, pipe.screen, pipe.model_sha256)
        pipe.calibration = summary.calibration
    return summary
