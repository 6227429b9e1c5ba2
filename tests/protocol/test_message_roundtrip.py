"""Every protocol v1 message round-trips through its construct declaration and the frame layer,
and the hand-packed header in framing.py equals the construct Frame declaration both ways."""
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostlink import protocols as P
from hostlink.framing import Deframer, encode_frame
from hostlink.protocols import messages as M
from hostlink.protocols.frame import Frame, Header, HeaderFields

from protocol_strategies import PAYLOAD_STRATEGIES, message, normalize, normalize_input, u16, u32

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_every_declared_payload_has_a_strategy():
    assert set(PAYLOAD_STRATEGIES) == set(M.PAYLOADS)


def test_every_message_type_has_a_payload():
    declared = {t for t, _ in M.PAYLOADS}
    assert declared == set(P.MsgType)


@pytest.mark.parametrize("key", sorted(M.PAYLOADS), ids=lambda k: f"{k[0].name}-{'rsp' if k[1] else 'req'}")
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_payload_roundtrip(key, data):
    value = data.draw(PAYLOAD_STRATEGIES[key])
    struct_ = P.payload_struct(*key)
    raw = struct_.build(value)
    parsed = struct_.parse(raw)
    assert normalize(parsed) == normalize_input(key, value)
    assert struct_.build(parsed) == raw
    # the compiled declaration and the interpreted one agree
    assert M.PAYLOADS[key].build(value) == raw
    assert normalize(M.PAYLOADS[key].parse(raw)) == normalize(parsed)


@settings(max_examples=150, deadline=None)
@given(msg=message, seq=u16, split=st.integers(1, 64))
def test_message_roundtrip_through_frames(msg, seq, split):
    (mtype, response), value = msg
    payload = P.payload_struct(mtype, response).build(value)
    flags = P.Flag.RESPONSE if response else P.Flag.NONE
    wire = encode_frame(mtype, flags, seq, payload)
    assert len(wire) == P.OVERHEAD + len(payload)
    d = Deframer()
    frames = []
    for i in range(0, len(wire), split):  # any split of the byte stream gives the same frame
        frames += d.feed(wire[i:i + split])
    assert len(frames) == 1 and d.pending == 0
    f = frames[0]
    assert (f.type, f.flags, f.seq, f.version, f.payload) == (mtype, flags, seq, P.VERSION, payload)
    back = P.payload_struct(f.type, bool(f.flags & P.Flag.RESPONSE)).parse(f.payload)
    assert normalize(back) == normalize_input((mtype, response), value)


header_values = st.fixed_dictionaries(dict(version=st.integers(0, 255), type=st.integers(0, 255),
                                           flags=st.integers(0, 255), seq=u16, length=u32))


def _construct_frame(version, type, flags, seq, payload):
    fields = dict(version=version, type=type, flags=flags, seq=seq, length=len(payload))
    return Frame.build(dict(body=dict(value=dict(header=dict(fields=dict(value=fields)), payload=payload))))


@settings(max_examples=200, deadline=None)
@given(h=header_values)
def test_hand_packed_header_equals_construct(h):
    payload_len = h["length"]
    fields = HeaderFields.build(h)
    hand = struct.pack("<2sBBBBHI", P.MAGIC, h["version"], h["type"], h["flags"], 0, h["seq"], payload_len)
    assert fields == hand
    head = Header.build(dict(fields=dict(value=h)))
    assert head == hand + struct.pack("<H", P.crc16(hand))
    parsed = Header.parse(head).fields.value
    assert {k: parsed[k] for k in h} == h


@settings(max_examples=200, deadline=None)
@given(h=header_values, payload=st.binary(max_size=300))
def test_encode_frame_equals_construct_frame_both_ways(h, payload):
    ours = encode_frame(h["type"], h["flags"], h["seq"], payload, version=h["version"])
    theirs = _construct_frame(h["version"], h["type"], h["flags"], h["seq"], payload)
    assert ours == theirs
    c = Frame.parse(ours)
    f = c.body.value.header.fields.value
    assert (f.version, f.type, f.flags, f.seq, f.length) == (h["version"], h["type"], h["flags"], h["seq"], len(payload))
    assert c.body.value.payload == payload
    assert c.crc == P.crc32(ours[:-4])
    # and the deframer reads construct's frames
    got = Deframer().feed(theirs)
    assert [(g.version, g.type, g.flags, g.seq, g.payload) for g in got] == [
        (h["version"], h["type"], h["flags"], h["seq"], payload)]


def test_frame_sizes_match_the_spec():
    assert P.HEADER_SIZE == 14 and P.TRAILER_SIZE == 4 and P.OVERHEAD == 18
    assert HeaderFields.sizeof() == 12
    assert encode_frame(P.MsgType.HELLO, 0, 1, b"")[:2] == b"HL"


def test_crc_algorithms_are_the_named_standards():
    # check values of the catalogue: CRC-16/CCITT-FALSE and CRC-32/ISO-HDLC of "123456789"
    assert P.crc16(b"123456789") == 0x29B1
    assert P.crc32(b"123456789") == 0xCBF43926


def test_construct_rejects_a_frame_with_a_bad_crc():
    wire = bytearray(encode_frame(P.MsgType.ACK, P.Flag.RESPONSE, 9, M.Ack.build(dict(value=5))))
    wire[-1] ^= 0x01
    from construct import ChecksumError

    with pytest.raises(ChecksumError):
        Frame.parse(bytes(wire))


PINNED_CODES = dict(OK=0, BAD_CRC=1, BAD_VERSION=2, UNKNOWN_TYPE=3, BAD_PAYLOAD=4, PAYLOAD_TOO_LARGE=5, BUSY=6,
                    NO_MODEL=16, MODEL_TOO_LARGE=17, MODEL_CRC_MISMATCH=18, MODEL_INCOMPLETE=19,
                    MODEL_FORMAT_UNSUPPORTED=20, MODEL_NOT_INT8=21, MODEL_OP_UNSUPPORTED=22, MODEL_ARENA_TOO_LARGE=23,
                    MODEL_CORRUPT=24, NO_UPLOAD=25, CHUNK_OUT_OF_RANGE=26, INPUT_MISMATCH=32, NO_INPUT=33,
                    CAMERA_FAILED=34, INFERENCE_FAILED=35, SOURCE_UNSUPPORTED=36, INTERNAL=48)
PINNED_TYPES = dict(HELLO=1, DEVICE_INFO=2, ACK=3, NAK=4, ERROR=5, LOG=6, RESET=7, MODEL_BEGIN=0x10, MODEL_CHUNK=0x11,
                    MODEL_COMMIT=0x12, MODEL_INFO=0x13, CAPTURE=0x20, INPUT=0x21, RESULT=0x22)


def test_numbers_on_the_wire_never_change():
    """Codes and types may be appended, never renumbered: firmware in the field depends on them."""
    assert {c.name: int(c) for c in P.ErrorCode if c.name in PINNED_CODES} == PINNED_CODES
    assert {t.name: int(t) for t in P.MsgType if t.name in PINNED_TYPES} == PINNED_TYPES
    assert (int(P.Flag.RESPONSE), int(P.Flag.MORE), int(P.Flag.EVENT)) == (1, 2, 4)
