"""Board conformance, part 1: handshake, framing, error replies, the reply cache, fragmentation."""
import zlib

from hostlink import protocols as P
from hostlink.framing import encode_frame
from hostlink.protocols import messages as M

from board_session import RawBoard, describe, error_code, parse, upload

E = P.ErrorCode


def test_handshake(board_url):
    b = RawBoard(board_url)
    try:
        seq = b.send(P.MsgType.HELLO, dict(proto_min=1, proto_max=1, max_payload=4096))
        f = b.reply(seq)
        assert f.type == P.MsgType.DEVICE_INFO and f.seq == seq and f.flags & P.Flag.RESPONSE
        assert f.version == P.VERSION
        info = parse(f)
        assert info.proto_version == 1
        assert 64 <= info.max_payload <= P.PROTOCOL_MAX_PAYLOAD
        assert info.clock_hz > 0 and len(info.fw_version) == 3
        assert info.formats.tflite
        assert list(info.stages) and all(int(s) in P.STAGE_NAMES for s in info.stages)
        assert [int(s) for s in info.stages] == sorted(int(s) for s in info.stages)  # in the order they run
    finally:
        b.close()


def test_hello_outside_the_boards_version_range(raw):
    f, _ = raw.request(P.MsgType.HELLO, dict(proto_min=2, proto_max=3, max_payload=4096))
    assert error_code(f) == E.BAD_VERSION
    assert "v1" in parse(f).message


def test_frame_of_another_protocol_version(raw):
    f, body = raw.request(P.MsgType.MODEL_INFO, b"", version=2)
    assert error_code(f) == E.BAD_VERSION


def test_unknown_message_type(raw):
    f, body = raw.request(0x7E, b"\x01\x02")
    assert error_code(f) == E.UNKNOWN_TYPE
    f, body = raw.request(P.MsgType.DEVICE_INFO, b"")  # a reply type sent as a request
    assert error_code(f) == E.UNKNOWN_TYPE


def test_malformed_payload(raw):
    f, _ = raw.request(P.MsgType.HELLO, b"\x01")
    assert error_code(f) == E.BAD_PAYLOAD
    f, _ = raw.request(P.MsgType.CAPTURE, b"\x01\x00")
    assert error_code(f) == E.BAD_PAYLOAD


def test_board_ignores_frames_flagged_as_replies(raw):
    seq = raw.send(P.MsgType.MODEL_INFO, b"", flags=P.Flag.RESPONSE)
    assert raw.silence(seq)
    f, info = raw.request(P.MsgType.MODEL_INFO)  # and is still there
    assert f.type == P.MsgType.MODEL_INFO


def test_resync_after_garbage_and_corrupted_frames(raw):
    good = encode_frame(P.MsgType.MODEL_INFO, 0, 900, b"")
    bad = bytearray(encode_frame(P.MsgType.MODEL_INFO, 0, 901, b""))
    bad[-1] ^= 0x10  # trailer CRC broken: the board must not answer it
    cut = encode_frame(P.MsgType.MODEL_INFO, 0, 902, b"")[:9]
    raw.send_raw(b"\x00\xffHL\x01garbage" + bytes(bad) + cut + good)
    assert raw.reply(900).type == P.MsgType.MODEL_INFO
    assert raw.silence(901) and raw.silence(902, 0.05)


def test_oversized_frame_is_dropped_not_waited_for(raw):
    info = raw.hello()
    too_big = encode_frame(P.MsgType.MODEL_CHUNK, 0, 910, bytes(info.max_payload + 1024))
    raw.send_raw(too_big[:P.HEADER_SIZE])  # the header alone: a board that believed it would wait
    f, _ = raw.request(P.MsgType.MODEL_INFO)
    assert f.type == P.MsgType.MODEL_INFO
    assert raw.silence(910, 0.05)


def test_every_reply_echoes_the_seq(raw):
    for seq in (0, 1, 0x7FFF, 0xFFFF):
        f = raw.reply(raw.send(P.MsgType.MODEL_INFO, seq=seq))
        assert f.seq == seq and f.flags & P.Flag.RESPONSE


def test_repeated_request_is_answered_from_the_reply_cache(raw, model_a):
    size = len(model_a)
    begin = dict(size=size, crc32=zlib.crc32(model_a), format="TFLITE", name="a")
    f, ack = raw.request(P.MsgType.MODEL_BEGIN, begin)
    assert f.type == P.MsgType.ACK, describe(f)
    chunk = M.ModelChunk.build(dict(offset=0, data=model_a[:256]))
    seq = raw.send(P.MsgType.MODEL_CHUNK, chunk)
    first = raw.reply(seq)
    raw.send(P.MsgType.MODEL_CHUNK, chunk, seq=seq)  # the host did not see the ACK and repeats
    again = raw.reply(seq)
    assert first.payload == again.payload and parse(again).value == 256  # counted once
    # the same seq with a different payload is a new request, not a repeat
    raw.send(P.MsgType.MODEL_CHUNK, M.ModelChunk.build(dict(offset=256, data=model_a[256:512])), seq=seq)
    assert parse(raw.reply(seq)).value == 512


def test_repeated_capture_is_not_run_twice(raw, model_a):
    upload(raw, model_a, "a")
    payload = dict(count=2, period_us=0, source="SENSOR", options=dict(return_input=False))
    seq = raw.send(P.MsgType.CAPTURE, payload)
    first = [raw.reply(seq), raw.reply(seq)]
    raw.send(P.MsgType.CAPTURE, payload, seq=seq)
    again = [raw.reply(seq), raw.reply(seq)]
    # identical bytes, board timestamps included: the frames were replayed, not captured again
    assert [f.payload for f in first] == [f.payload for f in again]
    other = raw.reply(raw.send(P.MsgType.CAPTURE, dict(payload, count=1)))
    assert M.Result.parse(other.payload).stages[0].start > M.Result.parse(first[1].payload).stages[-1].end - 1


def test_replies_larger_than_the_hosts_maximum_are_fragmented(raw, model_a):
    upload(raw, model_a, "a")
    raw.fragments.clear()
    info = raw.hello(max_payload=64)  # DEVICE_INFO itself is longer than 64 bytes
    assert info.proto_version == 1
    seq = raw.send(P.MsgType.CAPTURE, dict(count=1, period_us=0, source="SENSOR", options=dict(return_input=False)))
    f = raw.reply(seq)
    assert f.type == P.MsgType.RESULT
    r = M.Result.parse(f.payload)
    assert r.frame == 0 and len(r.outputs) == 1 and len(r.outputs[0].data) == 16
    pieces = [x for x in raw.fragments if x.seq == seq]
    assert len(pieces) >= 2
    assert all(len(x.payload) <= 64 for x in pieces)
    assert [bool(x.flags & P.Flag.MORE) for x in pieces] == [True] * (len(pieces) - 1) + [False]
    assert b"".join(x.payload for x in pieces) == f.payload
    raw.hello()  # back to whole frames
    raw.fragments.clear()
    seq = raw.send(P.MsgType.CAPTURE, dict(count=1, period_us=0, source="SENSOR", options=dict(return_input=False)))
    raw.reply(seq)
    assert [x.flags & P.Flag.MORE for x in raw.fragments if x.seq == seq] == [0]


def test_error_replies_carry_readable_text(raw):
    f, body = raw.request(P.MsgType.MODEL_COMMIT, dict(crc32=1))
    assert error_code(f) == E.NO_UPLOAD
    assert len(body.message) > 10
