"""The tensor arena a model needs under tflite-micro, measured by tflite-micro itself.

The figure is the smallest ``arena_size`` for which the TFLM interpreter (the ``tflite_micro``
wheel: the same kernels and memory planner as the firmware) allocates every tensor:

1. One interpreter with a generous arena, in this process, proves the model can be planned and
   reports its allocation through ``print_allocations()`` (RecordingMicroAllocator: "head" =
   planned activations, "tail" = persistent structures). The minimum is above the tail.
2. A child process (``_arena_probe.py``) searches between the tail and the generous size,
   starting at the reported total less 16 bytes of head alignment (the minimum is usually
   within a few bytes of it, above it when kernels take scratch memory while preparing). Probing
   too small an arena can crash the wheel (SIGSEGV) instead of failing cleanly, so every probe is
   announced first; when the child dies the announced size counts as too small and a new child
   carries on from there.

The host build is 64-bit, so its pointer-bearing structs are larger than on a 32-bit MCU: the
figure slightly over-states what a board needs, the safe side for an admission check.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import zlib

from ..errors import ModelFileError

_LOCK = threading.Lock()
_CACHE: dict[tuple[int, int], int] = {}
_TAIL_RE = re.compile(r"Arena allocation tail (\d+) bytes")
_TOTAL_RE = re.compile(r"Arena allocation total (\d+) bytes")
_MAX_ARENA = 1 << 30
_PROBE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_arena_probe.py")
_MAX_CHILDREN = 64  # each crash costs one child; a bisection has ~20 probes


class _StderrCapture:
    """Collect what native code writes to fd 2 (TFLM prints its reports and errors there)."""

    def __enter__(self):
        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        self.text = self._file.read().decode("utf-8", "replace")
        self._file.close()
        return False


def _runtime():
    from tflite_micro import runtime  # heavy native import: only when an arena is asked for
    return runtime


def _try(runtime, data: bytes, size: int) -> tuple[object | None, str]:
    """One interpreter with ``size`` bytes of arena; returns it (or None) and what TFLM printed.

    Only call with sizes known to hold the persistent structures (see the module docstring).
    """
    with _StderrCapture() as cap:
        try:
            interp = runtime.Interpreter.from_bytes(data, arena_size=size)
        except (RuntimeError, ValueError) as err:
            interp, failure = None, str(err)
        else:
            failure = ""
            interp.print_allocations()
    return interp, (failure + "\n" + cap.text).strip()


def _short_of_memory(log: str) -> bool:
    return "Failed to allocate" in log and "registration" not in log and "Didn't find op" not in log


def _bisect_in_children(data: bytes, lo: int, hi: int, guess: int | None) -> int:
    for _ in range(_MAX_CHILDREN):
        if hi - lo <= 1:
            return hi
        args = [str(lo), str(hi)] + ([str(guess)] if guess is not None and lo < guess < hi else [])
        proc = subprocess.run([sys.executable, _PROBE_SCRIPT, *args], input=data,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
        pending = None
        for line in proc.stdout.decode("ascii", "replace").splitlines():
            word, _, num = line.partition(" ")
            if not num.isdigit():
                continue
            n = int(num)
            if word == "probe":
                pending = n
            elif word == "ok":
                hi, pending = n, None
            elif word == "fail":
                lo, pending, guess = n, None, None
            elif word == "done":
                return n
        if pending is None and proc.returncode == 0:
            break
        if pending is not None:  # the child died inside this probe: the arena was too small
            lo = max(lo, pending)
        elif proc.returncode != 0 and pending is None:
            break
    if hi - lo <= 1:
        return hi
    raise ModelFileError(f"tflite-micro probe processes kept failing between {lo} and {hi} bytes",
                         hint=f"run `{sys.executable} {_PROBE_SCRIPT} {lo} {hi} < model.tflite` "
                              "to see why")


def measure_arena(data: bytes) -> int:
    """Smallest tflite-micro tensor arena, in bytes, in which ``data`` allocates; cached by CRC.

    Raises ModelFileError when tflite-micro cannot run the model at all (an op it lacks, a custom
    op such as edgetpu-custom-op that needs its board's delegate).
    """
    data = bytes(data)
    key = (zlib.crc32(data), len(data))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        runtime = _runtime()
        size = max(1 << 16, 4 * len(data))
        while True:
            interp, log = _try(runtime, data, size)
            if interp is not None or not _short_of_memory(log) or size >= _MAX_ARENA:
                break
            size *= 4
        if interp is None:
            lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
            reason = next((ln for ln in lines if "Didn't find op" in ln or "registration" in ln),
                          lines[-1] if lines else "no reason given")
            raise ModelFileError(
                f"tflite-micro cannot plan this model: {reason}",
                hint="the model uses an op tflite-micro lacks or a custom op that only its board "
                     "runs (edgetpu-custom-op needs the Edge TPU); its arena cannot be measured "
                     "on the host")
        del interp
        tail = _TAIL_RE.findall(log)
        total = _TOTAL_RE.findall(log)
        # Persistent structures alone never suffice, so the tail is a size known to fail.
        lo = int(tail[-1]) if tail else 0
        guess = int(total[-1]) - 16 if total else None
        _CACHE[key] = _bisect_in_children(data, lo, size, guess)
        return _CACHE[key]
