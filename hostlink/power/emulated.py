"""A power monitor wired to an emulated board: the same interface, no hardware.

The board keeps a timeline of spans ``(start_us, end_us, stage, power_mw)`` on its own clock and
drives the stage id on its marker pins. ``BoardSignal`` turns that timeline into what a monitor
sampling at ``rate`` would see: each sample is the mean power over its 1/rate interval (the PPK2
and the Joulescopes average internally; it also makes energy exact before quantisation) and the
marker pins are read at the middle of the interval. ``EmulatedMonitor`` then adds the imitated
instrument: its sample rate, current ranges and ADC quantisation, noise, its number of digital
inputs, and optional dropouts (runs of MISSING samples, as a lossy USB link produces).

The monitor is slaved to the board clock: after ``start()`` sample k covers board time
``t0 + k/rate``, and only time the board has lived through can be read.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
import numpy as np

from ..errors import ConfigError
from ..protocols import ppk2 as ppk2_proto
from ..timeline import BoardTimeline
from .base import SAMPLE_DTYPE, MonitorError, MonitorInfo, PowerMonitor, SampleBlock, SampleFlag


#: What an emulated board offers a monitor: the emulator contract (hostlink.timeline).
TimelineBoard = BoardTimeline


class BoardSignal:
    """Mean power (W) and marker code per sample, rendered from a board's timeline."""

    def __init__(self, board: TimelineBoard, sample_rate_hz: float, t0_us: float | None = None):
        self.board = board
        self.rate = float(sample_rate_hz)
        self.us_per_sample = 1e6 / self.rate
        self.idle_w = board.profile.idle_mw / 1000.0
        self.t0_us = float(self.board_now_us() if t0_us is None else t0_us)

    def board_now_us(self) -> float:
        """The time the board has lived through: its clock, which in real time is the wall clock.
        A real-time board books a frame's spans when the frame starts, so everything up to this
        time is on the timeline; reading later time would render idle where a frame will be."""
        return float(self.board.now_us())

    def available(self) -> int:
        """Samples whose whole interval the board clock has passed."""
        return max(int((self.board_now_us() - self.t0_us) / self.us_per_sample + 1e-9), 0)

    def _spans_between(self, ta: float, tb: float) -> list:
        while True:
            found = []
            try:
                for span in reversed(self.board.timeline):
                    if span.end_us <= ta:
                        break
                    if span.start_us < tb:
                        found.append(span)
            except RuntimeError:  # a real-time board appended a span meanwhile: look again
                continue
            found.reverse()
            return found

    def render(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(power_w float64[n], stage code uint8[n]) for samples start .. start+n-1."""
        k = np.arange(n + 1, dtype=np.float64) + start
        edges = self.t0_us + k * self.us_per_sample
        ta, tb = float(edges[0]), float(edges[-1])
        seg_start, seg_mw, seg_id = [], [], []
        cur = ta
        for span in self._spans_between(ta, tb):
            s0, s1 = max(span.start_us, ta), min(span.end_us, tb)
            if s1 <= s0:
                continue
            if s0 < cur - 1e-6:
                # a timeline that runs backwards has no single power or marker per instant: refuse
                # rather than render markers that disagree with the board's own timestamps
                raise MonitorError(
                    f"the emulated board's timeline runs backwards: a span starts at {span.start_us:.1f} us, "
                    f"{cur - s0:.1f} us before the previous one ends",
                    "this is an emulator fault: report it with the board and its options")
            if s0 > cur:
                seg_start.append(cur)
                seg_mw.append(self.idle_w * 1000.0)
                seg_id.append(0)
            seg_start.append(s0)
            seg_mw.append(span.power_mw)
            seg_id.append(int(span.stage))
            cur = s1
        if cur < tb or not seg_start:
            seg_start.append(cur)
            seg_mw.append(self.idle_w * 1000.0)
            seg_id.append(0)
        bounds = np.asarray(seg_start + [tb], np.float64) - ta
        mw = np.asarray(seg_mw, np.float64)
        energy = np.concatenate(([0.0], np.cumsum(np.diff(bounds) * mw)))  # mW*us = nJ
        e_at = np.interp(edges - ta, bounds, energy)
        power_w = np.diff(e_at) / self.us_per_sample / 1000.0
        mids = edges[:-1] + self.us_per_sample / 2 - ta
        which = np.searchsorted(bounds[:-1], mids, side="right") - 1
        code = np.asarray(seg_id, np.uint8)[np.clip(which, 0, len(seg_id) - 1)]
        return power_w, code


@dataclass(frozen=True)
class InstrumentModel:
    """What is imitated: rate, inputs, current ranges (full scale, A) and ADC resolution."""

    model: str
    sample_rate_hz: float
    digital_channels: int
    measures_voltage: bool
    can_source: bool
    supply_range_v: tuple[float, float]
    range_full_scale_a: tuple[float, ...]
    adc_counts: int  # steps over a range's full scale
    noise_lsb: float  # RMS noise in LSBs of the active range
    voltage_lsb_v: float = 0.0
    voltage_noise_v: float = 0.0


def _ppk2_ranges() -> tuple[float, ...]:
    lsb_v = ppk2_proto.ADC_SCALE * ppk2_proto.ADC_MULT
    full = (1 << ppk2_proto.ADC_BITS) - 1
    return tuple(full * lsb_v / r for r in ppk2_proto.CALIBRATION_DEFAULTS["R"])


#: Sample rates and marker inputs as documented by the vendors; ranges and noise levels modelled.
INSTRUMENTS = {
    "ppk2": InstrumentModel("PPK2", 100_000.0, 8, False, True, (0.8, 5.0), _ppk2_ranges(),
                            1 << ppk2_proto.ADC_BITS, 1.0),
    "js220": InstrumentModel("JS220", 1_000_000.0, 4, True, False, (0.0, 15.0),
                             (18e-6, 180e-6, 1.8e-3, 18e-3, 180e-3, 10.0), 1 << 15, 1.5,
                             voltage_lsb_v=0.1e-3, voltage_noise_v=0.2e-3),
    "js110": InstrumentModel("JS110", 2_000_000.0, 2, True, False, (0.0, 15.0),
                             (18e-6, 180e-6, 1.8e-3, 18e-3, 180e-3, 2.0, 10.0), 1 << 14, 1.5,
                             voltage_lsb_v=1e-3, voltage_noise_v=0.5e-3),
}


class EmulatedMonitor(PowerMonitor):
    """``EmulatedMonitor(board, "ppk2")``: the board's power as that instrument would report it.

    ``dropout``: probability that a read loses a run of 1..``dropout_max`` samples (MISSING rows).
    """

    def __init__(self, board: TimelineBoard, instrument: str = "ppk2", *, seed: int = 0,
                 noise: bool = True, dropout: float = 0.0, dropout_max: int = 200,
                 max_block_s: float = 0.25):
        super().__init__()
        if instrument not in INSTRUMENTS:
            raise ConfigError(f"unknown emulated monitor {instrument!r}",
                              f"choose one of: {', '.join(INSTRUMENTS)}")
        self.board = board
        self.model = INSTRUMENTS[instrument]
        m = self.model
        self.info = MonitorInfo(
            kind="emulated", model=f"emulated {m.model}", serial=f"EMU-{instrument.upper()}",
            sample_rate_hz=m.sample_rate_hz, digital_channels=m.digital_channels,
            measures_voltage=m.measures_voltage, can_source=m.can_source,
            supply_range_v=m.supply_range_v)
        self.supply_v = float(board.profile.supply_v)
        self.noise = noise
        self.dropout = dropout
        self.dropout_max = dropout_max
        self.max_block = max(int(max_block_s * m.sample_rate_hz), 1)
        self._rng = np.random.default_rng(seed)
        self._signal: BoardSignal | None = None
        self._last_digital = 0
        self._mask = (1 << m.digital_channels) - 1
        self._lsb = np.asarray(m.range_full_scale_a) / m.adc_counts
        self._full = np.asarray(m.range_full_scale_a)

    def open(self) -> None:
        pass

    def close(self) -> None:
        self.stop()

    def configure(self, *, supply_v: float | None = None, mode: str = "source") -> None:
        if supply_v is None:
            return
        lo, hi = self.info.supply_range_v
        if self.info.can_source and not lo <= supply_v <= hi:
            raise ConfigError(f"{self.info.model} sources {lo}-{hi} V, not {supply_v} V")
        if abs(supply_v - self.board.profile.supply_v) > 1e-6:
            raise ConfigError(
                f"the emulated board runs from {self.board.profile.supply_v} V; the monitor was asked "
                f"for {supply_v} V", "leave supply_v out of the plan for emulated boards")
        self.supply_v = float(supply_v)

    def start(self) -> None:
        self._signal = BoardSignal(self.board, self.info.sample_rate_hz)
        self._next_index = 0
        self._last_digital = 0

    def stop(self) -> None:
        self._signal = None

    def read(self, timeout: float = 0.1) -> SampleBlock | None:
        if self._signal is None:
            raise MonitorError("read() before start()", "call start() first")
        deadline = time.monotonic() + timeout
        while True:
            avail = self._signal.available() - self._next_index
            if avail > 0:
                break
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(0.005, max(deadline - time.monotonic(), 0)))
        n = min(avail, self.max_block)
        power_w, code = self._signal.render(self._next_index, n)
        return self._block(self._instrument(power_w, code))

    def read_available(self) -> list[SampleBlock]:
        """Every sample the board clock has passed, without waiting."""
        if self._signal is None:
            raise MonitorError("read() before start()", "call start() first")
        target = self._signal.available()  # a real-time board keeps living while we read
        blocks = []
        while self._next_index < target:
            n = min(target - self._next_index, self.max_block)
            power_w, code = self._signal.render(self._next_index, n)
            blocks.append(self._block(self._instrument(power_w, code)))
        return blocks

    def _instrument(self, power_w: np.ndarray, code: np.ndarray) -> np.ndarray:
        n = len(power_w)
        m = self.model
        current = power_w / self.supply_v
        # the lowest range that holds the value (instruments switch ranges on their own)
        rng = np.searchsorted(self._full * 0.9, np.abs(current))
        rng = np.minimum(rng, len(self._full) - 1)
        lsb = self._lsb[rng]
        if self.noise:
            current = current + self._rng.standard_normal(n) * (m.noise_lsb * lsb)
        q = np.round(current / lsb) * lsb
        out = np.empty(n, SAMPLE_DTYPE)
        out["current_a"] = q
        flags = np.zeros(n, np.uint8)
        if m.measures_voltage:
            v = np.full(n, self.supply_v)
            if self.noise:
                v = v + self._rng.standard_normal(n) * m.voltage_noise_v
            out["voltage_v"] = np.round(v / m.voltage_lsb_v) * m.voltage_lsb_v
        else:
            out["voltage_v"] = self.supply_v
            flags |= np.uint8(SampleFlag.VOLTAGE_SETPOINT)
        sat = np.abs(current) >= self._full[-1]
        flags[sat] |= np.uint8(SampleFlag.SATURATED)
        digital = code & np.uint8(self._mask)
        if self.dropout and self._rng.random() < self.dropout and n > 2:
            length = int(self._rng.integers(1, min(self.dropout_max, n - 1) + 1))
            at = int(self._rng.integers(1, n - length + 1))
            out["current_a"][at:at + length] = np.nan
            flags[at:at + length] |= np.uint8(SampleFlag.MISSING)
            digital[at:at + length] = digital[at - 1]
            self.stats.missing += length
            self.stats.gaps += 1
        out["digital"] = digital
        out["flags"] = flags
        self._last_digital = int(digital[-1])
        return out
