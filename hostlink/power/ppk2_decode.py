"""PPK2 sample words -> calibrated samples, vectorised, streaming, with loss detection.

Three ideas keep this fast (the bench compares it with the `ppk2-api` package's decoder):

* The calibrated current is a function of the low 17 bits of a word alone (14-bit ADC + 3-bit
  range), so calibration is one gather from a 2**17-entry table built once per supply voltage.
  The table is computed in float64 with the same operations, in the same order, as the reference
  formula, then rounded to float32.
* The spike filter (an exponential average that replaces the 3 samples after each range switch)
  depends on the whole history, but only through an exponentially decaying sum: the average just
  before a switch is a dot product with the last K samples, K chosen so the truncation is far
  below float32 resolution. Only the few samples around each switch are touched.
* Lost samples are found from the 6-bit counter with byte arithmetic on a strided view.

Word alignment is kept across reads of any size (0-3 trailing bytes are carried). If bytes are
lost mid-word the counter stops making sense; the decoder then re-finds the word boundary and counts
a resync instead of emitting garbage.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..protocols import ppk2 as proto
from .base import SAMPLE_DTYPE, SampleFlag

ALPHA = 0.18  # spike filter EMA weight on ranges 0-3
ALPHA4 = 0.06  # ... on range 4
SPIKE_SAMPLES = 3  # samples replaced after each range switch
HOLD_SAMPLES4 = 2  # on range 4 the first two of them do not update the averages
#: History needed for the averages: (1 - ALPHA)**K < 2e-14 and (1 - ALPHA4)**K4 < 2e-18. With
#: K = 128 (1e-11) a handful of 6 M float32 results already round differently from the reference;
#: at 160 the bench reproduces every one.
K = 160
K4 = 660
HISTORY = K4 + 16

INDEX_BITS = proto.ADC_BITS + proto.RANGE_BITS  # the 17 bits calibration depends on
INDEX_MASK = (1 << INDEX_BITS) - 1
_ADC_FULL = (1 << proto.ADC_BITS) - 1
#: Index of full scale on range 4: readings there are clipped.
_SAT_INDEX = (4 << proto.ADC_BITS) | _ADC_FULL
#: A run this long of consecutive counter breaks means the words are misaligned, not lost.
MISALIGNED_RUN = 16


@dataclass(frozen=True)
class Ppk2Calibration:
    """Per-range calibration tables from the device metadata (R, GS, GI, O, S, I, UG)."""

    R: tuple
    GS: tuple
    GI: tuple
    O: tuple  # noqa: E741 - the metadata's own names
    S: tuple
    I: tuple  # noqa: E741
    UG: tuple

    @classmethod
    def default(cls) -> "Ppk2Calibration":
        return cls(**{k: tuple(v) for k, v in proto.CALIBRATION_DEFAULTS.items()})

    @classmethod
    def from_metadata(cls, meta: dict) -> "Ppk2Calibration":
        """Missing keys take the defaults; R = 0 or NaN (seen on some units) keeps the default."""
        tables = {}
        for key in proto.CALIBRATION_KEYS:
            values = list(proto.CALIBRATION_DEFAULTS[key])
            for r in range(proto.N_RANGES):
                v = meta.get(f"{key}{r}")
                if v is None or v != v or (key == "R" and v == 0):
                    continue
                values[r] = float(v)
            tables[key] = tuple(values)
        return cls(**tables)

    def table64(self, vdd_mv: float) -> np.ndarray:
        """Current in A for every 17-bit (range, adc) index; ranges 5-7 read as range 4."""
        adc = np.arange(1 << proto.ADC_BITS, dtype=np.int64) * proto.ADC_SCALE
        out = np.empty((1 << proto.RANGE_BITS, adc.size), np.float64)
        for r in range(1 << proto.RANGE_BITS):
            c = min(r, proto.N_RANGES - 1)
            x = (adc - self.O[c]) * (proto.ADC_MULT / self.R[c])
            out[r] = self.UG[c] * (x * (self.GS[c] * x + self.GI[c])
                                   + (self.S[c] * (vdd_mv / 1000) + self.I[c]))
        return out.reshape(-1)

    def range_max_a(self, vdd_mv: float) -> list[float]:
        t = self.table64(vdd_mv).reshape(1 << proto.RANGE_BITS, -1)
        return [float(t[r, -1]) for r in range(proto.N_RANGES)]


@dataclass
class DecodeStats:
    samples: int = 0
    missing: int = 0
    gaps: int = 0
    resyncs: int = 0
    suspect: int = 0
    bytes: int = 0


class Ppk2Decoder:
    """Streaming decoder: ``feed(bytes) -> SAMPLE_DTYPE rows`` (MISSING rows for lost samples).

    ``spike_filter=True`` reproduces the PPK2 app's filter after range switches.
    """

    def __init__(self, calibration: Ppk2Calibration | None = None, vdd_mv: float = 3300,
                 spike_filter: bool = True):
        self.calibration = calibration or Ppk2Calibration.default()
        self.spike_filter = spike_filter
        self.stats = DecodeStats()
        self.set_vdd(vdd_mv)
        self.reset()

    def set_vdd(self, vdd_mv: float) -> None:
        self.vdd_mv = float(vdd_mv)
        self._lut64 = self.calibration.table64(self.vdd_mv)
        self._lut32 = self._lut64.astype(np.float32)
        self._vdd_v = np.float32(self.vdd_mv / 1000.0)
        self._vdd_u16 = np.array([self._vdd_v], np.float32).view(np.uint16)
        self._sat_level = self._lut32[[(r << proto.ADC_BITS) | _ADC_FULL for r in range(4, 8)]].min()

    def reset(self) -> None:
        """Forget the stream: call on AverageStart (the device restarts its counter and filter)."""
        self._carry = b""
        self._last_counter: int | None = None
        self._last_digital = 0
        self._history = np.zeros(0, np.uint32)  # last words, for the spike filter
        self._at_stream_start = True  # history holds the whole stream so far

    # -- public ---------------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> np.ndarray:
        self.stats.bytes += len(data)
        buf = self._carry + bytes(data) if self._carry else data
        out = []
        pos = 0
        while len(buf) - pos >= proto.WORD_SIZE:
            n = (len(buf) - pos) // proto.WORD_SIZE
            words = np.frombuffer(buf, "<u4", count=n, offset=pos)
            cnt = self._counters(words)
            steps = (cnt[1:] - cnt[:-1] - np.uint8(1)) & np.uint8(63)
            breaks = np.flatnonzero(steps)
            bad_at = self._misaligned_at(breaks)
            good = n if bad_at is None else bad_at + 1
            if bad_at == 0 and self._last_counter is not None and (
                    (int(cnt[0]) - self._last_counter - 1) & 63):
                good = 0
            if good:
                out.append(self._decode_words(words[:good], cnt[:good], steps[:max(good - 1, 0)],
                                              breaks[breaks < good - 1]))
            pos += good * proto.WORD_SIZE
            if bad_at is None:
                break
            pos += self._find_alignment(buf, pos)
            self.stats.resyncs += 1
            self._last_counter = None  # the count of lost words is unknowable across a resync
            self._suspect_next = True
        self._carry = bytes(buf[pos:])
        if not out:
            return np.zeros(0, SAMPLE_DTYPE)
        return out[0] if len(out) == 1 else np.concatenate(out)

    # -- framing --------------------------------------------------------------------------------

    _suspect_next = False

    @staticmethod
    def _counters(words: np.ndarray) -> np.ndarray:
        return words.view(np.uint8)[2::4] >> 2

    @staticmethod
    def _misaligned_at(breaks: np.ndarray) -> int | None:
        """Where a run of MISALIGNED_RUN consecutive counter breaks starts (words misaligned,
        not lost), or None."""
        if len(breaks) < MISALIGNED_RUN:
            return None
        span = breaks[MISALIGNED_RUN - 1:] - breaks[:1 - MISALIGNED_RUN or None]
        hit = np.flatnonzero(span == MISALIGNED_RUN - 1)
        return None if hit.size == 0 else int(breaks[hit[0]])

    @classmethod
    def _find_alignment(cls, buf, pos: int) -> int:
        """Bytes to skip at ``pos`` so the counters that follow count up by one."""
        best, best_score = 1, -1
        for skip in range(1, proto.WORD_SIZE + 1):
            n = min((len(buf) - pos - skip) // proto.WORD_SIZE, 4096)
            if n < 2:
                continue
            cnt = cls._counters(np.frombuffer(buf, "<u4", count=n, offset=pos + skip))
            score = int((((cnt[1:] - cnt[:-1] - np.uint8(1)) & np.uint8(63)) == 0).sum())
            if score > best_score:
                best, best_score = skip, score
        return best

    # -- decoding -------------------------------------------------------------------------------

    def _decode_words(self, words, cnt, steps, breaks) -> np.ndarray:
        n = len(words)
        idx = words & np.uint32(INDEX_MASK)
        current = self._lut32[idx]
        marks: list[tuple[np.ndarray, int]] = []  # (sample positions, flag to OR in)
        if self.spike_filter:
            filtered = self._apply_spike_filter(words, current)
            if filtered.size:
                marks.append((filtered, SampleFlag.RANGE_FILTERED))
        # full scale on range 4 (or the never-seen 5-7) is a clipped reading; one cheap max first
        if current.size and current.max() >= self._sat_level:
            sat = np.flatnonzero((idx >= _SAT_INDEX) & ((idx & np.uint32(_ADC_FULL)) == _ADC_FULL))
            if sat.size:
                marks.append((sat, SampleFlag.SATURATED))
        if self._suspect_next:
            marks.append((np.zeros(1, np.int64), SampleFlag.SUSPECT))
            self.stats.suspect += 1
            self._suspect_next = False

        # lost samples from the counter: a gap of steps[b] sits before sample b + 1
        gap_pos = breaks + 1
        gap_len = steps[breaks].astype(np.int64)
        if self._last_counter is not None:
            first = (int(cnt[0]) - self._last_counter - 1) & 63
            if first:
                gap_pos = np.concatenate(([0], gap_pos))
                gap_len = np.concatenate(([first], gap_len))
        gap_pos, gap_len, suspect = self._drop_glitches(cnt, gap_pos, gap_len)
        if suspect.size:
            marks.append((suspect, SampleFlag.SUSPECT))
        self._last_counter = int(cnt[-1])

        missing = int(gap_len.sum())
        out = np.empty(n + missing, SAMPLE_DTYPE)
        digital = words.view(np.uint8)[3::4]
        if missing == 0:
            out["current_a"] = current
            # a constant float32 column is written fastest as two uint16 columns
            o16 = out.view(np.uint16).reshape(n, SAMPLE_DTYPE.itemsize // 2)
            o16[:, 2] = self._vdd_u16[0]
            o16[:, 3] = self._vdd_u16[1]
            out["digital"] = digital
            out["flags"] = SampleFlag.VOLTAGE_SETPOINT
            rows = None
        else:
            shift = np.zeros(n, np.int64)
            shift[gap_pos] = gap_len
            rows = np.arange(n) + np.cumsum(shift)
            current_col = np.full(n + missing, np.nan, np.float32)
            current_col[rows] = current
            out["current_a"] = current_col
            flags = np.full(n + missing, SampleFlag.VOLTAGE_SETPOINT | SampleFlag.MISSING, np.uint8)
            flags[rows] = SampleFlag.VOLTAGE_SETPOINT
            out["flags"] = flags
            # a lost row repeats the last good digital level so markers show no false edge
            src = np.full(n + missing, -1, np.int64)
            src[rows] = np.arange(n)
            src = np.maximum.accumulate(src)
            filled = digital[np.maximum(src, 0)]
            filled[src < 0] = self._last_digital
            out["digital"] = filled
            out["voltage_v"] = self._vdd_v
            self.stats.missing += missing
            self.stats.gaps += len(gap_pos)
        if marks:
            fl = out["flags"]
            for positions, flag in marks:
                where = positions if rows is None else rows[positions]
                fl[where] |= np.uint8(flag)
            out["flags"] = fl
        self._last_digital = int(digital[-1])
        self.stats.samples += len(out)
        return out

    def _drop_glitches(self, cnt, gap_pos, gap_len):
        """A single sample whose counter is off by some k, with its neighbours in sequence, is a
        corrupted counter, not two gaps: keep it, flag it SUSPECT, insert nothing."""
        none = np.zeros(0, np.int64)
        if len(gap_pos) < 2:
            return gap_pos, gap_len, none
        keep = np.ones(len(gap_pos), bool)
        suspect = []
        for p in np.flatnonzero(np.diff(gap_pos) == 1).tolist():
            if not (keep[p] and keep[p + 1]):
                continue
            j = int(gap_pos[p])  # the suspect sample
            before = int(cnt[j - 1]) if j >= 1 else self._last_counter
            if before is None or j + 1 >= len(cnt):
                continue
            if (int(cnt[j + 1]) - before - 2) & 63 == 0:
                keep[p] = keep[p + 1] = False
                suspect.append(j)
        self.stats.suspect += len(suspect)
        return gap_pos[keep], gap_len[keep], np.asarray(suspect, np.int64)

    def _apply_spike_filter(self, words: np.ndarray, current: np.ndarray) -> np.ndarray:
        """Overwrite the samples after each range switch in ``current``; return their positions."""
        hist = self._history
        h = len(hist)
        ext = np.concatenate((hist, words)) if h else words
        self._history = ext[-HISTORY:].copy()
        at_start = self._at_stream_start
        self._at_stream_start = at_start and len(ext) <= HISTORY

        rng_mask = np.uint32(proto.RANGE_MASK)
        diff = (ext[1:] ^ ext[:-1]) & rng_mask
        cand = np.flatnonzero(diff) + 1
        none = np.zeros(0, np.int64)
        if cand.size == 0:
            return none
        rng = np.minimum((ext[cand] >> np.uint32(proto.RANGE_SHIFT)) & np.uint32(7), 4)
        rprev = np.minimum((ext[cand - 1] >> np.uint32(proto.RANGE_SHIFT)) & np.uint32(7), 4)
        real = rng != rprev
        changes, rng = cand[real], rng[real].astype(np.int64)
        if changes.size == 0:
            return none
        n_ext = len(ext)
        nxt = np.append(changes[1:], n_ext)  # each window ends at the next switch

        # samples that update no average: on range 4, offsets 0 and 1 of a window
        held = []
        for t in range(HOLD_SAMPLES4):
            sel = (rng == 4) & (changes + t < nxt)
            held.append(changes[sel] + t)
        held = np.concatenate(held) if held else np.zeros(0, np.int64)
        held = held[held < n_ext]
        held.sort()

        lut64 = self._lut64
        start_pos = 0 if at_start else -1  # ext position of stream sample 0, if present
        touched = []
        for is4 in (False, True):
            sel = rng == 4 if is4 else rng != 4
            if not sel.any():
                continue
            c = changes[sel]
            a = ALPHA4 if is4 else ALPHA
            k = K4 if is4 else K
            ra = self._ema_before(ext, lut64, c, a, k, held, start_pos)
            end = nxt[sel]
            for t in range(SPIKE_SAMPLES):
                j = c + t
                active = (j < end) & (j < n_ext)
                if not active.any():
                    break
                jj = np.minimum(j, n_ext - 1)
                x = lut64[ext[jj] & np.uint32(INDEX_MASK)]
                new = a * x + (1 - a) * ra
                is_held = np.isin(jj, held) if held.size else np.zeros(len(jj), bool)
                ra = np.where(active & ~is_held, new, ra)
                w = jj[active] - h  # chunk position
                ok = w >= 0
                current[w[ok]] = ra[active][ok].astype(np.float32)
                touched.append(w[ok])
        return np.concatenate(touched) if touched else none

    @staticmethod
    def _ema_before(ext, lut64, c, a, k, held, start_pos, general=False) -> np.ndarray:
        """The exponential average over the samples before each position in ``c`` that update it
        (all but ``held``), truncated to the last k such samples."""
        slack = 4 * HOLD_SAMPLES4 if held.size else 0
        width = k + slack
        base = 1 - a
        powers = _powers(base, width + 1)
        if held.size == 0 and not general:
            # the common case: every earlier sample updates the average, fixed weights; the
            # rows of the last `width` words before each switch are views, copied once
            far = c > width
            if far.any():
                rows = np.lib.stride_tricks.sliding_window_view(ext, width)[c[far] - width]
                fast = lut64[rows & np.uint32(INDEX_MASK)] @ (a * powers[width - 1::-1][:width])
                if far.all():
                    return fast
                out = np.empty(len(c))
                out[far] = fast
                out[~far] = Ppk2Decoder._ema_before(ext, lut64, c[~far], a, k, held, start_pos, general=True)
                return out
        pos = c[:, None] - width + np.arange(width)[None, :]
        x = lut64[ext[np.maximum(pos, 0)] & np.uint32(INDEX_MASK)]

        valid = pos >= 0
        p0 = np.maximum(pos, 0)
        expo = (c[:, None] - 1 - pos)
        if held.size:
            # held samples between p and c do not age the average
            expo = expo - (np.searchsorted(held, c)[:, None] - np.searchsorted(held, p0 + 1))
            hit = np.searchsorted(held, p0)
            is_held = held[np.minimum(hit, held.size - 1)] == p0
            valid &= ~is_held
        expo = np.clip(expo, 0, width)
        weight = np.where(valid, a * powers[expo], 0.0)
        if start_pos == 0:
            # the stream's first sample seeds the average: weight (1-a)^e instead of a(1-a)^e
            weight = np.where((pos == 0) & valid, powers[expo], weight)
        return (weight * x).sum(axis=1)


_POWERS: dict = {}


def _powers(base: float, n: int) -> np.ndarray:
    key = (base, n)
    if key not in _POWERS:
        p = np.ones(n)
        for i in range(1, n):
            p[i] = p[i - 1] * base
        _POWERS[key] = p
    return _POWERS[key]
