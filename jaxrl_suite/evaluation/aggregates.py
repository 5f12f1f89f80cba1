"""Aggregate metrics over a score array of shape (..., runs, tasks).

Each run has already been reduced to one scalar per task (final score, AUC, ...). Every
function reduces the last two axes and keeps any leading axes, so the bootstrap can evaluate
a whole block of resamples, shape (resamples, runs, tasks), in one vectorised call.

Definitions follow Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the
Statistical Precipice" (NeurIPS), except :func:`performance_percentile` (Jordan et al. 2020).
Scores must be finite (no NaN, no ±inf): map a diverged run to a score (e.g. its anchor ``lo``)
first, because a NaN would otherwise be sorted or compared away without a trace, and an
infinity is trimmed away by the IQM (15 values with one +inf give the IQM of the other 14)
while it makes a mean infinite: the metrics would silently disagree.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def as_scores(scores: ArrayLike, name: str = "scores") -> np.ndarray:
    """``scores`` as a float array of shape (..., runs, tasks), checked: at least one run and
    one task, and every score finite (NaN and ±inf are refused, see the module docstring)."""
    x = np.asarray(scores, dtype=float)
    if x.ndim < 2 or x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ValueError(
            f"{name} must have shape (..., runs, tasks) with at least one run and one task; "
            f"got shape {x.shape}"
        )
    if not np.isfinite(x).all():
        bad = "NaN" if np.isnan(x).any() else "an infinite value"
        raise ValueError(f"{name} contain {bad}; map diverged runs to a finite score before aggregating")
    return x


def aggregate_mean(scores: ArrayLike) -> np.ndarray:
    """Mean over tasks of the per-task mean over runs (Agarwal et al. 2021)."""
    return as_scores(scores).mean(axis=(-2, -1))


def aggregate_median(scores: ArrayLike) -> np.ndarray:
    """Median over tasks of the per-task mean over runs (Agarwal et al. 2021)."""
    return np.median(as_scores(scores).mean(axis=-2), axis=-1)


def aggregate_iqm(scores: ArrayLike) -> np.ndarray:
    """Interquartile mean (Agarwal et al. 2021): the 25%-trimmed mean of all runs x tasks
    scores pooled together.

    Same convention as ``scipy.stats.trim_mean(x, 0.25, axis=None)``: with n pooled values,
    ``int(0.25 * n)`` are cut from each end (15 values: 3 per side).
    """
    x = as_scores(scores)
    pooled = x.reshape(*x.shape[:-2], -1)
    # A full sort beats np.partition with two kth here: numpy's SIMD sort is the faster path.
    return np.sort(pooled, axis=-1)[..., iqm_window(pooled.shape[-1])].mean(axis=-1)


def iqm_window(n: int) -> slice:
    """The ascending order statistics the IQM of n pooled scores averages (shared with the
    bootstrap, which sorts integer codes of the scores instead, so both agree exactly)."""
    cut = int(0.25 * n)
    return slice(cut, n - cut)


def aggregate_optimality_gap(scores: ArrayLike, gamma: float = 1.0) -> np.ndarray:
    """Optimality gap (Agarwal et al. 2021): gamma - mean(min(x, gamma)), the amount by which
    the algorithm falls short of the target score gamma, with no credit for exceeding it."""
    return gamma - np.minimum(as_scores(scores), gamma).mean(axis=(-2, -1))


def probability_of_improvement(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """P(X > Y) (Agarwal et al. 2021): on each task, the Mann-Whitney U statistic of the runs
    of X against the runs of Y divided by (runs_X * runs_Y), i.e. the fraction of run pairs
    where X wins, ties counting 1/2; then the mean over tasks.

    ``x`` has shape (..., n, tasks) and ``y`` (..., m, tasks); n and m may differ.
    """
    x = as_scores(x, "x")
    y = as_scores(y, "y")
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"x and y must have the same tasks; got shapes {x.shape} and {y.shape}")
    xi = x[..., :, None, :]
    yj = y[..., None, :, :]
    wins = (xi > yj).mean(axis=(-3, -2)) + 0.5 * (xi == yj).mean(axis=(-3, -2))
    return wins.mean(axis=-1)


def run_score_profile(scores: ArrayLike, taus: ArrayLike) -> np.ndarray:
    """Run-score performance profile (Agarwal et al. 2021): for each threshold tau, the
    fraction of all runs x tasks scores strictly above tau. Returns shape (..., len(taus))."""
    x = as_scores(scores)
    taus = np.asarray(taus, dtype=float)
    return (x[..., None] > taus).mean(axis=(-3, -2))


def average_score_profile(scores: ArrayLike, taus: ArrayLike) -> np.ndarray:
    """Average-score performance profile (Agarwal et al. 2021): for each threshold tau, the
    fraction of tasks whose mean score over runs is strictly above tau.
    Returns shape (..., len(taus))."""
    task_means = as_scores(scores).mean(axis=-2)
    taus = np.asarray(taus, dtype=float)
    return (task_means[..., None] > taus).mean(axis=-2)


def performance_percentile(scores: ArrayLike, reference: ArrayLike) -> np.ndarray:
    """Performance percentile (Jordan et al. 2020, "Evaluating the Performance of
    Reinforcement Learning Algorithms", ICML): each score is mapped through the empirical CDF
    of the reference scores on its task, ECDF(s) = #{r_k <= s} / n_ref, then averaged over
    runs and tasks.

    ``scores`` has shape (..., runs, tasks) and ``reference`` (n_ref, tasks), typically every
    run of every algorithm compared on those tasks. 1-D inputs are a single task.
    """
    x = np.asarray(scores, dtype=float)
    ref = np.asarray(reference, dtype=float)
    x = as_scores(x[:, None] if x.ndim == 1 else x)
    ref = as_scores(ref[:, None] if ref.ndim == 1 else ref, "reference")
    if ref.ndim != 2 or ref.shape[-1] != x.shape[-1]:
        raise ValueError(
            f"reference must have shape (n_ref, tasks) matching scores {x.shape}; got {ref.shape}"
        )
    ecdf = (ref <= x[..., :, None, :]).mean(axis=-2)
    return ecdf.mean(axis=(-2, -1))
