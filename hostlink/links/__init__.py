"""Byte links to boards. ``open_link(url)`` picks the backend from the address.

    /dev/ttyACM0, COM3, socket://HOST:PORT, loop://, rfc2217://...   pyserial
    tcp://HOST:PORT                                                  pyserial socket://
    usb://VID:PID[/SERIAL][?interface=N]                             pyusb bulk endpoints

``emu:BOARD`` is not a link but a whole in-process board; ``hostlink.connect`` handles it.
"""
from ..errors import ConfigError
from .base import Link


def open_link(url: str, *, baudrate: int = 921600) -> Link:
    if url.startswith("usb://"):
        from .usb import UsbBulkLink

        return UsbBulkLink(url)
    if url.startswith("tcp://"):
        url = "socket://" + url[len("tcp://"):]
    if "://" in url or url.startswith("/") or url.upper().startswith("COM"):
        from .serial import SerialLink

        return SerialLink(url, baudrate=baudrate)
    raise ConfigError(f"unknown port {url!r}",
                      "use a device path (/dev/ttyACM0), socket://HOST:PORT, usb://VID:PID or emu:BOARD")


__all__ = ["Link", "open_link"]
