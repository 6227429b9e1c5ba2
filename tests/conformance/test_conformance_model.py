"""Board conformance, part 2: model upload and atomic commit, input staging, capture."""
import zlib

import numpy as np

import hostlink
from hostlink import protocols as P
from hostlink.protocols import messages as M

from board_session import active_model, describe, error_code, parse, upload

E = P.ErrorCode
SENSOR = dict(period_us=0, source="SENSOR", options=dict(return_input=False))
HOST = dict(period_us=0, source="HOST", options=dict(return_input=False))


def _begin(raw, data, name="b", crc=None):
    f, _ = raw.request(P.MsgType.MODEL_BEGIN, dict(size=len(data), crc32=zlib.crc32(data) if crc is None else crc,
                                                   format="TFLITE", name=name))
    return f


def _chunk(raw, off, data):
    return raw.request(P.MsgType.MODEL_CHUNK, M.ModelChunk.build(dict(offset=off, data=data)))[0]


def test_no_model_at_first(raw):
    assert not active_model(raw).loaded
    f, _ = raw.request(P.MsgType.CAPTURE, dict(SENSOR, count=1))
    assert error_code(f) == E.NO_MODEL


def test_upload_and_commit(raw, model_a):
    f = upload(raw, model_a, "a")
    assert f.type == P.MsgType.MODEL_INFO, describe(f)
    m = parse(f)
    assert (m.loaded, m.name, m.size, m.crc32) == (True, "a", len(model_a), zlib.crc32(model_a))
    assert len(m.inputs) == 1 and list(m.inputs[0].shape) == [1, 8, 8, 3] and str(m.inputs[0].dtype) == "INT8"
    assert m.expected_frame_us > 0 and m.arena_bytes > 0
    assert active_model(raw).crc32 == zlib.crc32(model_a)


