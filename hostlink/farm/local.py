"""A labgrid farm on this machine: a coordinator and ``hostlink farm export`` exporters as child
processes, on loopback. What the farm tests and the farm benchmark run against; also a quick way
to try a farm before building one (docs/farm.md).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import ConfigError, LinkError

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(BIN) + os.pathsep + os.environ.get("PATH", ""))
    if exe is None:
        raise ConfigError(f"{name} not found", "install it with: pip install 'hostlink[labgrid]'")
    return exe


class LocalFarm:
    """``LocalFarm(workdir)`` starts a coordinator; ``export(name, *boards)`` adds an exporter host.

    Each process gets its own working directory (the coordinator keeps its places in
    ./places.yaml), and hostlink's lease files go under ``workdir/state``.
    """

    def __init__(self, workdir: str | Path | None = None, *, start_timeout_s: float = 20.0):
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="hostlink-farm-")
        self.workdir = Path(workdir or self._tmp.name)
        self.address = f"127.0.0.1:{free_port()}"
        self.exporters: dict[str, subprocess.Popen] = {}
        cwd = self.workdir / "coordinator"
        cwd.mkdir(parents=True, exist_ok=True)
        self.coordinator = subprocess.Popen([_tool("labgrid-coordinator"), "-l", self.address], cwd=cwd,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        host, port = self.address.split(":")
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.coordinator.poll() is not None:
                    self.close()
                    raise LinkError("labgrid-coordinator did not start") from None
                time.sleep(0.1)

    def env(self) -> dict:
        """The environment a hostlink process needs to use this farm."""
        env = dict(os.environ, LG_COORDINATOR=self.address, XDG_STATE_HOME=str(self.workdir / "state"))
        env.pop("HOSTLINK_PORT", None)
        return env

    def export(self, name: str, *boards: str, realtime: bool = True, timeout_s: float = 120.0) -> dict[str, str]:
        """Start an exporter host with ``boards`` (``imx500``, ``coralmicro?path=edgetpu``, ...);
        returns {place: board kind} once its places exist."""
        args = [_tool("hostlink"), "farm", "export", "-x", self.address, "--name", name, "--create-places"]
        for b in boards:
            args += ["--board", b]
        if realtime:
            args.append("--realtime")
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env(), text=True)
        self.exporters[name] = proc
        places: dict[str, str] = {}
        deadline = time.monotonic() + timeout_s
        while len(places) < len(boards):
            line = proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                proc.kill()
                raise LinkError(f"exporter {name} did not start: {proc.stderr.read().strip()[-300:]}")
            group, _, rest = line.partition(":")
            places[group.strip()] = rest.split()[0]
        return places

    def kill(self, name: str) -> None:
        """SIGKILL an exporter host: its boards, monitors and labgrid exporter go down together."""
        proc = self.exporters.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for proc in self.exporters.values():
            proc.terminate()
        for proc in self.exporters.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.exporters.clear()
        if self.coordinator.poll() is None:
            self.coordinator.terminate()
            self.coordinator.wait(10)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
