"""Any MLPerf Tiny device under test: a board running MLPerf Tiny (EEMBC) benchmark firmware.

Such firmware has its model built in and speaks the benchmark's ASCII protocol over a UART
(protocols/mlperftiny.py), not protocol v1, so this module brings its own device class with the
client's interface: ``hostlink --board mlperftiny --port /dev/ttyACM0 info`` asks ``name%`` and
``profile%``; ``capture --input x.npy`` loads the tensor with ``db`` commands, runs ``infer 1 0``
per frame and reads ``m-results-[...]``; in performance mode the two ``m-lap-us`` timestamps around
the inference time it on the DUT's clock. In energy mode the firmware drives a timestamp GPIO
instead, which a power monitor's digital input records: ``energy_run`` measures the energy between
the two pulses around ``infer N``. Uploading is refused: the model is compiled into the firmware.

``emu:mlperftiny[?model=ic01&mode=energy]`` is the emulated reference DUT
(hostlink/emulator/mlperftiny.py), and ``hostlink emulate --board mlperftiny --pty`` serves it on a
pseudo-terminal, so the MLPerf Tiny runner itself can drive it.
"""
from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass, field

import numpy as np

from ..config import DEFAULT_TIMEOUTS, Timeouts
from ..device_handle import DeviceHandle
from ..errors import ConfigError, DeviceError, LinkTimeout
from ..protocols import mlperftiny as P
from ..types import CaptureResult, DeviceInfo, ModelInfo, StageTiming, TensorSpec
from .registry import Board, UsbId

#: The DUT's console rate in performance and accuracy mode (benchmark/runner/devices_kws_ic_vww.yaml;
#: in energy mode the DUT talks through the runner's IO manager at 9600 instead).
BAUDRATE = 115200


