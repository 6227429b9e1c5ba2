"""Per-stage timing and power model of a board.

Each stage costs  fixed_us + input_bytes * us_per_input_byte + output_bytes * us_per_output_byte
+ macs * us_per_mac  microseconds at a constant power. The constants of each board are derived in
profiles.py from published figures (the TinyTracker paper) or hardware facts; docs/timing-model.md
explains every one. A model of another size therefore gets a prediction that scales with its MACs
and tensor sizes rather than a copy of the paper's numbers.
"""
from dataclasses import dataclass, field

from ..protocols import Stage


@dataclass(frozen=True)
class Workload:
    """What the timing depends on, read from the admitted model."""

    macs: int
    input_bytes: int
    output_bytes: int


@dataclass(frozen=True)
class StageCost:
    power_mw: float
    fixed_us: float = 0.0
    us_per_input_byte: float = 0.0
    us_per_output_byte: float = 0.0
    us_per_mac: float = 0.0

    def duration_us(self, w: Workload) -> float:
        return (self.fixed_us + w.input_bytes * self.us_per_input_byte
                + w.output_bytes * self.us_per_output_byte + w.macs * self.us_per_mac)


@dataclass(frozen=True)
class TimingModel:
    """Stages in the order the board runs them, for one execution path (e.g. "m7-tflm")."""

    path: str
    stages: tuple[tuple[Stage, StageCost], ...]
    idle_mw: float
    sources: str = ""  # where the constants come from, shown by `hostlink info --json` and docs
    notes: dict = field(default_factory=dict)

    def frame(self, w: Workload) -> list[tuple[Stage, float, float]]:
        """[(stage, duration_us, power_mw)] for one frame."""
        return [(stage, cost.duration_us(w), cost.power_mw) for stage, cost in self.stages]

    def frame_us(self, w: Workload) -> float:
        return sum(d for _, d, _ in self.frame(w))

    def frame_energy_mj(self, w: Workload) -> float:
        return sum(d * p for _, d, p in self.frame(w)) / 1e6


def calibrated_powers(durations_ms: dict[Stage, float], weights: dict[Stage, float], total_mj: float) -> dict[Stage, float]:
    """Stage powers proportional to ``weights`` and scaled so the frame uses exactly ``total_mj``.

    Used where a paper gives only the end-to-end energy: the split between stages follows the
    relative draw of the parts active in each stage, the total follows the measurement.
    """
    raw = sum(durations_ms[s] * weights[s] for s in durations_ms)  # mW*ms = uJ
    k = total_mj * 1000.0 / raw
    return {s: weights[s] * k for s in durations_ms}
