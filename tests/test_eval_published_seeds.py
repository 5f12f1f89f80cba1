"""The k-seed resampling test behind reproduction verdicts, against probabilities worked by hand."""

import numpy as np
import pytest

from jaxrl_suite.evaluation.published_seeds import LEVEL, collapse_threshold, k_seed_test

# Ours: four seeds, three at 0 and one at 10 (mean 2.5). Two seeds drawn with replacement give the
# mean 0 with probability (3/4)^2 = 9/16, 5 with 2·(3/4)(1/4) = 6/16 and 10 with 1/16.
OURS = [0.0, 0.0, 0.0, 10.0]


def test_mean_p_value_is_the_chance_of_a_k_seed_mean_at_least_as_far_from_ours():
    # Published 10 over 2 seeds lies 7.5 from 2.5; only the mean 10 is as far: p = 1/16 = 0.0625.
    assert k_seed_test(OURS, 10.0, k=2).p_value == pytest.approx(1 / 16, abs=0.003)
    # Published 5 lies 2.5 away, and so does every possible mean (0, 5 and 10 are 2.5, 2.5, 7.5 away): p = 1.
    assert k_seed_test(OURS, 5.0, k=2).p_value == 1.0
    # Published 11 is further than any mean of ours: p = (1 + 0)/(1 + reps), the smallest estimate.
    far = k_seed_test(OURS, 11.0, k=2, reps=1000)
    assert far.p_value == pytest.approx(1 / 1001) and not far.reproduced and LEVEL == 0.05
    # The seed count matters: one published seed of 10 is a single draw, 10 with probability 1/4.
    assert k_seed_test(OURS, 10.0, k=1).p_value == pytest.approx(0.25, abs=0.005)


def test_spread_p_value_is_two_sided_and_combined_with_bonferroni():
    # Two draws have std (ddof 0) 0 when they agree (9/16 + 1/16 = 10/16) and 5 otherwise (6/16).
    # Published 5 ± 5 (2 seeds): p_mean = 1; P(std <= 5) = 1, P(std >= 5) = 6/16, so
    # p_spread = 2·6/16 = 0.75 and p = min(1, 2·min(1, 0.75)) = 1.
    both = k_seed_test(OURS, 5.0, k=2, published_spread=5.0)
    assert both.p_mean == 1.0 and both.p_spread == pytest.approx(0.75, abs=0.01) and both.p_value == 1.0
    # Published 10 ± 0: p_mean = 1/16; P(std <= 0) = 10/16, P(std >= 0) = 1, p_spread = 1;
    # p = min(1, 2·min(1/16, 1)) = 1/8.
    both = k_seed_test(OURS, 10.0, k=2, published_spread=0.0)
    assert both.p_spread == 1.0 and both.p_value == pytest.approx(1 / 8, abs=0.006)
    # A spread ours cannot produce (two draws never differ by more than std 5) rejects a matching mean.
    assert not k_seed_test(OURS, 5.0, k=2, published_spread=8.0).reproduced
    # One published seed has no spread to test.
    assert k_seed_test(OURS, 5.0, k=1, published_spread=8.0).p_spread is None


def test_draws_are_reproducible_and_named_streams_differ():
    a = k_seed_test(np.arange(10.0), 7.0, k=3, reps=2000, name="x")
    assert a == k_seed_test(np.arange(10.0), 7.0, k=3, reps=2000, name="x")
    assert a != k_seed_test(np.arange(10.0), 7.0, k=3, reps=2000, name="y")


def test_bad_inputs_are_refused():
    for ours, k, match in [([1.0], 3, "two"), ([1.0, np.nan], 3, "finite"), (OURS, 0, "k"), (OURS, 1.5, "k")]:
        with pytest.raises(ValueError, match=match):
            k_seed_test(ours, 1.0, k=k)


def test_collapse_threshold_is_the_midpoint_between_random_play_and_the_published_value():
    assert collapse_threshold(22.36, 495.13) == pytest.approx(258.745)
    assert collapse_threshold(-200.0, -200.0) is None  # nothing to collapse from
