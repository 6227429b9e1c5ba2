"""How an upload paces itself over a link that loses frames: the policy and the chunk sizer.

A frame of n bytes crosses a link that damages each byte with probability p intact with
probability (1-p)^n, and a damaged frame costs its whole length again. With O bytes of framing per
chunk, the share of the wire that ends up as model bytes is

    g(L) = L / (L + O) * (1 - p)^(L + O)

which is largest at L* = (sqrt(O^2 + 4 O / q) - O) / 2, q = -ln(1 - p) (set dg/dL = 0). On a clean
link L* is the board's largest payload; at p = 2e-4 (1e-4 flips plus 1e-4 drops) it is about 320
bytes, where 4 KiB frames would arrive intact only 44 % of the time. ``ChunkSizer`` estimates p
from the frames the upload itself loses and delivers (an exponentially weighted count, so a link
that clears up grows the chunks back) and cuts every new chunk at L*, between a floor and the
board's announced maximum.

Retries are bounded by progress and time, not by a count per chunk: an upload fails when no new
byte has been acknowledged for ``stall_s``, or when it has run for ``budget_s``.
"""
import math
from dataclasses import dataclass

from .errors import ConfigError

#: Most frames in flight: small chunks get more frames, so that as many bytes are in flight as
#: with full-size chunks, up to this many.
MAX_FRAMES_IN_FLIGHT = 32
#: Lost frames expected in flight at most. Each lost frame leaves a gap in the board's staging
#: until it is resent, and a board tracks a bounded number of gaps (the C core: HL_CFG_MAX_SPANS,
#: 16 by default); at 3 expected, 15 at once happens less than once in 10^6 windows.
GAPS_IN_FLIGHT = 3.0
#: Frames of memory in the loss estimate: long enough to see a few losses at p = 1e-4 with
#: 300-byte chunks (~24 KB of exposure), short enough to follow a cable that goes bad or clears up.
LOSS_MEMORY_FRAMES = 64


@dataclass(frozen=True)
class UploadPolicy:
    """Knobs of ``Device.upload`` (also ``hostlink upload/run --upload-budget --min-chunk``).

    budget_s:  give up when the whole upload (BEGIN to COMMIT) has taken this long. None: twenty
               seconds plus ten times the image's time on the wire at the link's byte rate.
    stall_s:   give up when no new byte has been acknowledged for this long. None: the client's
               ``Timeouts.attempts`` times the deadline of a full window of chunks.
    min_chunk: floor of the adaptive chunk size in bytes (also capped by the board's maximum).
    max_chunk: ceiling in bytes; None: the largest payload the board announced.
    window:    full-size chunks in flight; None: ``Timeouts.upload_window``. Smaller chunks get
               proportionally more frames (see ``frames_in_flight``); timeouts with nothing
               acknowledged halve the window, acknowledgements grow it back.
    adaptive:  False sends every chunk at max_chunk (the pre-adaptive behaviour, for comparison).
    """

    budget_s: float | None = None
    stall_s: float | None = None
    min_chunk: int = 64
    max_chunk: int | None = None
    window: int | None = None
    adaptive: bool = True

    def __post_init__(self):
        for name in ("budget_s", "stall_s"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0):
                raise ConfigError(f"the upload {_LABELS[name]} must be a positive number of seconds, not {v!r}")
        for name in ("min_chunk", "max_chunk", "window"):
            v = getattr(self, name)
            if v is None and name != "min_chunk":
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"the upload {_LABELS[name]} must be a whole number of at least 1, not {v!r}")
        if self.max_chunk is not None and self.max_chunk < self.min_chunk:
            raise ConfigError(f"the upload max_chunk ({self.max_chunk}) is below min_chunk ({self.min_chunk})")


_LABELS = {"budget_s": "budget (budget_s, --upload-budget)", "stall_s": "stall limit (stall_s)",
           "min_chunk": "smallest chunk (min_chunk, --min-chunk)", "max_chunk": "largest chunk (max_chunk)",
           "window": "window (chunks in flight)"}


def best_chunk(loss_per_byte: float, overhead: int, lo: int, hi: int) -> int:
    """L* for a per-byte loss probability, clamped to [lo, hi] (see the module docstring)."""
    if loss_per_byte <= 0.0:
        return hi
    q = -math.log1p(-min(loss_per_byte, 0.5))
    size = (math.sqrt(overhead * overhead + 4.0 * overhead / q) - overhead) / 2.0
    return max(lo, min(hi, int(size)))


def frames_in_flight(window: int, hi: int, size: int, loss_per_byte: float, frame_bytes: int) -> int:
    """Frames to keep in flight: ``window`` full-size chunks' worth of bytes, capped by
    MAX_FRAMES_IN_FLIGHT and by GAPS_IN_FLIGHT expected losses among them, never below ``window``."""
    scaled = window * hi // max(size, 1)
    loss = 1.0 - math.exp(-loss_per_byte * frame_bytes)
    cap = int(GAPS_IN_FLIGHT / loss) if loss > 0 else MAX_FRAMES_IN_FLIGHT
    return max(window, min(scaled, MAX_FRAMES_IN_FLIGHT, cap))


class ChunkSizer:
    """The chunk size to cut next, from the frames this upload has delivered and lost so far.

    ``overhead`` is the framing around each chunk's data (frame header and trailer, the chunk's
    own header); a round trip is exposed to damage for the request frame and its reply.
    """

    def __init__(self, lo: int, hi: int, overhead: int, adaptive: bool = True):
        self.lo, self.hi = min(lo, hi), hi
        self.overhead = overhead
        self.adaptive = adaptive
        self.losses = 0.0
        self.exposure = 0.0
        self.size = hi
        self.smallest = hi

    @property
    def loss_per_byte(self) -> float:
        return self.losses / self.exposure if self.exposure else 0.0

    def _update(self, lost: float, exposed: float) -> None:
        keep = 1.0 - 1.0 / LOSS_MEMORY_FRAMES
        self.losses = self.losses * keep + lost
        self.exposure = self.exposure * keep + exposed
        if self.adaptive:
            self.size = best_chunk(self.loss_per_byte, self.overhead, self.lo, self.hi)
            self.smallest = min(self.smallest, self.size)

    def delivered(self, round_trip_bytes: int) -> None:
        self._update(0.0, round_trip_bytes)

    def lost(self, round_trip_bytes: int) -> None:
        # The first damaged byte of a lost frame lies, on average, half way through it.
        self._update(1.0, round_trip_bytes / 2.0)
