"""The C board core as a process: build ``firmware/ports/host`` and serve it on a pty.

    with start_host_port("coralmicro", sanitize=True) as fw:
        with hostlink.connect(fw.url) as dev: ...

``hl-host`` is the same core that runs on the boards, with a Linux HAL whose camera, model
admission and inference come from a helper process (``hostlink.emulator.hostport``), so a host
talking to it exercises the real C framing, dispatch, model store and reply cache. It needs a
source checkout (the firmware/ tree) and a C compiler; ``make -C firmware host`` builds it.
"""
from __future__ import annotations

import fcntl
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..checkout import source_checkout
from ..errors import ConfigError, LinkError

#: firmware/ in the source checkout at hand (hostlink.checkout), or where an editable install's
#: would be; building it from an installed wheel outside a checkout is refused with that fix.
FIRMWARE_DIR = (source_checkout() or Path(__file__).resolve().parents[2]) / "firmware"
#: How long hl-host may take to start its helper and print its pty path.
START_TIMEOUT_S = 60.0
_SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|SUMMARY: UndefinedBehavior")


def host_port_binary(sanitize: bool = False) -> Path:
    return FIRMWARE_DIR / "build" / ("host-asan" if sanitize else "host") / "hl-host"


def build_host_port(sanitize: bool = False) -> Path:
    """``make -C firmware host`` (or ``host-asan``); returns the binary."""
    if not (FIRMWARE_DIR / "Makefile").exists():
        raise ConfigError(f"no firmware sources at {FIRMWARE_DIR}",
                          "the C host port needs a source checkout of hostlink (git clone), not an installed wheel")
    target = "host-asan" if sanitize else "host"
    if shutil.which("make") is None or shutil.which("cc") is None:
        raise ConfigError("building the C host port needs make and a C compiler",
                          "apt-get install build-essential (or use the Python emulator: emu:BOARD)")
    lock_path = FIRMWARE_DIR / "build" / ".build-lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:  # parallel test workers must not compile the same file at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(["make", "-C", str(FIRMWARE_DIR), target], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise ConfigError(f"building the C host port failed (make -C firmware {target}):\n{tail}",
                          "install a C compiler (apt-get install build-essential) and retry")
    return host_port_binary(sanitize)


class HostPortProcess:
    """A running ``hl-host --pty``: ``url`` is the pty a host opens like a board's serial port."""

    def __init__(self, binary: Path, board: str = "coralmicro", *, camera: str | None = None,
                 engine: str = "litert", markers: str | Path | None = None, python: str = sys.executable):
        helper = [python, "-m", "hostlink.emulator.hostport", "--board", board, "--engine", engine]
        if camera is not None:
            helper += ["--camera", str(camera)]
        cmd = [str(binary), "--pty", "--backend", shlex.join(helper)]
        if markers is not None:
            cmd += ["--markers", str(markers)]
        env = dict(os.environ)
        root = str(FIRMWARE_DIR.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        # sanitizer builds: stop at the first report, keep it readable, no leak check of python's children
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:halt_on_error=1:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self._stderr = tempfile.TemporaryFile(mode="w+b")
        self.board = board
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        self.url = self._read_url()

    def _read_url(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            if not r:
                self.close()
                raise LinkError(f"hl-host printed no pty path within {START_TIMEOUT_S:.0f} s:\n{self.stderr_text()}")
            chunk = os.read(self.proc.stdout.fileno(), 256)
            if not chunk:
                self.close()
                raise LinkError(f"hl-host exited before serving (status {self.proc.poll()}):\n{self.stderr_text()}",
                                "run it by hand: firmware/build/host/hl-host --pty")
            line += chunk
        return line.decode().strip()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_text(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def sanitizer_report(self) -> str | None:
        """The ASan/UBSan report hl-host printed, if any."""
        text = self.stderr_text()
        return text if _SANITIZER_RE.search(text) else None

    def close(self, timeout: float = 10.0) -> int | None:
        """Stop hl-host (SIGTERM: it reaps its helper and exits); returns its exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def start_host_port(board: str = "coralmicro", *, sanitize: bool = False, build: bool = True,
                    camera: str | None = None, engine: str = "litert",
                    markers: str | Path | None = None) -> HostPortProcess:
    """Build (unless ``build=False``) and start the C core's Linux port for ``board``'s rules."""
    from .profiles import get_profile

    get_profile(board)  # unknown names fail here, with the list of boards
    binary = build_host_port(sanitize) if build else host_port_binary(sanitize)
    if not binary.exists():
        raise ConfigError(f"{binary} does not exist", "build it: make -C firmware host")
    return HostPortProcess(binary, board, camera=camera, engine=engine, markers=markers)


def serve_host_port(board: str, stop, *, camera: str | None = None, engine: str = "litert",
                    sanitize: bool = False, on_ready=print) -> None:
    """``hostlink emulate --firmware host``: run hl-host on a pty until ``stop`` (an Event) is set."""
    with start_host_port(board, sanitize=sanitize, camera=camera, engine=engine) as fw:
        on_ready(fw.url)
        while not stop.wait(0.5):
            if not fw.alive:
                raise LinkError(f"hl-host exited (status {fw.proc.returncode}):\n{fw.stderr_text()[-2000:]}",
                                "run it by hand to see why: firmware/build/host/hl-host --pty")
