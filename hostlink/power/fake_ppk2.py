"""A byte-exact fake PPK2, so the real driver is tested end to end without the instrument.

``FakePpk2`` is the device: it parses the command bytes the host writes, answers GetMetadata with
``Key: value`` text ending in ``END``, and after AverageStart produces 4-byte sample words (14-bit
ADC, range with hysteresis, wrapping 6-bit counter, 8 logic bits) from a current source, at
100 kS/s of wall time, of an emulated board's clock, or as fast as it is read. Faults on request:
lost samples (the counter skips), counter glitches, a dropped byte (misaligned words), and
vanishing (the port errors like an unplugged CDC-ACM device).

It is reachable two ways:

* ``FakePpk2Serial``: a pyserial-compatible object (read/write/in_waiting/reset_input_buffer/
  close, pyserial's exceptions), with optional random short reads that split words;
* ``serve_pty``: a pseudo-terminal the driver opens by path with real pyserial, served by a thread,
  or by ``python -m hostlink.power.fake_ppk2 --pty`` in another process.
"""
from __future__ import annotations

import argparse
import os
import select
import sys
import threading
import time
import tty
from dataclasses import dataclass, field

import numpy as np
import serial

from ..protocols import ppk2 as proto
from .ppk2_decode import Ppk2Calibration

#: A plausible calibrated unit (values of this size are what real units report).
FAKE_METADATA = {
    "Calibrated": 1,
    "R0": 1005.2291, "R1": 101.1407, "R2": 10.2113, "R3": 0.9586, "R4": 0.0512,
    "GS0": 0.0, "GS1": 0.8213, "GS2": 0.0942, "GS3": 0.0107, "GS4": 0.0006,
    "GI0": 1.0, "GI1": 0.9874, "GI2": 0.9911, "GI3": 0.9946, "GI4": 0.9903,
    "O0": 96.3551, "O1": 71.0128, "O2": 66.9014, "O3": 58.2217, "O4": 80.4402,
    "VDD": 3300, "HW": 10431, "mode": 2,
    "S0": 0.000000051, "S1": 0.000000602, "S2": 0.000005198, "S3": 0.000061845, "S4": 0.002911043,
    "I0": -0.000000098, "I1": -0.000001402, "I2": 0.000035112, "I3": -0.000369404,
    "I4": -0.009201733,
    "UG0": 1.0, "UG1": 1.0, "UG2": 1.0, "UG3": 1.0, "UG4": 1.0,
    "IA": 56,
}

VANISHED_READ = ("device reports readiness to read but returned no data "
                 "(device disconnected or multiple access on port?)")


class Ppk2Encoder:
    """Currents -> sample words, the inverse of the device's calibration, with range hysteresis."""

    UP = 0.9  # switch to the next range above this fraction of a range's full scale
    DOWN = 0.75  # ... and back below this fraction of the lower range's full scale

    def __init__(self, calibration: Ppk2Calibration, vdd_mv: float):
        self.calibration = calibration
        self.set_vdd(vdd_mv)
        self._state = np.zeros(proto.N_RANGES - 1, bool)  # above boundary b?

    def set_vdd(self, vdd_mv: float) -> None:
        t = self.calibration.table64(vdd_mv).reshape(1 << proto.RANGE_BITS, -1)[:proto.N_RANGES]
        self._tables = np.maximum.accumulate(t, axis=1)  # monotone for inversion
        full = self._tables[:, -1]
        self._hi = self.UP * full[:-1]
        self._lo = self.DOWN * full[:-1]

    def ranges(self, current: np.ndarray) -> np.ndarray:
        n = len(current)
        rng = np.zeros(n, np.int64)
        pos = np.arange(n)
        for b in range(proto.N_RANGES - 1):
            s = np.full(n, -1, np.int8)
            s[current < self._lo[b]] = 0
            s[current > self._hi[b]] = 1
            last = np.maximum.accumulate(np.where(s >= 0, pos, -1))
            state = np.where(last >= 0, s[np.maximum(last, 0)], self._state[b]).astype(bool)
            if n:
                self._state[b] = state[-1]
            rng += state
        return rng

    def encode(self, current: np.ndarray, digital: np.ndarray, counter0: int) -> np.ndarray:
        n = len(current)
        rng = self.ranges(current)
        adc = np.zeros(n, np.int64)
        for r in np.unique(rng).tolist():
            sel = rng == r
            row = self._tables[r]
            hi = np.clip(np.searchsorted(row, current[sel]), 1, row.size - 1)
            lo = hi - 1
            pick_hi = np.abs(row[hi] - current[sel]) < np.abs(current[sel] - row[lo])
            adc[sel] = np.where(pick_hi, hi, lo)
        counter = (counter0 + np.arange(n)) & (proto.COUNTER_MODULO - 1)
        words = (adc.astype(np.uint32)
                 | (rng.astype(np.uint32) << proto.RANGE_SHIFT)
                 | (counter.astype(np.uint32) << proto.COUNTER_SHIFT)
                 | (digital.astype(np.uint32) << proto.LOGIC_SHIFT))
        return words


