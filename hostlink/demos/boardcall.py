"""What every demo does with the board: make sure it runs the right model, and time its interpreter."""
from __future__ import annotations

import time
import zlib
from pathlib import Path

from ..bundled import bundled_model
from ..client import read_model_file


class InterpreterProbe:
    """Times the in-process emulator's interpreter call for the active model.

    The emulator keeps its engine in the active model's handle; wrapping that engine's ``run``
    is the one way to see the interpreter's own time from outside. On any other link
    ``available`` is False and ``take()`` returns None.
    """

    def __init__(self, dev):
        self.last_s: float | None = None
        self.last_cpu_s: float | None = None  # the interpreter's CPU time on this thread (num_threads=1)
        self.available = False
        board = dev.emulated_board
        active = getattr(board, "active", None)
        handle = getattr(active, "handle", None)
        engine = handle[0] if isinstance(handle, tuple) and handle else None
        if engine is None or not hasattr(engine, "run"):
            return
        inner = engine.run

        def timed(inputs):
            t, c = time.perf_counter(), time.thread_time()
            try:
                return inner(inputs)
            finally:
                self.last_s = time.perf_counter() - t
                self.last_cpu_s = time.thread_time() - c

        engine.run = timed
        self.available = True

    def take(self) -> float | None:
        """The last call's wall time (s), once; None if there was none since."""
        s, self.last_s = self.last_s, None
        return s

    def take_cpu(self) -> float | None:
        s, self.last_cpu_s = self.last_cpu_s, None
        return s


def ensure_model(dev, model: str | Path | None, default: str):
    """Upload ``model`` (default: the bundled ``default``) unless the board already runs these exact
    bytes; returns (path, bytes, ModelInfo)."""
    path = Path(model) if model else bundled_model(default)
    data = read_model_file(path)
    info = dev.model_info()
    if not (info.loaded and info.crc32 == zlib.crc32(data) & 0xFFFFFFFF and info.size == len(data)):
        info = dev.upload(path)
    return path, data, info
