"""What every power monitor gives: samples on the monitor's own clock, in one dtype.

The time base of a trace is the monitor's sample index (sample k covers [k, k+1) / rate seconds
after ``start()``), never the host clock: USB batching adds milliseconds of jitter to host
timestamps. Lost samples are present as rows flagged MISSING with NaN current, so index arithmetic
stays exact.
"""
from __future__ import annotations

import enum
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from ..errors import HostlinkError

_LOAD_LOCK = threading.Lock()

#: How long past the requested duration capture() waits for samples before giving up.
CAPTURE_GRACE_S = 5.0

SAMPLE_DTYPE = np.dtype([
    ("current_a", "<f4"),  # NaN when MISSING
    ("voltage_v", "<f4"),  # measured, or the set-point (flag VOLTAGE_SETPOINT)
    ("digital", "u1"),  # bit k = marker input k
    ("flags", "u1"),  # SampleFlag
])


class SampleFlag(enum.IntFlag):
    MISSING = 0x01  # lost in transport; current is NaN, digital repeats the last good sample
    RANGE_FILTERED = 0x02  # replaced by the PPK2 spike filter after a range switch
    SATURATED = 0x04  # at the top of the highest range
    VOLTAGE_SETPOINT = 0x08  # voltage is the supply set-point, not a measurement
    SUSPECT = 0x10  # counter glitch: value kept, sequence could not be confirmed


class MonitorError(HostlinkError):
    """The monitor is missing, vanished, or sent data that cannot be decoded."""

    exit_code = 3


@dataclass(frozen=True)
class MonitorInfo:
    kind: str  # "ppk2" | "joulescope" | "emulated"
    model: str  # "PPK2", "JS220", "JS110", "emulated PPK2", ...
    serial: str
    sample_rate_hz: float
    digital_channels: int
    measures_voltage: bool
    can_source: bool
    supply_range_v: tuple[float, float]
    firmware: str = ""

    def as_dict(self) -> dict:
        return {
            "kind": self.kind, "model": self.model, "serial": self.serial,
            "sample_rate_hz": self.sample_rate_hz, "digital_channels": self.digital_channels,
            "measures_voltage": self.measures_voltage, "can_source": self.can_source,
            "supply_range_v": list(self.supply_range_v), "firmware": self.firmware,
        }


@dataclass
class MonitorStats:
    samples: int = 0  # rows delivered, MISSING rows included
    missing: int = 0  # rows filled in for lost samples
    gaps: int = 0  # runs of lost samples
    resyncs: int = 0  # times word alignment had to be found again
    suspect: int = 0
    bytes: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class SampleBlock:
    """A contiguous run of samples: row j is sample ``start_index + j`` of the monitor's clock."""

    start_index: int
    sample_rate_hz: float
    samples: np.ndarray  # SAMPLE_DTYPE
    host_rx_ns: int = field(default_factory=time.monotonic_ns)  # diagnostics only

    @property
    def stop_index(self) -> int:
        return self.start_index + len(self.samples)


@dataclass
class Trace:
    """Samples from ``start_index`` on, at ``sample_rate_hz``; what ``capture()`` and sessions keep."""

    sample_rate_hz: float
    samples: np.ndarray
    start_index: int = 0

    @property
    def dt(self) -> float:
        return 1.0 / self.sample_rate_hz

    @property
    def stop_index(self) -> int:
        return self.start_index + len(self.samples)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz

    def power_w(self) -> np.ndarray:
        return self.samples["current_a"].astype(np.float64) * self.samples["voltage_v"]

    def slice(self, start: int, stop: int) -> "Trace":
        """Samples with absolute index in [start, stop)."""
        a = max(start - self.start_index, 0)
        b = max(min(stop - self.start_index, len(self.samples)), a)
        return Trace(self.sample_rate_hz, self.samples[a:b], self.start_index + a)

    @classmethod
    def concat(cls, blocks: list[SampleBlock], sample_rate_hz: float) -> "Trace":
        if not blocks:
            return cls(sample_rate_hz, np.zeros(0, SAMPLE_DTYPE), 0)
        for prev, nxt in zip(blocks, blocks[1:]):
            if nxt.start_index != prev.stop_index:
                raise MonitorError(
                    f"sample blocks are not contiguous: {prev.stop_index} then {nxt.start_index}")
        return cls(sample_rate_hz, np.concatenate([b.samples for b in blocks]), blocks[0].start_index)

    def save(self, path, **meta) -> None:
        """Compressed npz: the samples plus rate, start index and any JSON-able metadata."""
        import json
        try:
            np.savez_compressed(path, samples=self.samples, sample_rate_hz=self.sample_rate_hz,
                                start_index=self.start_index, meta=json.dumps(meta))
        except Exception as err:
            # Ctrl-C or SIGTERM inside the zip writer makes numpy's clean-up raise "Can't close the
            # ZIP file while there is an open writing handle" over it: the interrupt is what happened
            if isinstance(err.__context__, KeyboardInterrupt):
                raise err.__context__ from None
            raise

    @classmethod
    def load(cls, path) -> "Trace":
        # numpy parses each array's header with ast.literal_eval, and CPython 3.11's parser is not
        # thread-safe ("SystemError: AST constructor recursion depth mismatch" when two threads
        # parse at once), so loads from parallel session workers take turns.
        with _LOAD_LOCK, np.load(path, allow_pickle=False) as z:
            return cls(float(z["sample_rate_hz"]), z["samples"].astype(SAMPLE_DTYPE),
                       int(z["start_index"]))


class PowerMonitor(ABC):
    """One interface over every monitor; use as a context manager.

    ``start()`` resets the sample index to 0; ``read()`` returns the next contiguous block (or
    None when nothing arrived within ``timeout``); ``stop()`` is idempotent and drains input.
    """

    info: MonitorInfo

    def __init__(self):
        self.stats = MonitorStats()
        self._next_index = 0

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def configure(self, *, supply_v: float | None = None, mode: str = "source") -> None:
        """Supply voltage (source mode) or the DUT voltage the monitor must assume (ampere mode)."""

    def set_dut_power(self, on: bool) -> None:
        """Switch the DUT supply; only monitors that can source implement it."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def read(self, timeout: float = 0.1) -> SampleBlock | None: ...

    def capture(self, duration_s: float) -> Trace:
        """Start, read ``duration_s`` worth of samples (by the monitor's clock), stop."""
        want = int(round(duration_s * self.info.sample_rate_hz))
        blocks: list[SampleBlock] = []
        have = 0
        deadline = time.monotonic() + duration_s + CAPTURE_GRACE_S
        self.start()
        try:
            while have < want:
                block = self.read(timeout=0.5)
                if block is None:
                    if time.monotonic() > deadline:
                        raise MonitorError(
                            f"{self.info.model} delivered {have} of {want} samples in "
                            f"{duration_s + CAPTURE_GRACE_S:.1f} s",
                            hint="is it streaming? Check its USB link and that nothing else holds it")
                    continue
                blocks.append(block)
                have += len(block.samples)
        finally:
            self.stop()
        trace = Trace.concat(blocks, self.info.sample_rate_hz)
        return trace.slice(trace.start_index, trace.start_index + want)

    def _block(self, samples: np.ndarray) -> SampleBlock:
        block = SampleBlock(self._next_index, self.info.sample_rate_hz, samples)
        self._next_index += len(samples)
        self.stats.samples += len(samples)
        return block

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()
