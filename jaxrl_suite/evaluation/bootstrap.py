"""Stratified bootstrap percentile confidence intervals (Agarwal et al. 2021).

A resample redraws, independently within each task, as many runs as the task has, with
replacement: the bootstrap is stratified by task (environment) and resamples whole runs. A
run's identity is kept across any trailing axis: for scores of shape (runs, tasks, time) a
resampled run is one original run's whole time series (rliable 1.2.0 instead draws a new run
at every time step).

Vectorised: a block of resamples is one array (block, runs, tasks), and each aggregate
reduces its last two axes in a single call. Blocks only bound memory.

PRNG: each algorithm (or compared pair) draws from its own ``numpy.random.Generator``,
seeded with ``SeedSequence(seed, spawn_key=(crc32(name),))``. Its intervals are therefore
reproducible bit-for-bit from (seed, name, data shape, reps), and do not move when other
algorithms are added, removed or reordered.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from jaxrl_suite.evaluation.aggregates import (
    aggregate_iqm,
    as_scores,
    iqm_window,
    probability_of_improvement,
)

Aggregate = Callable[[np.ndarray], np.ndarray]
PairMetric = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Resamples drawn per call to the generator: the random stream then depends only on (seed,
# name, reps, runs, tasks), never on trailing axes or on how memory is blocked.
_DRAW_REPS = 1024
# Elements of one block of gathered resamples: bounds memory (16 MiB of float64) while
# keeping each numpy call large enough to amortise its overhead.
_BLOCK_ELEMENTS = 1 << 21


@dataclasses.dataclass(frozen=True)
class IntervalEstimate:
    """A point estimate and its percentile confidence interval [lo, hi] (same shapes)."""

    point: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def stream_rng(seed: int, name: str) -> np.random.Generator:
    """The generator the bootstrap uses for the stream ``name`` (an algorithm, a compared
    pair) under the integer ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative int; got {seed!r}")
    stream = np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(name.encode("utf-8")),))
    return np.random.default_rng(stream)


def _draw_rows(rng: np.random.Generator, reps: int, runs: int, tasks: int) -> np.ndarray:
    """Shape (reps, runs, tasks): for every slot of every task, the row of the flattened
    (runs * tasks) axis holding the run drawn there, uniformly with replacement."""
    # The narrowest integer type: the gathers these indices drive are memory-bound.
    dtype = np.min_scalar_type(runs * tasks - 1)
    rows = rng.integers(0, runs, size=(reps, runs, tasks), dtype=dtype)
    rows *= dtype.type(tasks)
    rows += np.arange(tasks, dtype=dtype)
    return rows


