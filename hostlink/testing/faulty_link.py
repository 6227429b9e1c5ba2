"""A Link wrapper that damages the byte stream on purpose: bit flips, drops, duplicates, delays.

Used to prove that uploads and captures survive (or fail cleanly on) a bad cable. Every decision
comes from a seeded ``random.Random`` per direction, so a failing run replays exactly with the
same seed. Rates are per byte (flip, drop, duplicate) and per transfer (delay); ``direction``
picks which way the faults apply: ``"tx"`` (host to board), ``"rx"`` (board to host) or ``"both"``.

A delayed transfer is held back, together with everything written or received after it (a byte
stream never reorders), until ``delay_s`` has passed; held bytes go out on the next call to
``write`` or ``read`` after that, which is when a real cable would have delivered them.
"""
import math
import random
import time
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..links.base import Link


@dataclass(frozen=True)
class Faults:
    flip_rate: float = 0.0  # probability that a byte has one bit flipped
    drop_rate: float = 0.0  # probability that a byte vanishes
    dup_rate: float = 0.0  # probability that a byte arrives twice
    delay_rate: float = 0.0  # probability that a transfer (one write or read) is held back
    delay_s: float = 0.0

    def __post_init__(self):
        for name in ("flip_rate", "drop_rate", "dup_rate", "delay_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1, not {value}")
        if self.delay_s < 0:
            raise ConfigError(f"delay_s must not be negative, not {self.delay_s}")

    @property
    def damages(self) -> bool:
        return bool(self.flip_rate or self.drop_rate or self.dup_rate)


@dataclass
class FaultStats:
    flipped: int = 0
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0
    bytes: int = 0


@dataclass
class _Direction:
    faults: Faults
    rng: random.Random
    stats: FaultStats = field(default_factory=FaultStats)
    held: list = field(default_factory=list)  # [(release_at, bytes)], in stream order

    def damage(self, data: bytes) -> bytes:
        f = self.faults
        self.stats.bytes += len(data)
        if not f.damages or not data:
            return data
        rng = self.rng
        hit = f.flip_rate + f.drop_rate + f.dup_rate
        out = bytearray()
        # Skip ahead geometrically between damaged bytes instead of drawing per byte: the common
        # case (low rates) then costs a few draws per transfer rather than one per byte.
        pos = 0
        n = len(data)
        while pos < n:
            gap = _geometric(rng, hit)
            if pos + gap >= n:
                out += data[pos:]
                break
            out += data[pos:pos + gap]
            pos += gap
            b = data[pos]
            r = rng.random() * hit
            if r < f.flip_rate:
                out.append(b ^ (1 << rng.randrange(8)))
                self.stats.flipped += 1
            elif r < f.flip_rate + f.drop_rate:
                self.stats.dropped += 1
            else:
                out += bytes((b, b))
                self.stats.duplicated += 1
            pos += 1
        return bytes(out)

    def hold_or_pass(self, data: bytes, now: float) -> bytes:
        """Queue ``data`` behind anything held; return what is due now, in order."""
        f = self.faults
        if data:
            if f.delay_rate and self.rng.random() < f.delay_rate:
                self.stats.delayed += 1
                self.held.append((now + f.delay_s, data))
            elif self.held:
                self.held.append((self.held[-1][0], data))
            else:
                return data
        return self.release(now)

    def release(self, now: float) -> bytes:
        out = []
        while self.held and self.held[0][0] <= now:
            out.append(self.held.pop(0)[1])
        return b"".join(out)

    def next_release(self) -> float | None:
        return self.held[0][0] if self.held else None


def _geometric(rng: random.Random, p: float) -> int:
    """Bytes before the next damaged one, for a per-byte damage probability ``p``."""
    if p <= 0.0:
        return 1 << 62
    if p >= 1.0:
        return 0
    return int(math.log(1.0 - rng.random()) / math.log(1.0 - p))


class FaultyLink(Link):
    """``FaultyLink(inner, Faults(flip_rate=1e-3), seed=7)``: the inner link, with a bad cable."""

    def __init__(self, inner: Link, faults: Faults | None = None, *, seed: int = 0, direction: str = "both",
                 rx_faults: Faults | None = None):
        if direction not in ("tx", "rx", "both"):
            raise ConfigError(f"direction must be tx, rx or both, not {direction!r}")
        faults = faults or Faults()
        clean = Faults()
        tx = faults if direction in ("tx", "both") else clean
        rx = rx_faults or (faults if direction in ("rx", "both") else clean)
        self.inner = inner
        self.url = f"faulty+{inner.url}"
        self.byte_rate = inner.byte_rate
        # Separate generators: the faults on one direction do not depend on traffic in the other.
        self._tx = _Direction(tx, random.Random(f"{seed}:tx"))
        self._rx = _Direction(rx, random.Random(f"{seed}:rx"))

    def set_faults(self, faults: Faults, direction: str = "both") -> None:
        """Change the damage mid-session (a cable that goes bad after the handshake)."""
        if direction not in ("tx", "rx", "both"):
            raise ConfigError(f"direction must be tx, rx or both, not {direction!r}")
        if direction in ("tx", "both"):
            self._tx.faults = faults
        if direction in ("rx", "both"):
            self._rx.faults = faults

    @property
    def tx_stats(self) -> FaultStats:
        return self._tx.stats

    @property
    def rx_stats(self) -> FaultStats:
        return self._rx.stats

    def _flush_tx(self, now: float) -> None:
        due = self._tx.release(now)
        if due:
            self.inner.write(due)

    def write(self, data: bytes) -> None:
        now = time.monotonic()
        out = self._tx.hold_or_pass(self._tx.damage(bytes(data)), now)
        if out:
            self.inner.write(out)

    def read(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            self._flush_tx(now)
            due = self._rx.release(now)
            if due:
                return due
            remaining = deadline - now
            wake = [t for t in (self._rx.next_release(), self._tx.next_release()) if t is not None]
            wait = min([remaining] + [t - now for t in wake])
            data = self.inner.read(max(wait, 0.0))
            if data:
                out = self._rx.hold_or_pass(self._rx.damage(data), time.monotonic())
                if out:
                    return out
            after = time.monotonic()
            if after >= deadline:
                return b""
            if not data and after - now < wait / 2:
                # the inner link answered at once (the in-process emulator does): do not spin
                time.sleep(min(deadline - after, 0.0005))

    def reset_input(self) -> None:
        self._rx.held.clear()
        self.inner.reset_input()

    def close(self) -> None:
        self.inner.close()
