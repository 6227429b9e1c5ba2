"""Coral Dev Board Micro: flashing and the run-time link.

The flash follows the reference flashtool's state machine, step for step:

    app (CDC 18d1:9308)  --open at 1200 baud-->  ROM serial downloader (HID 1fc9:013d)
    elf_loader (HID 18d1:9307) --RESET_TO_BOOTLOADER--> ROM
    ROM         --mboot load-image (IVT flashloader)-->           flashloader (HID 15a2:0073)
    flashloader --[receive-sb-file: elf_loader into SPI NAND]-->  (flash mode only)
    flashloader --write-memory elf_loader, disable_usb_timeout = 0xffffffff, call-->  elf_loader
    elf_loader  --RAM transfer (--ram)  or  FORMAT + files + RESET_TO_FLASH-->  app

ROM and flashloader speak NXP's MCUboot protocol over HID; spsdk's ``McuBoot`` drives it
through hidapi (the same HID library the elf_loader step uses). Every RAM write is read back
and compared. The elf_loader protocol has no read-back, so a flash counts as done only once the
board re-enumerates running the application with the same serial number.
"""
from __future__ import annotations

import errno
import sys
from dataclasses import dataclass, field
from typing import Callable

from ..errors import ConfigError, LinkError, LinkTimeout
from ..protocols import coralmicro_elfloader as elp
from . import coralmicro_images as images
from .clock import SYSTEM_CLOCK, Clock
from .discovery import FoundBoard, find_boards
from .errors import BoardNotFound, BootloaderRefused, VerifyError, WrongMode
from .registry import Board, Flasher, UsbId

GOOGLE_VID = 0x18D1
ROM_ID = (0x1FC9, 0x013D)
FLASHLOADER_ID = (0x15A2, 0x0073)
ELFLOADER_PIDS = (0x9307, 0x93FE)
APP_PIDS = (0x9308, 0x93FF)
#: Opening the app's CDC port at this rate reboots the board into the ROM (cdc_acm.cc).
RESET_BAUD = 1200
#: The console's rate: any value but RESET_BAUD; USB CDC ignores it otherwise.
CONSOLE_BAUD = 115200

UDEV_HINT = "install the udev rules (see `hostlink doctor`) and re-plug the board"
RECOVERY_HINT = ("hold the User button while plugging in USB (or pressing reset) to force the ROM serial "
                 "downloader, then run the flash again")


@dataclass(frozen=True)
class CoralTimings:
    """Every wait of the flash, named (flashtool's values)."""

    poll_attempts: int = 10  # each "check" state polls this often...
    poll_interval_s: float = 1.0  # ...this far apart
    reset_attempts: int = 10  # 1200-baud opens; udev may not have fixed permissions yet
    hid_open_s: float = 15.0  # OpenHidDevice retries for this long...
    hid_open_interval_s: float = 0.1  # ...at this interval
    hid_ack_timeout_ms: int = 1000  # the elf_loader's 1-byte answer to each report
    mboot_timeout_ms: int = 5000  # one MCUboot response (an SB file's NAND erase is the slow one)


@dataclass
class FlashReport:
    board_serial: str | None
    ram: bool
    files: list[tuple[str, int]] = field(default_factory=list)  # (board path, bytes)
    steps: list[str] = field(default_factory=list)
    verified_ram_bytes: int = 0


# --- HID ------------------------------------------------------------------------------------------


def _hid_module():
    try:
        import hid
    except ImportError as exc:
        raise ConfigError(f"hidapi is not installed ({exc})", "pip install hidapi (hostlink depends on it)") from None
    return hid


class HidLink:
    """One opened HID device (hidapi), with errors turned into hostlink's."""

    def __init__(self, hid_module, vid: int, pid: int, serial: str | None, what: str):
        self._dev = hid_module.device()
        self.what = what
        try:
            self._dev.open(vid, pid, serial) if serial else self._dev.open(vid, pid)
        except (OSError, IOError, ValueError) as exc:
            raise LinkError(f"cannot open the {what} (HID {vid:04x}:{pid:04x}): {exc}", UDEV_HINT) from None

    def write(self, report: bytes) -> None:
        try:
            n = self._dev.write(report)
        except (OSError, IOError, ValueError) as exc:
            raise LinkError(f"the {self.what} vanished during a write: {exc}", RECOVERY_HINT) from None
        if n is None or n < 0:
            raise LinkError(f"the {self.what} vanished during a write (hidapi returned {n})", RECOVERY_HINT)

    def read(self, size: int, timeout_ms: int) -> bytes:
        try:
            data = self._dev.read(size, timeout_ms)
        except (OSError, IOError, ValueError) as exc:
            raise LinkError(f"the {self.what} vanished during a read: {exc}", RECOVERY_HINT) from None
        return bytes(data or b"")

    def close(self) -> None:
        try:
            self._dev.close()
        except Exception:  # closing a vanished device must not mask the real error
            pass


