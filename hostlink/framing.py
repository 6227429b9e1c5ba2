"""Turning bytes into protocol v1 frames and back, with resynchronisation.

The layout is declared in ``protocols/frame.py``; this module is the hot path. It packs the same
fields with ``struct`` (tests check it against the construct declaration byte for byte) because it
runs for every frame of every upload and capture.

Resync rule: scan for the magic; reject the candidate if its header CRC or version-independent
sanity checks fail, or if its trailer CRC fails, and in every such case resume the scan one byte
after the rejected magic. A corrupted frame therefore never swallows the good frames behind it.
"""
import struct
from dataclasses import dataclass

from .protocols import HEADER_SIZE, MAGIC, PROTOCOL_MAX_PAYLOAD, TRAILER_SIZE, VERSION, crc16, crc32

_HDR = struct.Struct("<2sBBBBHI")  # = protocols.frame.HeaderFields
_HCRC = struct.Struct("<H")
_CRC = struct.Struct("<I")
assert _HDR.size + _HCRC.size == HEADER_SIZE


@dataclass(slots=True)
class RawFrame:
    type: int
    flags: int
    seq: int
    payload: bytes
    version: int = VERSION


def encode_frame(msg_type: int, flags: int, seq: int, payload: bytes = b"", version: int = VERSION) -> bytes:
    head = _HDR.pack(MAGIC, version, msg_type, flags, 0, seq & 0xFFFF, len(payload))
    head += _HCRC.pack(crc16(head))
    body = head + payload
    return body + _CRC.pack(crc32(body))


@dataclass
class DeframerStats:
    frames: int = 0
    header_errors: int = 0
    crc_errors: int = 0
    oversize: int = 0
    skipped_bytes: int = 0


#: Bytes of non-frame input kept (from the last reset) to show what a port sent instead of frames.
GARBAGE_SAMPLE_BYTES = 24


class Deframer:
    """Feed it bytes in any split; it returns whole, CRC-checked frames in order.

    ``max_payload`` is the limit this receiver announced; a header claiming more is treated as
    corruption (and resynchronised past), never as a reason to wait for megabytes. The first
    bytes it skipped since the last reset are kept in ``garbage`` (a port that answers with a
    console prompt or at the wrong baud rate is then reported as such, not as silent).
    """

    def __init__(self, max_payload: int = PROTOCOL_MAX_PAYLOAD):
        self.max_payload = max_payload
        self.stats = DeframerStats()
        self.garbage = bytearray()
        self._buf = bytearray()

    def reset(self) -> None:
        self._buf.clear()
        self.garbage.clear()

    def _keep_garbage(self, start: int, end: int) -> None:
        room = GARBAGE_SAMPLE_BYTES - len(self.garbage)
        if room > 0 and end > start:
            self.garbage += self._buf[start:min(end, start + room)]

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[RawFrame]:
        buf = self._buf
        buf += data
        out: list[RawFrame] = []
        pos = 0
        n = len(buf)
        stats = self.stats
        while True:
            start = buf.find(MAGIC, pos)
            if start < 0:
                # keep a trailing 'H' that may be the first half of the next magic
                keep = 1 if n > pos and buf[-1] == MAGIC[0] else 0
                stats.skipped_bytes += n - pos - keep
                self._keep_garbage(pos, n - keep)
                pos = n - keep
                break
            if start > pos:
                stats.skipped_bytes += start - pos
                self._keep_garbage(pos, start)
            pos = start
            if n - pos < HEADER_SIZE:
                break
            head = bytes(buf[pos : pos + _HDR.size])
            (hcrc,) = _HCRC.unpack_from(buf, pos + _HDR.size)
            _, version, mtype, flags, reserved, seq, length = _HDR.unpack(head)
            if hcrc != crc16(head) or reserved != 0:
                stats.header_errors += 1
                stats.skipped_bytes += 1
                pos += 1
                continue
            if length > self.max_payload:
                stats.oversize += 1
                stats.skipped_bytes += 1
                pos += 1
                continue
            end = pos + HEADER_SIZE + length
            if n < end + TRAILER_SIZE:
                break
            (crc,) = _CRC.unpack_from(buf, end)
            if crc != crc32(memoryview(buf)[pos:end]):
                stats.crc_errors += 1
                stats.skipped_bytes += 1
                pos += 1
                continue
            out.append(RawFrame(mtype, flags, seq, bytes(buf[pos + HEADER_SIZE : end]), version))
            stats.frames += 1
            pos = end + TRAILER_SIZE
        if pos:
            del buf[:pos]
        return out
