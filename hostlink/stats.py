"""Per-stage statistics over captured frames (pure functions)."""
import numpy as np

from .protocols import STAGE_NAMES
from .types import CaptureResult

STAGE_ORDER = [STAGE_NAMES[s] for s in sorted(STAGE_NAMES)]


def stage_summary(results: list[CaptureResult]) -> dict:
    """{stages: {name: {median_ms, min_ms, max_ms, iqr_ms}}, total_ms (median), frames}."""
    names = [n for n in STAGE_ORDER if any(n in r.stages for r in results)]
    stages = {}
    for n in names:
        d = np.array([r.stages[n].duration_ms for r in results if n in r.stages])
        q1, q3 = np.percentile(d, [25, 75])
        stages[n] = dict(median_ms=float(np.median(d)), min_ms=float(d.min()), max_ms=float(d.max()),
                         iqr_ms=float(q3 - q1))
    totals = np.array([r.total_ms for r in results]) if results else np.zeros(1)
    return dict(frames=len(results), stages=stages, total_ms=float(np.median(totals)),
                total_min_ms=float(totals.min()), total_max_ms=float(totals.max()))
