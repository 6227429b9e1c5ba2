"""``hostlink farm export``: emulated boards, with emulated PPK2s, exported to a labgrid coordinator.

Each board is served on TCP exactly as ``hostlink emulate --tcp`` serves it, and beside it a PPK2
that speaks the instrument's real serial protocol (``hostlink.power.fake_ppk2``) and samples that
board's own power timeline and stage-marker pins. A labgrid exporter, run as a child process,
publishes both as ``NetworkSerialPort`` resources named ``board`` and ``monitor`` in one group per
board, so a farm without hardware is the same farm: hostlink acquires a place and uses the real
PPK2 driver over the network. Killing this process drops the boards, the monitors and the exporter
together, as unplugging an exporter host would.
"""
from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import ConfigError, LinkError
from .coordinator import Coordinator

PR_SET_PDEATHSIG = 1


@dataclass
class ExportedBoard:
    group: str
    board: str
    board_port: int
    monitor_port: int


def _listen(host: str, port: int) -> socket.socket:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind((host, port))
    except OSError as exc:
        srv.close()
        raise LinkError(f"cannot listen on {host}:{port}: {exc.strerror}", "pick another address") from None
    srv.listen(1)
    return srv


def serve_ppk2_tcp(srv: socket.socket, device_factory, stop: threading.Event, poll_s: float = 0.01) -> None:
    """Serve a fresh fake PPK2 to each client in turn (a real one is reset by reopening its port).

    Samples go out in ``poll_s`` batches (1,000 at 100 kS/s): what a host reading the instrument's
    USB bulk stream gets per read, at a fraction of the CPU of millisecond batches."""
    while not stop.is_set():
        r, _, _ = select.select([srv], [], [], 0.2)
        if not r:
            continue
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        device = device_factory()
        backlog = b""
        try:
            while not stop.is_set():
                r, _, _ = select.select([conn], [], [], poll_s)
                if r:
                    data = conn.recv(4096)
                    if not data:
                        break
                    device.write(data)
                if not backlog:
                    n = device.pending()
                    backlog = device.take(min(n, 65536)) if n else b""
                if backlog:
                    conn.sendall(backlog)
                    backlog = b""
        except OSError:
            pass  # the client went away; wait for the next one
        finally:
            conn.close()


def _die_with_parent() -> None:
    """Run in the exporter child: the kernel kills it when this process dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def exporter_command(coordinator: str, name: str, config: Path) -> list[str]:
    exe = shutil.which("labgrid-exporter", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if exe is None:
        raise ConfigError("labgrid-exporter not found", "install it with: pip install 'hostlink[labgrid]'")
    return [exe, "--coordinator", coordinator, "--name", name, str(config)]


class FarmExport:
    """The boards of one exporter host. ``start()`` serves them and starts labgrid's exporter."""

    def __init__(self, name: str, boards: list[str], coordinator: str, *, host: str = "127.0.0.1",
                 realtime: bool = False, camera: str | None = None):
        if not boards:
            raise ConfigError("nothing to export", "name at least one board: --board imx500")
        self.name = name
        self.boards = boards
        self.coordinator = coordinator
        self.host = host
        self.realtime = realtime
        self.camera = camera
        self.stop = threading.Event()
        self.exported: list[ExportedBoard] = []
        self.proc: subprocess.Popen | None = None
        self._threads: list[threading.Thread] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="hostlink-farm-")

    def _serve_board(self, kind: str, opts: dict, group: str) -> ExportedBoard:
        from ..emulator.board import EmulatedBoard
        from ..emulator.server import serve_tcp
        from ..power.fake_ppk2 import FAKE_METADATA, FakePpk2, TimelineSource

        made: dict = {}
        ready = threading.Event()
        address: dict = {}
        opts = {"camera": self.camera, "realtime": self.realtime, **opts}

        def factory(emit):
            made["board"] = EmulatedBoard(kind, emit, **opts)
            return made["board"]

        def on_ready(url):
            address["url"] = url
            ready.set()

        def run():
            try:
                serve_tcp(factory, self.host, 0, self.stop, on_ready=on_ready)
            except BaseException as exc:  # reported by the caller, in the main thread
                address["error"] = exc
                ready.set()

        t = threading.Thread(target=run, daemon=True, name=f"board-{group}")
        t.start()
        if not ready.wait(60):
            raise LinkError(f"emulated {kind} did not start within 60 s")
        if "error" in address:
            raise address["error"]
        board = made["board"]
        board_port = int(address["url"].rsplit(":", 1)[1])
        meta = dict(FAKE_METADATA, VDD=int(round(board.profile.supply_v * 1000)))
        srv = _listen(self.host, 0)

        def device():
            return FakePpk2(TimelineSource(board), metadata=meta, pace="source")

        m = threading.Thread(target=serve_ppk2_tcp, args=(srv, device, self.stop), daemon=True,
                             name=f"ppk2-{group}")
        m.start()
        self._threads += [t, m]
        return ExportedBoard(group, kind, board_port, srv.getsockname()[1])

    def config(self) -> dict:
        def port(p):
            return {"cls": "NetworkSerialPort", "host": self.host, "port": p, "speed": 0, "protocol": "raw"}

        return {e.group: {"board": port(e.board_port), "monitor": port(e.monitor_port)} for e in self.exported}

    def start(self, *, create_places: bool = False) -> None:
        from ..emulator.link import parse_emu_url
        from ..emulator.profiles import get_profile

        specs = [parse_emu_url("emu:" + spec) for spec in self.boards]  # all checked before any starts
        for kind, _ in specs:
            get_profile(kind)
        counts: dict[str, int] = {}
        for kind, opts in specs:
            counts[kind] = counts.get(kind, 0) + 1
            self.exported.append(self._serve_board(kind, opts, f"{self.name}-{kind}-{counts[kind]}"))
        path = Path(self._tmp.name) / "exporter.yaml"
        path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        self.proc = subprocess.Popen(exporter_command(self.coordinator, self.name, path),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=_die_with_parent)
        if create_places:
            self.create_places()

    def create_places(self) -> None:
        """One place per board, named after its group, tagged with the board kind."""
        import time

        with Coordinator(self.coordinator) as coord:
            deadline = time.monotonic() + 30
            while True:  # the exporter announces its resources asynchronously
                coord.refresh()
                have = coord.session.resources.get(self.name, {})
                if all(e.group in have for e in self.exported):
                    break
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise LinkError(f"labgrid exporter {self.name} did not register with {self.coordinator}",
                                    self.exporter_error() or "is the coordinator running?")
                time.sleep(0.1)
            for e in self.exported:
                coord.add_place(e.group, [f"{self.name}/{e.group}/*"], {"board": e.board})

    def exporter_error(self) -> str:
        if self.proc is None or self.proc.poll() is None:
            return ""
        err = (self.proc.stderr.read() or b"").decode(errors="replace").strip().splitlines()
        return err[-1] if err else f"labgrid-exporter exited with {self.proc.returncode}"

    def wait(self) -> int:
        """Until the exporter exits or ``stop`` is set; returns the exporter's exit code (0: stopped)."""
        while not self.stop.is_set():
            if self.proc.poll() is not None:
                return self.proc.returncode or 1
            self.stop.wait(0.2)
        return 0

    def close(self) -> None:
        self.stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for t in self._threads:
            t.join(2)
        self._tmp.cleanup()