def _mboot_device_class():
    from spsdk.exceptions import SPSDKConnectionError
    from spsdk.utils.exceptions import SPSDKTimeoutError
    from spsdk.utils.interfaces.device.base import DeviceBase

    class HidapiMbootDevice(DeviceBase):
        """spsdk's device interface on top of hidapi, so MCUboot and elf_loader share one HID stack."""

        def __init__(self, hid_module, vid: int, pid: int, serial: str | None, timeout_ms: int):
            self._hid, self.vid, self.pid, self.serial = hid_module, vid, pid, serial
            self._timeout = timeout_ms
            self._link: HidLink | None = None

        @property
        def is_opened(self) -> bool:
            return self._link is not None

        def open(self) -> None:
            try:
                self._link = HidLink(self._hid, self.vid, self.pid, self.serial, "bootloader")
            except LinkError as exc:
                raise SPSDKConnectionError(str(exc)) from None

        def close(self) -> None:
            if self._link is not None:
                self._link.close()
                self._link = None

        def read(self, length: int, timeout: int | None = None) -> bytes:
            if self._link is None:
                raise SPSDKConnectionError("device is not open")
            try:
                data = self._link.read(length, timeout or self._timeout)
            except LinkError as exc:
                raise SPSDKConnectionError(str(exc)) from None
            if not data:
                raise SPSDKTimeoutError("no HID report within the timeout")
            return data

        def write(self, data: bytes, timeout: int | None = None) -> None:
            if self._link is None:
                raise SPSDKConnectionError("device is not open")
            try:
                self._link.write(data)
            except LinkError as exc:
                raise SPSDKConnectionError(str(exc)) from None

        @property
        def timeout(self) -> int:
            return self._timeout

        @timeout.setter
        def timeout(self, value: int) -> None:
            self._timeout = value

        def __str__(self) -> str:
            return f"HID {self.vid:04x}:{self.pid:04x}"

    return HidapiMbootDevice


class Mboot:
    """A McuBoot session on the ROM or the flashloader with hostlink errors and read-back."""

    def __init__(self, hid_module, vid: int, pid: int, what: str, timeout_ms: int):
        from spsdk.mboot.mcuboot import McuBoot
        from spsdk.mboot.protocol.bulk_protocol import MbootBulkProtocol

        class _Interface(MbootBulkProtocol):
            identifier = "usb-hidapi"

        self.what = what
        self._mb = McuBoot(_Interface(_mboot_device_class()(hid_module, vid, pid, None, timeout_ms)))

    def __enter__(self):
        self._guard("open", self._mb.open)
        return self

    def __exit__(self, *exc):
        try:
            self._mb.close()
        except Exception:
            pass

    def _guard(self, step: str, fn, *args, **kwargs):
        from spsdk.exceptions import SPSDKConnectionError, SPSDKError

        try:
            return fn(*args, **kwargs)
        except TimeoutError as exc:
            raise LinkTimeout(f"the {self.what} did not answer {step}: {exc}", RECOVERY_HINT) from None
        except (SPSDKConnectionError, ConnectionError) as exc:
            raise LinkError(f"the {self.what} vanished during {step}: {exc}", RECOVERY_HINT) from None
        except SPSDKError as exc:
            raise BootloaderRefused(f"the {self.what} failed {step}: {exc}", RECOVERY_HINT) from None

    def _check(self, step: str, ok: bool) -> None:
        if not ok:
            status = self._mb.status_string
            if "NoResponse" in status or "No Response" in status:
                raise LinkTimeout(f"the {self.what} did not answer {step} ({status})", RECOVERY_HINT)
            raise BootloaderRefused(f"the {self.what} refused {step}: status {status}", RECOVERY_HINT)

    def load_image(self, image: bytes) -> None:
        self._check("load-image", self._guard("load-image", self._mb.load_image, image))

    def receive_sb_file(self, sb: bytes) -> None:
        self._check("receive-sb-file", self._guard("receive-sb-file", self._mb.receive_sb_file, sb))

    def write_verified(self, address: int, data: bytes, what: str) -> None:
        step = f"write-memory 0x{address:08x} ({what}, {len(data)} bytes)"
        self._check(step, self._guard(step, self._mb.write_memory, address, data))
        back = self._guard(f"read-memory 0x{address:08x}", self._mb.read_memory, address, len(data))
        if back is None or bytes(back) != bytes(data):
            got = 0 if back is None else len(back)
            first = next((i for i, (a, b) in enumerate(zip(back or b"", data)) if a != b), got)
            raise VerifyError(f"read-back of {what} at 0x{address:08x} differs from what was written "
                              f"(first difference at byte {first}, {got}/{len(data)} bytes read)", RECOVERY_HINT)

    def call_no_return(self, address: int) -> None:
        """`call` into code that never returns: no answer, or the device leaving, is expected."""
        from spsdk.exceptions import SPSDKError

        try:
            self._mb.call(address, 0)
        except (SPSDKError, TimeoutError, ConnectionError):
            pass


