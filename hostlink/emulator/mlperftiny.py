"""An emulated MLPerf Tiny device under test: the reference DUT, speaking the benchmark's ASCII protocol.

It runs one of the MLPerf Tiny reference models (hostlink/data/reference_models/mlperf_tiny/) for
real with LiteRT, and times it as the reference DUT would run it: the NUCLEO-L4R5ZI (Cortex-M4F at
120 MHz, TFLM with CMSIS-NN kernels; mlcommons/tiny_results_v0.5 closed/reference/systems), whose
inference time comes from the per-layer cost model fitted to public measurements
(hostlink/models/cost.py, the cortex-m4f/tflm-cmsis-nn-2.3.1 pair: TF v2.3.1's TFLM, the release
the reference ran). Its power while busy is the reference DUT's published energy per inference
over its latency (the median of the four v0.5 reference rows in
hostlink/data/calibration/measurements.csv); the firmware polls the UART between commands without
sleeping, so it draws the same power idle. It is supplied at 1.8 V, the voltage
the MLPerf Tiny runner sets on the LPM01A for this DUT (benchmark/runner/devices_kws_ic_vww.yaml).

The board keeps a timeline on its microsecond clock (hostlink.timeline.BoardTimeline), so an
emulated power monitor can sample it. In energy mode each timestamp is a low pulse on the
timestamp GPIO (100000 nop iterations at 120 MHz, at least 833 us), which the monitor sees on its
digital input: the timeline marks the pulse with the marker code 1 (TIMESTAMP_CODE).
"""
from __future__ import annotations

import csv
import statistics
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import ConfigError
from ..links.base import Link
from ..protocols import mlperftiny as P

#: Reference model of each benchmark (mlcommons/tiny benchmark/training/*/trained_models).
MODELS = {"ic01": "pretrainedResnet_quant.tflite", "vww01": "vww_96_int8.tflite",
          "kws01": "kws_ref_model.tflite", "ad01": "ad01_int8.tflite"}
MODEL_DIR = "data/reference_models/mlperf_tiny"
CORE, RUNTIME, CLOCK_HZ = "cortex-m4f", "tflm-cmsis-nn-2.3.1", 120e6
REFERENCE_BOARD = "Nucleo-L4R5ZI"
SUPPLY_V = 1.8
TIMESTAMP_CODE = 1  # the marker code the timestamp pulse drives on a monitor's digital input
VENDOR = "hostlink emulated NUCLEO-L4R5ZI"


@dataclass(frozen=True)
class Span:
    start_us: float
    end_us: float
    stage: int
    power_mw: float


@dataclass(frozen=True)
class MlperfTinyProfile:
    """The reference DUT's modelled timing and power (hostlink.timeline.PowerProfile)."""

    name: str
    title: str
    idle_mw: float
    busy_mw: float
    supply_v: float
    clock_hz: float
    power_source: str


def model_bytes(version: str) -> bytes:
    if version not in MODELS:
        raise ConfigError(f"no MLPerf Tiny reference model for {version!r}", f"choose one of: {', '.join(MODELS)}")
    return resources.files("hostlink").joinpath(f"{MODEL_DIR}/{MODELS[version]}").read_bytes()


@lru_cache(maxsize=1)
def profile() -> MlperfTinyProfile:
    """Power from the reference rows of measurements.csv: energy per inference / latency."""
    text = resources.files("hostlink").joinpath("data/calibration/measurements.csv").read_text(encoding="utf-8")
    rows = [r for r in csv.DictReader(text.splitlines())
            if r["board"] == REFERENCE_BOARD and r["runtime"] == RUNTIME and r["energy_uj"]]
    if not rows:
        raise ConfigError(f"measurements.csv has no {REFERENCE_BOARD} {RUNTIME} energy rows",
                          "restore hostlink/data/calibration/measurements.csv")
    busy = statistics.median(float(r["energy_uj"]) / float(r["latency_ms"]) for r in rows)  # uJ/ms = mW
    return MlperfTinyProfile(
        name="mlperftiny", title=f"MLPerf Tiny DUT ({REFERENCE_BOARD}, emulated)", idle_mw=busy, busy_mw=busy,
        supply_v=SUPPLY_V, clock_hz=CLOCK_HZ,
        power_source=f"median energy/latency of {len(rows)} MLPerf Tiny v0.5 reference rows ({REFERENCE_BOARD})")


