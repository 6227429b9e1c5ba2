"""A real labgrid farm on loopback: a coordinator and ``hostlink farm export`` exporters.

Everything is the real thing (labgrid's coordinator and exporter, hostlink's emulated boards and
emulated PPK2s on TCP); only the boards are software. Each process gets its own working
directory, because the coordinator keeps its places in ./places.yaml.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need_labgrid():
    pytest.importorskip("labgrid", reason="labgrid is not installed: pip install 'hostlink[labgrid]'")
    if shutil.which("labgrid-coordinator", path=str(BIN)) is None:
        pytest.skip("labgrid-coordinator is not on PATH")


class Farm:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.address = f"127.0.0.1:{free_port()}"
        self.procs: dict[str, subprocess.Popen] = {}
        cwd = workdir / "coordinator"
        cwd.mkdir(parents=True)
        self.coordinator = subprocess.Popen([str(BIN / "labgrid-coordinator"), "-l", self.address], cwd=cwd,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        host, port = self.address.split(":")
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.coordinator.poll() is not None:
                    raise RuntimeError("labgrid-coordinator did not start")
                time.sleep(0.1)

    def env(self) -> dict:
        env = dict(os.environ, LG_COORDINATOR=self.address, XDG_STATE_HOME=str(self.workdir / "state"))
        env.pop("HOSTLINK_PORT", None)
        return env

    def export(self, name: str, *boards: str, realtime: bool = True) -> dict[str, str]:
        """Start an exporter; returns {place: board kind} once its places exist."""
        args = [str(BIN / "hostlink"), "farm", "export", "-x", self.address, "--name", name, "--create-places"]
        for b in boards:
            args += ["--board", b]
        if realtime:
            args.append("--realtime")
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env(),
                                text=True)
        self.procs[name] = proc
        places = {}
        while len(places) < len(boards):
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"exporter {name} failed: {proc.stderr.read()}")
            group, _, rest = line.partition(":")
            places[group.strip()] = rest.split()[0]
        return places

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.coordinator.terminate()
        self.coordinator.wait(10)
