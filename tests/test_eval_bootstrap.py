"""Stratified bootstrap: oracle rows 7 and 14 of tests/oracles.md, reproducibility
and the structure of the resamples (stratified by task, whole runs, independent samples)."""

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jaxrl_suite.evaluation import (
    aggregate_iqm,
    aggregate_mean,
    aggregate_median,
    aggregate_optimality_gap,
    interval_estimates,
    pairwise_interval_estimates,
    probability_of_improvement,
    run_score_profile,
    stratified_resample,
)
from jaxrl_suite.evaluation.bootstrap import stream_rng

Z = np.array([[0.1, 0.9, 1.5], [0.2, 0.4, 2.0], [0, 0.6, 1.2], [0.3, 0.8, 0.7], [0.25, 0.5, 3.0]])
METRICS = {
    "IQM": aggregate_iqm,
    "mean": aggregate_mean,
    "median": aggregate_median,
    "optimality gap": functools.partial(aggregate_optimality_gap, gamma=1.0),
}


def _equal(a, b):
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("point", "lo", "hi"))


def test_oracle_7_stratified_percentile_intervals():
    estimates = interval_estimates({"z": Z}, METRICS, reps=50_000, confidence=0.95, seed=0)["z"]
    expected = {
        "IQM": (0.50, 0.82),
        "mean": (0.61, 1.08),
        "median": (0.48, 0.80),
        "optimality gap": (0.347, 0.49),
    }
    for metric, (lo, hi) in expected.items():
        assert float(estimates[metric].lo) == pytest.approx(lo, abs=0.01), metric
        assert float(estimates[metric].hi) == pytest.approx(hi, abs=0.01), metric
    assert float(estimates["IQM"].point) == pytest.approx(0.627778, abs=1e-6)


def test_oracle_14_runs_keep_their_identity_across_time():
    runs, tasks, time = 6, 4, 9
    run_ids = np.broadcast_to(np.arange(runs)[:, None, None], (runs, tasks, time))
    resampled = stratified_resample(run_ids, reps=500, rng=stream_rng(0, "a"))
    assert resampled.shape == (500, runs, tasks, time)
    assert np.all(resampled == resampled[..., :1])
    # Not a degenerate copy: the resampled runs vary between resamples and within a task.
    assert len(np.unique(resampled[:, 0, 0, 0])) == runs


def test_resamples_are_stratified_by_task_and_uniform_over_runs():
    runs, tasks = 5, 3
    scores = 10.0 * np.arange(runs)[:, None] + np.arange(tasks)  # value encodes (run, task)
    resampled = stratified_resample(scores, reps=20_000, rng=stream_rng(1, "a"))
    assert np.all(resampled % 10 == np.arange(tasks))  # every value stays in its own task
    drawn_runs = resampled // 10
    frequencies = np.bincount(drawn_runs.ravel().astype(int), minlength=runs) / drawn_runs.size
    np.testing.assert_allclose(frequencies, 1 / runs, atol=0.005)


def test_interval_estimates_use_the_documented_resamples():
    scores = np.random.default_rng(3).normal(size=(7, 4))
    reps = 3000
    estimate = interval_estimates({"algo": scores}, {"mean": aggregate_mean}, reps=reps, seed=5)
    resampled = stratified_resample(scores, reps, stream_rng(5, "algo"))
    lo, hi = np.percentile(aggregate_mean(resampled), [2.5, 97.5])
    # Equal up to summation order (blocks are summed separately); other resamples would
    # differ in the second decimal.
    assert float(estimate["algo"]["mean"].lo) == pytest.approx(lo, abs=1e-12)
    assert float(estimate["algo"]["mean"].hi) == pytest.approx(hi, abs=1e-12)


def test_same_seed_reproduces_bit_for_bit_and_other_seeds_differ():
    scores = {"a": Z, "b": Z[::-1] + 0.1}
    first = interval_estimates(scores, METRICS, reps=4000, seed=11)
    again = interval_estimates(scores, METRICS, reps=4000, seed=11)
    other = interval_estimates(scores, METRICS, reps=4000, seed=12)
    for name in scores:
        for metric in METRICS:
            assert _equal(first[name][metric], again[name][metric])
    assert any(
        not _equal(first[name][metric], other[name][metric]) for name in scores for metric in METRICS
    )
    assert not np.array_equal(
        stratified_resample(Z, 50, stream_rng(11, "a")), stratified_resample(Z, 50, stream_rng(12, "a"))
    )


