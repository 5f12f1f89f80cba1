"""Intervals for a tuner's held-out score: a two-level bootstrap over tuner repetitions and test seeds.

A tuner's output is judged by scores[r, s]: repetition r's output (one configuration, or one PBT
schedule) trained from scratch on test seed s. The test seeds of one repetition share its output,
so they are not independent draws of "what this tuner gives": the bootstrap resamples whole
repetitions with replacement, then, within every drawn repetition, its test seeds with
replacement (the two-stage bootstrap of clustered data; Davison & Hinkley 1997, section 3.8).
With one test seed per repetition this is the ordinary bootstrap over repetitions.

* `tuner_score_interval`: the mean of scores (over repetitions and test seeds) with its
  percentile interval.
* `tuner_improvement_interval`: P(X > Y), the probability that one tuner's output, on a test
  seed, scores above another's (ties count 1/2; Agarwal et al. 2021's probability of
  improvement over the pooled runs), each tuner resampled in two stages independently.

Draws come from `bootstrap.stream_rng(seed, name)`, so an interval is reproducible from (seed,
name, data shape, reps) and does not move when other tuners are added.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from jaxrl_suite.evaluation.bootstrap import (
    IntervalEstimate,
    check_bootstrap_settings,
    percentile_interval,
    stream_rng,
)

_BLOCK = 512  # resamples per vectorised block (bounds the [block, n, m] comparison array)


def _checked(scores: ArrayLike, name: str) -> np.ndarray:
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must have shape (repetitions, test seeds), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has non-finite scores; charge failures before the bootstrap")
    return x


def two_stage_resample(scores: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` two-stage resamples of scores[r, s]: shape (count, repetitions, seeds)."""
    reps, seeds = scores.shape
    rows = rng.integers(reps, size=(count, reps))
    columns = rng.integers(seeds, size=(count, reps, seeds))
    return scores[rows[..., None], columns]


def tuner_score_interval(scores: ArrayLike, reps: int = 10_000, confidence: float = 0.95, seed: int = 0,
                         name: str = "tuner") -> IntervalEstimate:
    check_bootstrap_settings(reps, confidence)
    x = _checked(scores, "scores")
    rng = stream_rng(seed, name)
    means = np.concatenate([two_stage_resample(x, min(_BLOCK, reps - start), rng).mean(axis=(1, 2))
                            for start in range(0, reps, _BLOCK)])
    return percentile_interval(np.asarray(x.mean()), means, confidence)


def improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + P(X = Y) / 2 over all pairs of pooled runs; x (..., n) and y (..., m)."""
    xi, yj = x[..., :, None], y[..., None, :]
    return (xi > yj).mean(axis=(-2, -1)) + 0.5 * (xi == yj).mean(axis=(-2, -1))


def tuner_improvement_interval(x: ArrayLike, y: ArrayLike, reps: int = 10_000, confidence: float = 0.95,
                               seed: int = 0, name: str = "X > Y") -> IntervalEstimate:
    check_bootstrap_settings(reps, confidence)
    x, y = _checked(x, "x"), _checked(y, "y")
    rng = stream_rng(seed, name)
    samples = []
    for start in range(0, reps, _BLOCK):
        count = min(_BLOCK, reps - start)
        resampled_x = two_stage_resample(x, count, rng).reshape(count, -1)
        resampled_y = two_stage_resample(y, count, rng).reshape(count, -1)
        samples.append(improvement(resampled_x, resampled_y))
    return percentile_interval(improvement(x.reshape(-1), y.reshape(-1)), np.concatenate(samples), confidence)
