"""Joulescope JS110 / JS220 through Jetperch's ``joulescope`` package (``pip install
'hostlink[joulescope]'``), imported only when a Joulescope is opened.

The package's v1 API streams current, voltage and the two general-purpose inputs (GPI0 and GPI1,
routed into the sample stream with ``current_lsb=gpi0`` / ``voltage_lsb=gpi1``) at up to 1 MS/s
(JS220) or 2 MS/s (JS110). ``stream_notify`` runs on the USB thread, so it only copies new samples
into a queue; ``read()`` builds blocks on the caller's thread. If the package's buffer overran
(samples between two notifications fell out of it), the skipped samples come back MISSING.

Two marker inputs carry stage ids 0-3; boards whose stage ids need three bits (the IMX500 marks
transfer as 4) need a monitor with more inputs (PPK2: 8), and sessions say so before starting.
"""
from __future__ import annotations

import queue

import numpy as np

from .base import SAMPLE_DTYPE, MonitorError, MonitorInfo, PowerMonitor, SampleBlock, SampleFlag

FIELDS = ["current", "voltage", "current_lsb", "voltage_lsb"]
RATES = {"JS110": 2_000_000.0, "JS220": 1_000_000.0}


def _import_joulescope():
    try:
        import joulescope
    except ImportError:
        raise MonitorError("the Joulescope driver (the `joulescope` package) is not installed",
                           hint="pip install 'hostlink[joulescope]'") from None
    return joulescope


def samples_from_signals(signals: dict) -> np.ndarray:
    """``samples_get(...)['signals']`` -> SAMPLE_DTYPE rows (GPI0 -> bit 0, GPI1 -> bit 1)."""
    cur = np.asarray(signals["current"]["value"], np.float32)
    out = np.empty(len(cur), SAMPLE_DTYPE)
    out["current_a"] = cur
    out["voltage_v"] = np.asarray(signals["voltage"]["value"], np.float32)
    g0 = np.asarray(signals.get("current_lsb", {}).get("value", np.zeros(len(cur))), np.uint8) & 1
    g1 = np.asarray(signals.get("voltage_lsb", {}).get("value", np.zeros(len(cur))), np.uint8) & 1
    out["digital"] = g0 | (g1 << 1)
    bad = ~np.isfinite(cur)
    out["flags"] = np.where(bad, SampleFlag.MISSING, 0).astype(np.uint8)
    return out


class JoulescopeMonitor(PowerMonitor):
    def __init__(self, serial: str | None = None, sample_rate_hz: float | None = None):
        super().__init__()
        self.serial = serial
        self.sample_rate_hz = sample_rate_hz
        self.device = None
        self._queue: queue.Queue = queue.Queue()
        self._cursor: int | None = None
        self.info = MonitorInfo("joulescope", "Joulescope", serial or "", sample_rate_hz or 1e6, 2, True,
                                False, (0.0, 15.0))

    def open(self) -> None:
        js = _import_joulescope()
        devices = js.scan(config="off")
        if self.serial:
            devices = [d for d in devices if self.serial in str(d)]
        if not devices:
            want = f" with serial {self.serial}" if self.serial else ""
            raise MonitorError(f"no Joulescope{want} found",
                               hint="plug it in; on Linux install Jetperch's udev rules")
        self.device = devices[0]
        self.device.open()
        name = str(self.device)
        model = "JS110" if "JS110" in name.upper() else "JS220"
        rate = self.sample_rate_hz or RATES[model]
        settings = [("sampling_frequency", int(rate)), ("i_range", "auto"), ("v_range", "15V"),
                    ("current_lsb", "gpi0"), ("voltage_lsb", "gpi1"), ("buffer_duration", 15)]
        for key, value in settings:
            try:
                self.device.parameter_set(key, value)
            except (KeyError, ValueError) as err:
                raise MonitorError(f"{name} refused {key}={value}: {err}",
                                   hint="update the joulescope package") from None
        self.info = MonitorInfo("joulescope", model, name.split(":")[-1], float(rate), 2, True, False,
                                (0.0, 15.0))

    def close(self) -> None:
        if self.device is not None:
            self.stop()
            self.device.close()
            self.device = None

    def stream_notify(self, stream_buffer) -> bool:
        """Called by the joulescope package on its USB thread: copy what is new, nothing else."""
        start, end = stream_buffer.sample_id_range
        if self._cursor is None:
            self._cursor = start
        if end <= self._cursor:
            return False
        got = stream_buffer.samples_get(self._cursor, end, fields=FIELDS)
        first, last = got["time"]["sample_id_range"]["value"]
        self._queue.put((self._cursor, first, samples_from_signals(got["signals"])))
        self._cursor = last
        return False

    def start(self) -> None:
        if self.device is None:
            raise MonitorError("start() before open()", hint="use the monitor as a context manager")
        self._next_index = 0
        self._cursor = None
        self._queue = queue.Queue()
        self.device.stream_process_register(self)
        self.device.start()

    def stop(self) -> None:
        if self.device is None:
            return
        try:
            self.device.stop()
            self.device.stream_process_unregister(self)
        except Exception as err:  # noqa: BLE001 - the package raises its own types on a lost device
            raise MonitorError(f"the Joulescope failed to stop: {err}", hint="unplug and replug it") from None

    def read(self, timeout: float = 0.1) -> SampleBlock | None:
        parts = []
        try:
            parts.append(self._queue.get(timeout=timeout))
            while True:
                parts.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        if not parts:
            return None
        pieces = []
        for wanted, first, samples in parts:
            lost = first - wanted
            if lost > 0:  # fell out of the package's buffer before we copied it
                gap = np.zeros(lost, SAMPLE_DTYPE)
                gap["current_a"] = np.nan
                gap["voltage_v"] = np.nan
                gap["flags"] = SampleFlag.MISSING
                gap["digital"] = samples["digital"][0] if len(samples) else 0
                pieces.append(gap)
                self.stats.missing += lost
                self.stats.gaps += 1
            pieces.append(samples)
        return self._block(np.concatenate(pieces))
