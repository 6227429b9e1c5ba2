"""``hostlink.connect``: from an address to a ready Device (HELLO done).

Input contract of the public API: a value of the right type that is wrong (an empty or malformed
address, an unknown board, a count of 0, an input tensor of the wrong shape) raises a
:class:`~hostlink.errors.HostlinkError` subclass that says what to change; an argument of the wrong
Python type (a port given as an int, a count given as a string) is a programmer error and raises
TypeError.
"""
import importlib

from .client import Device
from .config import DEFAULT_TIMEOUTS, Timeouts
from .errors import ConfigError
from .ports import check_port

DEFAULT_BOARD = "imx500"


def _registry():
    """The board registry (hostlink.boards.registry), bound late and on purpose: boards sit above
    the device client, and ``connect`` is the one place below them that must know which kind of
    board is at an address (to find one plugged in, to open an emulator, or to hand a board that
    does not speak protocol v1 to its own module). tests/test_layering.py checks every other import."""
    return importlib.import_module("hostlink.boards.registry")


def resolve_port(port: str | None, board: str | None) -> str:
    """No port: the first board of the wanted kind plugged in and running our firmware, else its emulator."""
    return _registry().resolve_port(port, board, DEFAULT_BOARD)


def connect(port: str | None = None, *, board: str | None = None, baudrate: int | None = None,
            timeouts: Timeouts = DEFAULT_TIMEOUTS, trace=None, **emulator_options) -> Device:
    """Open ``port`` (a device path, socket://, usb://, labgrid://PLACE or emu:BOARD) and say HELLO.

    ``board`` names the kind (hostlink.boards.registry): it picks the emulator when no port is
    given, the serial rate its firmware uses when ``baudrate`` is None, and, for a board that does
    not speak protocol v1 (mlperftiny), the module that talks to it.

    A ``labgrid://`` place is acquired here and released when the device is closed."""
    if port is not None:
        check_port(port)
    if board is not None and not isinstance(board, str):
        raise TypeError(f"board is a str, not {type(board).__name__}")
    if baudrate is not None and (isinstance(baudrate, bool) or not isinstance(baudrate, int)):
        raise TypeError(f"baudrate is an int, not {type(baudrate).__name__}")
    if baudrate is not None and not 0 < baudrate <= 100_000_000:
        raise ConfigError(f"baud rate {baudrate} is not a positive rate up to 100000000", "e.g. baudrate=921600")
    if not isinstance(timeouts, Timeouts):
        raise TypeError(f"timeouts is a hostlink.config.Timeouts, not {type(timeouts).__name__}")
    url = check_port(resolve_port(port, board))
    lease = None
    if url.startswith("labgrid://"):
        # hostlink.farm sits above the client too: bound late, like the registry
        lease = importlib.import_module("hostlink.farm").acquire(url)  # held until the device is closed
        url = lease.board_url
    kind = _registry().board_at(url, board)
    try:
        if kind is not None and not kind.speaks_protocol_v1:  # its own module speaks its protocol
            dev = kind.open_device(url, baudrate=baudrate, timeouts=timeouts, trace=trace, **emulator_options)
        else:
            opener = _registry().link_opener(url, board, baudrate, **emulator_options)
            dev = Device(opener(), timeouts=timeouts, trace=trace, opener=opener)
    except BaseException:
        if lease is not None:
            lease.release()
        raise
    if lease is not None:
        dev.on_close.append(lease.release)
        dev.farm_lease = lease
    if dev.info is None:
        try:
            dev.hello()
        except BaseException:
            dev.close()
            raise
    return dev
