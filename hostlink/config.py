"""Every wait and retry the client makes, named in one place (overridable per Device)."""
import dataclasses
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Timeouts:
    #: Turnaround a request costs even with no work: OS scheduling, USB polling, board dispatch.
    base_s: float = 0.5
    #: Deadlines are the expected time times this factor, plus base_s.
    margin: float = 3.0
    #: Byte rate assumed for wire-time estimates when neither link nor board knows it (USB FS CDC).
    default_byte_rate: float = 500_000.0
    #: What a board spends per model byte on commit (CRC, parse, admission, arena planning).
    commit_s_per_mb: float = 2.0
    #: What a commit costs whatever the size: admission starts tflite-micro to plan the arena (~1 s).
    commit_base_s: float = 1.0
    #: HELLO gets a short, fixed deadline: a silent port must be reported quickly.
    hello_s: float = 1.5
    #: HELLO attempts: a board that booted mid-request gets a second chance, a dead port fails fast.
    hello_attempts: int = 2
    #: Attempts per request after a timeout, NAK or corrupted reply.
    attempts: int = 4
    #: Upload chunks in flight before waiting for an ACK.
    upload_window: int = 8
    #: The factor ``scaled()`` applied (``--timeout-scale``), for the deadlines not made of the
    #: fields above (the default upload budget).
    scale: float = 1.0

    def scaled(self, factor: float) -> "Timeouts":
        """Every deadline derived from these, times ``factor`` (``--timeout-scale``).

        A deadline is ``base_s + margin * (work + wire time)`` and HELLO's is ``hello_s``, so scaling
        ``margin`` and every ``*_s`` duration scales all of them. ``commit_*`` are estimates of the
        board's work, which the margin already scales.
        """
        if isinstance(factor, bool) or not isinstance(factor, (int, float)):
            raise TypeError(f"a timeout scale is a number, not {type(factor).__name__}")
        if not math.isfinite(factor) or factor <= 0:
            from .errors import ConfigError

            raise ConfigError(f"timeout scale must be a finite number > 0 (got {factor})", "e.g. 2 for a slow host")
        changes = {f.name: getattr(self, f.name) * factor for f in dataclasses.fields(self)
                   if (f.name.endswith("_s") and not f.name.startswith("commit_")) or f.name == "margin"}
        return dataclasses.replace(self, scale=self.scale * factor, **changes)


DEFAULT_TIMEOUTS = Timeouts()
