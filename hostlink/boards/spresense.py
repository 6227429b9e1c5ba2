"""Sony Spresense: ``.spk`` packages and flashing through the CXD5602 ROM updater.

The flow is Sony's ``flash_writer.py`` (the ``-s -d -n`` form ``flash.sh`` and Arduino use):

    open the CP2102N port at 115200 8N1   ->  reset through DTR (F, T, F)
    send 'r' until "Welcome to nash"      ->  wait for the "updater" prompt, send a dummy newline
    [rm NAME]* -> install [-b BAUD] -> "Waiting for XMODEM (CRC or 1K) transfer..." -> switch baud
    -> XMODEM-1K (the ``xmodem`` package) -> back to 115200 -> prompt -> sync -> reboot

ELF input is turned into a ``.spk`` first (pyelftools reads it; ``protocols/spresense_spk.py``
writes it and seals it with CLEFIA-CMAC), exactly what ``mkspk -c 2 <elf> nuttx <out>`` does.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import ConfigError, LinkError, LinkTimeout
from ..protocols import spresense_spk as spk
from .clock import SYSTEM_CLOCK, Clock
from .discovery import FoundBoard
from .errors import BootloaderRefused, WrongMode
from .registry import Board, Flasher, UsbId

CP2102N_ID = (0x10C4, 0xEA60)
CONSOLE_BAUD = 115200
#: Rates the updater's ``install -b`` accepts (the Arduino menu's list).
INSTALL_BAUDS = (115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000)
BANNER = b"Welcome to nash"
PROMPT = b"updater"
NSH_PROMPT = b"nsh>"
XMODEM_READY = b"Waiting for XMODEM (CRC or 1K) transfer. Ctrl-X to cancel."
FAILURE_WORDS = (b"error", b"fail", b"invalid", b"not supported")
DEFAULT_SAVENAME = "nuttx"

PORT_HINT = ("check the port (`hostlink boards`), that no serial monitor holds it, and that you are in "
             "the dialout group (`hostlink doctor`)")
RESET_HINT = ("the board did not enter its updater: press and release RESET on the main board while this "
              "command waits, or check that DTR reaches the reset line (no USB hub that drops it)")


@dataclass(frozen=True)
class SpresenseTimings:
    """Every wait of the flash, named."""

    read_timeout_s: float = 0.03  # the port's read timeout (flash_writer's)
    banner_tries: int = 10  # 'r' sends per reset before resetting again
    resets: int = 3  # DTR resets before giving up on the banner
    prompt_s: float = 10.0  # a command's answer up to the next "updater" prompt
    xmodem_ready_s: float = 10.0  # "install" until the updater waits for XMODEM
    xmodem_packet_s: float = 10.0  # one XMODEM packet until its ACK
    xmodem_retry: int = 16  # attempts per packet (the xmodem package's default)
    install_s: float = 120.0  # writing the received file into flash, until the prompt


@dataclass
class SpresenseReport:
    port: str
    installed: list[tuple[str, int]] = field(default_factory=list)  # (file, bytes)
    removed: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    baud: int = CONSOLE_BAUD


# --- packages ---------------------------------------------------------------------------------


def spk_from_elf(path: str | os.PathLike, *, core: int = spk.MAIN_CORE, savename: str = DEFAULT_SAVENAME) -> bytes:
    """``mkspk -c <core> <elf> <savename>``: PT_LOAD segments with file bytes, entry, ``__stack``."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    path = Path(path)
    try:
        data = path.read_bytes()
        elf = ELFFile(io.BytesIO(data))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except ELFError as exc:
        raise ConfigError(f"{path} is not an ELF file ({exc})", "pass the NuttX/Arduino build's ELF or a .spk") from None
    if elf.elfclass != 32 or elf["e_machine"] != "EM_ARM":
        raise ConfigError(f"{path} is a {elf.elfclass}-bit {elf['e_machine']} ELF, not 32-bit ARM",
                          "the Spresense runs Cortex-M4F code: build with the Spresense SDK or Arduino core")
    segments = [(s["p_paddr"], s.data(), s["p_memsz"]) for s in elf.iter_segments()
                if s["p_type"] == "PT_LOAD" and s["p_filesz"] > 0]
    if not segments:
        raise ConfigError(f"{path} has no loadable segment", "pass the linked program")
    stack = 0
    symtab = elf.get_section_by_name(".symtab")
    if symtab is not None:
        for sym in symtab.get_symbol_by_name("__stack") or []:
            stack = int(sym["st_value"])
    return spk.build_spk(core=core, savename=savename, entry=elf["e_entry"], stack=stack, segments=segments)


