"""Energy per frame while a demo runs: the monitor's samples, aligned on the board's marker pins
frame by frame with the same code sessions use (``hostlink.power.align.measure`` and
``stage_rows``), paired with the board's own stage timestamps.

A frame's energy is known once its last stage has ended on the pins, i.e. when the samples after
it have arrived: on an emulated board that keeps a virtual clock, the next request books the idle
after a frame, so a frame resolves when the next one is sent (the demos show the last resolved
frame, one behind). ``finish`` books the idle after the last frame and resolves the rest.

Pairing is by order, checked against the board's clock: once one frame is paired, the sample a
frame should start at is predicted from its board timestamp (the offset is refreshed with every
pair, so a drifting board clock is followed). A marker frame well before the prediction is not one
of ours (it ran before the monitor started); one well after means ours never reached the pins.

A monitor that stops delivering (unplugged, a USB link that drops) never stops the demo: every
frame from then on carries ``None`` and the reason, and ``notice()`` hands the reason out once.
"""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, HostlinkError
from ..power import Trace, open_monitor
from ..power import align
from ..power.base import SampleFlag
from ..protocols import Stage

#: Samples kept for alignment besides those of unresolved frames (seconds of monitor time).
KEEP_S = 2.0
#: A frame still unresolved this long after it was sent has lost its samples.
RESOLVE_TIMEOUT_S = 3.0
#: Bin of the live current strip chart (seconds) and how much of it is kept.
STRIP_BIN_S = 0.002
STRIP_S = 1.5


def stage_id(name: str) -> int:
    try:
        return int(Stage[name.upper()])
    except KeyError:
        raise ConfigError(f"the board reported a stage {name!r} that has no marker id",
                          "update hostlink: protocols.Stage lists the stages boards may mark") from None


@dataclass
class FrameEnergy:
    """One frame's energy by stage, from the pins and the current (mJ, mW, ms)."""

    stages: dict  # stage -> {energy_mj, mean_mw, err_bound_mj, duration_ms, device_ms, n_missing, low_confidence}
    idle_mw: float | None
    truth_mj: dict | None = None  # emulated board only: what the emulator booked for each stage

    @property
    def energy_mj(self) -> float:
        return sum(s["energy_mj"] for s in self.stages.values())

    @property
    def err_bound_mj(self) -> float:
        return sum(s["err_bound_mj"] for s in self.stages.values())  # bounds add: a bound of the sum

    @property
    def duration_ms(self) -> float:
        return sum(s["duration_ms"] for s in self.stages.values())

    @property
    def mean_mw(self) -> float:
        return self.energy_mj / self.duration_ms * 1e3 if self.duration_ms else 0.0

    def to_json(self) -> dict:
        r = lambda v, n=5: None if v is None else round(float(v), n)  # noqa: E731
        out = dict(energy_mj=r(self.energy_mj), mean_mw=r(self.mean_mw, 3), err_bound_mj=r(self.err_bound_mj),
                   duration_ms=r(self.duration_ms, 4), idle_mw=r(self.idle_mw, 3),
                   stages={k: dict(energy_mj=r(v["energy_mj"]), mean_mw=r(v["mean_mw"], 3),
                                   err_bound_mj=r(v["err_bound_mj"]), duration_ms=r(v["duration_ms"], 4),
                                   n_missing=v["n_missing"], low_confidence=v["low_confidence"])
                           for k, v in self.stages.items()})
        if self.truth_mj is not None:
            out["emulator_truth_mj"] = {k: r(v) for k, v in self.truth_mj.items()}
        return out

    @classmethod
    def combine(cls, parts: list["FrameEnergy"]) -> "FrameEnergy":
        """Several board calls as one (an image cut into tiles): stage energies and times add."""
        stages: dict = {}
        for p in parts:
            for k, v in p.stages.items():
                s = stages.setdefault(k, dict(energy_mj=0.0, err_bound_mj=0.0, duration_ms=0.0, device_ms=0.0,
                                              n_missing=0, low_confidence=False))
                for key in ("energy_mj", "err_bound_mj", "duration_ms", "device_ms", "n_missing"):
                    s[key] += v[key]
                s["low_confidence"] |= v["low_confidence"]
        for s in stages.values():
            s["mean_mw"] = s["energy_mj"] / s["duration_ms"] * 1e3 if s["duration_ms"] else 0.0
        truth = None
        if parts and all(p.truth_mj is not None for p in parts):
            truth = {}
            for p in parts:
                for k, v in p.truth_mj.items():
                    truth[k] = truth.get(k, 0.0) + v
        return cls(stages, parts[-1].idle_mw if parts else None, truth)


