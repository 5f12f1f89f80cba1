"""Evaluation layer: normalisation, aggregate metrics, stratified bootstrap CIs and
tuning-cost protocols. Pure functions over numpy arrays; no training code is imported."""

from jaxrl_suite.evaluation.aggregates import (
    aggregate_iqm,
    aggregate_mean,
    aggregate_median,
    aggregate_optimality_gap,
    average_score_profile,
    performance_percentile,
    probability_of_improvement,
    run_score_profile,
)
from jaxrl_suite.evaluation.bootstrap import (
    IntervalEstimate,
    interval_estimates,
    pairwise_interval_estimates,
    stratified_resample,
    stream_rng,
)
from jaxrl_suite.evaluation.normalization import (
    Anchor,
    AnchorSet,
    PercentilePool,
    load_anchors,
    min_max,
    percentile_normalize,
    percentile_pool,
)
from jaxrl_suite.evaluation.sample_complexity import (
    SampleComplexity,
    SampleComplexityEstimate,
    effective_sample_complexity,
    first_hitting_steps,
    sample_complexity_interval,
)
from jaxrl_suite.evaluation.tuning import (
    ExpectedMax,
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
