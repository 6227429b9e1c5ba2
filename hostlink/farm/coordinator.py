"""A connection to a labgrid coordinator, through labgrid's own ClientSession.

labgrid's client is asyncio code whose message pump must keep running to see places and resources
change (an exporter that vanishes, a place another user acquires). ``Coordinator`` runs that loop
in one daemon thread and offers blocking calls with deadlines, so the rest of hostlink stays
synchronous and a dead coordinator turns into one readable error instead of a hang.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass

from ..errors import ConfigError, LinkError

CALL_TIMEOUT_S = 10.0
#: How long labgrid's coordinator waits for an exporter to confirm a resource is acquired
#: (ExporterCommand.wait in labgrid/remote/coordinator.py, labgrid 24-26) before refusing the place.
#: An acquire waits that long on top of the normal deadline, so an exporter that died a moment ago
#: (the coordinator has not seen its stream end) or hangs gives the coordinator's refusal, not
#: "coordinator unreachable".
EXPORTER_CONFIRM_S = 10.0
INSTALL_HINT = "install it with: pip install 'hostlink[labgrid]'"


def _labgrid():
    try:
        from labgrid.remote import client as lg_client
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb
        from labgrid.remote.generated import labgrid_coordinator_pb2_grpc as pb_grpc
    except ImportError:
        raise ConfigError("labgrid:// addresses need the labgrid package", INSTALL_HINT) from None
    return lg_client, pb, pb_grpc


class _DropLabgridRecords(logging.Filter):
    """labgrid's client logs through the root logger (a stack trace when its stream ends); the
    errors raised here already say what happened in one line, so those records are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "/labgrid/" not in record.pathname.replace("\\", "/")


_FILTER = _DropLabgridRecords()


def _quiet_labgrid() -> None:
    root = logging.getLogger()
    if _FILTER not in root.filters:
        root.addFilter(_FILTER)


@dataclass(frozen=True)
class Resource:
    """One exported resource as the coordinator sees it (labgrid's ResourceEntry, flattened)."""

    exporter: str
    group: str
    name: str
    cls: str
    params: dict
    available: bool
    acquired: str | None

    @property
    def path(self) -> str:
        return f"{self.exporter}/{self.group}/{self.cls}/{self.name}"


@dataclass(frozen=True)
class Place:
    name: str
    tags: dict
    acquired: str | None  # "host/user" of the holder, or None
    resources: tuple[Resource, ...]  # acquired resources when acquired, else matching ones
    matches: tuple[str, ...] = ()  # the place's match patterns, exporter/group/cls[/name]


_LOOP: asyncio.AbstractEventLoop | None = None
_LOOP_LOCK = threading.RLock()
#: coordinator address -> [ClientSession, users]. One session per coordinator and process: gRPC
#: shares one connection between channels to the same address, and the coordinator accepts one
#: client stream per connection.
_SESSIONS: dict[str, list] = {}


def _shared_loop() -> asyncio.AbstractEventLoop:
    """The one event loop every labgrid session of this process runs on: grpc's asyncio layer
    binds to the first loop that uses it, so a second loop would fail to connect."""
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            _LOOP = asyncio.new_event_loop()
            threading.Thread(target=_LOOP.run_forever, daemon=True, name="labgrid-client").start()
        return _LOOP


