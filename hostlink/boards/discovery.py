"""Which boards are plugged in, and in which mode: USB enumeration by VID/PID and serial number.

Resources here hold data only (labgrid's rule): ``find_boards()`` is the one place that touches
the USB stack, and each ``FoundBoard`` it returns is a frozen record. Two sources are combined:
pyusb (every USB device, through the libusb that ``libusb-package`` ships) and pyserial's port
list (tty paths for CDC-ACM and USB-UART devices). Either may be missing on a given machine; the
result is then simply shorter, never an exception, so `hostlink boards` works everywhere.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UsbIdentity:
    vid: int
    pid: int
    board: str
    mode: str
    description: str
    product: str | None = None  # must match too (the IMX500 agent's generic gadget VID:PID)


def known_ids() -> tuple[UsbIdentity, ...]:
    """Every USB identity hostlink knows: each board module's (hostlink.boards.registry), then the
    power monitors'."""
    from .registry import usb_ids

    return tuple(UsbIdentity(u.vid, u.pid, kind, u.mode, u.description, u.product) for kind, u in usb_ids())


def _needs_product(vid: int, pid: int) -> bool:
    return any(i.product for i in known_ids() if (i.vid, i.pid) == (vid, pid))


MODES = ("app", "rom", "flashloader", "elf_loader", "updater", "unknown")


@dataclass(frozen=True)
class FoundBoard:
    """One plugged-in board (or power monitor) as the USB stack reports it. No I/O."""

    board: str  # a board kind of hostlink.boards.registry, or a monitor ('ppk2', 'joulescope', 'lpm01a')
    mode: str  # one of MODES
    vid: int
    pid: int
    serial: str | None
    port: str | None  # tty path when the device has one
    description: str
    bus: int | None = None
    address: int | None = None

    @property
    def usb_id(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}"


def identify(vid: int, pid: int, product: str | None = None) -> UsbIdentity | None:
    """The known identity for a VID:PID (and, for a product-qualified one, its product string)."""
    for ident in known_ids():
        if (ident.vid, ident.pid) == (vid, pid) and (
                ident.product is None or (product and ident.product.lower() in product.lower())):
            return ident
    return None


def libusb_backend():
    """pyusb's libusb-1.0 backend, preferring the library ``libusb-package`` ships; None if absent."""
    try:
        import libusb_package

        backend = libusb_package.get_libusb1_backend()
        if backend is not None:
            return backend
    except Exception as exc:  # a broken wheel must not stop discovery
        log.debug("libusb-package unusable: %s", exc)
    try:
        import usb.backend.libusb1

        return usb.backend.libusb1.get_backend()
    except Exception as exc:
        log.debug("no libusb backend: %s", exc)
        return None


def _usb_string(dev, attr: str) -> str | None:
    # Reading a string descriptor needs access to the device node; without udev rules it fails.
    try:
        return getattr(dev, attr)
    except Exception:
        return None


def _from_usb() -> list[FoundBoard]:
    backend = libusb_backend()
    if backend is None:
        return []
    try:
        import usb.core

        devices = list(usb.core.find(find_all=True, backend=backend) or [])
    except Exception as exc:
        log.debug("USB enumeration failed: %s", exc)
        return []
    found = []
    for dev in devices:
        vid, pid = int(dev.idVendor), int(dev.idProduct)
        product = _usb_string(dev, "product") if _needs_product(vid, pid) else None
        ident = identify(vid, pid, product)
        if ident is None:
            continue
        found.append(FoundBoard(ident.board, ident.mode, vid, pid, _usb_string(dev, "serial_number"), None,
                                ident.description, getattr(dev, "bus", None), getattr(dev, "address", None)))
    return found


def _from_serial_ports() -> list[FoundBoard]:
    try:
        from serial.tools import list_ports

        ports = list(list_ports.comports())
    except Exception as exc:
        log.debug("serial port listing failed: %s", exc)
        return []
    found = []
    for p in ports:
        if p.vid is None or p.pid is None:
            continue
        ident = identify(p.vid, p.pid, getattr(p, "product", None) or getattr(p, "description", None))
        if ident is None:
            continue
        found.append(FoundBoard(ident.board, ident.mode, p.vid, p.pid, p.serial_number or None, p.device,
                                ident.description))
    return found


def find_boards() -> list[FoundBoard]:
    """Every known board plugged in, merged across pyusb and the serial-port list.

    A device seen by both sources appears once, with the tty path from pyserial and the bus
    address from pyusb. Never raises: no libusb or no devices gives ``[]``.
    """
    by_serial_port = _from_serial_ports()
    merged: list[FoundBoard] = []
    used = set()
    for usb_dev in _from_usb():
        match = None
        for i, tty in enumerate(by_serial_port):
            if i in used or (tty.vid, tty.pid) != (usb_dev.vid, usb_dev.pid):
                continue
            if usb_dev.serial is None or tty.serial is None or usb_dev.serial == tty.serial:
                match = i
                break
        if match is None:
            merged.append(usb_dev)
        else:
            used.add(match)
            tty = by_serial_port[match]
            merged.append(FoundBoard(usb_dev.board, usb_dev.mode, usb_dev.vid, usb_dev.pid,
                                     usb_dev.serial or tty.serial, tty.port, usb_dev.description,
                                     usb_dev.bus, usb_dev.address))
    merged.extend(t for i, t in enumerate(by_serial_port) if i not in used)
    merged.sort(key=lambda b: (b.board, b.mode, b.port or "", b.serial or ""))
    return merged
