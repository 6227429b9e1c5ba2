"""The tensor arena a model needs under tflite-micro, measured by tflite-micro itself.

The figure is the smallest ``arena_size`` for which the TFLM interpreter (the ``tflite_micro``
wheel, the same kernels and memory planner as the firmware) allocates every tensor. It is found
in two steps:

1. One interpreter with a generous arena reports its allocation through
   ``print_allocations()`` (RecordingMicroAllocator, "Arena allocation total": planned
   activations + persistent structures). The minimum cannot be below that total.
2. A bisection between that total and the generous size finds the smallest size that still
   succeeds; it is larger than the total by the scratch memory kernels take while preparing.

Never probe below the reported total: the wheel crashes (SIGSEGV) instead of failing cleanly
when an arena cannot hold its persistent structures.

The host build is 64-bit, so its pointer-bearing structs are larger than on a 32-bit MCU: the
figure is a slight over-estimate for the boards, which is the safe side for an admission check.
"""
from __future__ import annotations

import os
import re
import tempfile
import threading
import zlib

from ..errors import ModelFileError

_LOCK = threading.Lock()
_CACHE: dict[tuple[int, int], int] = {}
_TOTAL_RE = re.compile(r"Arena allocation total (\d+) bytes")
_MAX_ARENA = 1 << 30


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
    """One interpreter with ``size`` bytes of arena; returns it (or None) and what TFLM printed."""
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
        found = _TOTAL_RE.findall(log)
        hi = size
        # Without the reported total there is no safe lower bound (see the module docstring):
        # keep the generous size that is known to work.
        lo = int(found[-1]) - 1 if found else hi - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            probe, _ = _try(runtime, data, mid)
            if probe is not None:
                hi = mid
            else:
                lo = mid
            del probe
        _CACHE[key] = hi
        return hi
