"""Power monitors behind one interface, chosen by address.

    ppk2://auto                 the first Nordic PPK2 plugged in
    ppk2:///dev/ttyACM0         a given port (any pyserial URL after ppk2://)
    ppk2:///dev/ttyACM0?mode=ampere&spike_filter=0
    joulescope://               the first Joulescope (needs hostlink[joulescope])
    joulescope://SERIAL
    emulated://ppk2             an emulated PPK2 wired to an emulated board (also js220, js110)
    emulated://js220?seed=3&dropout=0.01&noise=0
    fake-ppk2://                the byte-exact fake PPK2 through the real driver; with a board it
                                follows the board's timeline. Faults: lose=START:COUNT,...
                                glitch=I,...  drop_byte=I,...  vanish=SAMPLES  partial=SEED
"""
from __future__ import annotations

import urllib.parse

from ..errors import ConfigError
from .base import (
    SAMPLE_DTYPE,
    MonitorError,
    MonitorInfo,
    MonitorStats,
    PowerMonitor,
    SampleBlock,
    SampleFlag,
    Trace,
)

__all__ = [
    "SAMPLE_DTYPE", "MonitorError", "MonitorInfo", "MonitorStats", "PowerMonitor", "SampleBlock",
    "SampleFlag", "Trace", "open_monitor", "SCHEMES",
]

SCHEMES = ("ppk2", "joulescope", "emulated", "fake-ppk2")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _flag(text: str) -> bool:
    return text.lower() in ("1", "true", "yes", "on")


def open_monitor(uri: str, *, board=None) -> PowerMonitor:
    """A monitor for ``uri`` (not yet opened). ``board``: the emulated board, for emulated monitors
    and for a fake PPK2 that should see the board's power."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise ConfigError(f"monitor address {uri!r} has no scheme",
                          f"use one of {', '.join(s + '://' for s in SCHEMES)}")
    target, _, query = rest.partition("?")
    opts = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}

    def take(key, conv, default):
        return conv(opts.pop(key)) if key in opts else default

    if scheme == "ppk2":
        mon = _ppk2(target or "auto", take)
    elif scheme == "joulescope":
        from .joulescope import JoulescopeMonitor

        mon = JoulescopeMonitor(serial=target or None, sample_rate_hz=take("rate", float, None))
    elif scheme == "emulated":
        from .emulated import EmulatedMonitor

        if board is None:
            raise ConfigError(f"{uri} needs an emulated board",
                              "use it with an emu: board, or a real monitor (ppk2://, joulescope://)")
        mon = EmulatedMonitor(board, target or "ppk2", seed=take("seed", int, 0),
                              noise=take("noise", _flag, True), dropout=take("dropout", float, 0.0))
    elif scheme == "fake-ppk2":
        mon = _fake_ppk2(board, take)
    else:
        raise ConfigError(f"unknown monitor scheme {scheme!r} in {uri!r}",
                          f"use one of {', '.join(s + '://' for s in SCHEMES)}")
    if opts:
        raise ConfigError(f"unknown option(s) {', '.join(sorted(opts))} in {uri!r}",
                          "see `hostlink session run --help` for monitor addresses")
    return mon


def _ppk2(target: str, take):
    from .ppk2 import Ppk2Monitor

    return Ppk2Monitor(None if target == "auto" else target, mode=take("mode", str, "source"),
                       spike_filter=take("spike_filter", _flag, True))


def _fake_ppk2(board, take):
    from .fake_ppk2 import ConstantSource, FakePpk2, FakePpk2Serial, Faults, TimelineSource
    from .ppk2 import Ppk2Monitor

    lose = []
    for item in take("lose", str, "").split(","):
        if item:
            a, _, c = item.partition(":")
            lose.append((int(a), int(c or 1)))
    faults = Faults(lose=lose, glitch=take("glitch", _ints, []), drop_byte=take("drop_byte", _ints, []),
                    vanish_after=take("vanish", int, None))
    if board is not None:
        source = TimelineSource(board, noise_a=take("noise_ua", float, 0.0) / 1e6, seed=take("seed", int, 0))
        pace = "source"
    else:
        source = ConstantSource(take("current_ma", float, 5.0) / 1000, take("noise_ua", float, 0.0) / 1e6)
        pace = take("pace", str, "free")
    meta = None
    if board is not None:
        from .fake_ppk2 import FAKE_METADATA

        meta = dict(FAKE_METADATA, VDD=int(round(board.profile.supply_v * 1000)))
    device = FakePpk2(source, metadata=meta, faults=faults, pace=pace)
    port = FakePpk2Serial(device, partial_seed=take("partial", int, None))
    return Ppk2Monitor(port, spike_filter=take("spike_filter", _flag, True),
                       supply_v=board.profile.supply_v if board is not None else None)