# --- the state machine ----------------------------------------------------------------------------


class CoralFlasher:
    """``hostlink flash --board coralmicro``: see the module docstring for the states."""

    def __init__(self, build: images.CoralBuild | None = None, *, serial: str | None = None,
                 timings: CoralTimings = CoralTimings(), clock: Clock = SYSTEM_CLOCK,
                 on_step: Callable[[str], None] | None = None, hid_module=None,
                 find: Callable[[], list[FoundBoard]] = find_boards):
        self.build = build
        self.serial = serial
        self.t = timings
        self.clock = clock
        self._on_step = on_step
        self._hid = hid_module
        self._find = find
        self.report: FlashReport | None = None

    # -- small helpers

    def _step(self, text: str) -> None:
        if self.report is not None:
            self.report.steps.append(text)
        if self._on_step:
            self._on_step(text)

    @property
    def hid(self):
        if self._hid is None:
            self._hid = _hid_module()
        return self._hid

    def _boards(self) -> list[FoundBoard]:
        boards = [b for b in self._find() if b.board == "coralmicro"]
        if self.serial:
            # The ROM and the flashloader may enumerate without a serial number; keep those.
            boards = [b for b in boards if b.serial in (None, "") or b.serial.upper() == self.serial.upper()]
        return boards

    def _pick(self, boards: list[FoundBoard]) -> FoundBoard:
        if len(boards) > 1:
            listed = ", ".join(f"{b.mode} {b.serial or '(no serial)'}" for b in boards)
            raise ConfigError(f"{len(boards)} Coral Micro boards are connected: {listed}",
                              "pick one with --serial SERIAL (or CORAL_MICRO_SERIAL), or unplug the others")
        return boards[0]

    def locate(self) -> FoundBoard:
        """The board in any mode, polling like flashtool's StateCheckForAny."""
        for attempt in range(self.t.poll_attempts):
            boards = self._boards()
            if boards:
                return self._pick(boards)
            if attempt + 1 < self.t.poll_attempts:
                self.clock.sleep(self.t.poll_interval_s)
        which = f" with serial {self.serial}" if self.serial else ""
        raise BoardNotFound(f"no Coral Dev Board Micro{which} found (looked for app 18d1:9308, elf_loader "
                            "18d1:9307, ROM 1fc9:013d, flashloader 15a2:0073)",
                            "plug it in with a data-capable USB cable; `hostlink doctor` checks permissions; "
                            + RECOVERY_HINT)

    def _wait_for(self, mode: str, after: str) -> FoundBoard:
        for attempt in range(self.t.poll_attempts):
            boards = [b for b in self._boards() if b.mode == mode]
            if boards:
                return self._pick(boards)
            if attempt + 1 < self.t.poll_attempts:
                self.clock.sleep(self.t.poll_interval_s)
        seen = ", ".join(sorted({b.mode for b in self._boards()})) or "nothing"
        waited = self.t.poll_attempts * self.t.poll_interval_s
        raise LinkTimeout(f"after {after} the board did not appear in {mode} mode within {waited:.0f} s "
                          f"(now seen: {seen})", RECOVERY_HINT)

    # -- transitions

    def reset_app_to_rom(self, board: FoundBoard) -> None:
        """Open the app's CDC port at 1200 baud with DTR low and write b'42'. The port
        disappearing is the success case."""
        import serial

        if not board.port:
            raise WrongMode(f"the board runs its application (USB {board.usb_id}) but has no serial port node",
                            "check that the cdc_acm kernel driver is loaded; " + RECOVERY_HINT)
        last = None
        for _ in range(self.t.reset_attempts):
            port = serial.Serial()
            port.port, port.baudrate, port.dtr = board.port, RESET_BAUD, False
            try:
                port.open()
            except serial.SerialException as exc:
                last = exc
                if getattr(exc, "errno", None) in (errno.EACCES, errno.EPERM) or "ermission" in str(exc):
                    # udev may still be applying the rules to a freshly enumerated port
                    self.clock.sleep(self.t.poll_interval_s)
                    continue
                if getattr(exc, "errno", None) == errno.ENOENT:
                    return  # already gone: the board is resetting
                raise LinkError(f"cannot open {board.port} to reset the board: {exc}", UDEV_HINT) from None
            try:
                port.write(b"42")
            except (serial.SerialException, OSError):
                pass  # the board dropped off the bus while we wrote: that is the reset
            finally:
                try:
                    port.close()
                except Exception:
                    pass
            return
        raise LinkError(f"permission denied opening {board.port} at {RESET_BAUD} baud "
                        f"({self.t.reset_attempts} attempts): {last}", UDEV_HINT)

    def reset_elfloader_to_rom(self, board: FoundBoard) -> None:
        link = self._open_elfloader(board)
        try:
            link.write(elp.build_report(elp.Command.RESET_TO_BOOTLOADER))
        except LinkError:
            pass  # it may drop off the bus before the write completes: that is the reset
        finally:
            link.close()

    def _open_elfloader(self, board: FoundBoard) -> HidLink:
        deadline = self.clock.monotonic() + self.t.hid_open_s
        while True:
            try:
                return HidLink(self.hid, board.vid, board.pid, board.serial, "elf_loader")
            except LinkError:
                if self.clock.monotonic() >= deadline:
                    raise
                self.clock.sleep(self.t.hid_open_interval_s)

    def load_flashloader(self, image: bytes) -> None:
        with Mboot(self.hid, *ROM_ID, "ROM serial downloader", self.t.mboot_timeout_ms) as mb:
            mb.load_image(image)

    def program_nand(self, sb: bytes) -> None:
        with Mboot(self.hid, *FLASHLOADER_ID, "flashloader", self.t.mboot_timeout_ms) as mb:
            mb.receive_sb_file(sb)

    def load_elfloader(self) -> int:
        srec = images.load_srec(self.build.elfloader_srec)
        entry = srec.execution_start_address
        if entry is None:
            raise VerifyError(f"{self.build.elfloader_srec} has no start address", "rebuild coralmicro")
        flag = images.elf_symbol(self.build.elfloader_elf, images.DISABLE_USB_TIMEOUT_SYMBOL)
        written = 0
        with Mboot(self.hid, *FLASHLOADER_ID, "flashloader", self.t.mboot_timeout_ms) as mb:
            for seg in srec.segments:
                mb.write_verified(seg.minimum_address, bytes(seg.data), "elf_loader")
                written += len(seg.data)
            mb.write_verified(flag, b"\xff\xff\xff\xff", images.DISABLE_USB_TIMEOUT_SYMBOL)
            mb.call_no_return(entry)
        return written + 4

    def transfer(self, link: HidLink, target: elp.Target, payload: bytes, name: str) -> None:
        # Linux delivers the board's 1-byte answer to every report; flashtool skips it elsewhere.
        wait_ack = sys.platform.startswith("linux")
        reports = elp.transfer_reports(target, payload)
        for n, report in enumerate(reports):
            where = f"{name} (report {n} of {len(reports)}, byte {max(0, n - 2) * elp.MAX_CHUNK})"
            try:
                link.write(report)
            except LinkError as exc:
                raise LinkError(f"the elf_loader vanished while writing {where}", RECOVERY_HINT) from exc
            if not wait_ack:
                continue
            last_of_ram = target == elp.Target.RAM and n == len(reports) - 1
            try:
                ack = link.read(elp.ACK_SIZE, self.t.hid_ack_timeout_ms)
            except LinkError as exc:
                if last_of_ram:
                    return  # DONE of a RAM image: the loader jumps into it and leaves the bus
                raise LinkError(f"the elf_loader vanished while writing {where}", RECOVERY_HINT) from exc
            if not ack and not last_of_ram:
                raise LinkTimeout(f"the elf_loader did not acknowledge report {n} of {name} within "
                                  f"{self.t.hid_ack_timeout_ms} ms", RECOVERY_HINT)

    # -- the whole flow

    def flash(self, firmware, *, ram: bool = False, data_files: list[str] = (), usb_ip: str | None =
              images.DEFAULT_USB_IP, format_filesystem: bool = True) -> FlashReport:
        # Everything that can fail without the board is checked before the board is touched.
        stripped = images.stripped_firmware(firmware)
        manifest = [] if ram else images.build_manifest(stripped, list(data_files), usb_ip, str(firmware))
        if ram and data_files:
            raise ConfigError("--ram runs the ELF from RAM and writes no files", "drop --data or --ram")
        if self.build is None:
            self.build = images.CoralBuild.from_dir(None)
        flashloader = images.flashloader_image(self.build)
        sb = None if ram else images.program_sb(images.elfloader_nand_image(self.build),
                                                erase_filesystem=format_filesystem)
        images.elf_symbol(self.build.elfloader_elf, images.DISABLE_USB_TIMEOUT_SYMBOL)

        self.report = FlashReport(self.serial, ram)
        board = self.locate()
        if board.serial and not self.serial:
            self.serial = board.serial
            self.report.board_serial = board.serial
        self._step(f"found the board in {board.mode} mode ({board.usb_id}"
                   f"{', serial ' + board.serial if board.serial else ''})")

        if board.mode == "app":
            self._step(f"resetting into the ROM: {board.port} at {RESET_BAUD} baud")
            self.reset_app_to_rom(board)
            board = self._wait_for("rom", "the 1200-baud reset")
        elif board.mode == "elf_loader":
            self._step("asking elf_loader to reboot into the ROM")
            self.reset_elfloader_to_rom(board)
            board = self._wait_for("rom", "RESET_TO_BOOTLOADER")

        if board.mode == "rom":
            self._step(f"loading the flashloader ({len(flashloader)} bytes) through the ROM")
            self.load_flashloader(flashloader)
            board = self._wait_for("flashloader", "load-image")

        if board.mode != "flashloader":
            raise WrongMode(f"the board is in {board.mode} mode where the flashloader was expected", RECOVERY_HINT)
        if sb is not None:
            self._step(f"writing elf_loader into SPI NAND (SB file, {len(sb)} bytes)")
            self.program_nand(sb)
        self._step("loading elf_loader into RAM (USB timeout disabled)")
        self.report.verified_ram_bytes = self.load_elfloader()
        board = self._wait_for("elf_loader", "starting elf_loader")
        if board.serial and not self.serial:
            self.serial = self.report.board_serial = board.serial

        link = self._open_elfloader(board)
        try:
            if ram:
                self._step(f"running {firmware} from RAM ({len(stripped)} bytes)")
                self.transfer(link, elp.Target.RAM, stripped, "the RAM image")
                self.report.files.append(("(RAM)", len(stripped)))
            else:
                if format_filesystem:
                    self._step("formatting the filesystem")
                    self.transfer_command(link, elp.Command.FORMAT)
                for entry in manifest:
                    self._step(f"writing {entry.path} ({len(entry.data)} bytes)")
                    self.transfer(link, elp.Target.PATH, entry.path.encode() + b"\0", entry.path)
                    self.transfer(link, elp.Target.FILESYSTEM, entry.data, entry.path)
                    self.report.files.append((entry.path, len(entry.data)))
                self._step("rebooting from flash")
                try:
                    link.write(elp.build_report(elp.Command.RESET_TO_FLASH))
                except LinkError:
                    pass  # the board may leave the bus before the write returns
        finally:
            link.close()

        if ram:
            board = self._wait_ram_started()
            self._step("the RAM image started" + (f"; its console is {board.port}" if board and board.port else
                                                  " (it did not enumerate as a Coral app)"))
        else:
            board = self._wait_for("app", "RESET_TO_FLASH")
            self._step(f"the application is running ({board.port or board.usb_id})")
        return self.report

    def _wait_ram_started(self) -> FoundBoard | None:
        """After a RAM transfer elf_loader jumps into the image: it must leave the bus."""
        for attempt in range(self.t.poll_attempts):
            boards = self._boards()
            apps = [b for b in boards if b.mode == "app"]
            if apps:
                return self._pick(apps)
            if not any(b.mode == "elf_loader" for b in boards):
                return None
            if attempt + 1 < self.t.poll_attempts:
                self.clock.sleep(self.t.poll_interval_s)
        raise VerifyError("elf_loader is still waiting after the RAM transfer: the image did not start",
                          "check that the ELF is linked for the Coral Micro's RAM (coralmicro apps are)")

    def transfer_command(self, link: HidLink, command: elp.Command) -> None:
        link.write(elp.build_report(command))
        if sys.platform.startswith("linux") and not link.read(elp.ACK_SIZE, self.t.hid_ack_timeout_ms):
            raise LinkTimeout(f"the elf_loader did not acknowledge {command.name}", RECOVERY_HINT)


