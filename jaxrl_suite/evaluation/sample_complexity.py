"""Effective sample complexity (Tang & Zhang 2026, "The Statistical Cost of Hyperparameter
Tuning in Reinforcement Learning"): n times the fewest environment steps any of the n
configurations needs to reach a threshold, in three modes (censored at an anchor's threshold;
the authors' released code, "zhang"; and the p5/p95-normalised reading, "zhang_normalised"),
with an outer bootstrap over configurations for its interval.

Inputs are learning curves (configs x logging points) with the environment steps one
configuration has consumed at each logging point, as in :mod:`jaxrl_suite.evaluation.tuning`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from jaxrl_suite.evaluation.bootstrap import IntervalEstimate, check_bootstrap_settings, percentile_interval, stream_rng
from jaxrl_suite.evaluation.normalization import PercentilePool, percentile_pool
from jaxrl_suite.evaluation.tuning import finite_array, logging_steps

#: Tang & Zhang's code (mode "zhang"): the threshold is this percentile of the pooled returns.
ZHANG_PERCENTILE = 90.0
#: The other reading (mode "zhang_normalised"): 0.9 on the p5/p95 percentile scale.
ZHANG_THRESHOLD = 0.9
#: A configuration that never reaches the threshold is charged this many times a step: the
#: largest first-hitting step of the pool (mode "zhang"), the training length ("zhang_normalised").
ZHANG_CENSORED_MULTIPLIER = 10.0
#: Tang & Zhang divide first-hitting steps by this percentile of the pool's (filled) steps.
ZHANG_STEP_BASELINE_PERCENTILE = 5.0


@dataclasses.dataclass(frozen=True)
class SampleComplexity:
    """Effective sample complexity of a set of n configurations.

    value: n * min_theta T_theta(tau); ``inf`` when no configuration reaches tau (and none is
      imputed): the honest statement is only "more than n times the training length".
    first_hit: T_theta(tau) per configuration; NaN where censored (mode "censored"), the
      imputed charge in the Tang & Zhang modes.
    censored_fraction: fraction of configurations that never reach tau.
    threshold: tau, in the units the curves were compared in (raw returns, except in mode
      "zhang_normalised": the p5/p95 scale).
    n_configs: n, the multiplier.
    normalization: the p5/p95 pool record (mode "zhang_normalised"), else None.
    step_baseline: mode "zhang" with the pool given as curves: the 5th percentile of the pool
      configurations' (filled) first-hitting steps, Tang & Zhang's unit of sample complexity.
    normalized_value: value / step_baseline, the "normalized effective SC" Tang & Zhang plot.
    """

    value: float
    first_hit: np.ndarray
    censored_fraction: float
    threshold: float
    n_configs: int
    normalization: PercentilePool | None = None
    step_baseline: float | None = None

    @property
    def normalized_value(self) -> float | None:
        return None if self.step_baseline is None else self.value / self.step_baseline


def first_hitting_steps(curves: ArrayLike, env_steps: ArrayLike, threshold: float) -> np.ndarray:
    """T_theta(tau): the env steps of the first logging point where G(theta) >= tau, per
    configuration; NaN where the curve never reaches tau."""
    curves = finite_array(curves, "curves", 2)
    steps = logging_steps(env_steps, curves.shape[1])
    reached = curves >= threshold
    first = np.argmax(reached, axis=1)
    return np.where(reached.any(axis=1), steps[first], np.nan)


def effective_sample_complexity(
    curves: ArrayLike,
    env_steps: ArrayLike,
    threshold: float | None = None,
    *,
    mode: Literal["censored", "zhang", "zhang_normalised"] = "censored",
    pool: ArrayLike | None = None,
) -> SampleComplexity:
    """Effective sample complexity SC_eff = n * min_theta T_theta(tau) (Tang & Zhang 2026).

    ``curves`` (n, P) holds the (seed-averaged) learning curves of the n configurations whose
    tuning is being charged, and n multiplies because all of them must be run to find the
    one that learns fastest.

    Modes:
      "censored" (default): ``threshold`` is required and compared with the curves as given.
        Configurations that never reach it are reported through ``censored_fraction`` and
        never imputed; if none reaches it, the value is ``inf``.
      "zhang": Tang & Zhang's released code (hyperparameter_sensitivity/sec5, scripts
        10_sc_step_to_threshold.py and 11_sc_release_table.py). Their pool is one algorithm's
        whole grid on one environment: every configuration's seed-averaged curve (cut to the
        shortest curve; here all curves have P points). Pass that grid as ``pool`` (configs,
        P) when ``curves`` is a subset of it; the default pool is ``curves``. Then
          tau = np.percentile(pool, 90), on raw returns (numpy's linear interpolation);
          T_theta = the first logging point with G >= tau (they count the 1-based logging
            index; here its env steps, the same up to the logging interval);
          a configuration that never reaches tau is charged 10 x the largest first-hitting
            step among the pool's configurations that do reach it (one always does: the
            pool's maximum is >= tau), before any minimum, percentile or average;
          step_baseline = the 5th percentile of the pool's (filled) steps, normalized_value =
            value / step_baseline (their "normalized effective SC"; n is their 3^N).
        A flat ``pool`` (any shape other than (configs, P)) sets only tau: the charge for a
        censored configuration then comes from ``curves``' own largest first hit, and there is
        no step_baseline. ``threshold`` must be left None.
      "zhang_normalised": an earlier reading of the paper's text, kept for comparison: the
        curves are percentile-normalised with the p5/p95 of ``pool`` (default: the curves),
        tau = 0.9 on that scale (90% of the way from p5 to p95, not the 90th percentile), and
        a censored configuration is charged 10 x the training length (the last logging point).
    """
    curves = finite_array(curves, "curves", 2)
    steps = logging_steps(env_steps, curves.shape[1])
    if mode in ("zhang", "zhang_normalised") and threshold is not None:
        raise ValueError(f"mode={mode!r} sets its own threshold (the pool's 90th percentile for 'zhang', 0.9 on "
                         "the p5/p95 scale for 'zhang_normalised'); leave threshold None")
    if mode == "zhang":
        return _zhang_sample_complexity(curves, steps, pool)
    record = None
    if mode == "zhang_normalised":
        record = percentile_pool(curves if pool is None else pool)
        curves = record.apply(curves)
        threshold = ZHANG_THRESHOLD
    elif mode == "censored":
        if threshold is None:
            raise ValueError("mode='censored' needs a threshold (e.g. an anchor's tau)")
        if pool is not None:
            raise ValueError("pool is only used by the modes 'zhang' and 'zhang_normalised'")
    else:
        raise ValueError(f"mode must be 'censored', 'zhang' or 'zhang_normalised'; got {mode!r}")

    first_hit = first_hitting_steps(curves, steps, threshold)
    censored = np.isnan(first_hit)
    if mode == "zhang_normalised":
        first_hit = np.where(censored, ZHANG_CENSORED_MULTIPLIER * steps[-1], first_hit)
    return _sample_complexity(first_hit, censored, float(threshold), normalization=record)


def _zhang_sample_complexity(curves: np.ndarray, steps: np.ndarray, pool: ArrayLike | None) -> SampleComplexity:
    """Mode "zhang" of :func:`effective_sample_complexity`."""
    pool_values = curves if pool is None else np.asarray(pool, dtype=float)
    if pool_values.size == 0 or not np.isfinite(pool_values).all():
        raise ValueError("mode='zhang': the pool must be non-empty and finite")
    pool_is_grid = pool_values.ndim == 2 and pool_values.shape[1] == curves.shape[1]
    threshold = float(np.percentile(pool_values, ZHANG_PERCENTILE))
    first_hit = first_hitting_steps(curves, steps, threshold)
    censored = np.isnan(first_hit)
    # The charge for a censored configuration: 10 x the largest step at which a configuration
    # of the grid first reaches tau (their `10 * df[metric].dropna().max()` over the whole grid).
    grid_hits = first_hitting_steps(pool_values, steps, threshold) if pool_is_grid else first_hit
    valid = grid_hits[~np.isnan(grid_hits)]
    charge = ZHANG_CENSORED_MULTIPLIER * valid.max() if valid.size else np.nan
    first_hit = np.where(censored, charge, first_hit)
    baseline = None
    if pool_is_grid:  # their `np.percentile(df[metric], 5)` over the filled steps of the grid
        baseline = float(np.percentile(np.where(np.isnan(grid_hits), charge, grid_hits),
                                       ZHANG_STEP_BASELINE_PERCENTILE))
    return _sample_complexity(first_hit, censored, threshold, step_baseline=baseline)


def _sample_complexity(first_hit: np.ndarray, censored: np.ndarray, threshold: float, **extra) -> SampleComplexity:
    value = np.inf if np.isnan(first_hit).all() else first_hit.size * float(np.nanmin(first_hit))
    return SampleComplexity(value=value, first_hit=first_hit, censored_fraction=float(censored.mean()),
                            threshold=threshold, n_configs=first_hit.size, **extra)


@dataclasses.dataclass(frozen=True)
class SampleComplexityEstimate:
    """:class:`SampleComplexity` with a bootstrap interval for its value."""

    result: SampleComplexity
    interval: IntervalEstimate


def sample_complexity_interval(
    curves: ArrayLike,
    env_steps: ArrayLike,
    reps: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    stream: str = "configs",
    **kwargs,
) -> SampleComplexityEstimate:
    """:func:`effective_sample_complexity` (``kwargs`` pass through) with a percentile CI from
    an outer bootstrap over the configurations, as for the tuning curve and FB@B.

    The percentiles are taken on 1/SC_eff, where a resample in which no configuration reaches
    tau (SC_eff = inf) is a finite 0 and keeps its place in the order; the interval is mapped
    back with 1/x. Draws come from ``stream_rng(seed, stream)``.
    """
    curves = finite_array(curves, "curves", 2)
    check_bootstrap_settings(reps, confidence)
    result = effective_sample_complexity(curves, env_steps, **kwargs)
    n = curves.shape[0]
    draws = stream_rng(seed, stream).integers(0, n, size=(reps, n))

    # SC_eff of a resample depends only on which configurations it holds (n stays the pool size,
    # a repeat cannot lower the minimum), so resamples with the same set share one evaluation.
    @functools.cache
    def value_of(distinct: tuple[int, ...]) -> float:
        chosen = np.asarray(distinct)[np.arange(n) % len(distinct)]
        return effective_sample_complexity(curves[chosen], env_steps, **kwargs).value

    values = np.array([value_of(tuple(np.unique(d).tolist())) for d in draws])
    rates = percentile_interval(1.0 / result.value, 1.0 / values, confidence)
    with np.errstate(divide="ignore"):
        interval = IntervalEstimate(np.asarray(result.value), 1.0 / rates.hi, 1.0 / rates.lo)
    return SampleComplexityEstimate(result, interval)
