"""Helpers for the power tests: a hand-made board timeline and a sequential PPK2 reference."""
from dataclasses import dataclass, field

import numpy as np
import pytest


@dataclass(frozen=True)
class Span:
    start_us: float
    end_us: float
    stage: int
    power_mw: float


@dataclass
class Profile:
    idle_mw: float = 40.0
    supply_v: float = 3.3


@dataclass
class TimelineBoard:
    """The three things an emulated monitor reads from a board, built by hand."""

    timeline: list = field(default_factory=list)
    clock_us: float = 0.0
    profile: Profile = field(default_factory=Profile)

    def now_us(self) -> float:  # hostlink.timeline.BoardTimeline
        return self.clock_us

    def run_frames(self, frames: int, stages, gap_us: float = 1000.0, jitter=None):
        """Append idle + stages; ``stages`` = [(stage id, duration us, power mW)]."""
        rng = jitter or np.random.default_rng(0)
        for _ in range(frames):
            idle = gap_us + float(rng.uniform(0, 37.0))  # frames start at any phase of the sampling
            self.timeline.append(Span(self.clock_us, self.clock_us + idle, 0, self.profile.idle_mw))
            self.clock_us += idle
            for sid, dur, mw in stages:
                self.timeline.append(Span(self.clock_us, self.clock_us + dur, sid, mw))
                self.clock_us += dur
        self.timeline.append(Span(self.clock_us, self.clock_us + gap_us, 0, self.profile.idle_mw))
        self.clock_us += gap_us


@pytest.fixture
def timeline_board():
    return TimelineBoard()


def reference_spike_filter(values, ranges):
    """The PPK2 app's filter, one sample at a time (written from the protocol notes)."""
    alpha, alpha4 = 0.18, 0.06
    out = np.empty(len(values))
    avg = avg4 = None
    prev_range = None
    after = 0
    consecutive = 0
    for k, (x, r) in enumerate(zip(values, ranges)):
        old, old4 = avg, avg4
        avg = x if avg is None else alpha * x + (1 - alpha) * avg
        avg4 = x if avg4 is None else alpha4 * x + (1 - alpha4) * avg4
        if prev_range is None:
            prev_range = r
        if r != prev_range or after > 0:
            if r != prev_range:
                consecutive = 0
                after = 3
            else:
                consecutive += 1
            if r == 4:
                if consecutive < 2:
                    avg, avg4 = old, old4
                out[k] = avg4
            else:
                out[k] = avg
            after -= 1
        else:
            out[k] = x
        prev_range = r
    return out