# --- run time -------------------------------------------------------------------------------------


def console_port(board: FoundBoard) -> str:
    """The app's CDC port, for protocol v1 and the console. Never opened at 1200 baud here."""
    if board.board != "coralmicro" or board.mode != "app" or not board.port:
        raise WrongMode(f"{board.description} ({board.mode}) has no application console",
                        "flash an application first: hostlink flash --board coralmicro APP.elf")
    return board.port




# --- registry ---------------------------------------------------------------------------------------


class CoralBoardFlasher(Flasher):
    """``hostlink flash --board coralmicro``: ROM -> flashloader -> elf_loader -> files -> app."""

    options = ("ram", "data_files", "build_dir", "serial", "usb_ip", "keep_files")
    summary = ("FIRMWARE.elf through ROM -> flashloader -> elf_loader (spsdk over HID), writing /default.elf, "
               "--data files and /usb_ip_address, then booting it")

    def flash(self, firmware, *, port, on_step, ram=False, data_files=(), build_dir=None, serial=None,
              usb_ip="10.10.10.1", keep_files=False, **_):
        build = images.CoralBuild.from_dir(build_dir)
        on_step(f"flashing {firmware} to the Coral Dev Board Micro" + (" (RAM)" if ram else ""))
        report = CoralFlasher(build, serial=serial, on_step=on_step).flash(
            firmware, ram=ram, data_files=list(data_files), usb_ip=usb_ip or None, format_filesystem=not keep_files)
        return [f"{path}\t{size} bytes" for path, size in report.files] + [f"done: board {report.board_serial or '?'}"]