@dataclass
class _Pending:
    key: object
    ids: list[int]
    names: list[str]
    device: list[tuple[int, float, float]]
    start_us: float
    sent: float = field(default_factory=time.monotonic)


def emulator_truth(board, device: list[tuple[int, float, float]], names: list[str]) -> dict:
    """What the emulated board booked for each stage: the overlap of its timeline spans with the
    stage's board-time interval, times their power (mJ)."""
    spans = []
    lo = min(a for _, a, _ in device)
    for span in reversed(board.timeline):
        if span.end_us <= lo:
            break
        spans.append(span)
    out = {}
    for name, (_, a, b) in zip(names, device):
        nj = sum(max(0.0, min(s.end_us, b) - max(s.start_us, a)) * s.power_mw for s in spans)  # mW*us = nJ
        out[name] = nj / 1e6
    return out


class EnergyMeter:
    """A monitor on one board for a live demo: ``submit`` each board call's result, ``poll`` after
    it for the frames whose energy is now known, ``finish`` at the end."""

    def __init__(self, monitor, stage_order: list[str], *, board=None, address: str = "", history: int = 30):
        self.monitor = monitor
        self.address = address
        self.board = board  # the emulated board (its timeline gives the truth), or None
        self.stage_order = list(stage_order)
        if not self.stage_order:
            raise ConfigError("the board reports no stages", "the board's firmware must time its stages")
        self.first = stage_id(self.stage_order[0])
        self.rate = monitor.info.sample_rate_hz
        self.history: collections.deque[FrameEnergy] = collections.deque(maxlen=history)
        self.last: FrameEnergy | None = None
        self.idle_mw: float | None = None
        self.measured = 0
        self.without = 0
        self.dropped: str | None = None
        self._told = False
        self._blocks: list = []
        self._pending: collections.deque[_Pending] = collections.deque()
        self._offset: float | None = None  # sample index - board_us * rate / 1e6, from the last pair
        self._done_until = 0  # samples before this index belong to resolved frames
        self._streaming = False
        self._emulated = hasattr(monitor, "read_available")
        nbins = int(STRIP_S / STRIP_BIN_S)
        self.strip: collections.deque[float] = collections.deque(maxlen=nbins)  # mA, peak per bin
        self._volts = 0.0
        self._bin = max(int(round(self.rate * STRIP_BIN_S)), 1)
        self._bin_carry = np.zeros(0)

    @classmethod
    def open(cls, address: str, dev, *, history: int = 30) -> "EnergyMeter":
        """Open the monitor at ``address`` for ``dev`` (an emulated board is wired to its monitor),
        power and start it."""
        board = dev.emulated_board
        monitor = open_monitor(address, board=board)
        info = dev.info
        meter = cls(monitor, list(info.stages), board=board, address=address, history=history)
        monitor.open()
        try:
            if board is not None:
                monitor.configure(supply_v=float(board.profile.supply_v))
            if monitor.info.can_source:
                monitor.set_dut_power(True)
            max_id = max(stage_id(s) for s in info.stages)
            if align.bits_needed(max_id) > monitor.info.digital_channels:
                raise ConfigError(f"stage ids up to {max_id} need {align.bits_needed(max_id)} marker inputs; the "
                                  f"{monitor.info.model} has {monitor.info.digital_channels}",
                                  "use a monitor with more digital inputs (PPK2: 8, JS220: 4)")
            monitor.start()
        except BaseException:
            monitor.close()
            raise
        meter._streaming = True
        return meter

    # -- the demo's side -----------------------------------------------------------------------

    def submit(self, key, result) -> None:
        names = [s for s in self.stage_order if s in result.stages]
        device = [(stage_id(s), float(result.stages[s].start_us), float(result.stages[s].end_us)) for s in names]
        self._pending.append(_Pending(key, [d[0] for d in device], names, device,
                                      min((d[1] for d in device), default=0.0)))

    def poll(self) -> list[tuple[object, FrameEnergy | None]]:
        """Frames resolved since the last call, in order: (key, energy) or (key, None) when the
        frame's samples are lost (see ``dropped`` and ``notice``)."""
        self._read()
        return self._resolve()

    def finish(self, dev=None, timeout_s: float = 2.0) -> list[tuple[object, FrameEnergy | None]]:
        """Resolve every submitted frame: book the idle after the last one (a request to an emulated
        board; real boards idle on their own) and read until each is paired or ``timeout_s``."""
        out = []
        if self._pending and dev is not None and self.board is not None:
            time.sleep(0.001)  # idle long enough to close the last frame on the pins
            dev.model_info()
        deadline = time.monotonic() + timeout_s
        while True:
            out += self.poll()
            if not self._pending or self.dropped or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        for p in list(self._pending):
            self.without += 1
            out.append((p.key, None))
        self._pending.clear()
        return out

    def notice(self) -> str | None:
        """The reason energy stopped, the first time it is asked for; None otherwise."""
        if self.dropped and not self._told:
            self._told = True
            return self.dropped
        return None

    def medians(self) -> tuple[dict, float | None]:
        """Rolling medians over the recent frames: ({stage: (ms, mJ)}, total mJ)."""
        if not self.history:
            return {}, None
        out = {}
        for name in self.stage_order:
            vals = [(f.stages[name]["duration_ms"], f.stages[name]["energy_mj"]) for f in self.history if name in f.stages]
            if vals:
                a = np.asarray(vals)
                out[name] = (float(np.median(a[:, 0])), float(np.median(a[:, 1])))
        return out, float(np.median([f.energy_mj for f in self.history]))

    def close(self) -> None:
        if self._streaming:
            self._streaming = False
            try:
                self.monitor.stop()
            except HostlinkError:
                pass
        try:
            self.monitor.close()
        except HostlinkError:
            pass

    # -- samples -------------------------------------------------------------------------------

    def _read(self) -> None:
        if self.dropped:
            return
        try:
            if self._emulated:
                blocks = self.monitor.read_available()
            else:
                blocks = []
                for _ in range(64):  # what has arrived; never wait in the demo's loop
                    b = self.monitor.read(timeout=0)
                    if b is None:
                        break
                    blocks.append(b)
        except HostlinkError as err:
            self._drop(f"the power monitor stopped: {err.message}")
            return
        for b in blocks:
            if self._blocks and b.start_index != self._blocks[-1].stop_index:
                self._blocks.clear()  # a restart: what came before cannot be aligned with it
            self._blocks.append(b)
            self._to_strip(b.samples)
        if not self._pending and self._blocks:  # nothing to align: keep only a little history
            keep_from = self._blocks[-1].stop_index - int(KEEP_S * self.rate)
            while len(self._blocks) > 1 and self._blocks[0].stop_index <= keep_from:
                self._blocks.pop(0)

    @property
    def idle_ma(self) -> float | None:
        return None if self.idle_mw is None or not self._volts else self.idle_mw / self._volts

    def _to_strip(self, s: np.ndarray) -> None:
        if len(s):
            self._volts = float(np.nanmean(s["voltage_v"])) or self._volts
        p = s["current_a"].astype(np.float64) * 1e3
        p[(s["flags"] & np.uint8(SampleFlag.MISSING)) != 0] = np.nan
        p = np.concatenate((self._bin_carry, p))
        n = len(p) // self._bin * self._bin
        if n:
            with np.errstate(all="ignore"):
                peaks = np.nanmax(p[:n].reshape(-1, self._bin), axis=1) if not np.isnan(p[:n]).all() else p[:n:self._bin]
            self.strip.extend(peaks.tolist())
        self._bin_carry = p[n:]

    def _drop(self, reason: str) -> None:
        self.dropped = reason
        self._streaming = False

    def _trace(self) -> Trace | None:
        if not self._blocks:
            return None
        keep_from = self._blocks[-1].stop_index - int(KEEP_S * self.rate)
        if self._pending and self._offset is not None:
            keep_from = min(keep_from, int(self._offset + self._pending[0].start_us * self.rate / 1e6) - 64)
        keep_from = max(keep_from, self._done_until)
        while len(self._blocks) > 1 and self._blocks[0].stop_index <= keep_from:
            self._blocks.pop(0)
        trace = Trace.concat(self._blocks, self.rate)
        return trace.slice(max(keep_from, trace.start_index), trace.stop_index)

    # -- pairing -------------------------------------------------------------------------------

    def _resolve(self) -> list:
        out = []
        now = time.monotonic()
        if self.dropped:
            while self._pending:
                self.without += 1
                out.append((self._pending.popleft().key, None))
            return out
        trace = self._trace() if self._pending else None
        if trace is not None and len(trace.samples):
            m = align.measure(trace, self.first, trace_stop=trace.stop_index)
            if m.idle_w is not None:
                self.idle_mw = m.idle_w * 1e3
            tol = max(64.0, 0.002 * self.rate)
            frames = [f for f in m.frames if f.start >= self._done_until]
            for frame in frames:
                if not self._pending:
                    break
                p = self._pending[0]
                if self._offset is not None:
                    predicted = self._offset + p.start_us * self.rate / 1e6
                    if frame.start < predicted - tol:
                        continue  # a frame the monitor saw that is not ours
                    while self._pending and frame.start > self._offset + self._pending[0].start_us * self.rate / 1e6 + tol:
                        self.without += 1  # ours never reached the pins
                        out.append((self._pending.popleft().key, None))
                    if not self._pending:
                        break
                    p = self._pending[0]
                if frame.stage_ids() != p.ids:
                    continue
                rows = align.stage_rows(frame, p.device, self.rate, m.idle_w)
                fe = FrameEnergy({r["stage"]: r for r in rows}, self.idle_mw,
                                 emulator_truth(self.board, p.device, p.names) if self.board is not None else None)
                self._offset = frame.start - p.start_us * self.rate / 1e6
                self._done_until = frame.stop
                self._pending.popleft()
                self.last = fe
                self.history.append(fe)
                self.measured += 1
                out.append((p.key, fe))
        while self._pending and now - self._pending[0].sent > RESOLVE_TIMEOUT_S:
            self.without += 1
            out.append((self._pending.popleft().key, None))
            if not self.dropped and not self._blocks:
                self._drop("the power monitor delivered no samples")
        return out

    def summary(self, values: list[FrameEnergy]) -> dict:
        """Medians over ``values`` (one per inference) and the counts; what ``--json`` prints."""
        med = lambda v: round(float(np.median(v)), 5) if len(v) else None  # noqa: E731
        out = dict(monitor=self.monitor.info.model, address=self.address,
                   sample_rate_hz=self.rate, frames_measured=self.measured, frames_without_energy=self.without,
                   dropped=self.dropped, idle_mw=None if self.idle_mw is None else round(self.idle_mw, 3),
                   energy_mj=med([f.energy_mj for f in values]), mean_mw=med([f.mean_mw for f in values]),
                   err_bound_mj=med([f.err_bound_mj for f in values]),
                   stages_mj={k: med([f.stages[k]["energy_mj"] for f in values if k in f.stages])
                              for k in self.stage_order if any(k in f.stages for f in values)},
                   stages_ms={k: med([f.stages[k]["duration_ms"] for f in values if k in f.stages])
                              for k in self.stage_order if any(k in f.stages for f in values)})
        if values and all(f.truth_mj is not None for f in values):
            out["emulator_truth_mj"] = {k: med([f.truth_mj[k] for f in values if k in f.truth_mj])
                                        for k in out["stages_mj"]}
        return out
