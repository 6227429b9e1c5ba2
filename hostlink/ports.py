"""Board addresses checked before anything is opened, so a typo is named as a typo.

``hostlink.connect`` and the CLI's ``--port`` both go through :func:`check_port`: an empty address,
a TCP address without a port or with one past 65535, an ``emu:`` address with an unknown board or
option, or control characters in the address are refused here with the accepted forms, instead of
surfacing later as a library's internal message (pyserial's "'<=' not supported ...").
"""
from __future__ import annotations

import importlib
import re
import urllib.parse

from .errors import ConfigError

FORMS = ("a device path (/dev/ttyACM0, COM3), socket://HOST:PORT, tcp://HOST:PORT, usb://VID:PID, "
         "labgrid://PLACE or emu:BOARD")
#: pyserial URL handlers hostlink passes through untouched (they parse their own options).
SERIAL_SCHEMES = ("loop", "rfc2217", "spy", "hwgrep", "alt", "cp2110")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_port(url: str) -> str:
    """``url`` unchanged if it is a board address hostlink can open; ConfigError naming the fix if not.

    Wrong Python types are programmer errors and raise TypeError.
    """
    if not isinstance(url, str):
        raise TypeError(f"a port address is a str, not {type(url).__name__}")
    if not url.strip():
        raise ConfigError("the port address is empty", f"give {FORMS}")
    if _CONTROL.search(url):
        raise ConfigError(f"the port address {url!r} contains control characters", f"give {FORMS}")
    if url.startswith("emu:"):
        # The board registry sits above this layer: bound late, as in api.py (tests/test_layering.py).
        importlib.import_module("hostlink.boards.registry").check_emulator_address(url)
        return url
    scheme, sep, _ = url.partition("://")
    if sep and scheme == "labgrid":
        importlib.import_module("hostlink.farm.address").parse_farm_url(url)  # bound late, as above
    elif sep and scheme.lower() in ("tcp", "socket"):
        _check_tcp(url)
    elif sep and scheme.lower() == "usb":
        _check_usb(url)
    elif sep and scheme.lower() not in SERIAL_SCHEMES:
        raise ConfigError(f"unknown kind of port {scheme + '://'!r} in {url!r}", f"give {FORMS}")
    elif not sep and not (url.startswith("/") or url.upper().startswith("COM")):
        raise ConfigError(f"unknown port {url!r}", f"give {FORMS}")
    return url


def _check_tcp(url: str) -> None:
    example = url.split("://")[0] + "://127.0.0.1:5555"
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        raise ConfigError(f"{url!r} names no host", f"give HOST:PORT, e.g. {example}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{url!r} has a port that is not a number from 1 to 65535", f"e.g. {example}") from None
    if port is None or port == 0:
        raise ConfigError(f"{url!r} names no port (1 to 65535)", f"e.g. {example}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{url!r} has more than HOST:PORT", f"e.g. {example}")


def _check_usb(url: str) -> None:
    form = 'expected "usb://VID:PID[/SERIAL][?interface=N]" with hexadecimal ids, e.g. usb://18d1:9308'
    parts = urllib.parse.urlsplit(url)
    ids = parts.netloc.split(":")
    if len(ids) != 2 or not all(re.fullmatch(r"[0-9a-fA-F]{1,4}", i) for i in ids):
        raise ConfigError(f"bad USB address {url!r}", form)
    query = urllib.parse.parse_qs(parts.query)
    if set(query) - {"interface"}:
        raise ConfigError(f"unknown option {sorted(set(query) - {'interface'})[0]!r} in {url!r}", form)
    if "interface" in query and not re.fullmatch(r"\d{1,3}", query["interface"][-1]):
        raise ConfigError(f"bad interface number in {url!r}", form)
