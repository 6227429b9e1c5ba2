"""`hostlink emulate --tcp`: one host at a time, and every other host told so; idle hosts dropped;
a port that answers with something other than protocol frames reported as such. All over real
loopback TCP."""
import contextlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import hostlink
from hostlink import protocols as P
from hostlink.client import Device
from hostlink.config import Timeouts
from hostlink.emulator.board import EmulatedBoard
from hostlink.emulator.server import parse_hostport, serve_tcp
from hostlink.errors import ConfigError, HostlinkError, LinkError, LinkTimeout
from hostlink.framing import Deframer, encode_frame
from hostlink.links import open_link
from hostlink.protocols import messages as M

QUICK = Timeouts(hello_s=0.3)


@contextlib.contextmanager
def tcp_board(**kw):
    stop = threading.Event()
    got = threading.Event()
    address: dict = {}
    events: list[str] = []

    def ready(url):
        address["url"] = url
        got.set()

    t = threading.Thread(target=serve_tcp, daemon=True,
                         args=(lambda emit: EmulatedBoard("imx500", emit), "127.0.0.1", 0, stop, ready),
                         kwargs=dict(on_event=events.append, **kw))
    t.start()
    assert got.wait(10)
    try:
        yield address["url"], events
    finally:
        stop.set()
        t.join(5)


def _local_address(dev: Device) -> str:
    host, port = dev.link._port._socket.getsockname()[:2]  # pyserial's socket:// keeps the socket there
    return f"{host}:{port}"


def test_a_second_host_is_told_busy_and_who_holds_the_board(tiny_model):
    with tcp_board() as (url, events):
        with hostlink.connect(url) as first:
            first.upload(tiny_model, name="tiny")
            t = time.monotonic()
            with pytest.raises(LinkError) as e:
                hostlink.connect(url, timeouts=QUICK)
            assert time.monotonic() - t < 2.0  # answered, not timed out
            assert str(e.value).splitlines()[0] == f"board busy: in use by {_local_address(first)}"
            assert "close the other client" in e.value.hint
            assert first.capture()[0].outputs  # the holder is undisturbed
        # once the holder has gone, the next host gets the board (and the model it left)
        for _ in range(50):
            try:
                with hostlink.connect(url, timeouts=QUICK) as second:
                    assert second.model_info().name == "tiny"
                break
            except LinkError as err:  # the server may not have seen the first close yet
                assert "busy" in str(err)
                time.sleep(0.05)
        else:
            pytest.fail("the board stayed busy after its holder left")
        assert any("refused: busy with" in e for e in events)


def test_busy_is_a_protocol_answer_any_request_gets():
    """A refused host that skips HELLO still gets ERROR BUSY, with its own seq."""
    with tcp_board() as (url, _):
        with hostlink.connect(url):
            host, port = url.removeprefix("socket://").rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=5) as s:
                s.sendall(encode_frame(P.MsgType.MODEL_INFO, 0, 4242, b""))
                deframer, frames = Deframer(), []
                while not frames:
                    frames = deframer.feed(s.recv(4096))
            (f,) = frames
            body = M.Error.parse(f.payload)
            assert (f.type, f.seq, f.flags) == (P.MsgType.ERROR, 4242, P.Flag.RESPONSE)
            assert int(body.code) == P.ErrorCode.BUSY and body.message.startswith("busy: in use by 127.0.0.1:")


def test_an_idle_host_is_dropped_and_the_next_one_served():
    with tcp_board(idle_timeout=0.4) as (url, events):
        first = hostlink.connect(url)
        try:
            with pytest.raises(LinkError, match="busy"):
                hostlink.connect(url, timeouts=QUICK)
            time.sleep(1.0)  # say nothing for longer than the idle timeout
            with hostlink.connect(url, timeouts=QUICK) as second:
                assert second.info.board == "imx500"
            # the dropped host finds out on its next request, with a readable error
            with pytest.raises(HostlinkError):
                first.timeouts = QUICK
                first.model_info()
        finally:
            first.close()
        assert any("dropped after 0.4 s idle" in e for e in events), events


