"""The two-stage bootstrap of a tuner's held-out scores (evaluation/tuner_scores.py)."""

import numpy as np
import pytest

from jaxrl_suite.evaluation.aggregates import probability_of_improvement
from jaxrl_suite.evaluation.bootstrap import stream_rng
from jaxrl_suite.evaluation.tuner_scores import (
    tuner_improvement_interval,
    tuner_score_interval,
    two_stage_resample,
)


def test_a_resample_draws_whole_repetitions_then_seeds_within_each():
    # Scores r * 10 + s: a resampled cell's tens digit is its repetition, its units its seed.
    scores = np.arange(4)[:, None] * 10.0 + np.arange(3)[None, :]
    drawn = two_stage_resample(scores, 200, np.random.default_rng(0))
    assert drawn.shape == (200, 4, 3)
    repetitions = drawn // 10
    # every row of a resample comes from one repetition (its seeds are drawn within it)
    assert (repetitions == repetitions[..., :1]).all()
    assert set(np.unique(drawn % 10)) == {0, 1, 2} and set(np.unique(repetitions)) == {0, 1, 2, 3}


def test_clustered_scores_get_the_width_of_their_repetitions_not_of_their_runs():
    # 5 repetitions whose outputs differ a lot, each scored identically on 20 test seeds: there
    # are 5 independent values, not 100. The two-stage interval is the bootstrap of the 5 means;
    # pooling the 100 runs as independent would be about sqrt(20) times too narrow.
    means = np.array([10.0, 50.0, 20.0, 80.0, 40.0])
    scores = np.repeat(means[:, None], 20, axis=1)
    two_stage = tuner_score_interval(scores, reps=4000, seed=1)
    rng = stream_rng(1, "naive")
    pooled = scores.reshape(-1)[rng.integers(100, size=(4000, 100))].mean(axis=1)
    naive_width = np.diff(np.percentile(pooled, [2.5, 97.5]))[0]
    # the ordinary bootstrap of the 5 repetition means, by direct resampling
    direct = means[stream_rng(1, "direct").integers(5, size=(4000, 5))].mean(axis=1)
    direct_width = np.diff(np.percentile(direct, [2.5, 97.5]))[0]
    width = float(two_stage.hi - two_stage.lo)
    assert float(two_stage.point) == pytest.approx(40.0)
    assert width == pytest.approx(direct_width, rel=0.1)
    assert width > 3 * naive_width


def test_improvement_point_is_the_pooled_probability_of_improvement_and_intervals_repeat():
    rng = np.random.default_rng(4)
    x, y = rng.normal(1.0, 1.0, (5, 4)), rng.normal(0.0, 1.0, (6, 4))
    estimate = tuner_improvement_interval(x, y, reps=1000, seed=3, name="x > y")
    oracle = probability_of_improvement(x.reshape(-1, 1), y.reshape(-1, 1))
    assert float(estimate.point) == pytest.approx(float(oracle))
    again = tuner_improvement_interval(x, y, reps=1000, seed=3, name="x > y")
    assert (float(again.lo), float(again.hi)) == (float(estimate.lo), float(estimate.hi))
    assert estimate.lo <= estimate.point <= estimate.hi
    reverse = tuner_improvement_interval(y, x, reps=10, seed=3, name="y > x")
    assert float(reverse.point) == pytest.approx(1 - float(estimate.point))
    # one tuner's outputs always ahead: P = 1 in every resample
    sure = tuner_improvement_interval(x + 100, y, reps=200)
    assert (float(sure.point), float(sure.lo), float(sure.hi)) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("bad", [np.ones(3), np.ones((0, 2)), np.array([[1.0, np.nan]])])
def test_bad_score_arrays_are_refused(bad):
    with pytest.raises(ValueError, match="scores"):
        tuner_score_interval(bad)
