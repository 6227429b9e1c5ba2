"""Raspberry Pi AI Camera (IMX500): the host side.

The board is a Pi running the hostlink agent (``firmware/imx500``), which speaks protocol v1 over
TCP (``tcp://PI:5555``) or over a USB serial gadget (1d6b:0104, "hostlink IMX500 agent"). Models go
up as ``packerOut.zip`` (the agent runs ``imx500-package`` on the Pi) or as ``network.rpk``; this
module checks an ``.rpk`` on the host before it is sent.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from ..protocols import imx500_rpk
from .discovery import FoundBoard
from .errors import WrongMode

AGENT_TCP_PORT = 5555


def inspect_package(path: str | os.PathLike) -> imx500_rpk.Rpk:
    """Parse a ``network.rpk``: blocks, network_info.txt (input size, normalisation), intrinsics."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc.strerror}") from None
    try:
        return imx500_rpk.parse_rpk(data)
    except imx500_rpk.RpkError as exc:
        raise ConfigError(f"{p} is not a valid IMX500 network package: {exc}",
                          "package packerOut.zip on the Pi with imx500-package, or upload the zip itself") from None


def agent_url(board: FoundBoard | str) -> str:
    """The address of an agent: its gadget tty, or tcp://HOST:5555 for a host name."""
    if isinstance(board, str):
        return board if "://" in board or board.startswith("/") else f"tcp://{board}:{AGENT_TCP_PORT}"
    if board.board != "imx500" or not board.port:
        raise WrongMode(f"{board.description} is not an IMX500 agent gadget",
                        "start firmware/imx500/gadget.sh and the agent on the Pi, or use tcp://PI:5555")
    return board.port


def open_runtime_link(board: FoundBoard | str):
    from ..links import open_link

    return open_link(agent_url(board), baudrate=115200)