def test_a_busy_host_is_not_idle_while_the_board_works(tiny_model):
    with tcp_board(idle_timeout=0.5) as (url, _):
        with hostlink.connect(url) as dev:
            dev.upload(tiny_model, name="tiny")
            for _ in range(8):  # requests every 0.2 s keep the connection
                time.sleep(0.2)
                assert dev.model_info().loaded


@pytest.fixture
def chatty_port():
    """A TCP port whose peer answers every write with text, like a console would."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()

    def run():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.settimeout(0.2)
            with conn:
                conn.sendall(b"U-Boot 2023.01\r\n=> ")
                while not stop.is_set():
                    try:
                        data = conn.recv(4096)
                    except socket.timeout:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    conn.sendall(b"Unknown command - try 'help'\r\n=> ")

    t = threading.Thread(target=run, daemon=True)
    t.start()
    yield f"socket://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join(2)
    srv.close()


def test_a_port_that_answers_with_other_bytes_is_not_called_silent(chatty_port):
    with pytest.raises(LinkTimeout) as e:
        hostlink.connect(chatty_port, timeouts=QUICK)
    line = str(e.value).splitlines()[0]
    assert "silent" not in line
    assert re.search(r"answers but not with hostlink protocol frames: got \d+ bytes of b['\"](U-Boot|Unknown)", line), line
    assert "right port / baud" in e.value.hint


def test_a_silent_port_is_still_called_silent(free_tcp_port):
    srv = socket.socket()
    srv.bind(("127.0.0.1", free_tcp_port))
    srv.listen(1)
    try:
        with pytest.raises(LinkTimeout, match="is silent"):
            hostlink.connect(f"socket://127.0.0.1:{free_tcp_port}", timeouts=QUICK)
    finally:
        srv.close()


@pytest.mark.parametrize("text", ["127.0.0.1:999999", "127.0.0.1:-1", "127.0.0.1:http", "nohost"])
def test_bad_listen_addresses_are_one_line(text):
    with pytest.raises(ConfigError) as e:
        parse_hostport(text)
    assert "\n" not in e.value.message


def test_emulate_cli_refuses_then_drops_idle():
    """`hostlink emulate --tcp ... --idle-timeout` in its own process, as a user runs it."""
    p = subprocess.Popen([sys.executable, "-m", "hostlink", "emulate", "--board", "imx500", "--tcp", "127.0.0.1:0",
                          "--idle-timeout", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = p.stdout.readline().strip()
        assert url.startswith("socket://127.0.0.1:"), p.stderr.read()
        dev = Device(open_link(url))
        dev.hello()
        stop = threading.Event()

        def keep_busy():  # a host at work is never idle
            while not stop.wait(0.2):
                dev.model_info()

        t = threading.Thread(target=keep_busy)
        t.start()
        try:
            r = subprocess.run([sys.executable, "-m", "hostlink", "--port", url, "info"], capture_output=True,
                               text=True, timeout=60)
        finally:
            stop.set()
            t.join()
        assert r.returncode == LinkError.exit_code and "Traceback" not in r.stderr
        assert r.stderr.startswith(f"error: board busy: in use by {_local_address(dev)}"), r.stderr
        time.sleep(1.5)  # now idle past the timeout: the next host gets the board
        with hostlink.connect(url, timeouts=QUICK) as second:
            assert second.info.board == "imx500"
        dev.close()
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=10)
    assert "refused: busy with" in err and "dropped after 1 s idle" in err, err


def test_emulate_cli_idle_timeout_must_be_a_number():
    r = subprocess.run([sys.executable, "-m", "hostlink", "emulate", "--tcp", "127.0.0.1:0", "--idle-timeout", "-1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--idle-timeout" in r.stderr and "Traceback" not in r.stderr