def _runtime_link(port: str, baudrate: int):
    if baudrate == RESET_BAUD:
        raise ConfigError(f"{RESET_BAUD} baud reboots the Coral Micro into its bootloader",
                          f"use any other rate (default {CONSOLE_BAUD})")
    from ..links import open_link

    return open_link(port, baudrate=baudrate)


def _profile():
    from ..emulator.profiles import coralmicro_profile

    return coralmicro_profile()


_FLASH_AGAIN = "run `hostlink flash --board coralmicro APP.elf` again"
BOARD = Board(
    name="coralmicro", title="Google Coral Dev Board Micro",
    # Sources: coralmicro flashtool.py and usb_device_task.h.
    usb=(UsbId(*ROM_ID, "rom", "i.MX RT1176 ROM serial downloader (recovery)", udev=("usb", "hidraw")),
         UsbId(*FLASHLOADER_ID, "flashloader", "NXP flashloader running from OCRAM", udev=("usb", "hidraw")),
         UsbId(GOOGLE_VID, 0x9307, "elf_loader", "Coral elf_loader waiting for files", udev=("usb", "hidraw")),
         UsbId(GOOGLE_VID, 0x93FE, "elf_loader", "Coral elf_loader (legacy PID)", udev=("usb", "hidraw")),
         UsbId(GOOGLE_VID, 0x9308, "app", "Coral Dev Board Micro application (CDC-ACM)", udev=("tty",),
               symlink="coral_micro_$attr{serial}"),
         UsbId(GOOGLE_VID, 0x93FF, "app", "Coral Dev Board Micro application (legacy PID)", udev=("tty",),
               symlink="coral_micro_$attr{serial}")),
    advice={"rom": ("in the ROM serial downloader (recovery mode, or left there by a failed flash)",
                    "run `hostlink flash --board coralmicro APP.elf` to flash it again"),
            "flashloader": ("running the NXP flashloader (a flash stopped half way)", _FLASH_AGAIN),
            "elf_loader": ("waiting in elf_loader (no /default.elf, or a flash stopped before the files)", _FLASH_AGAIN),
            "app": ("running its application", None)},
    packages=(("hid", "hidapi", "Coral bootloaders (HID)"), ("spsdk", "spsdk", "Coral ROM/flashloader (MCUboot)"),
              ("elftools", "pyelftools", "reading firmware ELFs")),
    flasher=CoralBoardFlasher, emulator_profile=_profile, open_link=_runtime_link, baudrate=CONSOLE_BAUD,
    firmware_port="coralmicro", conformance=("c-host", "c-qemu-m7", "c-qemu-m7-tflm"),
)
