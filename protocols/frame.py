"""Protocol v1 framing: the 14-byte header, the payload and the CRC-32 trailer.

Layout (little-endian), the byte-level spec is in protocols/README.md:

    off  size  field
    0    2     magic  b"HL"
    2    1     version (1)
    3    1     type    (MsgType)
    4    1     flags   (Flag)
    5    1     reserved, always 0
    6    2     seq
    8    4     length  (payload bytes, <= the receiver's announced max payload)
    12   2     hcrc    CRC-16/CCITT-FALSE over bytes 0..11
    14   N     payload
    14+N 4     crc     CRC-32 (IEEE 802.3, as zlib.crc32) over bytes 0..14+N-1

The header carries its own CRC so that a receiver can reject a corrupted length at once instead of
waiting for bytes that will never come; the trailer CRC covers header and payload together.
"""
import binascii
import enum
import zlib

from construct import Bytes, Checksum, Const, Int8ul, Int16ul, Int32ul, RawCopy, Struct, this

MAGIC = b"HL"
VERSION = 1
#: The largest payload any v1 receiver may announce; a board announces its own, smaller, maximum.
PROTOCOL_MAX_PAYLOAD = 1 << 20


class Flag(enum.IntFlag):
    NONE = 0
    RESPONSE = 0x01  # board -> host reply; carries the request's seq
    MORE = 0x02  # one fragment of a message; the next frame with the same seq continues it
    EVENT = 0x04  # unsolicited (LOG); seq counts the board's own events


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), used for the header check."""
    return binascii.crc_hqx(data, 0xFFFF)


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC, as zlib and Ethernet compute it."""
    return zlib.crc32(data) & 0xFFFFFFFF


HeaderFields = Struct(
    "magic" / Const(MAGIC),
    "version" / Int8ul,
    "type" / Int8ul,
    "flags" / Int8ul,
    "reserved" / Const(0, Int8ul),
    "seq" / Int16ul,
    "length" / Int32ul,
)

Header = Struct(
    "fields" / RawCopy(HeaderFields),
    "hcrc" / Checksum(Int16ul, crc16, this.fields.data),
)

Frame = Struct(
    "body" / RawCopy(Struct("header" / Header, "payload" / Bytes(this.header.fields.value.length))),
    "crc" / Checksum(Int32ul, crc32, this.body.data),
)

HEADER_FIELDS_SIZE = HeaderFields.sizeof()  # 12
HEADER_SIZE = Header.sizeof()  # 14
TRAILER_SIZE = 4
OVERHEAD = HEADER_SIZE + TRAILER_SIZE
