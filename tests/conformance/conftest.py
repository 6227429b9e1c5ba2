"""The board under test, reached by URL, and a frame-level session to poke it with.

Every test in this folder talks to a board only through ``board_url``: a port string that
``hostlink.links.open_link`` opens (a /dev/pts/N, socket://...). ``BOARD_LAUNCHERS`` lists the
boards the suite runs against; each launcher is a context manager factory ``launch(request)``
that starts a board, yields its URL and tears it down. To hold another implementation to the
same behaviour (the C core's host port, a real board on a serial port), append a launcher:

    @contextlib.contextmanager
    def c_host_port(request):
        proc = subprocess.Popen([...hl-host..., "--pty"], stdout=subprocess.PIPE, text=True)
        try:
            yield proc.stdout.readline().strip()
        finally:
            proc.terminate(); proc.wait()

    BOARD_LAUNCHERS.append(pytest.param(c_host_port, id="c-host", marks=pytest.mark.skipif(...)))
"""
import contextlib

import pytest

from board_session import RawBoard
from firmware_launchers import FIRMWARE_LAUNCHERS


@contextlib.contextmanager
def python_emulator(request):
    """The Python emulator (coralmicro profile), served on a pty from a thread of this process."""
    yield request.getfixturevalue("serve_pty")("coralmicro").url


BOARD_LAUNCHERS = [
    pytest.param(python_emulator, id="python-emulator"),
    *FIRMWARE_LAUNCHERS,
]


@pytest.fixture(params=BOARD_LAUNCHERS)
def board_url(request):
    with request.param(request) as url:
        yield url


@pytest.fixture
def raw(board_url):
    b = RawBoard(board_url)
    b.hello()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="session")
def model_a() -> bytes:
    from hostlink.testing.synth_models import tiny_int8_model

    return tiny_int8_model(seed=1)


@pytest.fixture(scope="session")
def model_b() -> bytes:
    from hostlink.testing.synth_models import tiny_int8_model

    return tiny_int8_model((1, 12, 12, 3), channels=12, seed=2)
