"""The Link interface: a byte pipe to a board. The device client never knows which one it has."""
import abc

from ..timeline import BoardTimeline


class Link(abc.ABC):
    """A duplex byte stream. ``read`` returns what is available (b"" when the timeout passes)."""

    #: Human-readable address, e.g. "/dev/ttyACM0" or "emu:imx500".
    url: str = "?"
    #: Bytes per second the wire carries, when known; the client derives timeouts from it.
    byte_rate: float | None = None
    #: The software board behind this link, when it is one (the emulator contract, hostlink.timeline).
    emulated_board: BoardTimeline | None = None

    @abc.abstractmethod
    def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def read(self, timeout: float) -> bytes: ...

    def reset_input(self) -> None:
        """Drop bytes already received (stale replies from an earlier session)."""
        while self.read(0):
            pass

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"