class MlperfTinyDevice(DeviceHandle):
    """An MLPerf Tiny DUT behind a Link, with the protocol-v1 client's interface."""

    def __init__(self, link, *, timeouts: Timeouts = DEFAULT_TIMEOUTS, trace=None):
        super().__init__(link)
        self.timeouts = timeouts
        self.trace = trace
        self.info: DeviceInfo | None = None
        self.model: ModelInfo | None = None
        self.mode: str | None = None  # "performance" | "energy"
        self.logs: list[str] = []
        self._pending = bytearray()

    # ------------------------------------------------------------------ the line protocol
    def _lines_until_ready(self, deadline: float, what: str) -> list[str]:
        lines: list[str] = []
        while True:
            while b"\n" in self._pending:
                raw, _, rest = bytes(self._pending).partition(b"\n")
                self._pending = bytearray(rest)
                text = raw.rstrip(b"\r\x00").decode("ascii", errors="replace")
                if self.trace:
                    self.trace("<", text)
                if text == P.READY:
                    return lines
                lines.append(text)
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkTimeout(f"the MLPerf Tiny DUT on {self.link.url} did not finish {what!r} "
                                  f"(no m-ready within the deadline)",
                                  "check the port and baud rate (115200 in performance mode), and that the "
                                  "board runs MLPerf Tiny firmware; --timeout-scale gives a slow board longer")
            self._pending += self.link.read(min(left, 0.2))

    def command(self, *words, work_s: float = 0.0) -> list[str]:
        """Send one command and return the lines before its m-ready; an ``e-[...]`` reply raises."""
        raw = P.command(*words)
        if self.trace:
            self.trace(">", raw.decode("ascii"))
        self.link.write(raw)
        wire_s = (len(raw) + 64) * 10 / BAUDRATE
        t = self.timeouts
        lines = self._lines_until_ready(time.monotonic() + t.base_s + t.margin * (work_s + wire_s),
                                        " ".join(map(str, words)))
        for text in lines:
            err = P.parse_error(text)
            if err is not None or text.startswith("Supplied buffer size") or text.startswith("Input db has"):
                raise DeviceError(0, f"the DUT refused {' '.join(map(str, words))!r}: {err or text}",
                                  "the input must be exactly the size the firmware's model takes")
        return lines

    # ------------------------------------------------------------------ the client's interface
    def hello(self) -> DeviceInfo:
        """``name%``, ``profile%`` and ``timestamp%`` (which tells the timestamp mode: a performance
        build prints m-lap-us, an energy build pulses its GPIO and prints nothing)."""
        t = self.timeouts
        deadline = time.monotonic() + t.hello_s
        self.link.write(P.command("name"))
        vendor = None
        try:
            while vendor is None:  # a board that just reset prints its banner, ended by m-ready, first
                lines = self._lines_until_ready(deadline, "name")
                vendor = next((v for _, v in filter(None, map(P.parse_name, lines))), None)
        except LinkTimeout:
            raise LinkTimeout(f"no MLPerf Tiny DUT answered name% with m-name-dut-[...] on {self.link.url}",
                              "is it running MLPerf Tiny firmware at 115200 baud? (hostlink doctor)") from None
        profile = dict(filter(None, map(P.parse_profile, self.command("profile"))))
        laps = [v for v in map(P.parse_lap_us, self.command("timestamp")) if v is not None]
        self.mode = "performance" if laps else "energy"
        version = profile.get("model", "?")
        caps = {"HOST_INPUT", "MODEL_BUILT_IN", f"TIMESTAMP_{self.mode.upper()}"}
        if self.link.emulated_board is not None:
            caps.add("EMULATED")
        self.info = DeviceInfo(
            board="mlperftiny", board_name=f"MLPerf Tiny DUT ({vendor})", serial="", fw_version=profile.get("profile", "?"),
            proto_version=0, capabilities=frozenset(caps), max_payload=P.MAX_DB_INPUT_SIZE, clock_hz=1_000_000,
            link_bps=0, formats=(), memory={}, stages=("inference",) if self.mode == "performance" else ())
        self.model = _model_info(version)
        return self.info

    def model_info(self) -> ModelInfo:
        return self.model

    def upload(self, *args, **kwargs):
        raise ConfigError(f"an MLPerf Tiny DUT has its model ({self.model.name}) compiled into its firmware: "
                          "hostlink cannot upload one",
                          "flash firmware built with the model you want, then use info, capture --input or run")

    def capture(self, count: int = 1, period_us: int = 0, input: np.ndarray | None = None,
                return_input: bool = False, progress=None) -> list[CaptureResult]:
        """``count`` inferences on ``input`` (the DUT has no sensor), one ``infer 1 0`` each."""
        if input is None:
            raise ConfigError("an MLPerf Tiny DUT has no sensor: give it an input tensor",
                              "hostlink capture --input x.npy (the model's input shape, in its dtype or float)")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigError(f"count must be a whole number >= 1, not {count!r}")
        self.load_input(input)
        work_s = max(self.model.expected_frame_us, 1) / 1e6
        results = []
        for frame in range(count):
            lines = self.command("infer", 1, 0, work_s=work_s)
            laps = [v for v in map(P.parse_lap_us, lines) if v is not None]
            values = next((r for r in map(P.parse_results, lines) if r is not None), None)
            if values is None:
                raise DeviceError(0, "the DUT answered infer without m-results-[...]", "check its firmware's th_results")
            stages = {"inference": StageTiming(float(laps[0]), float(laps[-1]))} if len(laps) >= 2 else {}
            out = np.asarray(values, np.float32)
            results.append(CaptureResult(frame=frame, count=count, stages=stages, outputs=[out],
                                         output_specs=[TensorSpec("results", "float32", out.shape, 0.0, 0)]))
            if progress:
                progress(frame + 1, count)
            if period_us:
                time.sleep(period_us / 1e6)
        return results

    def load_input(self, tensor: np.ndarray) -> None:
        from ..inputs import prepare_input

        spec = self.model.inputs[0]
        values = prepare_input(spec, tensor)
        if self.model.name == "ad01":  # the firmware quantizes: send the float values
            values = spec.dequantize(values) if spec.dtype != "float32" else values
        data = P.encode_input(self.model.name, np.asarray(values).ravel().tolist())
        for raw in P.db_commands(data):
            self.command(*raw[:-1].decode("ascii").split())

    def reset(self) -> None:
        raise ConfigError("MLPerf Tiny firmware has no reset command", "press the board's reset button")