def test_an_algorithms_interval_ignores_the_other_algorithms():
    alone = interval_estimates({"a": Z}, METRICS, reps=3000, seed=2)["a"]
    crowded = interval_estimates({"c": Z + 1, "b": Z * 2, "a": Z}, METRICS, reps=3000, seed=2)["a"]
    for metric in METRICS:
        assert _equal(alone[metric], crowded[metric])


def test_integer_code_iqm_path_equals_sorting_the_resampled_values():
    scores = np.round(np.random.default_rng(4).normal(size=(9, 6)), 1)  # with ties
    generic = {"sorted values": lambda resampled: aggregate_iqm(resampled)}
    fast = interval_estimates({"a": scores}, {"IQM": aggregate_iqm}, reps=5000, seed=0)["a"]["IQM"]
    slow = interval_estimates({"a": scores}, generic, reps=5000, seed=0)["a"]["sorted values"]
    assert _equal(fast, slow)


def test_curves_are_aggregated_per_time_step_with_the_same_resampled_runs():
    curves = np.random.default_rng(5).normal(size=(6, 4, 3)).cumsum(axis=-1)
    metrics = {"IQM": aggregate_iqm, "median": aggregate_median}
    over_time = interval_estimates({"a": curves}, metrics, reps=2000, seed=9)["a"]
    for t in range(curves.shape[-1]):
        at_t = interval_estimates({"a": curves[..., t]}, metrics, reps=2000, seed=9)["a"]
        for metric in metrics:
            for field in ("point", "lo", "hi"):
                expected = getattr(at_t[metric], field)
                assert getattr(over_time[metric], field)[t] == pytest.approx(expected, abs=1e-12)


def test_vector_valued_aggregates_get_elementwise_intervals():
    taus = np.array([0.0, 0.5, 1.0, 2.0])
    profile = functools.partial(run_score_profile, taus=taus)
    estimate = interval_estimates({"z": Z}, {"profile": profile}, reps=2000, seed=0)["z"]["profile"]
    assert estimate.lo.shape == estimate.hi.shape == (4,)
    np.testing.assert_allclose(estimate.point, run_score_profile(Z, taus))
    assert np.all(estimate.lo <= estimate.point) and np.all(estimate.point <= estimate.hi)


scores_strategy = arrays(
    np.float64,
    st.tuples(st.integers(3, 8), st.integers(1, 4)),
    elements=st.floats(-100, 100, allow_nan=False, width=32),
)


@settings(max_examples=25, deadline=None)
@given(scores_strategy, st.integers(0, 2**31))
def test_interval_contains_the_point_estimate(scores, seed):
    metrics = {"IQM": aggregate_iqm, "mean": aggregate_mean}
    estimates = interval_estimates({"a": scores}, metrics, reps=1000, seed=seed)["a"]
    for estimate in estimates.values():
        assert estimate.lo - 1e-9 <= estimate.point <= estimate.hi + 1e-9


def test_probability_of_improvement_interval_resamples_both_samples():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(8, 5))
    y = rng.normal(loc=0.5, size=(5, 5))  # fewer runs than x
    pairs = {"x>y": (x, y), "x>x": (x, x.copy())}
    estimates = pairwise_interval_estimates(pairs, reps=4000, seed=0)
    assert float(estimates["x>y"].point) == pytest.approx(probability_of_improvement(x, y))
    assert estimates["x>y"].lo < estimates["x>y"].point < estimates["x>y"].hi
    # Identical samples: only independent resampling of each side makes the CI non-degenerate.
    assert float(estimates["x>x"].point) == 0.5
    assert estimates["x>x"].lo < 0.5 < estimates["x>x"].hi
    again = pairwise_interval_estimates(pairs, reps=4000, seed=0)
    assert all(_equal(estimates[name], again[name]) for name in pairs)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="'broken'"):
        interval_estimates({"broken": [[1.0, np.nan]]}, METRICS, reps=10)
    with pytest.raises(ValueError, match="'broken'.*infinite"):  # the IQM would trim it away unseen
        interval_estimates({"broken": [[1.0], [np.inf]]}, METRICS, reps=10)
    with pytest.raises(ValueError, match="infinite"):
        pairwise_interval_estimates({"x>y": (Z, np.where(Z > 2, -np.inf, Z))}, reps=10)
    with pytest.raises(ValueError, match="reps"):
        interval_estimates({"a": Z}, METRICS, reps=0)
    with pytest.raises(ValueError, match="confidence"):
        interval_estimates({"a": Z}, METRICS, reps=10, confidence=95)
    with pytest.raises(TypeError, match="seed"):
        interval_estimates({"a": Z}, METRICS, reps=10, seed=1.5)
    with pytest.raises(ValueError, match="same tasks"):
        pairwise_interval_estimates({"p": (Z, Z[:, :2])}, reps=10)
