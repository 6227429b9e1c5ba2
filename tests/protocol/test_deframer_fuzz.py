"""Fuzzing the receive path: >= 100,000 random and mutated frames.

The deframer must never raise, never hang (it consumes its input: what it keeps is bounded by one
frame), and must deliver every good frame in the stream, in order, whatever garbage or corrupted
frames come before it. Every frame it delivers then goes through payload parsing on both sides:
the client raises only HostlinkError subclasses, the board answers everything and never raises.
"""
import random
import struct

import pytest

from hostlink import protocols as P
from hostlink.client import Device
from hostlink.emulator.board import EmulatedBoard
from hostlink.errors import HostlinkError
from hostlink.framing import Deframer, encode_frame
from hostlink.links.base import Link
from hostlink.protocols import messages as M

MAX_PAYLOAD = 2048
FRAMES_PER_SEED = 25_000
SEEDS = (1, 2, 3, 4)  # 4 x 25,000 = 100,000 frames

_TYPES = [int(t) for t in P.MsgType]


def _valid_payloads() -> list[tuple[int, bool, bytes]]:
    """One well-formed payload of every message, the seeds that mutations start from."""
    spec = dict(name="out", dtype="INT8", shape=[1, 4], scale=0.5, zero_point=-3)
    values = {
        (P.MsgType.HELLO, False): dict(proto_min=1, proto_max=1, max_payload=4096),
        (P.MsgType.DEVICE_INFO, True): dict(
            board="IMX500", board_name="b", serial="s", fw_version=[0, 1, 0], proto_version=1,
            capabilities=dict(EMULATED=True), max_payload=4096, clock_hz=1_000_000, link_bps=0,
            formats=dict(tflite=True), memory=[dict(name="ram", size=1024)], stages=["CAPTURE", "INFERENCE"]),
        (P.MsgType.ACK, True): dict(value=12),
        (P.MsgType.NAK, True): dict(code="BAD_CRC", detail="again"),
        (P.MsgType.ERROR, True): dict(code="NO_MODEL", message="no model"),
        (P.MsgType.LOG, False): dict(level="INFO", time_us=5, text="hello"),
        (P.MsgType.RESET, False): dict(mode="SOFT"),
        (P.MsgType.MODEL_BEGIN, False): dict(size=100, crc32=7, format="TFLITE", name="m"),
        (P.MsgType.MODEL_CHUNK, False): dict(offset=0, data=b"\x01" * 40),
        (P.MsgType.MODEL_COMMIT, False): dict(crc32=7),
        (P.MsgType.MODEL_INFO, False): dict(),
        (P.MsgType.MODEL_INFO, True): dict(
            loaded=True, name="m", format="TFLITE", size=100, crc32=7, arena_bytes=10, macs=99,
            expected_frame_us=1000, engine="e", inputs=[spec], outputs=[spec]),
        (P.MsgType.CAPTURE, False): dict(count=1, period_us=0, source="SENSOR", options=dict(return_input=False)),
        (P.MsgType.INPUT, False): dict(index=0, total=16, offset=0, data=b"\x02" * 16),
        (P.MsgType.RESULT, True): dict(frame=0, count=1, stages=[dict(stage="INFERENCE", start=1, end=2)],
                                       outputs=[dict(spec=spec, data=b"\x00" * 4)]),
    }
    return [(int(t), r, M.PAYLOADS[(t, r)].build(v)) for (t, r), v in values.items()]


VALID = _valid_payloads()


