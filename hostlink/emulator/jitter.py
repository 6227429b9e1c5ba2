"""Optional, seeded frame-to-frame jitter of the emulated stage durations.

``emu:imx500?jitter=0.02&seed=1``: each stage of each frame lasts its modelled duration times
``1 + jitter * z``, with z drawn from a standard normal clipped to +-3 (so a duration never turns
negative below jitter = 0.33) by numpy's PCG64 generator seeded with ``seed``. The distribution
and its magnitude are modelled, not measured: the public sources give no per-frame spread for
these boards (MLPerf Tiny reports per-window medians of hundreds of inferences, which agree to
the millisecond between windows). Power per stage is unchanged, so energy follows the duration.

Off (jitter = 0, the default) every frame is identical, which keeps tests, benches and the
published comparisons reproducible; the same seed gives the same frames.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError

MAX_JITTER = 0.3


class Jitter:
    def __init__(self, rel: float = 0.0, seed: int = 0):
        if not (isinstance(rel, (int, float)) and math.isfinite(rel)) or not 0.0 <= rel <= MAX_JITTER:
            raise ConfigError(f"jitter={rel!r} is not a fraction between 0 and {MAX_JITTER}",
                              "e.g. jitter=0.02 for a 2 % standard deviation per stage, 0 for identical frames")
        if not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed={seed!r} is not a non-negative integer", "e.g. seed=1")
        self.rel = float(rel)
        self.seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def apply(self, plan: list[tuple]) -> list[tuple]:
        """The plan [(stage, duration_us, power_mw)] with each duration jittered."""
        if not self.rel:
            return plan
        z = np.clip(self._rng.standard_normal(len(plan)), -3.0, 3.0)
        return [(st, dur * (1.0 + self.rel * float(k)), mw) for (st, dur, mw), k in zip(plan, z)]
