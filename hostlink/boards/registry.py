"""The board registry: every board kind hostlink knows, each declared once by its own module.

A board module in this package (``coralmicro``, ``spresense``, ``imx500``, ``mlperftiny``, ...)
ends with ``BOARD = Board(...)``: its kind, the USB identities it shows in each mode, what
``hostlink doctor`` says about each mode, the Python packages its flows need, its flasher, its
emulator profile, how to open its run-time link, and, for boards that do not speak protocol v1, how
to open a device on that link. Discovery, doctor, the udev rules, the emulator's profile lookup,
``hostlink.connect`` and the CLI's board lists all read the registry (esptool keeps chip
differences in one class per target the same way; shared/reference/style.md), so adding a board is
one module here plus its protocol declarations (and its firmware port), and nothing else changes.

The registry finds the modules by listing this package: importing them is deferred to the first
lookup, so ``import hostlink`` stays cheap and board modules may import the emulator.
"""
from __future__ import annotations

import abc
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable

from ..errors import ConfigError


@dataclass(frozen=True)
class UsbId:
    """One USB identity a board (or monitor) shows, in one mode, with its udev rule."""

    vid: int
    pid: int
    mode: str  # "app", "rom", "flashloader", "elf_loader", "updater", "unknown"
    description: str
    #: the USB product string that must match too (a generic VID:PID such as a Linux USB gadget)
    product: str | None = None
    #: udev subsystems the rule grants access on: "usb" (libusb), "hidraw", "tty"
    udev: tuple[str, ...] = ("usb",)
    udev_mode: str = "0666"
    udev_group: str = "plugdev"
    #: a stable /dev name for a tty ("spresense_$attr{serial}")
    symlink: str | None = None


class Flasher(abc.ABC):
    """Writes firmware to one board kind through its bootloader. Each board supplies a subclass and
    names the ``hostlink flash`` options it takes (esptool's per-target classes, one per chip)."""

    #: option names of ``hostlink flash`` this board uses; others are refused for it
    options: tuple[str, ...] = ()
    #: what the flash does, one line (shown in `hostlink flash --help`)
    summary: str = ""

    @abc.abstractmethod
    def flash(self, firmware: str, *, port: str | None, on_step: Callable[[str], None], **options) -> list[str]:
        """Flash ``firmware``; returns the report lines to print (files written, board serial)."""


@dataclass(frozen=True)
class Board:
    """A board kind, as its module declares it. Data and factories only: nothing opens a port here."""

    name: str  # "coralmicro": --board NAME, emu:NAME
    title: str  # "Google Coral Dev Board Micro"
    usb: tuple[UsbId, ...] = ()
    #: mode -> (what doctor says the board is doing, the fix or None)
    advice: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    #: (module, pip package, why) that this board's flows import
    packages: tuple[tuple[str, str, str], ...] = ()
    #: the Flasher subclass, or None when the board takes no firmware from hostlink
    flasher: type[Flasher] | None = None
    #: () -> the emulator's BoardProfile, or None when the board has no emulator
    emulator_profile: Callable[[], object] | None = None
    #: (address, baudrate) -> an open Link to the board running its firmware
    open_link: Callable[[str, int], object] | None = None
    #: for boards that do not speak protocol v1: (address, baudrate, timeouts, trace) -> a device
    #: with the client's interface (info, model_info, capture, upload, close)
    open_device: Callable[..., object] | None = None
    #: (emit, realtime=) -> a software board with ``feed(bytes)``, for `hostlink emulate --pty`
    serve_emulator: Callable[..., object] | None = None
    #: ("emu:NAME?...") -> its options; ConfigError for a bad one (boards with their own emulator)
    parse_emulator_address: Callable[[str], dict] | None = None
    #: the serial rate its firmware's console runs at
    baudrate: int = 921600
    #: firmware/ports/<name> holds its port of the C core, when it has one
    firmware_port: str | None = None
    #: the conformance-suite launchers (tests/conformance) that hold its firmware to protocol v1
    conformance: tuple[str, ...] = ()

    @property
    def speaks_protocol_v1(self) -> bool:
        return self.open_device is None


#: USB instruments that are not boards (power monitors): discovery lists them, udev grants access.
MONITORS: tuple[tuple[str, UsbId], ...] = (
    ("ppk2", UsbId(0x1915, 0xC00A, "app", "Nordic Power Profiler Kit II", udev=("tty",))),
    ("joulescope", UsbId(0x16D0, 0x0E88, "app", "Joulescope JS110")),
    ("joulescope", UsbId(0x16D0, 0x10BA, "app", "Joulescope JS220")),
    ("lpm01a", UsbId(0x0483, 0x5740, "app", "ST X-NUCLEO-LPM01A power shield (VCP)", udev=("tty",))),
)

_boards: dict[str, Board] | None = None


def _load() -> dict[str, Board]:
    global _boards
    if _boards is None:
        from .. import boards as package

        found: dict[str, Board] = {}
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            board = getattr(module, "BOARD", None)
            if not isinstance(board, Board):
                continue
            if board.name in found:
                raise RuntimeError(f"board {board.name!r} is declared twice ({module.__name__})")
            found[board.name] = board
        _boards = found
    return _boards


def boards() -> tuple[Board, ...]:
    """Every board kind, in a stable order (the emulated protocol-v1 boards first, by name)."""
    return tuple(sorted(_load().values(), key=lambda b: (not b.speaks_protocol_v1, _ORDER.get(b.name, 99), b.name)))


#: The order boards are listed in (the three the project started with, then the rest by name).
_ORDER = {"imx500": 0, "coralmicro": 1, "spresense": 2}