@dataclass(frozen=True)
class EnergyRun:
    """One ``infer N W`` in energy mode, measured by a power monitor between the two timestamp pulses
    (as the MLPerf Tiny energy runner does: from one timestamp to the next, divided by N)."""

    inferences: int
    window_s: float  # first timestamp pulse to the second
    energy_uj: float  # in that window
    mean_power_mw: float
    err_bound_uj: float
    results: list[float]
    trace: object = field(default=None, repr=False, compare=False)  # what the monitor recorded
    missing: int = 0  # samples the monitor lost in the window
    span: tuple[int, int] = (0, 0)  # the window's first and last sample index in ``trace``

    @property
    def energy_uj_per_inference(self) -> float:
        return self.energy_uj / self.inferences

    @property
    def latency_ms(self) -> float:
        return self.window_s * 1000 / self.inferences


def energy_run(dev: MlperfTinyDevice, monitor, tensor: np.ndarray, inferences: int = 1, warmup: int = 0,
               timestamp_bit: int = 0) -> EnergyRun:
    """Run ``inferences`` on ``tensor`` with ``monitor`` recording, and align on the DUT's timestamp
    pulses, which reach the monitor's digital input ``timestamp_bit``. ``monitor`` is open and
    configured for the DUT's supply; the DUT runs energy-mode firmware."""
    from ..power.align import decode_markers, integrate
    from ..power.base import Trace

    if dev.mode != "energy":
        raise ConfigError(f"{dev.info.board_name} runs performance-mode firmware: it prints m-lap-us instead of "
                          "pulsing its timestamp pin", "flash the energy-mode build (EE_CFG_ENERGY_MODE=1)")
    if monitor.info.digital_channels <= timestamp_bit:
        raise ConfigError(f"{monitor.info.model} has no digital input {timestamp_bit} for the timestamp pin",
                          "wire the DUT's timestamp GPIO to a digital input of the monitor")
    dev.load_input(tensor)
    monitor.start()
    work_s = max(dev.model.expected_frame_us, 1) / 1e6 * (inferences + warmup)
    lines = dev.command("infer", inferences, warmup, work_s=work_s)
    blocks = monitor.read_available()
    while (more := monitor.read(0.2)) is not None:  # a streaming monitor's last samples are in flight
        blocks.append(more)
    monitor.stop()
    trace = Trace.concat(blocks, monitor.info.sample_rate_hz)
    pulses = [seg for seg in decode_markers(trace, mask=1 << timestamp_bit) if seg["stage_id"]]
    if len(pulses) < 2:
        raise DeviceError(0, f"the monitor saw {len(pulses)} timestamp pulse(s) during infer, not 2",
                          f"check the wire from the DUT's timestamp pin to digital input {timestamp_bit}")
    window = np.zeros(1, dtype=pulses[0].dtype)
    window["stage_id"], window["start"], window["stop"] = 1, pulses[-2]["start"], pulses[-1]["start"]
    row = integrate(trace, window)[0]
    values = next((r for r in map(P.parse_results, lines) if r is not None), [])
    span_s = (row["stop"] - row["start"]) / monitor.info.sample_rate_hz
    return EnergyRun(inferences, span_s, float(row["energy_j"]) * 1e6, float(row["mean_power_w"]) * 1e3,
                     float(row["err_bound_j"]) * 1e6, values, trace, int(row["n_missing"]),
                     (int(row["start"]), int(row["stop"])))