@dataclass
class Faults:
    """Sample indices are counted from AverageStart."""

    lose: list[tuple[int, int]] = field(default_factory=list)  # (first sample, count) never sent
    glitch: list[int] = field(default_factory=list)  # samples whose counter is corrupted
    drop_byte: list[int] = field(default_factory=list)  # samples whose first byte is lost
    vanish_after: int | None = None  # samples sent before the device disappears


class ConstantSource:
    """A steady current with Gaussian noise; the digital inputs hold ``digital``."""

    def __init__(self, current_a: float = 5e-3, noise_a: float = 0.0, digital: int = 0, seed: int = 0):
        self.current_a, self.noise_a, self.digital = current_a, noise_a, digital
        self._rng = np.random.default_rng(seed)

    def __call__(self, start: int, n: int, vdd_v: float):
        i = np.full(n, self.current_a)
        if self.noise_a:
            i = i + self._rng.standard_normal(n) * self.noise_a
        return i, np.full(n, self.digital, np.uint8)


class TimelineSource:
    """Current and marker pins of a board timeline (an emulated board, or any object with
    ``timeline``/``clock_us``/``profile``), rendered as the PPK2 sees it."""

    def __init__(self, board, noise_a: float = 0.0, seed: int = 0):
        from .emulated import BoardSignal

        self._signal_cls = BoardSignal
        self.board = board
        self.noise_a = noise_a
        self.signal = None
        self._rng = np.random.default_rng(seed)

    def restart(self) -> None:
        self.signal = self._signal_cls(self.board, proto.SAMPLE_RATE_HZ)

    def available(self) -> int:
        return self.signal.available() if self.signal else 0

    def __call__(self, start: int, n: int, vdd_v: float):
        power, code = self.signal.render(start, n)
        i = power / vdd_v
        if self.noise_a:
            i = i + self._rng.standard_normal(n) * self.noise_a
        return i, code