def _mutate_payload(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if op < 0.4 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op < 0.6 and b:
            b[rng.randrange(len(b))] = rng.choice((0, 0xFF, rng.randrange(256)))
        elif op < 0.8:
            del b[rng.randrange(len(b) + 1):]
        else:
            b += rng.randbytes(rng.randint(1, 16))
    return bytes(b[:MAX_PAYLOAD])


def _good_frame(rng: random.Random) -> tuple[bytes, tuple]:
    """A frame that passes every check: valid, mutated or random payload, any type/flags/seq."""
    r = rng.random()
    if r < 0.4:
        mtype, response, payload = rng.choice(VALID)
        flags = P.Flag.RESPONSE if response else 0
    elif r < 0.8:
        mtype, response, payload = rng.choice(VALID)
        flags = P.Flag.RESPONSE if response else 0
        payload = _mutate_payload(rng, payload)
    else:
        mtype = rng.choice(_TYPES + [rng.randrange(256)])
        flags = rng.randrange(256) if rng.random() < 0.2 else rng.choice((0, P.Flag.RESPONSE))
        payload = rng.randbytes(rng.randint(0, 64))
    version = P.VERSION if rng.random() < 0.95 else rng.randrange(256)
    seq = rng.randrange(0x10000)
    return encode_frame(mtype, flags, seq, payload, version), (mtype, flags, seq, payload, version)


def _bad_chunk(rng: random.Random) -> bytes:
    """Bytes that must not produce a frame: garbage, corrupted or cut frames, lying headers."""
    wire, _ = _good_frame(rng)
    kind = rng.randrange(8)
    b = bytearray(wire)
    if kind == 0:  # flip 1..3 bits anywhere
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        if bytes(b) == wire:
            b[-1] ^= 0x80
        return bytes(b)
    # A cut or a lost byte alone is not always damage: when the missing tail equals the bytes
    # that follow in the stream, the frame is whole again. A flipped bit in what is kept makes
    # sure the chunk stays bad whatever follows it.
    if kind == 1:  # cut short: the rest never comes
        k = rng.randrange(1, len(b))
        if k > P.HEADER_SIZE:
            b[rng.randrange(P.HEADER_SIZE, k)] ^= 1 << rng.randrange(8)
        return bytes(b[:k])
    if kind == 2:  # one byte lost before the trailer
        del b[rng.randrange(1, len(b) - P.TRAILER_SIZE)]  # not the first: a stray "H" before would restore it
        return bytes(b)
    if kind == 3:  # random garbage, sometimes sprinkled with the magic
        g = bytearray(rng.randbytes(rng.randint(1, 80)))
        for _ in range(rng.randint(0, 3)):
            i = rng.randrange(len(g) + 1)
            g[i:i] = P.MAGIC
        return bytes(g)
    if kind == 4:  # a correct header CRC that claims more than the receiver's maximum
        head = struct.pack("<2sBBBBHI", P.MAGIC, 1, P.MsgType.ACK, 1, 0, 1, MAX_PAYLOAD + 1 + rng.randrange(1 << 20))
        return head + struct.pack("<H", P.crc16(head)) + rng.randbytes(rng.randint(0, 32))
    if kind == 5:  # a correct header CRC with the reserved byte set
        head = struct.pack("<2sBBBBHI", P.MAGIC, 1, P.MsgType.ACK, 1, rng.randint(1, 255), 1, 4)
        return head + struct.pack("<H", P.crc16(head)) + rng.randbytes(8)
    if kind == 6:  # a correct header whose payload never arrives in full (it swallows what follows)
        n = rng.randint(1, MAX_PAYLOAD)
        head = struct.pack("<2sBBBBHI", P.MAGIC, 1, P.MsgType.RESULT, 1, 0, 1, n)
        return head + struct.pack("<H", P.crc16(head)) + rng.randbytes(rng.randrange(min(n, 64)))
    # the trailer CRC alone is wrong
    b[-4:] = rng.randbytes(4)
    if bytes(b) == wire:
        b[-4] ^= 1
    return bytes(b)


def _stream(seed: int, n: int):
    rng = random.Random(seed)
    chunks, expected = [], []
    for _ in range(n):
        if rng.random() < 0.5:
            wire, fields = _good_frame(rng)
            chunks.append(wire)
            expected.append(fields)
        else:
            chunks.append(_bad_chunk(rng))
    return b"".join(chunks), expected


class _NoLink(Link):
    url = "fuzz:"

    def write(self, data):
        raise AssertionError("the client must not write while parsing")

    def read(self, timeout):
        return b""

    def close(self):
        pass


@pytest.mark.parametrize("seed", SEEDS)
def test_random_and_mutated_frames(seed):
    stream, expected = _stream(seed, FRAMES_PER_SEED)
    rng = random.Random(seed * 7919)
    d = Deframer(MAX_PAYLOAD)
    got = []
    pos = 0
    while pos < len(stream):
        step = rng.choice((1, 7, 64, 500, 4096))
        got += d.feed(stream[pos:pos + step])
        pos += step
        # bounded memory = bounded work: never more than one maximal frame is held back
        assert d.pending < P.OVERHEAD + MAX_PAYLOAD + step
    # a frame cut short at the very end of the stream waits for bytes; silence ends it
    got += d.feed(bytes(MAX_PAYLOAD + P.OVERHEAD))
    assert d.pending <= 1
    assert [(f.type, f.flags, f.seq, f.payload, f.version) for f in got] == expected
    st = d.stats
    assert st.frames == len(expected)
    assert st.header_errors + st.crc_errors + st.oversize > 0

    # payload parsing, host side: only the protocol's own errors, whatever the payload
    dev = Device(_NoLink())
    for f in got:
        try:
            dev._check(f, "fuzz")
        except HostlinkError:
            pass


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_board_answers_every_mutated_request(seed):
    """The board side of payload parsing: every request gets a well-formed reply, never an exception."""
    _, expected = _stream(seed, 6000)
    out = []
    board = EmulatedBoard("spresense", out.append)
    replies = Deframer()
    for mtype, flags, seq, payload, version in expected:
        out.clear()
        board.feed(encode_frame(mtype, flags, seq, payload, version))
        frames = [f for fr in out for f in replies.feed(fr)]
        if flags & P.Flag.RESPONSE:
            assert frames == []  # a board never answers a reply
            continue
        assert frames, f"no answer to type 0x{mtype:02x}"
        assert all(f.seq == seq and f.flags & P.Flag.RESPONSE for f in frames)
        if version != P.VERSION:
            assert frames[0].type == P.MsgType.ERROR
            assert int(M.Error.parse(frames[0].payload).code) == P.ErrorCode.BAD_VERSION
        else:
            assert frames[0].version == P.VERSION
