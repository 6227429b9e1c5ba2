"""The device client: seq matching, retries on NAK and silence, work-derived deadlines, errors."""
import collections
import zlib

import numpy as np
import pytest

import hostlink
from hostlink import protocols as P
from hostlink.client import Device
from hostlink.config import Timeouts
from hostlink.emulator.link import EmulatorLink
from hostlink.errors import ConfigError, DeviceError, LinkTimeout, ModelRefused, ProtocolError
from hostlink.framing import Deframer, encode_frame
from hostlink.links.base import Link
from hostlink.protocols import messages as M

FAST = Timeouts(base_s=0.05, hello_s=0.05, commit_base_s=0.05)  # for tests that wait out silences
STEADY = Timeouts(base_s=2.0)  # for tests that expect no timeout, even on a loaded runner


class ScriptedLink(Link):
    """Between the client and an in-process board: per message type, a list of what to do to the
    next occurrences: "pass", "nak" (answer NAK BAD_CRC in the board's place), "lose" (the request
    never arrives), "lose_reply" (the board does the work, its reply is lost), or a callable."""

    def __init__(self, profile="imx500", **rules):
        self.inner = EmulatorLink(profile)
        self.board = self.inner.board
        self.url = "scripted:" + profile
        self.rules = {P.MsgType[k.upper()]: list(v) for k, v in rules.items()}
        self.rx = bytearray()
        self.deframer = Deframer()
        self.seen = collections.Counter()
        self.read_timeouts: list[float] = []

    def write(self, data):
        for f in self.deframer.feed(data):
            self.seen[P.MsgType(f.type)] += 1
            todo = self.rules.get(f.type)
            act = todo.pop(0) if todo else "pass"
            raw = encode_frame(f.type, f.flags, f.seq, f.payload, f.version)
            if act == "nak":
                self.rx += encode_frame(P.MsgType.NAK, P.Flag.RESPONSE, f.seq,
                                        M.Nak.build(dict(code="BAD_CRC", detail="frame CRC failed")))
            elif act == "lose":
                pass
            elif act == "lose_reply":
                self.inner.write(raw)
                self.inner.read(0)
            elif callable(act):
                self.rx += act(f)
            else:
                self.inner.write(raw)
                self.rx += self.inner.read(0)

    def read(self, timeout):
        self.read_timeouts.append(timeout)
        out = bytes(self.rx)
        self.rx.clear()
        return out

    def reset_input(self):
        self.rx.clear()

    def close(self):
        self.inner.close()


def _dev(link, timeouts=FAST):
    d = Device(link, timeouts=timeouts)
    d.hello()
    return d


def test_nak_is_retried_with_the_same_seq(tiny_model):
    link = ScriptedLink(model_begin=["nak", "nak"], model_commit=["nak"])
    dev = _dev(link, STEADY)
    m = dev.upload(tiny_model, name="tiny")
    assert m.crc32 == zlib.crc32(tiny_model)
    assert dev.stats["naks"] == 3
    assert link.seen[P.MsgType.MODEL_BEGIN] == 3 and link.seen[P.MsgType.MODEL_COMMIT] == 2


def test_lost_request_and_lost_reply_are_retried_and_the_work_done_once(tiny_model, mocker):
    link = ScriptedLink(model_chunk=["lose"], model_commit=["lose_reply"], capture=["lose_reply"])
    load = mocker.spy(link.board.backend, "load")
    run = mocker.spy(link.board.backend, "run_frame")
    dev = _dev(link)
    dev.upload(tiny_model, name="tiny")
    assert load.call_count == 1  # the repeated COMMIT was answered from the board's reply cache
    (r,) = dev.capture()
    assert run.call_count == 1 and r.frame == 0
    # (a stalled runner may add a spurious timeout; the work is still done once)
    assert dev.stats["timeouts"] >= 3 and dev.stats["retransmits"] >= 1


def test_non_retryable_nak_fails_at_once():
    def busy(f):
        return encode_frame(P.MsgType.NAK, P.Flag.RESPONSE, f.seq, M.Nak.build(dict(code="BAD_PAYLOAD", detail="bad")))

    link = ScriptedLink(model_info=[busy])
    dev = _dev(link, STEADY)
    with pytest.raises(DeviceError, match="rejected MODEL_INFO: bad") as e:
        dev.model_info()
    assert e.value.code == P.ErrorCode.BAD_PAYLOAD and link.seen[P.MsgType.MODEL_INFO] == 1


def test_error_code_newer_than_this_host_is_reported_not_crashed():
    def future(f):
        return encode_frame(P.MsgType.ERROR, P.Flag.RESPONSE, f.seq, M.Error.build(dict(code=777, message="new thing")))

    dev = _dev(ScriptedLink(model_info=[future]))
    with pytest.raises(DeviceError, match=r"new thing \[777\]") as e:
        dev.model_info()
    assert e.value.code == 777


