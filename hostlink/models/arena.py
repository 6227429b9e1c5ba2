"""The tensor arena a model needs under tflite-micro, measured by tflite-micro itself.

The figure is the smallest ``arena_size`` for which the TFLM interpreter (the ``tflite_micro``
wheel: the same kernels and memory planner as the firmware) allocates every tensor. All TFLM
work runs in a child process (``_arena_probe.py``) because the wheel can crash (SIGSEGV) rather
than fail when an arena is slightly too small:

1. The child plans the model with a generous arena (or reports why TFLM cannot plan it) and reads
   the RecordingMicroAllocator report: "tail" = persistent structures, "total" = tail + planned
   activations.
2. It searches between the tail (known to fail) and the generous size (known to work), starting
   at the total less 16 bytes of head alignment: the minimum is usually within a few bytes of
   it, above it when kernels take scratch memory while preparing.
3. Every probe is announced before it runs; when the child dies, the announced size counts as
   too small and a new child carries on from the bounds reached.

The host build is 64-bit, so its pointer-bearing structs are larger than on a 32-bit MCU: the
figure slightly over-states what a board needs, the safe side for an admission check.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import zlib

from ..errors import ModelFileError

_LOCK = threading.Lock()
_CACHE: dict[tuple[int, int], int] = {}
_REFUSED: dict[tuple[int, int], ModelFileError] = {}
_PROBE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_arena_probe.py")
_MAX_CHILDREN = 64  # each crash costs one child; a search has ~10-30 probes


def _child(data: bytes, *args: str) -> tuple[list[tuple[str, str]], int]:
    proc = subprocess.run([sys.executable, _PROBE_SCRIPT, *args], input=data,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    lines = [ln.partition(" ")[::2] for ln in proc.stdout.decode("utf-8", "replace").splitlines()]
    return lines, proc.returncode


def _search(data: bytes) -> int:
    lo = hi = guess = None
    args = ["plan"]
    for _ in range(_MAX_CHILDREN):
        lines, rc = _child(data, *args)
        pending = None
        for word, rest in lines:
            if word == "error":
                raise ModelFileError(
                    f"tflite-micro cannot plan this model: {rest}",
                    hint="the model uses an op tflite-micro lacks or a custom op that only its "
                         "board runs (edgetpu-custom-op needs the Edge TPU); its arena cannot be "
                         "measured on the host")
            if word == "planned":
                hi, lo, total = (int(v) for v in rest.split())
                guess = total - 16 if total else None
            elif word == "probe":
                pending = int(rest)
            elif word == "ok":
                hi, pending = int(rest), None
            elif word == "fail":
                lo, pending, guess = int(rest), None, None
            elif word == "done":
                return int(rest)
        if hi is None:
            raise ModelFileError(f"tflite-micro stopped (exit status {rc}) while planning the model "
                                 "with a generous arena",
                                 hint=f"run `{sys.executable} {_PROBE_SCRIPT} plan < model.tflite` "
                                      "to see why")
        if pending is not None:  # the child died inside this probe: the arena was too small
            lo = max(lo, pending)
        if hi - lo <= 1:
            return hi
        args = ["search", str(lo), str(hi)] + ([str(guess)] if guess and lo < guess < hi else [])
    raise ModelFileError(f"tflite-micro probes kept crashing between {lo} and {hi} bytes of arena",
                         hint=f"run `{sys.executable} {_PROBE_SCRIPT} search {lo} {hi} < "
                              "model.tflite` to see why")


def measure_arena(data: bytes) -> int:
    """Smallest tflite-micro tensor arena, in bytes, in which ``data`` allocates; cached by CRC.

    Raises ModelFileError when tflite-micro cannot run the model at all (an op it lacks, a custom
    op such as edgetpu-custom-op that needs its board's delegate).
    """
    data = bytes(data)
    key = (zlib.crc32(data), len(data))
    with _LOCK:
        if key in _REFUSED:
            err = _REFUSED[key]
            raise ModelFileError(err.message, hint=err.hint)
        if key not in _CACHE:
            try:
                _CACHE[key] = _search(data)
            except ModelFileError as err:
                _REFUSED[key] = err
                raise
        return _CACHE[key]