def names() -> tuple[str, ...]:
    return tuple(b.name for b in boards())


def normalise(name: str) -> str:
    return str(name).lower().replace("-", "").replace("_", "")


def get(name: str) -> Board:
    """The board called ``name`` (case, '-' and '_' ignored); ConfigError naming the known ones."""
    key = normalise(name)
    board = _load().get(key)
    if board is None:
        raise ConfigError(f"unknown board {name!r}", f"choose one of: {', '.join(names())}")
    return board


def emulated() -> tuple[str, ...]:
    """Boards with a protocol-v1 emulator profile (emu:NAME in this process)."""
    return tuple(b.name for b in boards() if b.emulator_profile is not None)


def flashable() -> tuple[str, ...]:
    return tuple(b.name for b in boards() if b.flasher is not None)


def usb_ids() -> tuple[tuple[str, UsbId], ...]:
    """(kind, identity) for every board and monitor, boards first."""
    return tuple((b.name, u) for b in boards() for u in b.usb) + MONITORS


def identify(vid: int, pid: int, product: str | None = None) -> tuple[str, UsbId] | None:
    """The board or monitor a VID:PID is (a product-qualified identity needs its product string)."""
    for kind, ident in usb_ids():
        if (ident.vid, ident.pid) != (vid, pid):
            continue
        if ident.product is not None and not (product and ident.product.lower() in product.lower()):
            continue
        return kind, ident
    return None


def board_of_url(url: str) -> Board | None:
    """The board an ``emu:NAME...`` address names (None for any other address)."""
    if not url.startswith("emu:"):
        return None
    name = url[len("emu:"):].lstrip("/").partition("?")[0]
    return _load().get(normalise(name))


def check_emulator_address(url: str) -> None:
    """ConfigError unless ``emu:NAME?OPTIONS`` names a board with an emulator and options it takes."""
    name = url[len("emu:"):].lstrip("/").partition("?")[0]
    if not name:
        raise ConfigError(f"no board in {url!r}", f"e.g. {', '.join('emu:' + n for n in emulated())}")
    board = get(name)  # an unknown board is named with the known ones
    if board.parse_emulator_address is not None:
        board.parse_emulator_address(url)
        return
    from ..emulator.link import parse_emu_url
    from ..emulator.profiles import get_profile

    get_profile(parse_emu_url(url)[0])


def udev_rules() -> str:
    """tools/udev/99-hostlink.rules, generated from the registry (tests check the committed copy)."""
    lines = [
        "# hostlink: let non-root users reach the boards, their bootloaders and the power monitors.",
        "# Generated from hostlink/boards/registry.py by `python -m hostlink.boards.registry`: do not edit.",
        "# Install:  sudo cp 99-hostlink.rules /etc/udev/rules.d/ \\",
        "#             && sudo udevadm control --reload-rules && sudo udevadm trigger",
        "# (`hostlink doctor` prints the same command with the right path.) Serial ports also need the",
        "# dialout group: sudo usermod -aG dialout $USER",
    ]
    groups: list[tuple[str, list[UsbId]]] = [(b.title, list(b.usb)) for b in boards() if b.usb]
    groups.append(("Power monitors", [u for _, u in MONITORS]))
    for title, ids in groups:
        lines.append("")
        lines.append(f"# {title}")
        for u in ids:
            lines.append(f"# {u.mode}: {u.description}")  # udev allows comments on their own lines only
            for subsystem in u.udev:
                match = 'KERNEL=="hidraw*"' if subsystem == "hidraw" else f'SUBSYSTEM=="{subsystem}"'
                rule = f'{match}, ATTRS{{idVendor}}=="{u.vid:04x}", ATTRS{{idProduct}}=="{u.pid:04x}"'
                if u.product:
                    rule += f', ATTRS{{product}}=="{u.product}"'
                rule += f', MODE="{u.udev_mode}", GROUP="{u.udev_group}"'
                if u.symlink and subsystem == "tty":
                    rule += f', SYMLINK+="{u.symlink}"'
                lines.append(rule)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m hostlink.boards.registry > tools/udev/99-hostlink.rules
    # Through the package's module, not this __main__ copy: the board modules declare their BOARD
    # with hostlink.boards.registry.Board, which is a different class from __main__.Board.
    from hostlink.boards.registry import udev_rules as _rules

    print(_rules(), end="")


# --- addresses -----------------------------------------------------------------------------------


def resolve_port(port: str | None, board: str | None, default: str) -> str:
    """No port: the first board of the wanted kind plugged in and running its firmware, else its
    emulator (``emu:BOARD``; ``default`` when no kind is named)."""
    if port:
        return port
    from .discovery import find_boards

    want = get(board).name if board else None
    for found in find_boards():
        if found.mode == "app" and found.port and (want is None or found.board == want):
            return found.port
    return f"emu:{want or default}"


def board_at(url: str, board: str | None) -> Board | None:
    """The board kind at ``url``: the one ``emu:NAME`` names, else the one the caller named."""
    named = board_of_url(url)
    if named is not None:
        return named
    return get(board) if board else None


def link_opener(url: str, board: str | None, baudrate: int | None, **emulator_options) -> Callable[[], object]:
    """A function that opens the protocol-v1 link to ``url`` (and again on reconnect)."""
    if url.startswith("emu:"):
        from ..emulator.link import open_emulator

        return lambda: open_emulator(url, **emulator_options)
    kind = get(board) if board else None
    rate = baudrate or (kind.baudrate if kind else 921600)
    if kind is not None and kind.open_link is not None:
        return lambda: kind.open_link(url, rate)
    from ..links import open_link

    return lambda: open_link(url, baudrate=rate)
