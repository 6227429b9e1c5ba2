"""In-process duplex pipes, optionally paced like a wire of a given byte rate.

A paced pipe delivers each write only after the wire could have carried it: a write of n bytes
finishes at max(now, wire_free) + n / rate. Benchmarks measure upload efficiency against exactly
that rate, and the emulator's threaded server uses these pipes as its "cable".
"""
import collections
import threading
import time

from ..errors import LinkError
from .base import Link


class _Wire:
    def __init__(self, byte_rate: float | None):
        self.rate = byte_rate
        self.free_at = 0.0
        self.items: collections.deque = collections.deque()  # (deliver_at, bytes)
        self.cond = threading.Condition()
        self.closed = False

    def put(self, data: bytes) -> None:
        with self.cond:
            if self.closed:
                raise LinkError("pipe closed by the other end")
            now = time.perf_counter()
            at = now
            if self.rate:
                at = max(now, self.free_at) + len(data) / self.rate
                self.free_at = at
            self.items.append((at, bytes(data)))
            self.cond.notify_all()

    def get(self, timeout: float) -> bytes:
        deadline = time.perf_counter() + timeout
        with self.cond:
            while True:
                now = time.perf_counter()
                if self.items and self.items[0][0] <= now:
                    out = []
                    while self.items and self.items[0][0] <= now:
                        out.append(self.items.popleft()[1])
                    return b"".join(out)
                if self.closed and not self.items:
                    return b""
                wait = deadline - now
                if self.items:
                    wait = min(wait, self.items[0][0] - now)
                if wait <= 0 and not (self.items and self.items[0][0] <= deadline):
                    return b""
                self.cond.wait(max(wait, 0))

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class PipeLink(Link):
    def __init__(self, tx: _Wire, rx: _Wire, url: str):
        self._tx, self._rx = tx, rx
        self.url = url
        self.byte_rate = tx.rate

    def write(self, data: bytes) -> None:
        self._tx.put(data)

    def read(self, timeout: float) -> bytes:
        return self._rx.get(timeout)

    @property
    def peer_closed(self) -> bool:
        return self._rx.closed

    def close(self) -> None:
        self._tx.close()


def pipe_pair(byte_rate: float | None = None, name: str = "pipe") -> tuple[PipeLink, PipeLink]:
    """Two connected ends; ``byte_rate`` (bytes/s) paces both directions independently."""
    a_to_b, b_to_a = _Wire(byte_rate), _Wire(byte_rate)
    return PipeLink(a_to_b, b_to_a, f"{name}:host"), PipeLink(b_to_a, a_to_b, f"{name}:board")
