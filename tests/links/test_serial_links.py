"""pyserial links: a real pty, socket:// (and its tcp:// alias), loop://, and how opening fails."""
import errno
import zlib

import numpy as np
import pytest
import serial

import hostlink
from hostlink import protocols as P
from hostlink.errors import ConfigError, LinkError, LinkTimeout
from hostlink.links import open_link
from hostlink.links.serial import SerialLink


def _session(dev, model: bytes):
    m = dev.upload(model, name="tiny")
    assert m.crc32 == zlib.crc32(model) and m.loaded
    (r,) = dev.capture()
    assert r.outputs[0].shape == m.outputs[0].shape
    assert set(r.stages) == set(dev.info.stages)
    return m


def test_pty_session_through_pyserial(serve_pty, tiny_model):
    served = serve_pty("coralmicro")
    with hostlink.connect(served.url) as dev:
        assert isinstance(dev.link, SerialLink)
        assert dev.info.board == "coralmicro" and dev.info.emulated
        _session(dev, tiny_model)
    assert served.board.active.crc32 == zlib.crc32(tiny_model)


def test_pty_large_result_is_fragmented_and_reassembled(serve_pty):
    from hostlink.testing.synth_models import tiny_int8_model

    big = tiny_int8_model((1, 4, 4, 3), channels=2, classes=3000)  # 12 KB of float32 outputs; spresense frames carry 1 KiB
    served = serve_pty("spresense")
    fragments = []

    def trace(direction, f):
        if direction == "rx" and f.type == P.MsgType.RESULT:
            fragments.append((len(f.payload), bool(f.flags & P.Flag.MORE)))

    with hostlink.connect(served.url, trace=trace) as dev:
        dev.upload(big, name="wide")
        (r,) = dev.capture()
        assert r.outputs[0].shape == (1, 3000)
    with hostlink.connect("emu:spresense") as ref:  # the same deterministic frame, in process
        ref.upload(big, name="wide")
        assert np.array_equal(ref.capture()[0].outputs[0], r.outputs[0])
    assert len(fragments) >= 12 and all(n <= 1024 for n, _ in fragments)
    assert [more for _, more in fragments] == [True] * (len(fragments) - 1) + [False]


def test_socket_url_session_and_reconnect(serve_tcp, tiny_model):
    served = serve_tcp("imx500")
    assert served.url.startswith("socket://127.0.0.1:")
    with hostlink.connect(served.url) as dev:
        _session(dev, tiny_model)
        dev.reconnect()  # a clean reconnect: new connection, HELLO again, the board kept its model
        assert dev.model_info().crc32 == zlib.crc32(tiny_model)
        (r,) = dev.capture(input=np.zeros((1, 8, 8, 3), np.int8))
        assert "inference" in r.stages and "capture" not in r.stages  # host input: no exposure
    tcp = served.url.replace("socket://", "tcp://")
    with hostlink.connect(tcp) as dev:  # tcp:// is the same link
        assert dev.model_info().loaded


def test_loop_url_echoes_bytes():
    link = open_link("loop://")
    try:
        link.write(b"HL\x01hello")
        assert link.read(0.5) == b"HL\x01hello"
        assert link.read(0.01) == b""
    finally:
        link.close()


def test_a_host_on_loop_does_not_mistake_its_own_echo_for_a_board():
    from hostlink.client import Device
    from hostlink.config import Timeouts

    dev = Device(open_link("loop://"), timeouts=Timeouts(hello_s=0.05, hello_attempts=2))
    with pytest.raises(LinkTimeout, match="silent"):
        dev.hello()
    assert dev.stats["stale_frames"] >= 2  # it saw its HELLOs come back and ignored them
    dev.close()


def test_missing_port():
    with pytest.raises(LinkError, match="does not exist") as e:
        SerialLink("/dev/ttyHOSTLINK_NOPE")
    assert "hostlink boards" in str(e.value)


def test_busy_port(serve_pty):
    served = serve_pty()
    first = SerialLink(served.url)
    try:
        with pytest.raises(LinkError, match="busy") as e:
            SerialLink(served.url)
        assert "close the other" in str(e.value)
    finally:
        first.close()


def test_permission_denied_names_the_dialout_group(mocker):
    mocker.patch("serial.serial_for_url", side_effect=serial.SerialException(
        errno.EACCES, "could not open port /dev/ttyACM0: [Errno 13] Permission denied: '/dev/ttyACM0'"))
    with pytest.raises(LinkError, match="permission denied on /dev/ttyACM0") as e:
        SerialLink("/dev/ttyACM0")
    assert "dialout" in str(e.value) and "udev" in str(e.value)


def test_nothing_listening(free_tcp_port):
    with pytest.raises(LinkError, match="nothing listens"):
        open_link(f"socket://127.0.0.1:{free_tcp_port}")


def test_unknown_address_form():
    with pytest.raises(ConfigError, match="unknown port"):
        open_link("bluetooth-thing")


def test_byte_rate_known_only_for_real_uarts(mocker):
    fake = mocker.patch("serial.serial_for_url")
    assert SerialLink("/dev/ttyUSB0", baudrate=115200).byte_rate == 11520
    assert SerialLink("/dev/ttyACM0", baudrate=115200).byte_rate is None  # USB CDC ignores the baud rate
    assert fake.call_args.kwargs["exclusive"] is True


def test_unplugged_during_read_is_a_link_error(mocker):
    port = mocker.MagicMock()
    gone = serial.SerialException("device reports readiness to read but returned no data")
    type(port).in_waiting = mocker.PropertyMock(side_effect=gone)
    mocker.patch("serial.serial_for_url", return_value=port)
    link = SerialLink("/dev/ttyACM0")
    with pytest.raises(LinkError, match="read from /dev/ttyACM0 failed"):
        link.read(0.1)
