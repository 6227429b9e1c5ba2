"""Serving an emulated board over a real link: a pty, a TCP socket, or an in-process pipe."""
import os
import select
import socket
import threading
import time
import tty

from .. import protocols as P
from ..errors import ConfigError, LinkError
from ..framing import Deframer, encode_frame
from ..links.base import Link
from ..protocols import PROTOCOL_MAX_PAYLOAD
from ..protocols import messages as M

_RESPONSE = int(P.Flag.RESPONSE)


class FdLink(Link):
    """The master side of a pty (or any file descriptor pair)."""

    def __init__(self, fd: int, url: str):
        self.fd = fd
        self.url = url

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                select.select([], [self.fd], [], 1.0)
                continue
            view = view[n:]

    def read(self, timeout: float) -> bytes:
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return b""
        try:
            return os.read(self.fd, 65536)
        except OSError:  # EIO: the other side closed its end; keep serving the next opener
            return b""

    def close(self) -> None:
        os.close(self.fd)


class SocketLink(Link):
    def __init__(self, sock: socket.socket, url: str):
        self.sock = sock
        self.url = url
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, timeout: float) -> bytes:
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return b""
        data = self.sock.recv(65536)
        if not data:
            raise LinkError("peer closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


def serve(board, link: Link, stop: threading.Event, poll_s: float = 0.2) -> None:
    """Feed frames arriving on ``link`` to ``board`` until ``stop`` is set or the peer goes away."""
    while not stop.is_set():
        try:
            data = link.read(poll_s)
        except (LinkError, OSError):
            return
        if data:
            board.feed(data)


def open_pty() -> tuple[FdLink, str, int]:
    """A pty whose slave path a host opens like a serial port. Returns (master link, path, slave fd)."""
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo, no line editing: the protocol is binary
    path = os.ttyname(slave)
    return FdLink(master, path), path, slave


def serve_pty(board_factory, stop: threading.Event, on_ready=print) -> None:
    link, path, slave = open_pty()
    board = board_factory(link.write)
    on_ready(path)
    try:
        serve(board, link, stop)
    finally:
        link.close()
        os.close(slave)


def parse_hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"bad address {text!r}", "expected HOST:PORT, e.g. 127.0.0.1:5555") from None
    if not 0 <= number <= 65535:
        raise ConfigError(f"port {number} in {text!r} is out of range",
                          "a TCP port is 0..65535 (0: any free one), e.g. 127.0.0.1:5555")
    return host or "127.0.0.1", number


#: Seconds without a byte from the connected host after which the server drops it, so that a
#: host that vanished without closing (a killed process behind NAT, a suspended laptop) does not
#: hold the board for ever. Long captures are not idle: the board is busy answering, and the
#: clock starts again after its last reply.
DEFAULT_IDLE_TIMEOUT_S = 120.0
#: How long a refused second host is kept to be answered BUSY before its connection is closed.
BUSY_LINGER_S = 5.0


def _peer(sock: socket.socket) -> str:
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return "an unknown peer"
    return f"{host}:{port}"


class _Refused:
    """A host that connected while another holds the board: every request it sends is answered
    ERROR BUSY naming the holder, as a board that serves one host at a time would answer it."""

    def __init__(self, sock: socket.socket, holder: str, version: int, until: float):
        self.sock = sock
        self.holder = holder
        self.version = version
        self.until = until
        self.deframer = Deframer(PROTOCOL_MAX_PAYLOAD)

    def on_bytes(self, data: bytes) -> None:
        for f in self.deframer.feed(data):
            if f.flags & _RESPONSE:
                continue
            text = f"busy: in use by {self.holder}"
            payload = M.Error.build(dict(code=P.ErrorCode.BUSY.name, message=text))
            self.sock.sendall(encode_frame(P.MsgType.ERROR, P.Flag.RESPONSE, f.seq, payload, self.version))


def serve_tcp(board_factory, host: str, port: int, stop: threading.Event, on_ready=print, *,
              idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT_S, on_event=None) -> None:
    """One host at a time; the board (and its loaded model) outlives each connection.

    A second host is answered ERROR BUSY ("busy: in use by ADDR") instead of silence; the holder
    is dropped after ``idle_timeout`` seconds without a byte from it (None or 0: never).
    ``on_event(text)`` hears who connected, was refused or dropped.
    """
    say = on_event or (lambda text: None)
    if idle_timeout is not None and not (isinstance(idle_timeout, (int, float)) and 0 <= idle_timeout < float("inf")):
        raise ConfigError(f"idle timeout must be a number of seconds >= 0 (0: never), not {idle_timeout!r}")
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind((host, port))
    except (OSError, OverflowError) as exc:
        srv.close()
        raise LinkError(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}",
                        "pick another port, e.g. --tcp 127.0.0.1:0 for any free one") from None
    srv.listen(8)
    current: dict = {"link": None}

    def emit(data: bytes) -> None:
        link = current["link"]
        if link is not None:
            try:
                link.write(data)
            except OSError:  # the client left mid-reply; the next one starts clean
                current["link"] = None

    board = board_factory(emit)
    version = getattr(board, "version", P.VERSION)
    on_ready(f"socket://{host}:{srv.getsockname()[1]}")
    holder: SocketLink | None = None
    holder_addr = ""
    last_rx = 0.0
    refused: dict[socket.socket, _Refused] = {}

    def drop(reason: str) -> None:
        nonlocal holder
        say(f"{holder_addr} {reason}")
        current["link"] = None
        holder.close()
        holder = None

    try:
        while not stop.is_set():
            socks = [srv, *refused] + ([holder.sock] if holder else [])
            ready, _, _ = select.select(socks, [], [], 0.2)
            for s in ready:
                if s is srv:
                    conn, _ = srv.accept()
                    if holder is None:
                        holder = SocketLink(conn, f"tcp://{host}:{port}")
                        holder_addr = _peer(conn)
                        current["link"] = holder
                        board.deframer.reset()
                        last_rx = time.monotonic()
                        say(f"{holder_addr} connected")
                    else:
                        refused[conn] = _Refused(conn, holder_addr, version, time.monotonic() + BUSY_LINGER_S)
                        say(f"{_peer(conn)} refused: busy with {holder_addr}")
                elif holder is not None and s is holder.sock:
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        drop("disconnected")
                        continue
                    board.feed(data)
                    last_rx = time.monotonic()  # after the board's answer: a long capture is not idle
                elif s in refused:
                    try:
                        data = s.recv(65536)
                        if data:
                            refused[s].on_bytes(data)
                    except OSError:
                        data = b""
                    if not data:
                        refused.pop(s).sock.close()
            now = time.monotonic()
            if holder is not None and idle_timeout and now - last_rx > idle_timeout:
                drop(f"dropped after {idle_timeout:g} s idle")
            for s in [s for s, r in refused.items() if now > r.until]:
                refused.pop(s).sock.close()
    finally:
        if holder is not None:
            holder.close()
        for r in refused.values():
            r.sock.close()
        srv.close()


def start_in_thread(board, link: Link) -> tuple[threading.Thread, threading.Event]:
    """Serve ``link`` from a daemon thread (benchmarks, tests)."""
    stop = threading.Event()
    t = threading.Thread(target=serve, args=(board, link, stop, 0.05), daemon=True, name="hostlink-emulator")
    t.start()
    return t, stop
