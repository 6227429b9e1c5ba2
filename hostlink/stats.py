"""Per-stage statistics over captured frames (pure functions, typed results)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .protocols import STAGE_NAMES
from .types import CaptureResult

STAGE_ORDER = [STAGE_NAMES[s] for s in sorted(STAGE_NAMES)]


@dataclass(frozen=True)
class StageStats:
    median_ms: float
    min_ms: float
    max_ms: float
    iqr_ms: float


@dataclass(frozen=True)
class StageSummary:
    frames: int
    stages: dict[str, StageStats]  # in STAGE_ORDER
    total_ms: float  # median of the frames' totals
    total_min_ms: float
    total_max_ms: float

    def to_json(self) -> dict:
        """The shape `run --json` and `demo --json` print: median, min and max per stage."""
        return dict(frames=self.frames,
                    stages={k: dict(median_ms=v.median_ms, min_ms=v.min_ms, max_ms=v.max_ms)
                            for k, v in self.stages.items()},
                    total_ms=self.total_ms)


def stage_summary(results: list[CaptureResult]) -> StageSummary:
    names = [n for n in STAGE_ORDER if any(n in r.stages for r in results)]
    stages = {}
    for n in names:
        d = np.array([r.stages[n].duration_ms for r in results if n in r.stages])
        q1, q3 = np.percentile(d, [25, 75])
        stages[n] = StageStats(float(np.median(d)), float(d.min()), float(d.max()), float(q3 - q1))
    totals = np.array([r.total_ms for r in results]) if results else np.zeros(1)
    return StageSummary(len(results), stages, float(np.median(totals)), float(totals.min()), float(totals.max()))