def test_chunks_out_of_order_and_duplicated(raw, model_b):
    n = -(-len(model_b) // 512)
    order = list(reversed(range(n))) + [0, n // 2]  # backwards, then two repeats
    f = upload(raw, model_b, "b", order=order, chunk=512)
    assert f.type == P.MsgType.MODEL_INFO, describe(f)
    assert parse(f).crc32 == zlib.crc32(model_b)


def test_ack_counts_distinct_bytes(raw, model_b):
    assert _begin(raw, model_b).type == P.MsgType.ACK
    assert parse(_chunk(raw, 0, model_b[:300])).value == 300
    assert parse(_chunk(raw, 0, model_b[:300])).value == 300  # a duplicate adds nothing
    assert parse(_chunk(raw, 300, model_b[300:500])).value == 500


def test_nothing_changes_until_commit(raw, model_a, model_b):
    upload(raw, model_a, "a")
    assert _begin(raw, model_b).type == P.MsgType.ACK
    for off in range(0, len(model_b), 1000):
        assert _chunk(raw, off, model_b[off:off + 1000]).type == P.MsgType.ACK
    assert active_model(raw).name == "a"  # fully staged, not committed
    f, _ = raw.request(P.MsgType.MODEL_COMMIT, dict(crc32=zlib.crc32(model_b)))
    assert f.type == P.MsgType.MODEL_INFO and parse(f).name == "b"


def test_corrupted_image_keeps_the_old_model(raw, model_a, model_b):
    upload(raw, model_a, "a")
    bad = bytearray(model_b)
    bad[len(bad) // 2] ^= 0x01
    assert _begin(raw, model_b).type == P.MsgType.ACK  # announces the CRC of the good image
    for off in range(0, len(bad), 1000):
        _chunk(raw, off, bytes(bad[off:off + 1000]))
    f, body = raw.request(P.MsgType.MODEL_COMMIT, dict(crc32=zlib.crc32(model_b)))
    assert error_code(f) == E.MODEL_CRC_MISMATCH
    m = active_model(raw)
    assert (m.name, m.crc32) == ("a", zlib.crc32(model_a))
    # the failed commit discarded the staged image
    f, _ = raw.request(P.MsgType.MODEL_COMMIT, dict(crc32=zlib.crc32(model_b)))
    assert error_code(f) == E.NO_UPLOAD


def test_commit_crc_must_match_begin(raw, model_a, model_b):
    upload(raw, model_a, "a")
    _begin(raw, model_b)
    for off in range(0, len(model_b), 1000):
        _chunk(raw, off, model_b[off:off + 1000])
    f, _ = raw.request(P.MsgType.MODEL_COMMIT, dict(crc32=zlib.crc32(model_b) ^ 1))
    assert error_code(f) == E.MODEL_CRC_MISMATCH
    assert active_model(raw).name == "a"


def test_incomplete_upload_is_refused(raw, model_a, model_b):
    upload(raw, model_a, "a")
    _begin(raw, model_b)
    _chunk(raw, 0, model_b[:1000])
    f, body = raw.request(P.MsgType.MODEL_COMMIT, dict(crc32=zlib.crc32(model_b)))
    assert error_code(f) == E.MODEL_INCOMPLETE
    assert active_model(raw).name == "a"


def test_chunk_errors(raw, model_b):
    f = _chunk(raw, 0, b"\x00" * 16)
    assert error_code(f) == E.NO_UPLOAD
    _begin(raw, model_b)
    f = _chunk(raw, len(model_b) - 4, b"\x00" * 16)
    assert error_code(f) == E.CHUNK_OUT_OF_RANGE


def test_refused_model_keeps_the_old_one(raw, model_a, float_model):
    upload(raw, model_a, "a")
    f = upload(raw, float_model, "float")
    assert error_code(f) == E.MODEL_NOT_INT8
    assert "INT8" in parse(f).message
    assert active_model(raw).name == "a"


def test_reset_drops_staging_and_keeps_the_model(raw, model_a, model_b):
    upload(raw, model_a, "a")
    _begin(raw, model_b)
    f, _ = raw.request(P.MsgType.RESET, dict(mode="SOFT"))
    assert f.type == P.MsgType.ACK
    f, _ = raw.request(P.MsgType.MODEL_COMMIT, dict(crc32=zlib.crc32(model_b)))
    assert error_code(f) == E.NO_UPLOAD
    assert active_model(raw).name == "a"


def _send_input(raw, data: bytes, pieces: int, order=None):
    step = -(-len(data) // pieces)
    offs = list(range(0, len(data), step))
    last = None
    for off in (order or offs):
        f, ack = raw.request(P.MsgType.INPUT, dict(index=0, total=len(data), offset=off, data=data[off:off + step]))
        assert f.type == P.MsgType.ACK, describe(f)
        last = ack.value
    return last


def test_input_staging_and_host_capture(raw, model_a):
    upload(raw, model_a, "a")
    f, _ = raw.request(P.MsgType.CAPTURE, dict(HOST, count=1))
    assert error_code(f) == E.NO_INPUT
    x = np.arange(192, dtype=np.int8).tobytes()  # 1x8x8x3 int8
    assert _send_input(raw, x, 3, order=[128, 0, 64]) == 192
    f, _ = raw.request(P.MsgType.CAPTURE, dict(HOST, count=1))
    assert f.type == P.MsgType.RESULT, describe(f)
    r = M.Result.parse(f.payload)
    assert "CAPTURE" not in [str(s.stage) for s in r.stages]  # no exposure for a host tensor
    assert "INFERENCE" in [str(s.stage) for s in r.stages]
    # the same staged input gives the same output again
    f2, _ = raw.request(P.MsgType.CAPTURE, dict(HOST, count=1))
    assert M.Result.parse(f2.payload).outputs[0].data == r.outputs[0].data
    # and it is the model's real answer: the host runs the same model on the same tensor
    with hostlink.connect("emu:coralmicro") as ref:
        ref.upload(model_a, name="a")
        want = ref.capture(input=np.frombuffer(x, np.int8).reshape(1, 8, 8, 3))[0].outputs[0]
    assert np.frombuffer(r.outputs[0].data, np.float32).tolist() == want.ravel().tolist()


def test_input_errors(raw, model_a):
    f, _ = raw.request(P.MsgType.INPUT, dict(index=0, total=192, offset=0, data=b"\x00" * 8))
    assert error_code(f) == E.NO_MODEL
    upload(raw, model_a, "a")
    f, _ = raw.request(P.MsgType.INPUT, dict(index=0, total=100, offset=0, data=b"\x00" * 8))
    assert error_code(f) == E.INPUT_MISMATCH
    f, _ = raw.request(P.MsgType.INPUT, dict(index=3, total=192, offset=0, data=b"\x00" * 8))
    assert error_code(f) == E.INPUT_MISMATCH
    f, _ = raw.request(P.MsgType.INPUT, dict(index=0, total=192, offset=190, data=b"\x00" * 8))
    assert error_code(f) == E.CHUNK_OUT_OF_RANGE


def test_capture_count_period_and_stage_order(raw, model_a):
    info = raw.hello()
    upload(raw, model_a, "a")
    period_us = 40_000
    seq = raw.send(P.MsgType.CAPTURE, dict(count=4, period_us=period_us, source="SENSOR", options=dict(return_input=False)))
    results = [M.Result.parse(raw.reply(seq).payload) for _ in range(4)]
    assert [r.frame for r in results] == [0, 1, 2, 3] and {r.count for r in results} == {4}
    order = [int(s) for s in info.stages]
    tick_us = 1e6 / info.clock_hz
    for r in results:
        stages = [(int(s.stage), s.start, s.end) for s in r.stages]
        assert [s for s, _, _ in stages] == order
        for (_, a0, a1), (_, b0, b1) in zip(stages, stages[1:]):
            assert a0 <= a1 <= b0 <= b1  # in order, never overlapping
    starts = [r.stages[0].start * tick_us for r in results]
    gaps = np.diff(starts)
    assert all(g >= period_us - tick_us for g in gaps), gaps
    assert raw.silence(seq, 0.2)  # exactly count results


def test_capture_count_zero_is_refused(raw, model_a):
    upload(raw, model_a, "a")
    f, _ = raw.request(P.MsgType.CAPTURE, dict(SENSOR, count=0))
    assert error_code(f) == E.BAD_PAYLOAD


def test_log_event_on_commit_is_well_formed(raw, model_a):
    upload(raw, model_a, "a")
    for ev in raw.events:
        assert ev.type == P.MsgType.LOG and ev.flags & P.Flag.EVENT
        log = M.Log.parse(ev.payload)
        assert int(log.level) in {int(v) for v in P.LogLevel} and log.text