def _model_info(version: str) -> ModelInfo:
    """What the host knows of a built-in model: the reference model of its benchmark."""
    from ..emulator.mlperftiny import MODELS, inference_us, model_bytes
    from ..models.tflite import analyze

    if version not in MODELS:
        return ModelInfo(True, version, "built-in", 0, 0, 0, 0, 0, "built into the firmware", (), ())
    data = model_bytes(version)
    rep = analyze(data, name=MODELS[version])
    specs = tuple(TensorSpec(t.name, t.dtype, tuple(t.shape), t.scale, t.zero_point) for t in rep.inputs)
    outs = tuple(TensorSpec(t.name, t.dtype, tuple(t.shape), t.scale, t.zero_point) for t in rep.outputs)
    return ModelInfo(True, version, "built-in", len(data), 0, 0, rep.macs, int(inference_us(version)),
                     f"built into the firmware (the {MODELS[version]} reference model)", specs, outs)


def _parse_emu(url: str) -> dict:
    """``emu:mlperftiny?model=kws01&mode=energy`` -> its options, each checked."""
    from ..emulator.mlperftiny import MODELS

    form = 'expected "emu:mlperftiny[?model=ic01|vww01|kws01|ad01][&mode=performance|energy]"'
    _, _, query = url.partition("?")
    opts = {}
    for key, values in urllib.parse.parse_qs(query, keep_blank_values=True).items():
        value = values[-1]
        if key == "model" and value not in MODELS:
            raise ConfigError(f"model={value!r} in {url!r} is not one of {', '.join(MODELS)}", form)
        if key == "mode" and value not in P.TIMESTAMP_MODES:
            raise ConfigError(f"mode={value!r} in {url!r} is not performance or energy", form)
        if key not in ("model", "mode"):
            raise ConfigError(f"unknown emulator option {key!r} in {url!r}", form)
        opts[key] = value
    return opts


def open_device(url: str, *, baudrate: int | None = None, timeouts: Timeouts = DEFAULT_TIMEOUTS, trace=None,
                **_) -> MlperfTinyDevice:
    """A device for the DUT at ``url`` (a tty, socket://, or emu:mlperftiny[?...]), not yet asked
    anything: ``hostlink.connect(url, board="mlperftiny")`` opens it and says hello."""
    if url.startswith("emu:"):
        from ..emulator.mlperftiny import MlperfTinyEmulatorLink

        link = MlperfTinyEmulatorLink(**_parse_emu(url))
    else:
        from ..links import open_link

        link = open_link(url, baudrate=baudrate or BAUDRATE)
    return MlperfTinyDevice(link, timeouts=timeouts, trace=trace)  # hostlink.connect says hello


def serve_emulator(emit, **options):
    from ..emulator.mlperftiny import MlperfTinyEmulator

    return MlperfTinyEmulator(emit, **{k: v for k, v in options.items() if k in ("model", "mode", "realtime")})


BOARD = Board(
    name="mlperftiny", title="MLPerf Tiny device under test (EEMBC benchmark firmware)",
    # The MLPerf Tiny runner finds its reference DUT, a NUCLEO-L4R5ZI, by its ST-LINK/V2-1 VCP
    # (benchmark/runner/devices_kws_ic_vww.yaml). Many Nucleo boards share it: only name% tells.
    usb=(UsbId(0x0483, 0x374B, "unknown", "ST-LINK/V2-1 virtual COM port (an MLPerf Tiny DUT such as NUCLEO-L4R5ZI?)",
               udev=("tty",), symlink="mlperftiny_$attr{serial}"),),
    advice={"unknown": ("an ST-LINK VCP (an MLPerf Tiny DUT if it answers name% with m-name-dut-[...])",
                        None)},
    open_device=open_device, serve_emulator=serve_emulator, parse_emulator_address=_parse_emu, baudrate=BAUDRATE,
)
