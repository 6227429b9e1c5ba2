"""Holding a place: acquire it, resolve its board (and monitor) to addresses, release it.

A place is released when the lease is released: on close, on Ctrl-C and on SIGTERM (both unwind
through ``release``), and at interpreter exit. A process killed outright cannot release anything,
and labgrid keeps a place acquired until its holder releases it; so each lease also leaves a
small file naming the holding process, and the next hostlink on the same host that finds the place
held by its own user with that process gone releases the stale lease through the coordinator
(labgrid's ReleasePlace) before acquiring it again.
"""
from __future__ import annotations

import atexit
import json
import os
import re
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LinkError
from ..procs import pid_alive
from .address import FarmAddress, parse_farm_url
from .coordinator import Coordinator, Place, Resource

#: Resource names an exporter gives a hostlink board's parts (see export.py and docs/farm.md).
BOARD_RESOURCE = "board"
MONITOR_RESOURCE = "monitor"
_SERIAL_CLASSES = ("NetworkSerialPort",)
_SERVICE_CLASSES = ("NetworkService",)


def lease_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "hostlink" / "labgrid-leases"


def _lease_file(addr: FarmAddress) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{addr.coordinator}_{addr.place}")
    return lease_dir() / f"{safe}.json"


def _serial_url(r: Resource) -> str:
    host, port = r.params.get("host"), r.params.get("port")
    # labgrid's ser2net exports speak RFC 2217 unless told otherwise; hostlink's own exports are raw
    scheme = "socket" if r.params.get("protocol", "rfc2217") == "raw" else "rfc2217"
    return f"{scheme}://{host}:{port}"


def _service_url(r: Resource) -> str:
    return f"tcp://{r.params.get('address')}:{r.params.get('port')}"


def resolve(place: Place) -> tuple[str, str | None]:
    """(board port URL, monitor address or None) from a place's resources."""
    boards = [r for r in place.resources if r.cls in _SERIAL_CLASSES + _SERVICE_CLASSES
              and r.name != MONITOR_RESOURCE]
    named = [r for r in boards if r.name == BOARD_RESOURCE]
    if named:
        boards = named
    if not place.resources and place.matches:
        raise LinkError(f"labgrid place {place.name} is offline: nothing exported matches "
                        f"{', '.join(place.matches)} (exporter gone?)",
                        "restart that exporter, or use another place with the same board")
    if not boards:
        raise LinkError(f"labgrid place {place.name} has no board port",
                        "add a match for a NetworkSerialPort (or the IMX500 agent's NetworkService) "
                        f"named '{BOARD_RESOURCE}': labgrid-client -p {place.name} add-match EXPORTER/GROUP/*")
    if len(boards) > 1:
        raise LinkError(f"labgrid place {place.name} has {len(boards)} board ports "
                        f"({', '.join(r.path for r in boards)})",
                        f"name the board's resource '{BOARD_RESOURCE}' in the exporter configuration")
    board = boards[0]
    offline = [r for r in place.resources if not r.available]
    if offline:
        raise LinkError(f"labgrid place {place.name} is offline: {', '.join(r.path for r in offline)} "
                        "not available (exporter gone?)",
                        "restart that exporter, or use another place with the same board")
    url = _serial_url(board) if board.cls in _SERIAL_CLASSES else _service_url(board)
    monitor = next((r for r in place.resources if r.name == MONITOR_RESOURCE and r.cls in _SERIAL_CLASSES), None)
    return url, (f"ppk2://{_serial_url(monitor)}" if monitor else None)


@dataclass
class Lease:
    """An acquired place. ``board_url`` opens the board; ``monitor`` is its power monitor, if any."""

    address: FarmAddress
    coordinator: Coordinator
    board_url: str
    monitor: str | None
    tags: dict = field(default_factory=dict)
    owned: bool = True  # False: acquired by hand before hostlink ran, so left acquired
    released: bool = False

    @property
    def place(self) -> str:
        return self.address.place

    @property
    def board(self) -> str | None:
        """The board kind the place is tagged with (``board=imx500``), if any."""
        return self.tags.get("board")

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        _LIVE.discard(self)
        try:
            self.coordinator.refresh()
            p = self.coordinator.place(self.place)
            if self.owned:
                if p is not None and p.acquired == self.coordinator.me():
                    self.coordinator.release(self.place)
                _lease_file(self.address).unlink(missing_ok=True)
        except LinkError:
            pass  # coordinator gone: the stale-lease rule releases it next time
        finally:
            self.coordinator.close()
            _restore_sigterm()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    __hash__ = object.__hash__


_LIVE: set[Lease] = set()
_LOCK = threading.Lock()
_saved_sigterm = None


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through every ``finally``, releasing the places


def _guard_sigterm() -> None:
    global _saved_sigterm
    if threading.current_thread() is not threading.main_thread() or _saved_sigterm is not None:
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        _saved_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)


def _restore_sigterm() -> None:
    global _saved_sigterm
    if _LIVE or _saved_sigterm is None or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _saved_sigterm)
    _saved_sigterm = None


@atexit.register
def _release_all() -> None:
    for lease in list(_LIVE):
        lease.release()


def acquire(url: str | FarmAddress, *, timeout_s: float | None = None) -> Lease:
    """Acquire the place ``labgrid://PLACE[?coordinator=HOST:PORT]`` names; one line on failure."""
    addr = url if isinstance(url, FarmAddress) else parse_farm_url(url)
    coord = Coordinator(addr.coordinator, **({"timeout_s": timeout_s} if timeout_s else {}))
    try:
        with _LOCK:
            place, owned = _take(coord, addr)
            try:
                board_url, monitor = resolve(place)
            except BaseException:
                if owned:
                    coord.release(addr.place)
                raise
            if owned:
                path = _lease_file(addr)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({"pid": os.getpid(), "place": addr.place,
                                            "coordinator": addr.coordinator}))
            lease = Lease(addr, coord, board_url, monitor, dict(place.tags), owned=owned)
            _LIVE.add(lease)
            _guard_sigterm()
            return lease
    except BaseException:
        coord.close()
        raise


def _take(coord: Coordinator, addr: FarmAddress) -> tuple[Place, bool]:
    """The place, acquired; and whether this lease acquired it (and so must release it)."""
    place = coord.place(addr.place)
    if place is None:
        known = ", ".join(p.name for p in coord.places()) or "none"
        raise LinkError(f"labgrid place {addr.place!r} does not exist on {addr.coordinator}",
                        f"known places: {known}; create one with labgrid-client -p {addr.place} create")
    if place.acquired:
        if place.acquired != coord.me():
            raise LinkError(f"labgrid place {addr.place} is taken by {place.acquired}",
                            "wait for it, or pick another place with the same board")
        holder = _holder(addr)
        if holder is None:
            return place, False  # acquired by hand (labgrid-client acquire): use it, leave it held
        if holder == os.getpid() and any(lz.address == addr for lz in _LIVE):
            raise LinkError(f"labgrid place {addr.place} is already held by this program",
                            "open it once and share the connection")
        if holder != os.getpid() and pid_alive(holder):
            raise LinkError(f"labgrid place {addr.place} is in use by hostlink (pid {holder}) on this host",
                            "wait for that run to finish, or pick another place")
        # held through a lease whose process is gone: a crashed run's, released and taken afresh
        coord.release(addr.place)
    else:
        resolve(place)  # offline or without a board port: said now, without acquiring it
    coord.acquire(addr.place)
    return coord.place(addr.place), True


def _holder(addr: FarmAddress) -> int | None:
    try:
        return int(json.loads(_lease_file(addr).read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
