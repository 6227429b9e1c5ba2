"""``hostlink.connect``: from an address to a ready Device (HELLO done)."""
from .client import Device
from .config import DEFAULT_TIMEOUTS, Timeouts
from .links import open_link

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
    url = resolve_port(port, board)
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
