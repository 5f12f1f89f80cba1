"""Tuning-cost protocols: oracle rows 8-10 of tests/oracles.md (derivations there), plus brute-force
enumeration checks of the combinatorial formulas (including ties)."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrl_suite.evaluation.sample_complexity import effective_sample_complexity, first_hitting_steps
from jaxrl_suite.evaluation.tuning import (
    best_of_k_weights,
    budget_read_points,
    effective_auc,
    expected_max_with_replacement,
    expected_max_without_replacement,
    fixed_budget_heldout,
    fixed_budget_interval,
    heldout_tuning_curve,
    realizable_auc,
    tuning_cost_steps,
    tuning_curve_interval,
)

V = [0.1, 0.5, 0.3, 0.9, 0.7]
U = [0.9, 0.5, 0.7, 0.2]
W = [0.6, 0.55, 0.8, 0.1]
C1 = [0, 0.2, 0.5, 0.8, 0.9, 1, 1, 1, 1]
C2 = [0, 0, 0.1, 0.3, 0.5, 0.7, 0.9, 1, 1]
C3 = [0.1, 0.4, 0.9, 1, 1, 1, 1, 1, 1]
GRID = np.array([C1, C2, C3])
STEPS = np.arange(1, 10)  # the oracle's 1-based logging index


# --- oracles -------------------------------------------------------------------------------


def test_oracle_8_dodge_expected_max():
    with_replacement = expected_max_with_replacement(V)
    np.testing.assert_allclose(with_replacement.mean, [0.5, 0.66, 0.74, 0.78672, 0.8168], atol=1e-6)
    np.testing.assert_allclose(
        with_replacement.std, [0.282843, 0.233238, 0.189315, 0.157072, 0.132867], atol=1e-6
    )
    np.testing.assert_allclose(expected_max_without_replacement(V), [0.5, 0.7, 0.8, 0.86, 0.9], atol=1e-6)


def test_oracle_9_heldout_tuning_curve_and_winners_curse():
    np.testing.assert_allclose(heldout_tuning_curve(U, W), [0.5125, 0.658333, 0.65, 0.6], atol=1e-6)
    in_sample = expected_max_without_replacement(U)
    np.testing.assert_allclose(in_sample, [0.575, 0.766667, 0.85, 0.9], atol=1e-6)
    assert np.all(in_sample > heldout_tuning_curve(U, W))


def test_oracle_10_effective_sample_complexity():
    assert effective_sample_complexity(GRID, STEPS, threshold=0.9).value == 9.0
    assert effective_sample_complexity(GRID[:1], STEPS, threshold=0.9).value == 5.0
    # The "zhang_normalised" reading: p5/p95 over the whole grid (p5 = 0, p95 = 1 here), tau = 0.9.
    assert effective_sample_complexity(GRID, STEPS, mode="zhang_normalised").value == pytest.approx(9.0)
    normalised_c1 = effective_sample_complexity(GRID[:1], STEPS, mode="zhang_normalised", pool=GRID)
    assert normalised_c1.value == pytest.approx(5.0)
    assert normalised_c1.normalization.size == GRID.size


def test_oracle_10_effective_auc():
    assert effective_auc(GRID, STEPS, 9) == pytest.approx(4.2, abs=1e-6)
    assert effective_auc(GRID[:1], STEPS, 9) == pytest.approx(6.4, abs=1e-6)
    assert realizable_auc(GRID, STEPS, 9) == pytest.approx(0.7 + 0.1 + 1.4, abs=1e-6)


# --- brute force ---------------------------------------------------------------------------


def _brute_force_heldout(u, w, k):
    """Average over every k-subset of the test score of its best-by-u member, picked
    uniformly among tied best."""
    values = []
    for subset in itertools.combinations(range(len(u)), k):
        best = max(u[i] for i in subset)
        values.append(np.mean([w[i] for i in subset if u[i] == best]))
    return np.mean(values)


small_pools = st.integers(1, 7).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 3), min_size=n, max_size=n),  # few values: many ties
        st.lists(st.floats(-5, 5, allow_nan=False), min_size=n, max_size=n),
    )
)


@settings(max_examples=80, deadline=None)
@given(small_pools)
def test_heldout_tuning_curve_matches_enumeration_with_ties(pool):
    u, w = pool
    curve = heldout_tuning_curve(u, w)
    for k in range(1, len(u) + 1):
        assert curve[k - 1] == pytest.approx(_brute_force_heldout(u, w, k), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=6))
def test_tc_of_n_is_the_test_score_of_the_best_by_tuning_score(w):
    u = np.random.default_rng(len(w)).permutation(len(w)).astype(float)  # distinct
    assert heldout_tuning_curve(u, w)[-1] == pytest.approx(w[int(np.argmax(u))])
    assert heldout_tuning_curve(u, w)[0] == pytest.approx(np.mean(w))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=4), st.integers(1, 4))
def test_dodge_with_replacement_matches_enumeration(v, k):
    maxima = [max(draw) for draw in itertools.product(v, repeat=k)]
    result = expected_max_with_replacement(v, ks=[k])
    assert result.mean[0] == pytest.approx(np.mean(maxima), abs=1e-9)
    assert result.std[0] == pytest.approx(np.std(maxima), abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=7))
def test_expected_max_curves_rise_with_k(v):
    assert np.all(np.diff(expected_max_without_replacement(v)) >= -1e-12)
    assert np.all(np.diff(expected_max_with_replacement(v, ks=range(1, 12)).mean) >= -1e-12)


@pytest.mark.parametrize("n", [1, 5, 40, 300])
def test_best_of_k_weights_are_distributions(n):
    weights = best_of_k_weights(n, np.arange(1, n + 1))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-10)
    assert np.all(weights >= 0)
    np.testing.assert_allclose(weights[-1], np.eye(n)[-1])  # k = n: always the top rank


def test_tuning_cost_counts_configs_steps_and_seeds():
    np.testing.assert_array_equal(tuning_cost_steps([1, 3, 10], 500_000, 5), [2.5e6, 7.5e6, 2.5e7])


# --- fixed budget --------------------------------------------------------------------------


def test_fixed_budget_picks_by_tuning_curve_and_reports_the_test_curve():
    test_curves = GRID[::-1] + 10.0  # distinguishable from the tuning curves
    # n = 3: budget 9 -> 3 steps each -> logging point 3, where C3 leads on tuning seeds.
    assert fixed_budget_heldout(GRID, test_curves, STEPS, 9) == pytest.approx(test_curves[2, 2])
    # budget 15 -> 5 steps -> point 5: C1 (0.9) and C3 (1.0): C3 again.
    assert fixed_budget_heldout(GRID, test_curves, STEPS, 15) == pytest.approx(test_curves[2, 4])
    # budget 2 -> 2/3 step: nothing logged yet.
    assert np.isnan(fixed_budget_heldout(GRID, test_curves, STEPS, 2))


def test_fixed_budget_with_fewer_configs_than_the_pool_is_a_tuning_curve_point():
    rng = np.random.default_rng(0)
    tune, test = rng.random((8, 5)), rng.random((8, 5))
    steps = np.array([10, 20, 30, 40, 50])
    budgets = np.array([60, 90, 200])
    result = fixed_budget_heldout(tune, test, steps, budgets, n_configs=3)
    for budget, value in zip(budgets, result):
        point = np.searchsorted(steps, budget / 3, side="right") - 1
        expected = heldout_tuning_curve(tune[:, point], test[:, point], ks=[3])[0]
        assert value == pytest.approx(expected)


def test_effective_auc_charges_n_times_the_best_area():
    budgets = [3, 9, 30]
    per_config = 3 * np.array([np.sum(GRID[:, :1], 1), np.sum(GRID[:, :3], 1), np.sum(GRID, 1)])
    np.testing.assert_allclose(effective_auc(GRID, STEPS, budgets), per_config.max(axis=1))
    assert effective_auc(GRID, STEPS, 2) == 0.0  # no logging point within 2/3 step


def test_fixed_budget_reads_each_curve_at_exactly_its_share():
    # Two configurations logged at 10 and 20 steps; B = 36 over n = 2 gives B/n = 18, 80% of the
    # way from 10 to 20. Interpolated tuning scores: A = 0 + 0.8 * 1.0 = 0.8, B = 0.5 + 0.8 * 0.1
    # = 0.58, so A is chosen and scores its test curve at 18: 0 + 0.8 * 2.0 = 1.6. The old rule
    # (last logging point at or before B/n, i.e. 10) would pick B (0.5 > 0) and report 5.0.
    tune = np.array([[0.0, 1.0], [0.5, 0.6]])
    test = np.array([[0.0, 2.0], [5.0, 5.0]])
    assert fixed_budget_heldout(tune, test, [10, 20], 36) == pytest.approx(1.6)
    # GRID, B = 10 over n = 3: B/n = 3.33, a third of the way from point 3 to point 4. Tuning
    # scores there: C1 0.5 + 0.3/3 = 0.6, C2 0.1 + 0.2/3 = 0.167, C3 0.9 + 0.1/3 = 0.933 -> C3,
    # whose test curve (C1 + 10, reversed grid) reads 10.5 + 0.3/3 = 10.6 (old rule: 10.5).
    assert fixed_budget_heldout(GRID, GRID[::-1] + 10.0, STEPS, 10) == pytest.approx(10.6)


def test_effective_and_realizable_auc_are_taken_at_exactly_the_share():
    # GRID, B = 10, n = 3: B/n = 3.33 covers points 1-3 and a third of point 4's interval.
    # C1: 0 + 0.2 + 0.5 + 0.8/3 = 0.9667; C2: 0 + 0 + 0.1 + 0.3/3 = 0.2; C3: 0.1 + 0.4 + 0.9 + 1/3
    # = 1.7333. Effective AUC = 3 * 1.7333 = 5.2 (old rule: 3 * 1.4 = 4.2); realizable = 2.9 (2.2).
    assert effective_auc(GRID, STEPS, 10) == pytest.approx(5.2)
    assert realizable_auc(GRID, STEPS, 10) == pytest.approx(2.9)


def test_budget_read_points_say_where_each_budget_was_read():
    steps = 1024 * np.arange(1, 25)  # a PPO schedule: one logging point every 1,024 env steps
    # n = 9. B = 99,837: B/n = 11,093, between 10,240 (point 10) and 11,264 (point 11), weight
    # 853/1,024. B = 9 * 4,096: B/n = 4,096, a logging point. B = 10: B/n = 1.1, before the first
    # point. B = 30 * 24,576: B/n = 81,920, beyond the last point (24,576).
    read = budget_read_points(steps, [99_837, 9 * 4_096, 10, 30 * 24_576], 9)
    np.testing.assert_allclose(read.read_at[:2], [11_093, 4_096])
    assert (read.lower[0], read.upper[0]) == (10_240, 11_264)
    assert read.weight[0] == pytest.approx(853 / 1_024)
    assert (read.lower[1], read.upper[1], read.weight[1]) == (4_096, 4_096, 0.0)
    assert read.reached.tolist() == [True, True, False, True]
    assert np.isnan(read.read_at[2]) and read.read_at[3] == 24_576  # a run has no value after its end


# --- effective sample complexity ------------------------------------------------------------


def test_censored_configurations_are_reported_not_imputed():
    result = effective_sample_complexity(GRID, STEPS, threshold=0.95)
    np.testing.assert_array_equal(result.first_hit, [6, 8, 4])
    assert result.censored_fraction == 0.0
    partial = effective_sample_complexity(GRID, STEPS, threshold=0.85)
    np.testing.assert_array_equal(partial.first_hit, [5, 7, 3])
    never = effective_sample_complexity(GRID, STEPS, threshold=1.5)
    assert never.value == np.inf and never.censored_fraction == 1.0
    assert np.all(np.isnan(never.first_hit))
    some = effective_sample_complexity(np.array([C1, np.zeros(9)]), STEPS, threshold=0.9)
    assert some.value == 2 * 5 and some.censored_fraction == 0.5


def test_zhang_mode_follows_the_authors_code():
    # Tang & Zhang's code: tau = np.percentile(pool, 90) of the grid's raw returns. The oracle grid
    # plus a configuration that never learns: 36 values, 12 of them 1.0 (c1 four, c2 two, c3 six),
    # so the sorted values 24..35 are 1.0 and the 90th percentile (position 0.9 * 35 = 31.5) is 1.0,
    # not the 0.9 of the p5/p95 reading. First reaching 1.0: c1 at point 6, c2 at 8, c3 at 4.
    grid = np.vstack([GRID, np.zeros(9)])
    whole = effective_sample_complexity(grid, STEPS, mode="zhang")
    assert whole.threshold == 1.0
    # The never-learning configuration is charged 10 x the largest valid first hit (8): 80, not
    # 10 x T = 90.
    np.testing.assert_array_equal(whole.first_hit, [6, 8, 4, 80])
    assert whole.censored_fraction == 0.25 and whole.value == 4 * 4
    # Their unit: the 5th percentile of the filled steps [4, 6, 8, 80] at position 0.05 * 3 = 0.15,
    # 4 + 0.15 * (6 - 4) = 4.3; normalised SC = 16 / 4.3.
    assert whole.step_baseline == pytest.approx(4.3) and whole.normalized_value == pytest.approx(16 / 4.3)
    # A subset is scored against the whole grid's tau, charge and baseline.
    only_c1 = effective_sample_complexity(grid[:1], STEPS, mode="zhang", pool=grid)
    assert only_c1.value == 6 and only_c1.normalized_value == pytest.approx(6 / 4.3)
    never = effective_sample_complexity(grid[3:], STEPS, mode="zhang", pool=grid)
    assert never.first_hit[0] == 80 and never.value == 80 and never.censored_fraction == 1.0
    # A flat pool sets only tau; the charge then comes from the curves' own largest first hit.
    flat = effective_sample_complexity(grid, STEPS, mode="zhang", pool=grid.ravel())
    np.testing.assert_array_equal(flat.first_hit, whole.first_hit)
    assert flat.step_baseline is None


def test_zhang_normalised_mode_imputes_ten_times_the_training_length():
    flat_then_late = np.array([np.linspace(0, 1, 9), np.zeros(9)])
    result = effective_sample_complexity(flat_then_late[1:], STEPS, mode="zhang_normalised", pool=flat_then_late)
    assert result.censored_fraction == 1.0
    assert result.first_hit[0] == 10 * STEPS[-1]
    assert result.value == 1 * 10 * STEPS[-1]


def test_sample_complexity_settings_are_checked():
    with pytest.raises(ValueError, match="threshold"):
        effective_sample_complexity(GRID, STEPS)
    for mode in ("zhang", "zhang_normalised"):
        with pytest.raises(ValueError, match="leave threshold None"):
            effective_sample_complexity(GRID, STEPS, threshold=0.5, mode=mode)
    with pytest.raises(ValueError, match="pool"):
        effective_sample_complexity(GRID, STEPS, mode="zhang", pool=[1.0, np.nan])
    with pytest.raises(ValueError, match="mode"):
        effective_sample_complexity(GRID, STEPS, threshold=0.5, mode="other")
    with pytest.raises(ValueError, match="env_steps"):
        first_hitting_steps(GRID, STEPS[::-1], 0.5)
    with pytest.raises(ValueError, match="finite"):
        effective_sample_complexity(GRID * np.nan, STEPS, threshold=0.5)


# --- outer bootstrap over configurations ----------------------------------------------------


def test_tuning_curve_interval():
    rng = np.random.default_rng(1)
    u = rng.random(30)
    w = u + 0.3 * rng.normal(size=30)
    estimate = tuning_curve_interval(u, w, ks=[1, 5, 30], reps=3000, seed=0)
    np.testing.assert_allclose(estimate.point, heldout_tuning_curve(u, w, ks=[1, 5, 30]))
    assert np.all(estimate.lo < estimate.point) and np.all(estimate.point < estimate.hi)
    again = tuning_curve_interval(u, w, ks=[1, 5, 30], reps=3000, seed=0)
    other = tuning_curve_interval(u, w, ks=[1, 5, 30], reps=3000, seed=1)
    assert np.array_equal(estimate.lo, again.lo) and np.array_equal(estimate.hi, again.hi)
    assert not np.array_equal(estimate.lo, other.lo)


def test_identical_configurations_give_a_degenerate_interval():
    estimate = tuning_curve_interval(np.ones(6), np.full(6, 0.4), reps=500)
    np.testing.assert_allclose([estimate.lo, estimate.point, estimate.hi], 0.4)


def test_fixed_budget_interval_matches_the_point_estimate():
    rng = np.random.default_rng(2)
    tune = np.cumsum(rng.random((12, 6)), axis=1)
    test = tune + rng.normal(scale=0.5, size=tune.shape)
    steps = np.arange(1, 7) * 100
    budgets = [1200, 3600, 7200]
    estimate = fixed_budget_interval(tune, test, steps, budgets, reps=2000, seed=0)
    np.testing.assert_allclose(estimate.point, fixed_budget_heldout(tune, test, steps, budgets))
    assert np.all(estimate.lo <= estimate.point) and np.all(estimate.point <= estimate.hi)
    scalar = fixed_budget_interval(tune, test, steps, 3600, reps=2000, seed=0)
    assert np.ndim(scalar.point) == 0 and scalar.point == pytest.approx(estimate.point[1])
