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

from ..errors import ConfigError
from .discovery import FoundBoard, find_boards, libusb_backend

OK, WARN, FAIL, INFO = "ok", "warn", "fail", "info"
RULES_NAME = "99-hostlink.rules"
RULES_DIR = Path("/etc/udev/rules.d")


def install_rules_command() -> str:
    """The command that installs the rules this hostlink generates (works from a wheel too; the same
    text is committed as tools/udev/99-hostlink.rules)."""
    return (f"{sys.executable} -m hostlink.boards.registry | sudo tee {RULES_DIR / RULES_NAME} >/dev/null "
            "&& sudo udevadm control --reload-rules && sudo udevadm trigger")


def rules_text() -> str:
    """The udev rules for every board and monitor in the registry."""
    from .registry import udev_rules

    return udev_rules()


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail | info
    detail: str
    hint: str | None = None


def _packages() -> list[tuple[str, str, str]]:
    """(module, pip package, why): discovery's own, then each board's (hostlink.boards.registry)."""
    from .registry import boards

    wanted = [("usb", "pyusb", "USB discovery"), ("serial", "pyserial", "serial ports")]
    for b in boards():
        wanted.extend(p for p in b.packages if p[0] not in {w[0] for w in wanted})
    return wanted


def check_python_packages() -> list[Check]:
    out = []
    for module, package, why in _packages():
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
        if installed.read_text(errors="replace") != rules_text():
            return Check("udev rules", WARN, f"{installed} differs from the rules this hostlink generates",
                         install_rules_command())
        return Check("udev rules", OK, f"{installed} installed")
    if coral.is_file():
        return Check("udev rules", WARN, f"only coralmicro's {coral} is installed (no rules for the other boards)",
                     install_rules_command())
    return Check("udev rules", WARN, f"{installed} is not installed: non-root users cannot open the boards' "
                 "HID bootloaders", install_rules_command())


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


def _advice(board: FoundBoard) -> tuple[str, str | None]:
    from .registry import get

    try:
        advice = get(board.board).advice
    except ConfigError:  # a power monitor, not a board
        advice = {}
    return advice.get(board.mode, (f"{board.board} in {board.mode} mode", None))


def check_board(board: FoundBoard, proc: Path = Path("/proc")) -> list[Check]:
    what, hint = _advice(board)
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
        checks.append(Check("boards", INFO, f"no board plugged in ({_known_ids_text()})",
                            "plug a board in with a data cable; without one, hostlink uses the emulators"))
    for b in boards:
        checks.extend(check_board(b))
    return checks, boards


def _known_ids_text() -> str:
    from .registry import boards

    return "; ".join(f"{b.title}: " + ", ".join(sorted({f"{u.vid:04x}:{u.pid:04x}" for u in b.usb}))
                     for b in boards() if b.usb)