class Coordinator:
    """Blocking facade over one labgrid ClientSession."""

    def __init__(self, address: str, *, timeout_s: float = CALL_TIMEOUT_S):
        self.address = address
        self.timeout_s = timeout_s
        self._lg, self._pb, pb_grpc = _labgrid()
        _quiet_labgrid()
        self._loop = _shared_loop()
        self.session = None
        with _LOOP_LOCK:
            shared = _SESSIONS.get(address)
            if shared is None or shared[0].stopping.is_set():
                shared = _SESSIONS[address] = [self._call(self._start(), "connect"), 0]
            shared[1] += 1
            self.session = shared[0]
        # the coordinator's RPCs, on the session's own channel
        self._coordinator_rpc = pb_grpc.CoordinatorStub(self.session.channel)

    async def _start(self):
        self._lg.ensure_event_loop(self._loop)
        session = self._lg.ClientSession(self.address, self._loop)
        await session.start()
        return session

    def _call(self, coro, what: str, *, extra_s: float = 0.0):
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self.timeout_s + extra_s)
        except TimeoutError:
            future.cancel()
            raise self._unreachable(what, "no answer") from None
        except self._lg.ServerError as err:
            raise self._unreachable(what, str(err).removeprefix("Error: ")) from None
        except self._lg.Error as err:  # labgrid's UserError and friends: already readable
            raise LinkError(f"labgrid: {str(err).removeprefix('Error: ')}") from None

    def _unreachable(self, what: str, detail: str) -> LinkError:
        return LinkError(f"labgrid coordinator {self.address} unreachable ({what}: {detail})",
                         "start one with `labgrid-coordinator -l HOST:PORT`, or point LG_COORDINATOR "
                         "(or ?coordinator=HOST:PORT) at yours")

    def _rpc(self, method: str, request, what: str, *, extra_s: float = 0.0) -> None:
        async def run():
            import grpc

            try:
                await getattr(self._coordinator_rpc, method)(request)
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.UNAVAILABLE:
                    raise self._lg.ServerError(err.details()) from None
                raise self._lg.UserError(err.details()) from None
            if not await self.session.sync_with_coordinator():
                raise self._lg.ServerError("connection lost")

        self._call(run(), what, extra_s=extra_s)

    # -- queries ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        async def sync():
            if not await self.session.sync_with_coordinator():
                raise self._lg.ServerError("connection lost")

        self._call(sync(), "sync")

    def me(self) -> str:
        return f"{self.session.gethostname()}/{self.session.getuser()}"

    def _resource(self, exporter, group, name) -> Resource | None:
        entry = self.session.resources.get(exporter, {}).get(group, {}).get(name)
        if entry is None or "cls" not in entry.data:  # an exporter that left leaves empty entries
            return None
        return Resource(exporter, group, name, entry.cls, dict(entry.args), bool(entry.avail), entry.acquired)

    def place(self, name: str) -> Place | None:
        p = self.session.places.get(name)
        if p is None:
            return None
        found = []
        if p.acquired:
            for exporter, group, _cls, rname in p.acquired_resources:
                r = self._resource(exporter, group, rname)
                found.append(r if r is not None else Resource(exporter, group, rname, _cls, {}, False, p.name))
        else:
            for exporter, groups in self.session.resources.items():
                for group, entries in groups.items():
                    for rname, entry in entries.items():
                        if "cls" in entry.data and p.getmatch((exporter, group, entry.cls, rname)) is not None:
                            found.append(self._resource(exporter, group, rname))
        matches = tuple("/".join(x for x in (m.exporter, m.group, m.cls, m.name) if x) for m in p.matches)
        return Place(p.name, dict(p.tags), p.acquired or None, tuple(found), matches)

    def places(self) -> list[Place]:
        return [self.place(n) for n in sorted(self.session.places)]

    # -- changes ---------------------------------------------------------------------------------

    def add_place(self, name: str, matches: list[str], tags: dict | None = None) -> None:
        pb = self._pb
        if name not in self.session.places:
            self._rpc("AddPlace", pb.AddPlaceRequest(name=name), f"create place {name}")
        for pattern in matches:
            if not self.session.places[name].hasmatch(pattern.split("/")):
                self._rpc("AddPlaceMatch", pb.AddPlaceMatchRequest(placename=name, pattern=pattern),
                          f"add match to {name}")
        if tags:
            self._rpc("SetPlaceTags", pb.SetPlaceTagsRequest(placename=name, tags=tags), f"tag place {name}")

    def acquire(self, name: str) -> None:
        try:
            self._rpc("AcquirePlace", self._pb.AcquirePlaceRequest(placename=name), f"acquire {name}",
                      extra_s=EXPORTER_CONFIRM_S)
        except LinkError as err:
            # the coordinator's words when it could not take the place's resources: one is held
            # through another place, or an exporter did not confirm in time (gone, or hung)
            if "Failed to acquire resources" not in err.message:
                raise
            self.refresh()
            place = self.place(name)
            held = [r for r in (place.resources if place else ()) if r.acquired and r.acquired != name]
            if held:
                raise LinkError(f"labgrid place {name} shares {held[0].path} with place {held[0].acquired}, "
                                "which holds it", f"wait for {held[0].acquired} to be released, or give "
                                "each place its own resources") from None
            raise LinkError(f"labgrid place {name} is offline: its exporter did not confirm the acquire "
                            "(exporter gone or hung?)",
                            "restart that exporter, or use another place with the same board") from None

    def release(self, name: str, fromuser: str | None = None) -> None:
        request = self._pb.ReleasePlaceRequest(placename=name, fromuser=fromuser) if fromuser \
            else self._pb.ReleasePlaceRequest(placename=name)
        self._rpc("ReleasePlace", request, f"release {name}")

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        if self.session is None:
            return
        session, self.session = self.session, None
        with _LOOP_LOCK:
            shared = _SESSIONS.get(self.address)
            if shared is not None and shared[0] is session:
                shared[1] -= 1
                if shared[1] > 0:
                    return
                del _SESSIONS[self.address]

        async def stop():
            await session.stop()
            await session.close()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(self.timeout_s)
        except Exception:  # closing a session to a dead coordinator: nothing left to release
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