def _row_blocks(
    rng: np.random.Generator, reps: int, shapes: Sequence[tuple[int, int]], elements_per_rep: int
) -> Iterator[tuple[np.ndarray, ...]]:
    """Row indices for ``reps`` resamples of each of the score arrays of ``shapes`` (runs,
    tasks), drawn ``_DRAW_REPS`` resamples at a time and yielded in blocks of at most
    ``_BLOCK_ELEMENTS // elements_per_rep`` resamples."""
    block = max(1, _BLOCK_ELEMENTS // max(1, elements_per_rep))
    for start in range(0, reps, _DRAW_REPS):
        count = min(_DRAW_REPS, reps - start)
        drawn = [_draw_rows(rng, count, runs, tasks) for runs, tasks in shapes]
        for first in range(0, count, block):
            yield tuple(rows[first : first + block] for rows in drawn)


def _flat_rows(x: np.ndarray) -> np.ndarray:
    """(runs, tasks, *trailing) -> (runs * tasks, *trailing), the axis rows index."""
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def stratified_resample(scores: ArrayLike, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``reps`` stratified bootstrap resamples of ``scores`` (runs, tasks, *trailing).

    Returns shape (reps, runs, tasks, *trailing): entry [b, i, t] is the whole trailing
    series of one run of task t drawn uniformly with replacement. With
    ``rng = stream_rng(seed, name)`` these are exactly the resamples
    :func:`interval_estimates` draws for ``scores[name]``.
    """
    x = np.asarray(scores)
    if x.ndim < 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"scores must have shape (runs, tasks, ...); got {x.shape}")
    flat = _flat_rows(x)
    blocks = _row_blocks(rng, reps, [x.shape[:2]], elements_per_rep=1)
    return np.concatenate([np.take(flat, rows, axis=0) for (rows,) in blocks])


def percentile_interval(
    point: ArrayLike, samples: ArrayLike, confidence: float
) -> IntervalEstimate:
    """Percentile interval of bootstrap ``samples`` (resamples on axis 0) around ``point``."""
    tail = 100.0 * (1.0 - confidence) / 2.0
    lo, hi = np.percentile(np.asarray(samples), [tail, 100.0 - tail], axis=0)
    return IntervalEstimate(point=np.asarray(point), lo=np.asarray(lo), hi=np.asarray(hi))


def check_bootstrap_settings(reps: int, confidence: float) -> None:
    """Reject a non-positive or non-integer ``reps`` and a ``confidence`` outside (0, 1)."""
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"reps must be a positive int; got {reps!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence!r}")


def block_sizes(reps: int, elements_per_rep: int) -> Iterator[int]:
    """Split ``reps`` resamples into blocks of about ``_BLOCK_ELEMENTS`` elements."""
    size = max(1, _BLOCK_ELEMENTS // max(1, elements_per_rep))
    for start in range(0, reps, size):
        yield min(size, reps - start)


def _time_as_batch(x: np.ndarray, has_time: bool) -> np.ndarray:
    """(..., runs, tasks, time) -> (..., time, runs, tasks): aggregates reduce the last two
    axes, so a time axis becomes a batch axis."""
    return np.moveaxis(x, -1, -3) if has_time else x


def _ordinal_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(levels, codes): the sorted distinct values and, for each entry, the index of its
    level in the narrowest integer type. The map is monotone, so sorting codes sorts values."""
    levels, inverse = np.unique(values, return_inverse=True)
    codes = inverse.reshape(values.shape).astype(np.min_scalar_type(levels.size - 1))
    return levels, codes


def _iqm_of_codes(codes: np.ndarray, levels: np.ndarray, has_time: bool) -> np.ndarray:
    """IQM of resampled ordinal codes (block, runs, tasks[, time]); equal to
    ``aggregate_iqm`` of the resampled values, computed on 1- or 2-byte codes instead."""
    codes = _time_as_batch(codes, has_time)
    pooled = codes.reshape(*codes.shape[:-2], -1)
    # kind="stable" on 8/16-bit integers is numpy's linear-time radix sort.
    middle = np.sort(pooled, axis=-1, kind="stable")[..., iqm_window(pooled.shape[-1])]
    return levels[middle].mean(axis=-1)


def _algorithm_estimates(
    x: np.ndarray,
    aggregate_fns: Mapping[str, Aggregate],
    reps: int,
    confidence: float,
    rng: np.random.Generator,
) -> dict[str, IntervalEstimate]:
    has_time = x.ndim == 3
    flat = _flat_rows(x)
    # The IQM sorts every resample: on integer codes that sort is a radix sort over 1/8 of
    # the bytes, which is most of what makes the bootstrap fast.
    by_codes = [metric for metric, fn in aggregate_fns.items() if fn is aggregate_iqm]
    by_values = [metric for metric in aggregate_fns if metric not in by_codes]
    if by_codes:
        levels, codes = _ordinal_codes(flat)
    samples: dict[str, list[np.ndarray]] = {metric: [] for metric in aggregate_fns}
    for (rows,) in _row_blocks(rng, reps, [x.shape[:2]], x.size):
        if by_values:
            resampled = _time_as_batch(np.take(flat, rows, axis=0), has_time)
            for metric in by_values:
                samples[metric].append(np.asarray(aggregate_fns[metric](resampled)))
        if by_codes:
            iqm = _iqm_of_codes(np.take(codes, rows, axis=0), levels, has_time)
            for metric in by_codes:
                samples[metric].append(iqm)
    point_input = _time_as_batch(x, has_time)
    return {
        metric: percentile_interval(fn(point_input), np.concatenate(samples[metric]), confidence)
        for metric, fn in aggregate_fns.items()
    }


def interval_estimates(
    scores: Mapping[str, ArrayLike],
    aggregate_fns: Mapping[str, Aggregate],
    reps: int = 50_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, IntervalEstimate]]:
    """Point estimates and stratified-bootstrap percentile CIs of aggregate metrics.

    Args:
      scores: algorithm name -> scores of shape (runs, tasks), one scalar per run and task,
        or (runs, tasks, time) for a curve (each time step aggregated separately, runs
        resampled once per resample and kept whole across time).
      aggregate_fns: metric name -> function of a (..., runs, tasks) array reducing the last
        two axes (e.g. :func:`~jaxrl_suite.evaluation.aggregates.aggregate_iqm`; use
        ``functools.partial`` for a profile's thresholds or the optimality gap's gamma).
      reps: number of bootstrap resamples.
      confidence: coverage of the two-sided percentile interval.
      seed: integer seed (see the module docstring for how each algorithm's stream is made).

    Returns:
      ``{algorithm: {metric: IntervalEstimate}}``. For (runs, tasks, time) input each field
      has a leading time axis.
    """
    check_bootstrap_settings(reps, confidence)
    checked = {}
    for name, raw in scores.items():
        x = as_scores(raw, f"scores[{name!r}]")
        if x.ndim not in (2, 3):
            raise ValueError(f"scores[{name!r}] must be (runs, tasks) or (runs, tasks, time)")
        checked[name] = x

    def estimate(name: str) -> dict[str, IntervalEstimate]:
        rng = stream_rng(seed, name)
        return _algorithm_estimates(checked[name], aggregate_fns, reps, confidence, rng)

    # Algorithms are independent streams, so threads change the speed, never the numbers;
    # numpy releases the GIL in the draws, gathers and sorts that dominate.
    workers = min(len(checked), os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        return dict(zip(checked, pool.map(estimate, checked)))


def pairwise_interval_estimates(
    pairs: Mapping[str, tuple[ArrayLike, ArrayLike]],
    metric: PairMetric = probability_of_improvement,
    reps: int = 50_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, IntervalEstimate]:
    """CIs of a two-sample metric, by default the probability of improvement P(X > Y).

    Each resample redraws the runs of X and, independently, the runs of Y within every task
    (both samples stratified by the same tasks); X and Y may have different run counts.

    Args:
      pairs: comparison name (e.g. ``"PPO > DQN"``) -> (x, y), shapes (n, tasks), (m, tasks).
      metric: function of (x, y) arrays of shapes (..., n, tasks), (..., m, tasks).
    """
    check_bootstrap_settings(reps, confidence)
    estimates = {}
    for name, (raw_x, raw_y) in pairs.items():
        x = as_scores(raw_x, f"pairs[{name!r}][0]")
        y = as_scores(raw_y, f"pairs[{name!r}][1]")
        if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
            raise ValueError(
                f"pairs[{name!r}] must be (n, tasks) and (m, tasks) arrays over the same tasks; "
                f"got {x.shape} and {y.shape}"
            )
        rng = stream_rng(seed, name)
        samples = []
        # A pair metric may compare every run of X with every run of Y: n * m * tasks.
        for x_rows, y_rows in _row_blocks(
            rng, reps, [x.shape, y.shape], x.shape[0] * y.shape[0] * x.shape[1]
        ):
            samples.append(np.asarray(metric(np.take(x, x_rows), np.take(y, y_rows))))
        estimates[name] = percentile_interval(metric(x, y), np.concatenate(samples), confidence)
    return estimates
