"""USB bulk links through pyusb: endpoints found by VID/PID (and serial) and interface number.

URL: ``usb://VID:PID[/SERIAL][?interface=N]`` with hexadecimal ids, e.g. ``usb://18d1:9308?interface=2``.
"""
import urllib.parse

import usb.core
import usb.util

from ..errors import ConfigError, LinkError
from .base import Link


def _backend():
    try:
        import libusb_package
    except ImportError:  # pyusb then searches the system libusb
        return None
    return libusb_package.get_libusb1_backend()


def parse_usb_url(url: str) -> tuple[int, int, str | None, int]:
    parts = urllib.parse.urlsplit(url)
    form = 'expected "usb://VID:PID[/SERIAL][?interface=N]" with hexadecimal ids, e.g. usb://18d1:9308'
    try:
        vid_s, pid_s = parts.netloc.split(":")
        vid, pid = int(vid_s, 16), int(pid_s, 16)
    except ValueError:
        raise ConfigError(f"bad USB address {url!r}", form) from None
    serial = parts.path.strip("/") or None
    query = urllib.parse.parse_qs(parts.query)
    try:
        interface = int(query.get("interface", ["0"])[0])
    except ValueError:
        raise ConfigError(f"bad interface number in {url!r}", form) from None
    return vid, pid, serial, interface


class UsbBulkLink(Link):
    #: Bulk transfers are read in units of this size; a short packet ends a transfer.
    READ_SIZE = 16384

    def __init__(self, url: str):
        self.url = url
        vid, pid, serial, interface = parse_usb_url(url)
        try:
            matches = list(usb.core.find(find_all=True, idVendor=vid, idProduct=pid, backend=_backend()) or [])
        except usb.core.NoBackendError:
            raise LinkError("no libusb backend found", "pip install libusb-package (hostlink depends on it) "
                            "or install libusb-1.0 from your distribution") from None
        if serial is not None:
            matches = [d for d in matches if _serial_of(d) == serial]
        if not matches:
            raise LinkError(f"no USB device {vid:04x}:{pid:04x}" + (f" with serial {serial}" if serial else ""),
                            "is it plugged in and in application mode? `hostlink boards` lists devices")
        if len(matches) > 1:
            raise LinkError(f"{len(matches)} devices match {vid:04x}:{pid:04x}",
                            "add the serial number: usb://VID:PID/SERIAL")
        dev = matches[0]
        try:
            if dev.is_kernel_driver_active(interface):
                dev.detach_kernel_driver(interface)
        except (NotImplementedError, usb.core.USBError):
            pass
        try:
            cfg = dev.get_active_configuration()
            intf = cfg[(interface, 0)]
            usb.util.claim_interface(dev, interface)
        except usb.core.USBError as exc:
            if exc.errno == 13:
                raise LinkError(f"permission denied on USB device {vid:04x}:{pid:04x}",
                                "install the udev rules: hostlink doctor shows how") from None
            if exc.errno == 16:
                raise LinkError(f"USB device {vid:04x}:{pid:04x} is busy", "another program has claimed it") from None
            raise LinkError(f"cannot claim interface {interface} of {vid:04x}:{pid:04x}: {exc}") from None
        except (KeyError, IndexError):
            raise LinkError(f"USB device {vid:04x}:{pid:04x} has no interface {interface}") from None
        self._ep_out = usb.util.find_descriptor(intf, custom_match=lambda e: _is_bulk(e, usb.util.ENDPOINT_OUT))
        self._ep_in = usb.util.find_descriptor(intf, custom_match=lambda e: _is_bulk(e, usb.util.ENDPOINT_IN))
        if self._ep_out is None or self._ep_in is None:
            raise LinkError(f"interface {interface} of {vid:04x}:{pid:04x} has no bulk IN/OUT endpoint pair",
                            "pick the protocol interface with ?interface=N")
        self._dev = dev
        self._interface = interface

    def write(self, data: bytes) -> None:
        try:
            self._ep_out.write(data)
        except usb.core.USBError as exc:
            raise LinkError(f"USB write to {self.url} failed: {exc}", "the device may have been unplugged or reset") from None

    def read(self, timeout: float) -> bytes:
        try:
            return bytes(self._ep_in.read(self.READ_SIZE, timeout=max(1, int(timeout * 1000))))
        except usb.core.USBTimeoutError:
            return b""
        except usb.core.USBError as exc:
            if exc.errno == 110:  # ETIMEDOUT on some backends
                return b""
            raise LinkError(f"USB read from {self.url} failed: {exc}", "the device may have been unplugged or reset") from None

    def close(self) -> None:
        try:
            usb.util.release_interface(self._dev, self._interface)
            usb.util.dispose_resources(self._dev)
        except Exception:  # a vanished device cannot be released; nothing is lost
            pass


def _is_bulk(ep, direction) -> bool:
    return (usb.util.endpoint_direction(ep.bEndpointAddress) == direction
            and usb.util.endpoint_type(ep.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK)


def _serial_of(dev) -> str | None:
    try:
        return dev.serial_number
    except (usb.core.USBError, ValueError):
        return None
