"""`hostlink doctor`: what stands between this machine and a real board, and how to fix it.

Each check returns a ``Check`` (data only); nothing here opens a port or a USB device, because
opening the Coral console at the wrong rate or the Spresense port with DTR would reset the board.
Busy ports are found by looking for other processes that hold the tty open (/proc/*/fd).
"""
from __future__ import annotations

import grp
import os
import platform
import pwd
import sys
from dataclasses import dataclass
from pathlib import Path

from .discovery import FoundBoard, find_boards, libusb_backend

OK, WARN, FAIL, INFO = "ok", "warn", "fail", "info"
RULES_NAME = "99-hostlink.rules"
RULES_DIR = Path("/etc/udev/rules.d")
#: The command that installs the rules shipped in tools/udev (also printed by the CLI).
INSTALL_RULES = ("sudo cp {src} /etc/udev/rules.d/ && sudo udevadm control --reload-rules "
                 "&& sudo udevadm trigger")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail | info
    detail: str
    hint: str | None = None


def rules_source() -> Path:
    """Where the udev rules ship: tools/udev in a checkout, hostlink/data in an installed wheel."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "tools" / "udev" / RULES_NAME, here.parents[1] / "data" / RULES_NAME):
        if candidate.is_file():
            return candidate
    return here.parents[2] / "tools" / "udev" / RULES_NAME


def check_python_packages() -> list[Check]:
    out = []
    for module, package, why in (("usb", "pyusb", "USB discovery"), ("serial", "pyserial", "serial ports"),
                                 ("hid", "hidapi", "Coral bootloaders (HID)"), ("xmodem", "xmodem", "Spresense flash"),
                                 ("spsdk", "spsdk", "Coral ROM/flashloader (MCUboot)"),
                                 ("elftools", "pyelftools", "reading firmware ELFs")):
        try:
            __import__(module)
        except Exception as exc:  # a broken native extension raises more than ImportError
            out.append(Check(f"python: {package}", FAIL, f"cannot import {module} ({exc})",
                             f"pip install {package}  (needed for {why})"))
        else:
            out.append(Check(f"python: {package}", OK, f"importable ({why})"))
    return out


def check_libusb() -> Check:
    if libusb_backend() is None:
        return Check("libusb", FAIL, "no libusb-1.0 backend for pyusb (usb.core.NoBackendError)",
                     "pip install libusb-package (ships libusb), or sudo apt install libusb-1.0-0")
    return Check("libusb", OK, "pyusb has a libusb-1.0 backend")


def check_udev_rules(rules_dir: Path = RULES_DIR) -> Check:
    if not sys.platform.startswith("linux"):
        return Check("udev rules", INFO, f"not needed on {platform.system()}")
    installed = rules_dir / RULES_NAME
    coral = rules_dir / "99-coral-micro.rules"
    if installed.is_file():
        shipped = rules_source()
        if shipped.is_file() and shipped.read_bytes() != installed.read_bytes():
            return Check("udev rules", WARN, f"{installed} differs from the rules this hostlink ships",
                         INSTALL_RULES.format(src=shipped))
        return Check("udev rules", OK, f"{installed} installed")
    if coral.is_file():
        return Check("udev rules", WARN, f"only coralmicro's {coral} is installed (no Spresense/IMX500 gadget rules)",
                     INSTALL_RULES.format(src=rules_source()))
    return Check("udev rules", WARN, f"{installed} is not installed: non-root users cannot open the boards' "
                 "HID bootloaders", INSTALL_RULES.format(src=rules_source()))


def _user_groups() -> tuple[str, set[str]]:
    user = pwd.getpwuid(os.getuid()).pw_name
    names = {g.gr_name for g in grp.getgrall() if user in g.gr_mem}
    for gid in os.getgroups() + [os.getgid()]:
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            pass
    return user, names


def check_groups() -> Check:
    if not sys.platform.startswith("linux"):
        return Check("serial permissions", INFO, f"not checked on {platform.system()}")
    if os.geteuid() == 0:
        return Check("serial permissions", OK, "running as root")
    user, groups = _user_groups()
    if "dialout" in groups:
        return Check("serial permissions", OK, f"{user} is in dialout")
    return Check("serial permissions", WARN, f"{user} is not in the dialout group (Spresense /dev/ttyUSB*)",
                 "sudo usermod -aG dialout $USER, then log out and in again")


def port_holders(port: str, proc: Path = Path("/proc")) -> list[tuple[int, str]]:
    """Other processes holding ``port`` open (only those whose fds this user may read)."""
    holders = []
    try:
        target = os.path.realpath(port)
    except OSError:
        return holders
    me = os.getpid()
    for entry in proc.glob("[0-9]*"):
        pid = int(entry.name)
        if pid == me:
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.path.realpath(fd) == target:
                    name = (entry / "comm").read_text().strip()
                    holders.append((pid, name))
                    break
            except OSError:
                continue
    return holders


ADVICE = {
    ("coralmicro", "rom"): ("in the ROM serial downloader (recovery mode, or left there by a failed flash)",
                            "run `hostlink flash --board coralmicro APP.elf` to flash it again"),
    ("coralmicro", "flashloader"): ("running the NXP flashloader (a flash stopped half way)",
                                    "run `hostlink flash --board coralmicro APP.elf` again"),
    ("coralmicro", "elf_loader"): ("waiting in elf_loader (no /default.elf, or a flash stopped before the files)",
                                   "run `hostlink flash --board coralmicro APP.elf` again"),
    ("coralmicro", "app"): ("running its application", None),
    ("spresense", "unknown"): ("a CP2102N USB-UART (a Spresense main board if the nash handshake answers)", None),
    ("imx500", "app"): ("a Raspberry Pi running the hostlink IMX500 agent", None),
}


def check_board(board: FoundBoard, proc: Path = Path("/proc")) -> list[Check]:
    what, hint = ADVICE.get((board.board, board.mode), (f"{board.board} in {board.mode} mode", None))
    where = board.port or (f"bus {board.bus} addr {board.address}" if board.bus is not None else board.usb_id)
    name = f"{board.board} {board.serial or board.usb_id}"
    checks = [Check(name, WARN if hint else OK, f"{where}: {what}", hint)]
    if board.port:
        if not os.path.exists(board.port):
            checks.append(Check(f"{name} port", FAIL, f"{board.port} is listed but missing",
                                "re-plug the board; check dmesg for the USB driver"))
        elif not os.access(board.port, os.R_OK | os.W_OK):
            checks.append(Check(f"{name} port", FAIL, f"no read/write permission on {board.port}",
                                "join the dialout group or install the udev rules (see above)"))
        else:
            holders = port_holders(board.port, proc)
            if holders:
                listed = ", ".join(f"{n} (pid {p})" for p, n in holders)
                checks.append(Check(f"{name} port", WARN, f"{board.port} is busy: held by {listed}",
                                    "close that program (serial monitor, another hostlink) first"))
            else:
                checks.append(Check(f"{name} port", OK, f"{board.port} is free and accessible"))
    return checks


def run_checks(found: list[FoundBoard] | None = None) -> tuple[list[Check], list[FoundBoard]]:
    checks = check_python_packages()
    checks.append(check_libusb())
    checks.append(check_udev_rules())
    checks.append(check_groups())
    boards = find_boards() if found is None else found
    if not boards:
        checks.append(Check("boards", INFO, "no board plugged in (Coral 18d1:9307/9308/93fe/93ff, 1fc9:013d, "
                            "15a2:0073; Spresense 10c4:ea60; IMX500 agent gadget 1d6b:0104)",
                            "plug a board in with a data cable; without one, hostlink uses the emulators"))
    for b in boards:
        checks.extend(check_board(b))
    return checks, boards
