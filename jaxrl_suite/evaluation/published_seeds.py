"""Could a published k-seed result have come from our distribution of per-seed results?

A published number is usually the mean (± std) of a few seeds, k = 3 or even 1. Comparing our
n-seed mean with it under a fixed tolerance ignores k: when a minority of our seeds collapse,
our mean drops far below a 3-seed mean that happened to draw no collapsed seed, although such
a draw is common (7 good seeds of 10: all 3 good with probability 0.7^3 = 0.34).

The test resamples what the source did: k seeds drawn with replacement from our n per-seed
values (their empirical distribution; an explicit PRNG, so the p-values are reproducible), many
times, and asks how often such a k-seed result is at least as extreme as the published one:

* mean: p_mean = P(|mean_k - m| >= |published - m|), m our n-seed mean (two-sided);
* spread, when the source gives its std over its k seeds (k >= 2): s_k = the population std
  (ddof 0) of the k resampled values, p_spread = min(1, 2 min(P(s_k <= s), P(s_k >= s)))
  (two-sided, equal tails);
* both are combined with Bonferroni, p = min(1, 2 min(p_mean, p_spread)), valid whatever the
  dependence between the two statistics; with no published spread, p = p_mean.

Each probability is the Monte-Carlo estimate (1 + #extreme) / (1 + reps), never 0. The
published result is "reproduced" when p >= the level (0.05). Limits: the test only knows our n
values, so if all our seeds return the same number, a published number that differs at all is
not reproduced; and it cannot tell a collapse-prone implementation that got lucky from a
reliable one — report the collapse fraction next to it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from jaxrl_suite.evaluation.bootstrap import stream_rng

#: The verdict's significance level: reproduced when p >= LEVEL.
LEVEL = 0.05
#: Resamples of k seeds per test (a p-value near the level then has a Monte-Carlo standard
#: error of about 0.0007).
RESAMPLES = 100_000


@dataclasses.dataclass(frozen=True)
class KSeedTest:
    """The outcome of :func:`k_seed_test`."""

    k: int
    p_mean: float
    p_spread: float | None  # None: no published spread, or k = 1 (a single seed has no spread)
    p_value: float  # the combined p-value the verdict reads
    reps: int

    @property
    def reproduced(self) -> bool:
        return self.p_value >= LEVEL


def k_seed_test(
    ours: ArrayLike,
    published_mean: float,
    k: int,
    published_spread: float | None = None,
    *,
    reps: int = RESAMPLES,
    seed: int = 0,
    name: str = "k-seed test",
) -> KSeedTest:
    """Test the published k-seed mean (and spread) against our per-seed values ``ours``
    (module docstring). Draws come from ``stream_rng(seed, name)``."""
    values = np.asarray(ours, dtype=float)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"ours must hold at least two per-seed values; got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("ours must be finite (a diverged seed has no return to resample)")
    if int(k) != k or k < 1:
        raise ValueError(f"k (the published seed count) must be a positive integer; got {k!r}")
    if reps < 1:
        raise ValueError(f"reps must be positive; got {reps}")
    draws = values[stream_rng(seed, name).integers(0, values.size, size=(reps, int(k)))]
    center = values.mean()
    # Resampled means equal to the published one up to float rounding count as "as extreme".
    slack = 1e-9 * max(1.0, float(np.abs(values).max()), abs(float(published_mean)))
    deviation = abs(float(published_mean) - center)
    p_mean = _monte_carlo_p(np.abs(draws.mean(axis=1) - center) >= deviation - slack)
    p_spread = None
    if published_spread is not None and k >= 2:
        spreads = draws.std(axis=1)
        lower = _monte_carlo_p(spreads <= published_spread + slack)
        upper = _monte_carlo_p(spreads >= published_spread - slack)
        p_spread = min(1.0, 2.0 * min(lower, upper))
    p_value = p_mean if p_spread is None else min(1.0, 2.0 * min(p_mean, p_spread))
    return KSeedTest(k=int(k), p_mean=p_mean, p_spread=p_spread, p_value=p_value, reps=reps)


def _monte_carlo_p(extreme: np.ndarray) -> float:
    return float((1 + np.count_nonzero(extreme)) / (1 + extreme.size))


def collapse_threshold(random_return: float, published: float) -> float | None:
    """The return below which a seed counts as collapsed: the midpoint between a random
    policy's return (the environment's anchor ``lo``) and the published value, i.e. a seed that
    ended closer to random play than to the published result. None when the published value
    is not above random play (nothing to collapse from)."""
    if not published > random_return:
        return None
    return 0.5 * (random_return + published)
