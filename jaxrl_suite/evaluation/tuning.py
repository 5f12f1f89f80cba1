"""Tuning-cost-aware protocols: what an algorithm is worth once the environment steps spent
choosing its hyperparameters are counted.

* Tuning curves: the expected score of the best of k configurations drawn from a pool.
  In-sample (Dodge et al. 2019, "Show Your Work", EMNLP), where the score that selects is also
  the score reported, and held-out, where configurations are selected by their score on
  tuning seeds and reported by their score on disjoint test seeds. The gap between the two
  is the winner's curse.
* Fixed total budget (Tang & Zhang 2026, "The Statistical Cost of Hyperparameter Tuning in
  Reinforcement Learning"): B environment steps split evenly over n configurations.
* Effective sample complexity (Tang & Zhang 2026) lives in
  :mod:`jaxrl_suite.evaluation.sample_complexity`.
* An outer bootstrap over the pool of configurations for the tuning curve and the
  fixed-budget score.

Inputs are numpy arrays: a score per configuration, or a learning curve per configuration
(configs x logging points) with the environment steps one configuration has consumed at each
logging point. Scores must be finite: map a diverged configuration to a score first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from jaxrl_suite.evaluation.bootstrap import (
    IntervalEstimate,
    block_sizes,
    check_bootstrap_settings,
    percentile_interval,
    stream_rng,
)

# --- checked inputs --------------------------------------------------------------------


def finite_array(values: ArrayLike, name: str, ndim: int) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != ndim or x.size == 0:
        raise ValueError(f"{name} must be a non-empty {ndim}-D array; got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite; map diverged configurations to a score first")
    return x


def _paired(tune: ArrayLike, test: ArrayLike, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    tune = finite_array(tune, "tuning-seed scores", ndim)
    test = finite_array(test, "test-seed scores", ndim)
    if tune.shape != test.shape:
        raise ValueError(
            f"tuning-seed and test-seed scores must have the same shape; "
            f"got {tune.shape} and {test.shape}"
        )
    return tune, test


def logging_steps(env_steps: ArrayLike, points: int) -> np.ndarray:
    steps = finite_array(env_steps, "env_steps", 1)
    if steps.size != points or np.any(np.diff(steps) <= 0):
        raise ValueError(
            f"env_steps must be {points} strictly increasing values (one per logging point); "
            f"got {steps.shape[0]}"
        )
    return steps


def _ks(ks: ArrayLike | None, n: int, at_most_n: bool) -> np.ndarray:
    k = np.arange(1, n + 1) if ks is None else np.atleast_1d(np.asarray(ks))
    if not np.issubdtype(k.dtype, np.integer) or k.ndim != 1 or np.any(k < 1):
        raise ValueError(f"ks must be positive integers; got {ks!r}")
    if at_most_n and np.any(k > n):
        raise ValueError(f"ks must not exceed the pool size {n} when drawing without replacement")
    return k


# --- tuning curves ----------------------------------------------------------------------


def best_of_k_weights(n: int, ks: ArrayLike) -> np.ndarray:
    """W[j, r-1] = C(r-1, k_j-1) / C(n, k_j), shape (len(ks), n).

    Of k_j items drawn uniformly without replacement from n ranked items, W[j, r-1] is the
    probability that the best one is the item of ascending rank r (r = 1 the worst).
    """
    k = _ks(ks, n, at_most_n=True)[:, None]
    log_factorial = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, n + 1)))))

    def log_choose(a, b):
        return log_factorial[a] - log_factorial[b] - log_factorial[a - b]

    r = np.arange(1, n + 1)
    possible = r >= k  # the best of k items cannot rank below k
    log_weight = log_choose(np.where(possible, r - 1, k - 1), k - 1) - log_choose(n, k)
    return np.where(possible, np.exp(log_weight), 0.0)


def _tie_averaged(sorted_keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` with every run of equal ``sorted_keys`` (along the last axis, any leading
    axes) replaced by the run's mean."""
    n = sorted_keys.shape[-1]
    keys = sorted_keys.reshape(-1, n)
    starts = np.ones(keys.shape, dtype=bool)
    starts[:, 1:] = keys[:, 1:] != keys[:, :-1]
    if starts.all():
        return values
    group = np.cumsum(starts.ravel()) - 1  # every row opens a new group, so ids never span rows
    means = np.bincount(group, weights=values.ravel()) / np.bincount(group)
    return means[group].reshape(values.shape)