def test_stale_replies_are_dropped_by_seq():
    def with_stale(f):
        old = encode_frame(P.MsgType.ERROR, P.Flag.RESPONSE, (f.seq - 1) & 0xFFFF,
                           M.Error.build(dict(code="INTERNAL", message="late reply to something else")))
        event = encode_frame(P.MsgType.LOG, P.Flag.EVENT, 1, M.Log.build(dict(level="INFO", time_us=5, text="hi")))
        return old + event

    link = ScriptedLink(model_info=[with_stale])
    dev = _dev(link, Timeouts(base_s=0.05, attempts=2))
    dev.model_info()  # the stale ERROR is skipped; the LOSS of the real reply is retried
    assert dev.stats["stale_frames"] >= 1 and dev.stats["timeouts"] >= 1
    assert dev.logs[-1] == (int(P.LogLevel.INFO), 5, "hi")


def test_silent_board_gives_up_after_the_attempts():
    link = ScriptedLink(model_info=["lose"] * 10)
    dev = _dev(link, Timeouts(base_s=0.02, attempts=3))
    with pytest.raises(LinkTimeout, match="no reply from scripted:imx500 to MODEL_INFO after 3 attempts"):
        dev.model_info()
    assert link.seen[P.MsgType.MODEL_INFO] == 3


def test_silent_hello_names_the_likely_causes():
    link = ScriptedLink(hello=["lose"] * 10)
    dev = Device(link, timeouts=Timeouts(hello_s=0.02, hello_attempts=2))
    with pytest.raises(LinkTimeout, match="is silent") as e:
        dev.hello()
    assert "hostlink flash" in str(e.value) and link.seen[P.MsgType.HELLO] == 2


def test_deadlines_follow_the_work(tiny_model):
    link = ScriptedLink()
    dev = _dev(link, Timeouts(base_s=0.5, margin=3.0))
    link.byte_rate = 1000.0
    assert dev._deadline_s() == pytest.approx(0.5)
    assert dev._deadline_s(work_s=1.0, wire_bytes=2000) == pytest.approx(0.5 + 3.0 * 3.0)
    link.byte_rate = None
    dev.upload(tiny_model, name="tiny")
    link.read_timeouts.clear()
    dev.capture(period_us=0)
    quick = max(link.read_timeouts)
    link.read_timeouts.clear()
    dev.capture(period_us=2_000_000)
    slow = max(link.read_timeouts)
    assert slow - quick == pytest.approx(3.0 * 2.0, rel=0.05)  # margin x the 2 s period asked for
    assert quick >= 3.0 * dev.model.expected_frame_us / 1e6  # at least margin x the board's own estimate


def test_capture_that_stops_midway_keeps_the_frames_received(tiny_model):
    link = ScriptedLink()
    dev = _dev(link, Timeouts(base_s=0.05))
    dev.upload(tiny_model, name="t")

    def first_two(f):
        link.inner.write(encode_frame(f.type, f.flags, f.seq, f.payload))
        frames = Deframer().feed(link.inner.read(0))
        return b"".join(encode_frame(x.type, x.flags, x.seq, x.payload) for x in frames[:2])

    link.rules[P.MsgType.CAPTURE] = [first_two]
    with pytest.raises(LinkTimeout, match="stopped after 2 of 5 frames") as e:
        dev.capture(count=5)
    assert [r.frame for r in e.value.partial] == [0, 1]


def test_version_mismatch_in_process():
    with pytest.raises(ProtocolError, match="version mismatch: the board speaks v2, this hostlink speaks v1") as e:
        hostlink.connect("emu:imx500", version=2)
    assert "hostlink flash" in str(e.value)


def test_host_input_is_quantized_and_checked(tiny_model):
    dev = _dev(ScriptedLink())
    dev.upload(tiny_model, name="tiny")
    spec = dev.model.inputs[0]
    x = np.random.default_rng(0).uniform(-1, 1, spec.shape).astype(np.float32)
    (a,) = dev.capture(input=x)
    (b,) = dev.capture(input=spec.quantize(x))
    assert np.array_equal(a.outputs[0], b.outputs[0])
    with pytest.raises(ConfigError, match="expects"):
        dev.capture(input=np.zeros((1, 4, 4, 3), np.int8))


def test_argument_and_state_errors(tiny_model):
    dev = _dev(ScriptedLink())
    with pytest.raises(ConfigError, match="at least 1"):
        dev.capture(count=0)
    with pytest.raises(DeviceError, match="no model is loaded") as e:
        dev.capture()
    assert e.value.code == P.ErrorCode.NO_MODEL and "hostlink upload" in str(e.value)
    with pytest.raises(ConfigError, match="unknown model format"):
        dev.upload(tiny_model, fmt="onnx")
    with pytest.raises(ModelRefused, match="does not accept edgetpu-tflite") as e:
        dev.upload(tiny_model, fmt="edgetpu-tflite")
    assert e.value.code == P.ErrorCode.MODEL_FORMAT_UNSUPPORTED


def test_reset_drops_a_staged_upload(tiny_model):
    link = ScriptedLink()
    dev = _dev(link)
    dev._request(P.MsgType.MODEL_BEGIN, M.ModelBegin.build(dict(size=10, crc32=0, format="TFLITE", name="x")),
                 "MODEL_BEGIN", 1.0)
    dev.reset()
    with pytest.raises(DeviceError, match="MODEL_COMMIT without MODEL_BEGIN"):
        dev._request(P.MsgType.MODEL_COMMIT, M.ModelCommit.build(dict(crc32=0)), "commit", 1.0)
