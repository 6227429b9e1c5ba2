"""The emulator contract: what an emulated board shows the layers above it.

A software board (``hostlink.emulator``, or a board module's own emulator such as
``hostlink.boards.mlperftiny``) keeps a timeline of what it did on its own clock. Emulated power
monitors (``hostlink.power.emulated``, the emulated PPK2 in ``hostlink.power.fake_ppk2``) render
that timeline into samples; sessions read the board's supply voltage from it. Declared here, below
every layer that produces or consumes it, so neither side imports the other.

A link to an emulated board carries it as ``link.emulated_board``; ``Device.emulated_board`` is the
accessor for everything above the client (None on a real board).
"""
from __future__ import annotations

from typing import Iterable, Protocol, runtime_checkable


@runtime_checkable
class TimelineSpan(Protocol):
    """One stretch of board time: ``stage`` is a protocols.Stage value (0: idle), which the board
    also drives on its marker pins while the span lasts."""

    start_us: float
    end_us: float
    stage: int
    power_mw: float


@runtime_checkable
class PowerProfile(Protocol):
    """The electrical facts of a board a monitor needs between spans."""

    idle_mw: float
    supply_v: float


@runtime_checkable
class BoardTimeline(Protocol):
    """An emulated board as power monitors and sessions see it."""

    @property
    def timeline(self) -> Iterable[TimelineSpan]:
        """Spans in time order; a real-time board appends while a monitor reads."""

    @property
    def profile(self) -> PowerProfile: ...

    def now_us(self) -> float:
        """The board time lived through so far (a real-time board's clock runs between requests,
        so this reads it; a request-driven board returns its clock)."""
