"""What every device object shares, whatever protocol its board speaks.

``hostlink.client.Device`` (protocol v1) and the device classes of boards with their own protocol
(``hostlink.boards.mlperftiny``) both hold a link, run close hooks once (a farm lease releases its
place there), work as context managers and expose the emulated board behind their link.
"""
from __future__ import annotations

from typing import Callable

from .links.base import Link


class DeviceHandle:
    def __init__(self, link: Link):
        self.link = link
        #: called once when the device is closed (a farm lease releases its place here)
        self.on_close: list[Callable[[], None]] = []
        self.farm_lease = None  # the labgrid place this device was reached through, if any

    @property
    def emulated_board(self):
        """The software board behind this device (a hostlink.timeline.BoardTimeline: its timeline,
        clock and power profile, for emulated monitors), or None for a real board."""
        return self.link.emulated_board

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        try:
            self.link.close()
        finally:
            hooks, self.on_close = self.on_close, []
            for hook in hooks:
                hook()