@lru_cache(maxsize=8)
def inference_us(version: str) -> float:
    """One inference of the reference model on the reference DUT, from the fitted cost model."""
    from ..models import cost

    params = cost.load_fitted()[(CORE, RUNTIME)]
    return params.predict(cost.layers(model_bytes(version)), CLOCK_HZ).total_us


class MlperfTinyEmulator:
    """The firmware side: ``feed`` command bytes, replies go to ``emit``. Same parser rules as
    internally_implemented.cpp: '%' ends a command, 80 characters are kept, every command ends
    with m-ready."""

    def __init__(self, emit, *, model: str = "ic01", mode: str = "performance", realtime: bool = False):
        if mode not in P.TIMESTAMP_MODES:
            raise ConfigError(f"unknown timestamp mode {mode!r}", "choose performance or energy")
        from .inference import LiteRTEngine

        self.emit = emit
        self.version = model
        self.mode = mode
        self.realtime = realtime
        self.engine = LiteRTEngine(model_bytes(model))
        self.profile = profile()
        self.infer_us = inference_us(model)
        self._lock = threading.Lock()
        self._timeline: list[Span] = []
        self._clock_us = 0.0
        self._cmd = bytearray()
        self._buf = bytearray()
        self._want = 0
        self._outputs: list[np.ndarray] | None = None
        self._say(f"m-timestamp-mode-{mode}")
        self._timestamp()  # th_timestamp_initialize: leaves the open-drain pin high
        self._say(P.INIT_DONE)
        self._say(P.READY)

    # -------------------------------------------------------------- hostlink.timeline.BoardTimeline
    @property
    def timeline(self):
        return self._timeline

    def now_us(self) -> float:
        return self._clock_us

    @property
    def clock_us(self) -> float:
        return self._clock_us

    # -------------------------------------------------------------- the firmware
    def _say(self, text: str) -> None:
        self.emit(P.line(text))

    def _spend(self, us: float, code: int = 0, power_mw: float | None = None) -> None:
        start = self._clock_us
        self._clock_us += us
        self._timeline.append(Span(start, self._clock_us, code, self.profile.idle_mw if power_mw is None else power_mw))
        if self.realtime:
            time.sleep(us / 1e6)

    def _timestamp(self) -> None:
        if self.mode == "energy":
            self._spend(P.TIMESTAMP_PULSE_CYCLES / self.profile.clock_hz * 1e6, TIMESTAMP_CODE)
        else:
            self._say(f"m-lap-us-{int(self._clock_us)}")

    def feed(self, data: bytes) -> None:
        with self._lock:
            for b in data:
                if b == P.TERMINATOR[0]:
                    self._dispatch(P.parse_command(bytes(self._cmd)))
                    self._cmd.clear()
                elif len(self._cmd) < P.MAX_COMMAND:
                    self._cmd.append(b)

    def _dispatch(self, words: list[str]) -> None:
        self._spend(100.0)  # parsing and answering a command at 115200 baud: about one line's time
        tok = words[0] if words else ""
        if tok == "name":
            self._say(f"m-name-{P.DEVICE_NAME}-[{VENDOR}]")
        elif tok == "timestamp":
            self._timestamp()
        elif tok == "profile":
            self._say(f"m-profile-[{P.FW_VERSION}]")
            self._say(f"m-model-[{self.version}]")
        elif tok == "db":
            self._db(words[1:])
        elif tok == "infer":
            self._infer(words[1:])
        elif tok == "results":
            self._results()
        else:
            self._say(f"e-[Unknown command: {tok}]")
        self._say(P.READY)

    def _db(self, args: list[str]) -> None:
        if not args:
            self._say("e-[Command 'db' requires a subcommand]")
        elif args[0] == "load":
            n = _atoi(args[1]) if len(args) > 1 else None
            if n is None:
                self._say("e-[Command 'db load' requires the # of bytes]")
            elif n <= 0:
                self._say("e-[Command 'db load' must be >0 bytes]")
            elif n > P.MAX_DB_INPUT_SIZE:
                self._say(f"Supplied buffer size {n} exceeds maximum of {P.MAX_DB_INPUT_SIZE}")
            else:
                self._want, self._buf = n, bytearray()
                self._say(f"m-[Expecting {n} bytes]")
        elif args[0] == "print":
            for i in range(0, len(self._buf), 8):
                self._say("m-buffer-" + "-".join(f"{b:02x}" for b in self._buf[i:i + 8]))
        else:
            digits = args[0]
            if len(digits) % 2:
                self._say("e-[Insufficent number of hex digits]")  # sic, as the firmware prints it
                return
            for i in range(0, len(digits), 2):
                try:
                    byte = int(digits[i:i + 2], 16)
                except ValueError:
                    self._say(f"e-[Invalid hex digit '{digits[i:i + 2]}']")
                    return
                if len(self._buf) < self._want:
                    self._buf.append(byte)
                if self._want and len(self._buf) == self._want:
                    self._say("m-load-done")
                    return

    def _infer(self, args: list[str]) -> None:
        n, w = 1, 10
        if args:
            n = _atoi(args[0]) or 0
            if n <= 0:
                self._say("e-[Inference iterations must be >0]")
                return
            if len(args) > 1:
                w = _atoi(args[1])
                if w is None or w < 0:
                    self._say("e-[Inference warmup must be >=0]")
                    return
        spec = self.engine.inputs[0]
        size = 4 if self.version == "ad01" else 1
        need = int(np.prod(spec.shape)) * size
        if len(self._buf) != need:
            self._say(f"Input db has {len(self._buf) // size} elemented, expected {need // size}")  # sic
            tensor = np.zeros(spec.shape, spec.numpy_dtype)
        else:
            values = np.asarray(P.decode_input(self.version, bytes(self._buf)))
            tensor = spec.quantize(values) if self.version == "ad01" else values.astype(spec.numpy_dtype)
            tensor = tensor.reshape(spec.shape)
        self._say(f"m-warmup-start-{w}")
        for _ in range(w):
            self._run(tensor)
        self._say("m-warmup-done")
        self._say(f"m-infer-start-{n}")
        self._timestamp()
        for _ in range(n):
            self._run(tensor)
        self._timestamp()
        self._say("m-infer-done")
        self._results()

    def _run(self, tensor: np.ndarray) -> None:
        self._outputs = self.engine.run([tensor])
        self._spend(self.infer_us, 0, self.profile.busy_mw)

    def _results(self) -> None:
        if self._outputs is None:
            self._say(P.format_results([]))
            return
        spec = self.engine.outputs[0]
        self._say(P.format_results(spec.dequantize(self._outputs[0]).ravel()))


def _atoi(text: str) -> int | None:
    try:
        return int(text, 10)
    except ValueError:
        return None


class MlperfTinyEmulatorLink(Link):
    """``emu:mlperftiny[?model=ic01&mode=energy]``: the emulated DUT in this process, behind a Link."""

    def __init__(self, *, model: str = "ic01", mode: str = "performance"):
        self.url = f"emu:mlperftiny?model={model}&mode={mode}"
        self._rx = bytearray()
        self.board = MlperfTinyEmulator(self._rx.extend, model=model, mode=mode)
        self.emulated_board = self.board

    def write(self, data: bytes) -> None:
        self.board.feed(data)

    def read(self, timeout: float) -> bytes:
        out = bytes(self._rx)
        self._rx.clear()
        return out

    def close(self) -> None:
        self._rx.clear()