def _expected_heldout_best(tune: np.ndarray, test: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Expected test score of the best-by-tune-score configuration of a uniform k-subset,
    for each row of ``weights`` (K, N); ``tune`` and ``test`` are (..., N). Returns (..., K)."""
    order = np.argsort(tune, axis=-1, kind="stable")
    ranked_tune = np.take_along_axis(tune, order, axis=-1)
    ranked_test = np.take_along_axis(test, order, axis=-1)
    # Tied tuning scores give the selector no reason to prefer one configuration: it picks
    # uniformly among them, so each receives the tied group's mean test score.
    return _tie_averaged(ranked_tune, ranked_test) @ weights.T


def heldout_tuning_curve(
    tune_scores: ArrayLike, test_scores: ArrayLike, ks: ArrayLike | None = None
) -> np.ndarray:
    """Held-out tuning curve TC(k) for k in ``ks`` (default 1..N).

    N configurations drawn by random search have tuning-seed scores u and test-seed scores w.
    Rank them by u in ascending order (rank N is the best); then

        TC(k) = sum_r C(r-1, k-1) / C(N, k) * w_(r),

    the expected test score of the configuration a practitioner picks (best u) after trying k
    configurations drawn without replacement from the pool. Configurations tied in u share
    their group's probability mass (each gets the group's mean w). The tuning cost of TC(k)
    is :func:`tuning_cost_steps` (k).
    """
    tune, test = _paired(tune_scores, test_scores, ndim=1)
    return _expected_heldout_best(tune, test, best_of_k_weights(tune.size, _ks(ks, tune.size, True)))


def expected_max_without_replacement(scores: ArrayLike, ks: ArrayLike | None = None) -> np.ndarray:
    """In-sample expected maximum of k of the N scores drawn without replacement: the
    unbiased U-statistic sum_i C(i-1, k-1) / C(N, k) * v_(i), v ascending (Dodge et al.
    2019's estimator without replacement). Equals :func:`heldout_tuning_curve` (v, v)."""
    v = finite_array(scores, "scores", 1)
    return _expected_heldout_best(v, v, best_of_k_weights(v.size, _ks(ks, v.size, True)))


@dataclasses.dataclass(frozen=True)
class ExpectedMax:
    """Expected maximum of k draws and the standard deviation of that maximum, per k."""

    mean: np.ndarray
    std: np.ndarray


def expected_max_with_replacement(scores: ArrayLike, ks: ArrayLike | None = None) -> ExpectedMax:
    """Dodge et al. 2019's expected validation performance: the maximum of k draws with
    replacement from the N observed scores v (ascending v_(1) <= ... <= v_(N)) has

        P(max = v_(i)) = (i/N)^k - ((i-1)/N)^k,   E[max] = sum_i v_(i) P(max = v_(i)),

    and std = sqrt(E[max^2] - E[max]^2). ``ks`` (default 1..N) may exceed N.
    """
    v = np.sort(finite_array(scores, "scores", 1))
    k = _ks(ks, v.size, at_most_n=False)[:, None]
    cdf = np.arange(v.size + 1) / v.size
    p_max = cdf[1:] ** k - cdf[:-1] ** k
    mean = p_max @ v
    variance = np.maximum(p_max @ v**2 - mean**2, 0.0)  # clip rounding below zero
    return ExpectedMax(mean=mean, std=np.sqrt(variance))


def tuning_cost_steps(ks: ArrayLike, steps_per_config: int, n_tuning_seeds: int) -> np.ndarray:
    """Environment steps spent to try k configurations: k x steps_per_config x n_tuning_seeds
    (the x-axis of a tuning curve in steps rather than configurations)."""
    return np.asarray(ks, dtype=np.int64) * int(steps_per_config) * int(n_tuning_seeds)


def tuning_curve_interval(
    tune_scores: ArrayLike,
    test_scores: ArrayLike,
    ks: ArrayLike | None = None,
    reps: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> IntervalEstimate:
    """:func:`heldout_tuning_curve` with a percentile CI from an outer bootstrap over the
    pool: each resample draws N configurations (with their u and w) with replacement from
    the N observed ones and recomputes the curve. Draws come from ``stream_rng(seed, "configs")``."""
    tune, test = _paired(tune_scores, test_scores, ndim=1)
    check_bootstrap_settings(reps, confidence)
    n = tune.size
    weights = best_of_k_weights(n, _ks(ks, n, True))
    samples = _resample_configs(
        n, reps, seed, lambda drawn: _expected_heldout_best(tune[drawn], test[drawn], weights)
    )
    point = _expected_heldout_best(tune, test, weights)
    return percentile_interval(point, samples, confidence)


def _resample_configs(
    pool: int,
    reps: int,
    seed: int,
    statistic: Callable[[np.ndarray], np.ndarray],
    elements_per_rep: int | None = None,
) -> np.ndarray:
    """Outer bootstrap over a pool of configurations: ``statistic`` of each resample, given
    as a block of indices (block, pool) drawn with replacement, stacked on axis 0.
    ``elements_per_rep`` (default ``pool``) is what one resample materialises."""
    rng = stream_rng(seed, "configs")
    samples = []
    for block in block_sizes(reps, elements_per_rep or pool):
        samples.append(statistic(rng.integers(0, pool, size=(block, pool))))
    return np.concatenate(samples)


# --- fixed total budget -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BudgetReadPoints:
    """Where a fixed-budget score is read, per budget: at exactly B/n env steps, linearly
    interpolated between the two logging points that bracket it.

    per_config: B/n, each configuration's share of the budget.
    read_at: the env step the curves are read at: B/n itself; the last logging point where
      B/n lies beyond it (a run has no value after its end); NaN where B/n lies below the first
      logging point (no value yet).
    lower, upper: env steps of the logging points at or below and at or above ``read_at``
      (equal when it falls on a logging point); NaN where ``read_at`` is.
    weight: the weight of ``upper`` in the interpolation, (read_at - lower) / (upper - lower).
    """

    per_config: np.ndarray
    read_at: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    weight: np.ndarray
    lower_index: np.ndarray
    upper_index: np.ndarray

    @property
    def reached(self) -> np.ndarray:
        return np.isfinite(self.read_at)


def budget_read_points(env_steps: ArrayLike, budgets: ArrayLike, n_configs: int) -> BudgetReadPoints:
    """:class:`BudgetReadPoints` of budgets B (1-D) split over ``n_configs`` configurations, on
    the logging schedule ``env_steps`` (strictly increasing)."""
    steps = finite_array(env_steps, "env_steps", 1)
    if np.any(np.diff(steps) <= 0):
        raise ValueError("env_steps must be strictly increasing (one value per logging point)")
    per_config = np.atleast_1d(np.asarray(budgets, dtype=float)) / n_configs
    reached = per_config >= steps[0]
    read_at = np.minimum(per_config, steps[-1])
    lower_index = np.clip(np.searchsorted(steps, read_at, side="right") - 1, 0, steps.size - 1)
    upper_index = np.where(steps[lower_index] < read_at, np.minimum(lower_index + 1, steps.size - 1), lower_index)
    gap = steps[upper_index] - steps[lower_index]
    weight = np.where(gap > 0, (read_at - steps[lower_index]) / np.where(gap > 0, gap, 1.0), 0.0)
    def where_reached(values: np.ndarray) -> np.ndarray:
        return np.where(reached, values, np.nan)

    return BudgetReadPoints(
        per_config=per_config, read_at=where_reached(read_at), lower=where_reached(steps[lower_index]),
        upper=where_reached(steps[upper_index]), weight=np.where(reached, weight, 0.0),
        lower_index=lower_index, upper_index=upper_index,
    )


def _read_curves(curves: np.ndarray, points: BudgetReadPoints) -> np.ndarray:
    """(N, budgets): each curve (N, P) linearly interpolated at ``points.read_at``."""
    return (1.0 - points.weight) * curves[:, points.lower_index] + points.weight * curves[:, points.upper_index]


def _n_configs(n_configs: int | None, pool: int) -> int:
    n = pool if n_configs is None else int(n_configs)
    if not 1 <= n <= pool:
        raise ValueError(f"n_configs must lie in 1..{pool} (the pool size); got {n_configs!r}")
    return n


def _scores_at_budgets(
    tune: np.ndarray, test: np.ndarray, env_steps: ArrayLike, budgets: ArrayLike, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both curves (N, P) read at exactly B/n steps of each budget (see :func:`budget_read_points`):
    (tune_at, test_at) of shape (N, budgets), and whether B/n reaches the first logging point."""
    points = budget_read_points(logging_steps(env_steps, tune.shape[1]), budgets, n)
    return _read_curves(tune, points), _read_curves(test, points), points.reached


def _fixed_budget(
    tune_at: np.ndarray, test_at: np.ndarray, reached: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Held-out best-of-n per budget; tune_at/test_at (..., N, budgets), weights (1, N) for
    n. Returns (..., budgets), NaN where no logging point lies within the budget."""
    # (..., N, budgets) -> (..., budgets, N): the configuration axis last, as selection wants.
    best = _expected_heldout_best(
        np.swapaxes(tune_at, -1, -2), np.swapaxes(test_at, -1, -2), weights
    )[..., 0]
    return np.where(reached, best, np.nan)


def fixed_budget_heldout(
    tune_curves: ArrayLike,
    test_curves: ArrayLike,
    env_steps: ArrayLike,
    budgets: ArrayLike,
    n_configs: int | None = None,
) -> np.ndarray:
    """Held-out fixed-budget score FB@B (Tang & Zhang 2026's protocol, scored on test seeds).

    The budget B is split evenly over n configurations, so each trains for B/n steps; the
    practitioner picks theta_hat = argmax_theta G_tune(theta, B/n) and gets G_test(theta_hat,
    B/n). G is read at exactly B/n steps: each curve is linearly interpolated between the two
    logging points that bracket B/n (exact on a logging point), so a configuration is credited
    with its whole share whether or not B/n falls on the logging schedule (reading the last
    point at or before B/n would hand a larger grid, whose shares fall further between points,
    a systematically smaller share). Beyond the last logging point the curve's last value is
    used (the run ended there). With n = N (a grid: n = |Theta|)
    that is the argmax over the pool; with n < N (random search) it is the expectation over
    uniform n-subsets of the pool. Ties in G_tune share mass as in
    :func:`heldout_tuning_curve`.

    Args:
      tune_curves, test_curves: (N, P) learning curves on tuning and on test seeds.
      env_steps: (P,) steps one configuration has consumed at each logging point (count all
        of its seeds if the budget is meant to pay for them).
      budgets: total budgets B (scalar or 1-D).
      n_configs: n; default N.

    Returns:
      FB per budget; NaN where B/n is below the first logging point (no score exists yet).
      :func:`budget_read_points` says where each budget was read.
    """
    tune, test = _paired(tune_curves, test_curves, ndim=2)
    n = _n_configs(n_configs, tune.shape[0])
    tune_at, test_at, reached = _scores_at_budgets(tune, test, env_steps, budgets, n)
    result = _fixed_budget(tune_at, test_at, reached, best_of_k_weights(tune.shape[0], [n]))
    return result if np.ndim(budgets) else result[0]


def fixed_budget_interval(
    tune_curves: ArrayLike,
    test_curves: ArrayLike,
    env_steps: ArrayLike,
    budgets: ArrayLike,
    n_configs: int | None = None,
    reps: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> IntervalEstimate:
    """:func:`fixed_budget_heldout` with a percentile CI from an outer bootstrap over the
    pool of configurations (each resample draws N configurations' curves with replacement;
    one resample serves every budget). Draws come from ``stream_rng(seed, "configs")``."""
    tune, test = _paired(tune_curves, test_curves, ndim=2)
    check_bootstrap_settings(reps, confidence)
    pool = tune.shape[0]
    n = _n_configs(n_configs, pool)
    tune_at, test_at, reached = _scores_at_budgets(tune, test, env_steps, budgets, n)
    weights = best_of_k_weights(pool, [n])
    samples = _resample_configs(
        pool,
        reps,
        seed,
        lambda drawn: _fixed_budget(tune_at[drawn], test_at[drawn], reached, weights),
        elements_per_rep=tune_at.size,
    )
    point = _fixed_budget(tune_at, test_at, reached, weights)
    estimate = percentile_interval(point, samples, confidence)
    if np.ndim(budgets):
        return estimate
    point, lo, hi = (np.asarray(field[0]) for field in (estimate.point, estimate.lo, estimate.hi))
    return IntervalEstimate(point=point, lo=lo, hi=hi)


def _area_within(curves: np.ndarray, env_steps: ArrayLike, budgets: ArrayLike) -> np.ndarray:
    """(N, budgets): each curve's partial sum over logging points up to exactly B/N steps.

    The sum over the points at or below B/N, plus the next point's value weighted by the
    fraction of its logging interval that B/N covers: the cumulative sum linearly interpolated
    between the logging points that bracket B/N, as the curves are for FB@B. Exact (the plain
    sum) on a logging point; 0 below the first one; the whole sum beyond the last one."""
    curves = finite_array(curves, "curves", 2)
    points = budget_read_points(logging_steps(env_steps, curves.shape[1]), budgets, curves.shape[0])
    cumulative = np.cumsum(curves, axis=1)[:, points.lower_index]
    partial = points.weight * curves[:, points.upper_index]
    return np.where(points.reached, cumulative + partial, 0.0)


def effective_auc(curves: ArrayLike, env_steps: ArrayLike, budgets: ArrayLike) -> np.ndarray:
    """Tang & Zhang's optimistic Effective AUC: n * max_theta sum_{t <= B/n} G(theta, t).

    ``curves`` (n, P) holds the n configurations' (seed-averaged) curves G; the sum runs over
    the logging points within B/n steps (a sum over points, not an integral over steps), the
    point after B/n counted with the fraction of its logging interval B/n covers (so the sum is
    taken at exactly B/n; see :func:`_area_within`). It
    credits the practitioner with the best configuration's area as if it had been known in
    advance, while charging n times its steps.
    """
    area = _area_within(curves, env_steps, budgets)
    result = area.shape[0] * area.max(axis=0)
    return result if np.ndim(budgets) else result[0]


def realizable_auc(curves: ArrayLike, env_steps: ArrayLike, budgets: ArrayLike) -> np.ndarray:
    """The realizable counterpart of :func:`effective_auc`: sum_theta sum_{t <= B/n}
    G(theta, t), the area actually collected while running all n configurations."""
    result = _area_within(curves, env_steps, budgets).sum(axis=0)
    return result if np.ndim(budgets) else result[0]