def load_package(path: str | os.PathLike, savename: str = DEFAULT_SAVENAME) -> tuple[str, bytes]:
    """(name shown to the user, bytes to install) for a .spk, .espk or ELF file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".elf" or (suffix not in (".spk", ".espk") and path.is_file() and path.read_bytes()[:4] == b"\x7fELF"):
        return f"{path.name} (as {savename}.spk)", spk_from_elf(path, savename=savename)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if suffix == ".spk":
        try:
            spk.parse_spk(data)
        except Exception as exc:
            raise ConfigError(f"{path} is not a valid .spk package: {exc}",
                              "rebuild it, or pass the ELF and let hostlink package it") from None
    elif suffix != ".espk":
        raise ConfigError(f"{path}: expected a .spk, .espk or ELF file", "hostlink flash --board spresense nuttx.spk")
    return path.name, data


# --- the updater session ----------------------------------------------------------------------


class SpresenseFlasher:
    """Drives the ROM updater over one serial port. ``serial_factory`` makes an unopened
    ``serial.Serial``-like object (tests pass a fake board)."""

    def __init__(self, port: str, *, timings: SpresenseTimings = SpresenseTimings(), clock: Clock = SYSTEM_CLOCK,
                 on_step: Callable[[str], None] | None = None, serial_factory=None):
        self.port_name = port
        self.t = timings
        self.clock = clock
        self._on_step = on_step
        self._factory = serial_factory
        self._port = None
        self._seen = bytearray()  # everything read since the last expect(), for messages
        self.report = SpresenseReport(port)

    def _step(self, text: str) -> None:
        self.report.steps.append(text)
        if self._on_step:
            self._on_step(text)

    # -- port I/O

    def _open(self) -> None:
        import serial

        port = self._factory() if self._factory else serial.Serial()
        port.port, port.baudrate, port.timeout = self.port_name, CONSOLE_BAUD, self.t.read_timeout_s
        port.bytesize, port.parity, port.stopbits = 8, "N", 1
        try:
            port.open()
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"cannot open {self.port_name}: {exc}", PORT_HINT) from None
        self._port = port

    def _close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except Exception:
                pass
            self._port = None

    def _write(self, data: bytes) -> None:
        import serial

        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"{self.port_name} vanished: {exc}", "re-plug the board and run the flash again") from None

    def _read(self, size: int, timeout: float) -> bytes:
        import serial

        try:
            self._port.timeout = max(0.0, timeout)
            return self._port.read(size) or b""
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"{self.port_name} vanished: {exc}", "re-plug the board and run the flash again") from None

    def _read_some(self, timeout: float) -> bytes:
        waiting = 0
        try:
            waiting = self._port.in_waiting
        except Exception:
            pass
        return self._read(max(1, waiting), timeout)

    def _flush_input(self) -> None:
        try:
            self._port.reset_input_buffer()
        except Exception:
            pass

    def _set_baud(self, baud: int) -> None:
        import serial

        try:
            self._port.baudrate = baud
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"cannot switch {self.port_name} to {baud} baud: {exc}",
                            "pick a rate the USB-UART supports, or leave --baud out") from None

    def expect(self, needle: bytes, seconds: float, what: str) -> bytes:
        """Read until ``needle`` appears; return everything read up to and including it."""
        deadline = self.clock.monotonic() + seconds
        buf = bytearray()
        while True:
            idx = buf.find(needle)
            if idx >= 0:
                self._seen = buf[idx + len(needle):]
                return bytes(buf[:idx + len(needle)])
            left = deadline - self.clock.monotonic()
            if left <= 0:
                tail = bytes(buf[-120:]).decode("ascii", "replace").strip() or "nothing"
                raise LinkTimeout(f"no {what} from {self.port_name} within {seconds:g} s (last output: {tail!r})",
                                  RESET_HINT if needle in (BANNER, PROMPT) else PORT_HINT)
            buf += self._read_some(min(left, 0.5))

    def command(self, line: str, seconds: float | None = None) -> str:
        self._write(line.encode("ascii") + b"\n")
        out = self.expect(PROMPT, seconds or self.t.prompt_s, f"prompt after `{line}`")
        text = out.decode("ascii", "replace")
        low = out.lower()
        if any(w in low for w in FAILURE_WORDS):
            raise BootloaderRefused(f"the updater answered `{line}` with: {text.strip()}",
                                    "is the board's bootloader installed and current? (Spresense `flash_writer -B`)")
        return text

    # -- steps

    def dtr_reset(self) -> None:
        port = self._port
        port.dtr = False
        port.dtr = True
        port.dtr = False

    def enter_updater(self, reset: bool = True) -> None:
        for _ in range(self.t.resets):
            if reset:
                self.dtr_reset()
            buf = bytearray()
            for _ in range(self.t.banner_tries):
                self._write(b"r")
                buf += self._read_some(self.t.read_timeout_s)
                if BANNER in buf:
                    break
            if BANNER in buf:
                rest = buf[buf.index(BANNER):]
                if PROMPT not in rest:
                    self.expect(PROMPT, self.t.prompt_s, "updater prompt after the nash banner")
                self._write(b"\n")  # the first character after the prompt is sometimes dropped
                self.clock.sleep(self.t.read_timeout_s)
                self._flush_input()
                return
        # Tell a board running its application apart from a silent port.
        self._write(b"\r\n")
        probe = bytes(buf) + self._read_some(self.t.read_timeout_s * 10)
        if NSH_PROMPT in probe:
            raise WrongMode(f"the board on {self.port_name} is running its application (nsh> prompt) and did "
                            f"not enter the ROM updater after {self.t.resets} resets", RESET_HINT)
        shown = probe[-80:].decode("ascii", "replace").strip()
        raise LinkTimeout(f"no 'Welcome to nash' banner from {self.port_name} after {self.t.resets} DTR resets"
                          + (f" (it printed {shown!r})" if shown else " (it printed nothing)"),
                          "is this a Spresense main board (CP2102N 10c4:ea60) and is it powered? " + RESET_HINT)

    def install(self, name: str, data: bytes, baud: int | None = None) -> None:
        import xmodem

        self._write((f"install -b {baud}" if baud else "install").encode() + b"\n")
        self.expect(XMODEM_READY, self.t.xmodem_ready_s, "XMODEM ready message after `install`")
        if baud and baud != CONSOLE_BAUD:
            self._set_baud(baud)
            self._flush_input()
        last = {"char": None}

        def getc(size, timeout=1):
            deadline = self.clock.monotonic() + timeout
            buf = b""
            while len(buf) < size:
                left = deadline - self.clock.monotonic()
                if left <= 0:
                    last["char"] = None
                    return None
                buf += self._read(size - len(buf), left)
            last["char"] = buf[-1:]
            return buf

        def putc(chunk, timeout=1):
            self._write(bytes(chunk))
            return len(chunk)

        progress = {"packets": 0, "errors": 0}

        def callback(total, ok, errors):
            progress["packets"], progress["errors"] = total, errors

        modem = xmodem.XMODEM(getc, putc, mode="xmodem1k")
        try:
            ok = modem.send(io.BytesIO(data), retry=self.t.xmodem_retry, timeout=self.t.xmodem_packet_s,
                            quiet=True, callback=callback)
        except LinkError as exc:
            raise LinkError(f"{self.port_name} vanished during the XMODEM upload of {name} "
                            f"(packet {progress['packets']}): {exc.message}",
                            "re-plug the board and run the flash again") from None
        finally:
            if baud and baud != CONSOLE_BAUD:
                self._set_baud(CONSOLE_BAUD)
        if not ok:
            at = f"packet {progress['packets']} of {-(-len(data) // 1024)}"
            if last["char"] is None:
                raise LinkTimeout(f"the updater stopped answering during the XMODEM upload of {name} ({at}, "
                                  f"{progress['errors']} timeouts)",
                                  "a faster --baud may be beyond the cable or hub; retry with a lower one")
            raise BootloaderRefused(f"the updater refused the XMODEM upload of {name} ({at}: "
                                    f"{progress['errors']} NAKs, last answer {last['char']!r})",
                                    "retry; with --baud, a lower rate; check the package is for this board")
        out = self.expect(PROMPT, self.t.install_s, f"prompt after installing {name}")
        low = out.lower()
        if any(w in low for w in FAILURE_WORDS):
            raise BootloaderRefused(f"the updater did not install {name}: "
                                    f"{out.decode('ascii', 'replace').strip()}",
                                    "check the package (a .spk for this SDK's loader version)")

    def flash(self, files: list[str | os.PathLike], *, baud: int | None = None, remove: list[str] = (),
              reset: bool = True, savename: str = DEFAULT_SAVENAME) -> SpresenseReport:
        if baud is not None and baud not in INSTALL_BAUDS:
            raise ConfigError(f"--baud {baud} is not a rate the updater offers",
                              "one of " + ", ".join(map(str, INSTALL_BAUDS)))
        packages = [load_package(f, savename) for f in files]  # fail on bad input before touching the board
        if not packages:
            raise ConfigError("nothing to flash", "hostlink flash --board spresense nuttx.spk")
        self.report.baud = baud or CONSOLE_BAUD
        self._open()
        try:
            self._step(f"resetting {self.port_name} into the ROM updater" if reset else "waiting for the updater")
            self.enter_updater(reset)
            for name in remove:
                self._step(f"rm {name}")
                self.command(f"rm {name}")
                self.report.removed.append(name)
            for name, data in packages:
                self._step(f"install {name} ({len(data)} bytes, XMODEM-1K at {baud or CONSOLE_BAUD} baud)")
                self.install(name, data, baud)
                self.report.installed.append((name, len(data)))
            self._step("sync")
            self.command("sync")
            self._step("reboot")
            self._write(b"reboot\n")
        finally:
            self._close()
        return self.report


# --- run time ---------------------------------------------------------------------------------


def spresense_ports(found: list[FoundBoard]) -> list[str]:
    return [b.port for b in found if b.board == "spresense" and b.port]


class SpresenseBoardFlasher(Flasher):
    """``hostlink flash --board spresense``: the ROM updater and XMODEM-1K."""

    options = ("baud", "remove", "no_reset", "savename")
    summary = "FIRMWARE.spk or .elf (packaged as .spk) through the ROM updater and XMODEM-1K"

    def flash(self, firmware, *, port, on_step, baud=None, remove=(), no_reset=False, savename=DEFAULT_SAVENAME,
              **_):
        if not port:
            from .discovery import find_boards

            ports = spresense_ports(find_boards())
            if len(ports) != 1:
                raise ConfigError("no Spresense serial port found" if not ports else
                                  f"{len(ports)} CP2102N ports found: {', '.join(ports)}",
                                  "name it: hostlink --port /dev/ttyUSB0 flash --board spresense FILE")
            port = ports[0]
        on_step(f"flashing {firmware} to the Spresense on {port}")
        report = SpresenseFlasher(port, on_step=on_step).flash([firmware], baud=baud, remove=list(remove),
                                                               reset=not no_reset, savename=savename)
        return [f"{name}\t{size} bytes" for name, size in report.installed] + ["done: rebooted"]


def _runtime_link(port: str, baudrate: int):
    """Protocol v1 over the CP2102N. Opening the port drives DTR, which resets the board, as the
    Arduino monitor does."""
    from ..links import open_link

    return open_link(port, baudrate=baudrate)


def _profile():
    from ..emulator.profiles import spresense_profile

    return spresense_profile()


BOARD = Board(
    name="spresense", title="Sony Spresense (CXD5602)",
    # A CP2102N is on many boards; only the nash handshake tells a Spresense and its mode apart.
    usb=(UsbId(0x10C4, 0xEA60, "unknown", "CP2102N USB-UART (Spresense main board?)", udev=("tty",),
               udev_mode="0660", udev_group="dialout", symlink="spresense_$attr{serial}"),),
    advice={"unknown": ("a CP2102N USB-UART (a Spresense main board if the nash handshake answers)", None)},
    packages=(("xmodem", "xmodem", "Spresense flash"), ("elftools", "pyelftools", "reading firmware ELFs")),
    flasher=SpresenseBoardFlasher, emulator_profile=_profile, open_link=_runtime_link, baudrate=CONSOLE_BAUD,
    firmware_port="spresense", conformance=("c-qemu-m4f-tflm",),
)
