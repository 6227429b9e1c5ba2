"""``hostlink.connect``: from an address to a ready Device (HELLO done).

Input contract of the public API: a value of the right type that is wrong (an empty or malformed
address, an unknown board, a count of 0, an input tensor of the wrong shape) raises a
:class:`~hostlink.errors.HostlinkError` subclass that says what to change; an argument of the wrong
Python type (a port given as an int, a count given as a string) is a programmer error and raises
TypeError.
"""
from .client import Device
from .config import DEFAULT_TIMEOUTS, Timeouts
from .errors import ConfigError
from .links import open_link
from .ports import check_port

DEFAULT_BOARD = "imx500"


def resolve_port(port: str | None, board: str | None) -> str:
    """No port: the first board of the wanted kind plugged in and running our firmware, else its emulator."""
    if port:
        return port
    try:
        from .boards.discovery import find_boards
    except ImportError:  # discovery is optional at this layer
        find_boards = None
    if find_boards is not None:
        for found in find_boards():
            if found.mode == "app" and found.port and (board is None or found.board == board):
                return found.port
    return f"emu:{board or DEFAULT_BOARD}"


def connect(port: str | None = None, *, board: str | None = None, baudrate: int = 921600,
            timeouts: Timeouts = DEFAULT_TIMEOUTS, trace=None, **emulator_options) -> Device:
    """Open ``port`` (a device path, socket://, usb://, or emu:BOARD) and say HELLO."""
    if port is not None:
        check_port(port)
    if board is not None and not isinstance(board, str):
        raise TypeError(f"board is a str, not {type(board).__name__}")
    if isinstance(baudrate, bool) or not isinstance(baudrate, int):
        raise TypeError(f"baudrate is an int, not {type(baudrate).__name__}")
    if not 0 < baudrate <= 100_000_000:
        raise ConfigError(f"baud rate {baudrate} is not a positive rate up to 100000000", "e.g. baudrate=921600")
    if not isinstance(timeouts, Timeouts):
        raise TypeError(f"timeouts is a hostlink.config.Timeouts, not {type(timeouts).__name__}")
    url = check_port(resolve_port(port, board))
    if url.startswith("emu:"):
        from .emulator.link import open_emulator

        def opener():
            return open_emulator(url, **emulator_options)
    else:
        def opener():
            return open_link(url, baudrate=baudrate)

    link = opener()
    dev = Device(link, timeouts=timeouts, trace=trace, opener=opener)
    try:
        dev.hello()
    except BaseException:
        link.close()
        raise
    return dev
