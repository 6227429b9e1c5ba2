"""Raspberry Pi AI Camera (IMX500): the host side.

The board is a Pi running the hostlink agent (``firmware/imx500``), which speaks protocol v1 over
TCP (``tcp://PI:5555``; a bare host name means that) or over a USB serial gadget (1d6b:0104,
product "hostlink IMX500 agent"). Models go up as ``packerOut.zip`` (the agent runs
``imx500-package`` on the Pi) or as ``network.rpk``; hostlink flashes no firmware to it.
"""
from __future__ import annotations

from .registry import Board, UsbId

AGENT_TCP_PORT = 5555
#: The Raspberry Pi's USB gadget the agent sets up (firmware/imx500/gadget.sh): the Linux Foundation
#: multifunction-composite ID, told apart from other gadgets by its product string.
GADGET = UsbId(0x1D6B, 0x0104, "app", "Raspberry Pi with the hostlink IMX500 agent (USB gadget)",
               product="hostlink IMX500 agent", udev=("tty",), symlink="hostlink_imx500")


def agent_url(address: str) -> str:
    """The address of an agent: its gadget tty or a URL as given, tcp://HOST:5555 for a host name."""
    return address if "://" in address or address.startswith("/") else f"tcp://{address}:{AGENT_TCP_PORT}"


def _runtime_link(address: str, baudrate: int):
    from ..links import open_link

    return open_link(agent_url(address), baudrate=baudrate)


def _profile():
    from ..emulator.profiles import imx500_profile

    return imx500_profile()


BOARD = Board(
    name="imx500", title="Sony IMX500 (Raspberry Pi AI Camera)", usb=(GADGET,),
    advice={"app": ("a Raspberry Pi running the hostlink IMX500 agent", None)},
    emulator_profile=_profile, open_link=_runtime_link, baudrate=115200,
    conformance=("imx500-agent",),
)
