"""The emulated board: a BoardCore whose backend runs the model for real and keeps a board clock,
a per-stage timeline (for emulated power monitors) and the profile's timing and power model.

Clock: by default the board clock is virtual. Modelled work advances it by the modelled stage
durations; time the host spends between requests advances it by the real elapsed time (the board
idles). With ``realtime=True`` the clock is the wall clock and each frame takes its modelled time.
"""
import collections
import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from .. import protocols as P
from ..errors import ConfigError, HostlinkError
from .camera import Camera, open_camera, prepare_input
from .core import Backend, BoardCore, BoardError, FrameOutcome, LoadedModel
from .inference import LiteRTEngine, TFLMEngine
from .profiles import BoardProfile, get_profile
from .jitter import Jitter
from .timing import board_frame

FW_VERSION = (0, 1, 0)
#: Spans kept for emulated power monitors (about an hour of frames at 30 fps, 4 stages each).
TIMELINE_SPANS = 500_000


@dataclass(frozen=True)
class Span:
    start_us: float
    end_us: float
    stage: int  # protocols.Stage; 0 = idle
    power_mw: float


class EmulatedBackend(Backend):
    def __init__(self, profile: BoardProfile, camera: Camera | None = None, *, realtime: bool = False,
                 engine: str = "litert", serial: str = "EMU0001", path: str | None = None,
                 jitter: float = 0.0, seed: int = 0):
        if engine not in ("litert", "tflm"):
            raise HostlinkError(f"unknown engine {engine!r}", "use litert or tflm")
        if path is not None and path not in profile.paths:
            raise ConfigError(f"{profile.name} has no {path!r} compute path", f"choose one of: {', '.join(profile.paths)}")
        self.path = path  # None: the default path for the model's format
        self.jitter = Jitter(jitter, seed)
        self.profile = profile
        self.max_payload = profile.max_payload
        self.camera = camera or open_camera(None)
        self.realtime = realtime
        self.engine = engine
        self.serial = serial
        self.timeline: collections.deque[Span] = collections.deque(maxlen=TIMELINE_SPANS)
        self._clock_us = 0.0
        self._end_us = 0.0  # where the timeline ends; ahead of the clock while a real-time frame runs
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self._wall_mark = self._t0
        self._input_cache: dict = {}
        self._info = dict(
            board=profile.kind.name, board_name=f"{profile.title} (emulated)", serial=serial,
            fw_version=list(FW_VERSION),
            capabilities=dict(SENSOR_CAPTURE=True, HOST_INPUT=True, MARKERS=True, EMULATED=True,
                              REALTIME=realtime, EDGETPU="edgetpu" in profile.paths),
            clock_hz=1_000_000, link_bps=profile.link_bps,
            formats={f.replace("-", "_"): True for f in profile.limits.formats},
            memory=[dict(name=n, size=s) for n, s in profile.memory],
            stages=[s.name for s in profile.stages],
        )

    # ---------------------------------------------------------------- clock
    @property
    def clock_us(self) -> float:
        return self._clock_us

    def device_info(self) -> dict:
        return self._info

    def now(self) -> int:
        if self.realtime:
            # the wall clock, read under the lock that run_frame holds while it books a frame, so a
            # monitor thread never reads past time whose spans are still to be written; never back
            with self._lock:
                self._clock_us = max(self._clock_us, (time.perf_counter() - self._t0) * 1e6)
        return int(self._clock_us)

    def _idle_to(self, t_us: float) -> None:
        # the timeline stays in time order: idle starts where the last span (a frame booked ahead
        # of the wall clock, in real time) ends
        with self._lock:
            if t_us > self._end_us:
                self.timeline.append(Span(self._end_us, t_us, P.Stage.IDLE, self.profile.idle_mw))
                self._end_us = t_us
            self._clock_us = max(self._clock_us, t_us)

    def on_request(self) -> None:
        wall = time.perf_counter()
        if self.realtime:
            self._idle_to((wall - self._t0) * 1e6)
        else:
            # in whole ticks of the 1 MHz board clock, so frames start on a tick and stages last whole ticks
            self._idle_to(float(math.ceil(self._clock_us + (wall - self._wall_mark) * 1e6)))
        self._wall_mark = wall

    def wait_until(self, tick: int) -> None:
        if self.realtime:
            delay = tick / 1e6 - (time.perf_counter() - self._t0)
            if delay > 0:
                time.sleep(delay)
        self._idle_to(float(tick))

    # ---------------------------------------------------------------- models
    def check_begin(self, size: int, fmt: P.ModelFormat, name: str) -> None:
        lim = self.profile.limits
        fmt_name = P.FORMAT_NAMES[fmt]
        if fmt_name not in lim.formats:
            raise BoardError(P.ErrorCode.MODEL_FORMAT_UNSUPPORTED,
                             f"{self.profile.name} accepts {', '.join(sorted(lim.formats))}, not {fmt_name}")
        if size > lim.model_store_bytes:
            raise BoardError(P.ErrorCode.MODEL_TOO_LARGE,
                             f"model is {size / 1024:.0f} KB but the {self.profile.name} model store holds "
                             f"{lim.model_store_bytes / 1024:.0f} KB")

    def load(self, data: bytes, fmt: P.ModelFormat, name: str, crc: int) -> LoadedModel:
        from ..models.admission import check
        from ..models.tflite import analyze, measure_arena

        if fmt == P.ModelFormat.EDGETPU_TFLITE:
            raise BoardError(P.ErrorCode.MODEL_FORMAT_UNSUPPORTED,
                             "the emulator cannot execute the Edge TPU custom op (its compiled graph runs only on "
                             "Edge TPU silicon); upload the CPU .tflite and the coralmicro profile times it on the M7")
        try:
            report = analyze(data, name=name)
        except HostlinkError as err:
            raise BoardError(P.ErrorCode.MODEL_CORRUPT, f"not a valid model: {err.message}") from None
        try:
            report.arena_bytes = measure_arena(data)
        except HostlinkError as err:
            if self.profile.tflm or self.engine == "tflm":
                raise BoardError(P.ErrorCode.MODEL_OP_UNSUPPORTED if "op" in err.message.lower() else P.ErrorCode.MODEL_CORRUPT,
                                 f"tflite-micro cannot run the model: {err.message}") from None
            report.arena_bytes = 0  # no tflite-micro on this board (IMX500): its converter table judges the ops
        refusals = check(report, self.profile.limits)
        if refusals:
            raise BoardError(refusals[0].code, "; ".join(r.message for r in refusals))
        try:
            eng = (TFLMEngine(data, report.arena_bytes + 4096) if self.engine == "tflm" else LiteRTEngine(data))
        except Exception as exc:  # the interpreter's own message is the useful part
            raise BoardError(P.ErrorCode.MODEL_CORRUPT, f"the interpreter cannot load the model: {exc}") from None
        path = self.profile.path_for(P.FORMAT_NAMES[fmt], self.path)
        try:
            frame = board_frame(self.profile.name, data, path=path, report=report)
        except HostlinkError as err:  # the timing model's data (fitted.json, board_stages.json)
            raise BoardError(P.ErrorCode.INTERNAL, f"the timing model cannot time this model: {err.message}") from None
        self._input_cache.clear()
        return LoadedModel(
            name=name, format=fmt, size=len(data), crc32=crc, arena_bytes=report.arena_bytes, macs=report.macs,
            expected_frame_us=int(frame.frame_us), engine=f"{self.profile.engine_label[path]}",
            inputs=list(eng.inputs), outputs=list(eng.outputs), handle=(eng, frame))

    # ---------------------------------------------------------------- frames
    def _sensor_input(self, model: LoadedModel, index: int) -> list[np.ndarray]:
        spec = model.inputs[0]
        if len(model.inputs) > 1:
            raise BoardError(P.ErrorCode.SOURCE_UNSUPPORTED,
                             f"the model has {len(model.inputs)} inputs; the sensor feeds one. Send INPUT from the host")
        # the synthetic pattern repeats every 64 frames: preprocessing it again would only cost host time
        key = (index % 64) if self.camera.name == "pattern" else None
        if key is not None and key in self._input_cache:
            return [self._input_cache[key]]
        try:
            frame = self.camera.read(index)
        except HostlinkError as err:
            raise BoardError(P.ErrorCode.CAMERA_FAILED, err.message) from None
        x = prepare_input(frame, spec.shape, spec.numpy_dtype, spec.scale, spec.zero_point)
        if key is not None:
            self._input_cache[key] = x
        return [x]

    def run_frame(self, model: LoadedModel, host_inputs, index: int) -> FrameOutcome:
        eng, frame = model.handle
        if host_inputs is None:
            inputs = self._sensor_input(model, index)
        else:
            inputs = host_inputs
        # no exposure when the host supplied the tensor; jitter (off by default) per stage; whole
        # ticks of the board's 1 MHz clock, so every stage reports the duration it lasted
        plan = [(st, float(max(round(d), 1)), mw) for st, d, mw in self.jitter.apply(frame.plan(capture=host_inputs is None))]
        if not self.realtime:
            outputs = self._infer(eng, inputs)
        # Real time: the frame starts now, on the wall clock and never before the previous frame
        # ended, and is booked whole before the host runs the inference (which stands in for the
        # board's work inside the modelled time). Booking after the inference would start the
        # frame late by the host's inference time, and a faster next inference would then start
        # the next frame before this one ended: markers and timestamps would disagree.
        with self._lock:
            if self.realtime:
                self._clock_us = max(self._clock_us, (time.perf_counter() - self._t0) * 1e6)
            t = max(self._clock_us, self._end_us)
            stages = []
            for stage, dur, mw in plan:
                self.timeline.append(Span(t, t + dur, stage, mw))
                stages.append((stage, int(round(t)), int(round(t + dur))))
                t += dur
            self._end_us = t
            if not self.realtime:
                self._clock_us = t
        if self.realtime:
            outputs = self._infer(eng, inputs)
            delay = t / 1e6 - (time.perf_counter() - self._t0)  # until the wall clock reaches the frame end
            if delay > 0:
                time.sleep(delay)
            self.now()
        self._wall_mark = time.perf_counter()
        return FrameOutcome(stages, outputs)

    @staticmethod
    def _infer(eng, inputs):
        try:
            return eng.run(inputs)
        except Exception as exc:  # report, never crash the board
            raise BoardError(P.ErrorCode.INFERENCE_FAILED, f"inference failed: {exc}") from None


class EmulatedBoard(BoardCore):
    """A whole software board: ``EmulatedBoard("imx500", emit=callback)``."""

    def __init__(self, profile: str | BoardProfile, emit, *, camera: Camera | str | None = None,
                 realtime: bool = False, engine: str = "litert", version: int = P.VERSION,
                 path: str | None = None, jitter: float = 0.0, seed: int = 0):
        prof = profile if isinstance(profile, BoardProfile) else get_profile(profile)
        cam = camera if isinstance(camera, Camera) else open_camera(camera)
        super().__init__(EmulatedBackend(prof, cam, realtime=realtime, engine=engine, path=path, jitter=jitter,
                                         seed=seed), emit, version=version)

    @property
    def profile(self) -> BoardProfile:
        return self.backend.profile

    @property
    def timeline(self):
        return self.backend.timeline

    @property
    def clock_us(self) -> float:
        return self.backend.clock_us

    def now_us(self) -> float:
        """hostlink.timeline.BoardTimeline: a real-time board's clock runs between requests too."""
        if self.backend.realtime:
            self.backend.now()
        return float(self.backend.clock_us)
