"""``labgrid://PLACE[?coordinator=HOST:PORT]``: which place, on which coordinator."""
from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass

from ..errors import ConfigError

SCHEME = "labgrid://"
DEFAULT_COORDINATOR = "127.0.0.1:20408"  # labgrid's own default port
#: labgrid's own rule for place names (labgrid/remote/common.py): letters, digits, - and _.
_PLACE = re.compile(r"^[A-Za-z0-9_-]+$")
_FORM = "labgrid://PLACE[?coordinator=HOST:PORT], e.g. labgrid://imx500-1"


@dataclass(frozen=True)
class FarmAddress:
    place: str
    coordinator: str

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.place}?coordinator={self.coordinator}"


def is_farm_url(text: str) -> bool:
    return text.startswith(SCHEME)


def default_coordinator() -> str:
    """labgrid's own environment variable, so hostlink and labgrid-client agree."""
    return os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR


def parse_farm_url(text: str) -> FarmAddress:
    if not is_farm_url(text):
        raise ConfigError(f"{text!r} is not a labgrid address", f"expected {_FORM}")
    rest = text[len(SCHEME):]
    place, _, query = rest.partition("?")
    place = place.rstrip("/")
    if not place:
        raise ConfigError(f"{text!r} names no place", f"expected {_FORM}")
    if not _PLACE.match(place):
        raise ConfigError(f"bad place name {place!r} in {text!r}",
                          "labgrid place names use letters, digits, '-' and '_'")
    opts = urllib.parse.parse_qs(query, keep_blank_values=True)
    unknown = set(opts) - {"coordinator"}
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(sorted(unknown))} in {text!r}", f"expected {_FORM}")
    coordinator = opts.get("coordinator", [default_coordinator()])[-1]
    host, sep, port = coordinator.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"bad coordinator address {coordinator!r} in {text!r}",
                          "expected HOST:PORT, e.g. ?coordinator=127.0.0.1:20408")
    return FarmAddress(place, coordinator)