class FakePpk2:
    """The device model. ``pace``: "realtime" (100 kS/s of wall time), "source" (the source's own
    ``available()``, e.g. a board clock) or "free" (whatever the host asks for)."""

    def __init__(self, source=None, *, metadata: dict | None = None, faults: Faults | None = None,
                 pace: str = "free"):
        self.metadata = dict(FAKE_METADATA if metadata is None else metadata)
        self.calibration = Ppk2Calibration.from_metadata(self.metadata)
        self.vdd_mv = int(self.metadata.get("VDD", 3300))
        self.encoder = Ppk2Encoder(self.calibration, self.vdd_mv)
        self.source = source or ConstantSource()
        self.faults = faults or Faults()
        self.pace = pace
        self.mode = proto.PowerMode(int(self.metadata.get("mode", 2)))
        self.dut_on = False
        self.streaming = False
        self.vanished = False
        self.commands: list[tuple] = []  # what the host sent, decoded, for tests
        self._cmd = bytearray()
        self._out = bytearray()
        self._produced = 0  # samples generated since AverageStart
        self._sent = 0
        self._t_start = 0.0
        self._lock = threading.Lock()

    # -- host -> device -------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        with self._lock:
            self._cmd += data
            while self._cmd:
                op = self._cmd[0]
                try:
                    cmd = proto.Command(op)
                except ValueError:
                    self.commands.append(("unknown", op))
                    del self._cmd[0]
                    continue
                size = proto.COMMAND_SIZES[cmd]
                if len(self._cmd) < size:
                    return
                raw = bytes(self._cmd[:size])
                del self._cmd[:size]
                self._execute(cmd, raw)

    def _execute(self, cmd: proto.Command, raw: bytes) -> None:
        if cmd is proto.Command.GET_METADATA:
            self.commands.append(("metadata",))
            meta = dict(self.metadata, VDD=self.vdd_mv, mode=int(self.mode))
            self._out += proto.format_metadata(meta)
        elif cmd is proto.Command.REGULATOR_SET:
            mv = proto.RegulatorSet.parse(raw).millivolts
            self.vdd_mv = min(max(mv, proto.VDD_MIN_MV), proto.VDD_MAX_MV)
            self.encoder.set_vdd(self.vdd_mv)
            self.commands.append(("regulator", self.vdd_mv))
        elif cmd is proto.Command.SET_POWER_MODE:
            self.mode = proto.PowerMode(int(proto.SetPowerMode.parse(raw).mode))
            self.commands.append(("mode", self.mode.name.lower()))
        elif cmd is proto.Command.DEVICE_RUNNING_SET:
            self.dut_on = bool(proto.DeviceRunningSet.parse(raw).on)
            self.commands.append(("dut", self.dut_on))
        elif cmd is proto.Command.SET_USER_GAINS:
            p = proto.SetUserGains.parse(raw)
            self.metadata[f"UG{p.range}"] = float(p.gain)
            self.commands.append(("gain", p.range, p.gain))
        elif cmd is proto.Command.AVERAGE_START:
            self.commands.append(("start",))
            self.streaming = True
            self._produced = self._sent = 0
            self._t_start = time.monotonic()
            if hasattr(self.source, "restart"):
                self.source.restart()
        elif cmd is proto.Command.AVERAGE_STOP:
            self.commands.append(("stop",))
            self._generate()  # what was sampled until now still reaches the host
            self.streaming = False
        else:
            self.commands.append((cmd.name.lower(),))

    # -- device -> host -------------------------------------------------------------------------

    def _due(self) -> int:
        if self.pace == "realtime":
            return int((time.monotonic() - self._t_start) * proto.SAMPLE_RATE_HZ)
        if self.pace == "source":
            return self.source.available()
        return self._produced + max(0, 16384 - len(self._out) // proto.WORD_SIZE)

    def _generate(self, limit: int | None = None) -> None:
        if not self.streaming:
            return
        due = self._due()
        if limit is not None:
            due = min(due, self._produced + limit)
        if self.faults.vanish_after is not None:
            due = min(due, self.faults.vanish_after)
        n = due - self._produced
        if n <= 0:
            return
        start = self._produced
        current, digital = self.source(start, n, self.vdd_mv / 1000.0)
        if self.mode is proto.PowerMode.SOURCE and not self.dut_on:
            current = np.zeros(n)
        words = self.encoder.encode(np.asarray(current, np.float64), np.asarray(digital, np.uint8),
                                    start)
        keep = np.ones(n, bool)
        for first, count in self.faults.lose:
            a, b = max(first - start, 0), min(first + count - start, n)
            if a < b:
                keep[a:b] = False
        for g in self.faults.glitch:
            if start <= g < start + n:
                words[g - start] ^= np.uint32(0x15 << proto.COUNTER_SHIFT)
        raw = bytearray(words[keep].astype("<u4").tobytes())
        sent_index = np.flatnonzero(keep) + start
        for d in sorted(self.faults.drop_byte, reverse=True):
            hit = np.flatnonzero(sent_index == d)
            if hit.size:
                del raw[int(hit[0]) * 4]
        self._out += raw
        self._produced = due
        self._sent += int(keep.sum())

    def pending(self, limit_samples: int | None = None) -> int:
        with self._lock:
            self._generate(limit_samples)
            return len(self._out)

    def take(self, size: int) -> bytes:
        with self._lock:
            data = bytes(self._out[:size])
            del self._out[:size]
            if (self.faults.vanish_after is not None and self._produced >= self.faults.vanish_after
                    and not self._out):
                self.vanished = True
            return data

    def flush_output(self) -> None:
        with self._lock:
            self._out.clear()


class FakePpk2Serial:
    """The fake behind pyserial's interface, as the driver uses it.

    ``partial_seed``: None for whole reads, or a random generator seed: each read then returns a
    random number of the available bytes (1..size), so words arrive split across reads.
    """

    def __init__(self, device: FakePpk2 | None = None, *, timeout: float | None = 0.05,
                 partial_seed: int | None = None, port: str = "fake-ppk2"):
        self.device = device or FakePpk2()
        self.timeout = timeout
        self.port = port
        self.baudrate = 115200
        self.is_open = True
        self.serial_number = "FAKE" + str(self.device.metadata.get("HW", ""))
        self._rng = np.random.default_rng(partial_seed) if partial_seed is not None else None

    def _check(self, what: str) -> None:
        if not self.is_open:
            raise serial.PortNotOpenError()
        if self.device.vanished:
            if what == "read":
                raise serial.SerialException(VANISHED_READ)
            raise serial.SerialException(f"{what} failed: [Errno 5] Input/output error")

    @property
    def in_waiting(self) -> int:
        self._check("ioctl")
        return self.device.pending()

    def write(self, data: bytes) -> int:
        self._check("write")
        self.device.write(bytes(data))
        return len(data)

    def read(self, size: int = 1) -> bytes:
        self._check("read")
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        limit = max(size // proto.WORD_SIZE + 1, 1)
        while True:
            avail = self.device.pending(limit)
            if avail:
                want = min(size, avail)
                if self._rng is not None:
                    want = int(self._rng.integers(1, want + 1))
                return self.device.take(want)
            if self.device.vanished:
                self._check("read")
            if deadline is not None and time.monotonic() >= deadline:
                return b""
            time.sleep(0.001)

    def reset_input_buffer(self) -> None:
        self._check("ioctl")
        self.device.flush_output()

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.is_open = False


class PtyServer:
    """Serves a FakePpk2 on a pseudo-terminal; ``path`` is what the driver opens."""

    def __init__(self, device: FakePpk2, poll_s: float = 0.002, linger_s: float = 0.2):
        self.device = device
        self.linger_s = linger_s
        self.poll_s = poll_s
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave  # kept open so the pty survives until the driver opens it
        os.set_blocking(self.master, False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-ppk2-pty", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        backlog = b""
        try:
            while not self._stop.is_set():
                r, _, _ = select.select([self.master], [], [], self.poll_s)
                if r:
                    try:
                        data = os.read(self.master, 4096)
                    except OSError:
                        data = b""
                    if data:
                        self.device.write(data)
                if not backlog:
                    n = self.device.pending()
                    backlog = self.device.take(min(n, 65536)) if n else b""
                if backlog:
                    try:
                        k = os.write(self.master, backlog)
                        backlog = backlog[k:]
                    except BlockingIOError:
                        pass
                if self.device.vanished and not backlog:
                    # closing the master drops what the slave has not read yet; a real device's
                    # last USB packets arrive before it disappears, so let them be read first
                    time.sleep(self.linger_s)
                    break
        finally:
            os.close(self.master)
            os.close(self._slave)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def serve_pty(device: FakePpk2 | None = None) -> PtyServer:
    return PtyServer(device or FakePpk2(pace="realtime"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Serve a fake PPK2 on a pseudo-terminal (prints its path).")
    ap.add_argument("--current-ma", type=float, default=12.0)
    ap.add_argument("--noise-ua", type=float, default=20.0)
    ap.add_argument("--seconds", type=float, default=None, help="exit after this long")
    args = ap.parse_args(argv)
    source = ConstantSource(args.current_ma / 1000.0, args.noise_ua / 1e6)
    server = serve_pty(FakePpk2(source, pace="realtime"))
    print(server.path, flush=True)
    try:
        if args.seconds is None:
            sys.stdin.read()  # until the parent closes our stdin
        else:
            time.sleep(args.seconds)
    except KeyboardInterrupt:
        pass
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
