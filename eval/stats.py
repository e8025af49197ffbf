"""Statistics for eval results: bootstrap 95 % confidence intervals, and paired comparisons of two systems on the
same items (the difference of means with its own interval, resampling items, not systems)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int

    def to_json(self) -> dict[str, float | int]:
        return {"mean": round(self.mean, 4), "ci95": [round(self.low, 4), round(self.high, 4)], "n": self.n}


def bootstrap(scores: Sequence[float], resamples: int = 2000, seed: int = 0, level: float = 0.95) -> Estimate:
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (resamples, values.size))].mean(axis=1)
    tail = (1 - level) / 2
    return Estimate(float(values.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail)),
                    int(values.size))


def paired_difference(system: Sequence[float], baseline: Sequence[float], resamples: int = 2000, seed: int = 0,
                      level: float = 0.95) -> Estimate:
    """Mean of (system - baseline) over the same items, with a bootstrap interval over items."""
    a, b = np.asarray(system, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs the same items: {a.size} vs {b.size} scores")
    return bootstrap(a - b, resamples, seed, level)
