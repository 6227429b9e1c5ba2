"""Serving an emulated board over a real link: a pty, a TCP socket, or an in-process pipe."""
import os
import select
import socket
import threading
import tty

from ..errors import ConfigError, LinkError
from ..links.base import Link
from .board import EmulatedBoard


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
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise ConfigError(f"bad address {text!r}", "expected HOST:PORT, e.g. 127.0.0.1:5555") from None


def serve_tcp(board_factory, host: str, port: int, stop: threading.Event, on_ready=print) -> None:
    """One client at a time; the board (and its loaded model) outlives each connection."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind((host, port))
    except OSError as exc:
        raise LinkError(f"cannot listen on {host}:{port}: {exc.strerror}",
                        "pick another port, e.g. --tcp 127.0.0.1:0 for any free one") from None
    srv.listen(1)
    current: dict = {"link": None}

    def emit(data: bytes) -> None:
        link = current["link"]
        if link is not None:
            try:
                link.write(data)
            except OSError:  # the client left mid-reply; the next one starts clean
                current["link"] = None

    board = board_factory(emit)
    on_ready(f"socket://{host}:{srv.getsockname()[1]}")
    try:
        while not stop.is_set():
            r, _, _ = select.select([srv], [], [], 0.2)
            if not r:
                continue
            conn, _ = srv.accept()
            link = SocketLink(conn, f"tcp://{host}:{port}")
            current["link"] = link
            board.deframer.reset()
            serve(board, link, stop)
            current["link"] = None
            link.close()
    finally:
        srv.close()


def start_in_thread(board, link: Link) -> tuple[threading.Thread, threading.Event]:
    """Serve ``link`` from a daemon thread (benchmarks, tests)."""
    stop = threading.Event()
    t = threading.Thread(target=serve, args=(board, link, stop, 0.05), daemon=True, name="hostlink-emulator")
    t.start()
    return t, stop
