"""Fixtures shared by the test areas: tiny models, and emulated boards served on real links."""
import contextlib
import os
import socket
import threading
from dataclasses import dataclass

import pytest
from hypothesis import settings

# Reproducible on CI (no example database, no wall-clock deadlines on a loaded 2-core runner).
settings.register_profile("hostlink", deadline=None, derandomize=True, database=None, print_blob=True)
settings.load_profile("hostlink")


@dataclass
class ServedBoard:
    url: str  # what a host opens: /dev/pts/N or socket://127.0.0.1:PORT
    board: object  # the EmulatedBoard behind it (tests inspect its active model)


@pytest.fixture(scope="session")
def tiny_model() -> bytes:
    from hostlink.testing.synth_models import tiny_int8_model

    return tiny_int8_model()


@pytest.fixture(scope="session")
def float_model() -> bytes:
    from hostlink.testing.synth_models import tiny_float_model

    return tiny_float_model()


@pytest.fixture
def tiny_model_file(tmp_path, tiny_model):
    p = tmp_path / "tiny_int8.tflite"
    p.write_bytes(tiny_model)
    return p


@contextlib.contextmanager
def _pty_board(profile: str, **board_kwargs):
    from hostlink.emulator.board import EmulatedBoard
    from hostlink.emulator.server import open_pty, start_in_thread

    link, path, slave = open_pty()
    board = EmulatedBoard(profile, link.write, **board_kwargs)
    thread, stop = start_in_thread(board, link)
    try:
        yield ServedBoard(path, board)
    finally:
        stop.set()
        thread.join(5)
        link.close()
        os.close(slave)


@contextlib.contextmanager
def _tcp_board(profile: str, **board_kwargs):
    from hostlink.emulator.board import EmulatedBoard
    from hostlink.emulator.server import serve_tcp

    stop = threading.Event()
    ready: dict = {}
    got = threading.Event()
    holder: dict = {}

    def factory(emit):
        holder["board"] = EmulatedBoard(profile, emit, **board_kwargs)
        return holder["board"]

    def on_ready(address):
        ready["url"] = address
        got.set()

    t = threading.Thread(target=serve_tcp, args=(factory, "127.0.0.1", 0, stop, on_ready), daemon=True)
    t.start()
    assert got.wait(10), "the TCP emulator did not start"
    try:
        yield ServedBoard(ready["url"], holder["board"])
    finally:
        stop.set()
        t.join(5)


@pytest.fixture
def serve_pty():
    """``serve_pty("imx500", version=2)`` -> ServedBoard on a fresh pty, served from a thread."""
    with contextlib.ExitStack() as stack:
        yield lambda profile="imx500", **kw: stack.enter_context(_pty_board(profile, **kw))


@pytest.fixture
def serve_tcp():
    """``serve_tcp("coralmicro")`` -> ServedBoard at socket://127.0.0.1:PORT, served from a thread."""
    with contextlib.ExitStack() as stack:
        yield lambda profile="imx500", **kw: stack.enter_context(_tcp_board(profile, **kw))


@pytest.fixture
def silent_pty():
    """A pty path that nobody answers: what a board without hostlink firmware looks like."""
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        yield os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


@pytest.fixture
def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
