"""Tuner policies (jaxrl_suite/tuners): oracle tests on synthetic scores, pure numpy (fast).

Scores are [members, tuning seeds]; every test writes out by hand which members it expects to go
on, stop, or be copied, and the plans are checked against the published tables.
"""

import dataclasses

import numpy as np
import pytest
from tuner_fixtures import Dim

from jaxrl_suite import tuners
from jaxrl_suite.tuners import (
    GridSettings,
    HyperbandSettings,
    PBTSettings,
    RandomSettings,
    SuccessiveHalvingSettings,
    TunerState,
    hyperband,
    pbt,
)

LR = Dim("lr", "log_uniform", low=1e-5, high=1e-2)
ENT = Dim("ent_coef", "values", values=(0.0, 0.01, 0.1))


def two_seeds(curve):
    """Scores on two tuning seeds whose mean is exactly `curve` (the seeds differ by +-0.5)."""
    curve = np.asarray(curve, np.float64)
    return np.stack([curve + 0.5, curve - 0.5], axis=1)


# ---------------------------------------------------------------------------------------------
# successive halving

# Nine known learning curves, scored at the three rungs 10, 30 and 90 env steps (eta = 3).
CURVES = {  # member: (score at 10, at 30, at 90)
    0: (5, 6, 7),
    1: (1, 50, 1000),  # a slow starter: cut at the first rung, its later scores never matter
    2: (8, 8, 8),
    3: (8, 10, 11),
    4: (8, 100, 100),  # ties 2 and 3 for the last place at rung 0 and loses (highest index)
    5: (3, 3, 3),
    6: (9, 4, 4),
    7: (0, 0, 0),
    8: (6, 6, 6),
}


def test_successive_halving_keeps_the_expected_survivors_at_every_rung():
    settings = SuccessiveHalvingSettings(num_configs=9, eta=3, min_env_steps=10, max_env_steps=90)
    the_plan = tuners.plan(settings)
    assert [(r.configs, r.env_steps) for r in the_plan.brackets[0].rungs] == [(9, 10), (3, 30), (1, 90)]
    state, actions = tuners.start(settings, 0)
    assert actions.active == tuple(range(9)) and actions.next_env_steps == 10
    scores = {t: two_seeds([CURVES[m][i] for m in range(9)]) for i, t in enumerate((10, 30, 90))}

    # Rung 0: floor(9 / 3) = 3 go on. 6 (9) first, then 2, 3 and 4 tie at 8: the lower indices 2, 3 win.
    state, actions = tuners.decide(settings, state, 10, scores[10])
    assert actions.active == (2, 3, 6) and actions.next_env_steps == 30 and not actions.finished
    # Rung 1: floor(3 / 3) = 1 goes on: 3 (10) beats 2 (8) and 6 (4); 1 and 4 score higher but are stopped.
    state, actions = tuners.decide(settings, state, 30, scores[30])
    assert actions.active == (3,) and actions.next_env_steps == 90
    # Rung 2 (the full budget): the last member standing is the choice.
    state, actions = tuners.decide(settings, state, 90, scores[90])
    assert actions.finished and actions.active == () and actions.best == 3 and state.best == 3
    # Charge per tuning seed: 9 x 10 + 3 x (30 - 10) + 1 x (90 - 30) = 210; two seeds: 420.
    assert state.charged_env_steps == the_plan.charge(tuning_seeds=2) == 420
    assert tuners.charge(dataclasses.replace(settings, repetitions=3), tuning_seeds=2) == 3 * 420


def test_a_diverged_seed_ranks_a_member_last():
    settings = SuccessiveHalvingSettings(num_configs=3, eta=3, min_env_steps=10, max_env_steps=30)
    state, _ = tuners.start(settings, 0)
    scores = two_seeds([5.0, 1.0, 2.0])
    scores[0, 1] = np.nan  # member 0 would be best, but one of its runs diverged
    _, actions = tuners.decide(settings, state, 10, scores)
    assert actions.active == (2,)


def test_successive_halving_promotes_the_top_third_on_random_scores():
    """Against a plain sort: at every rung the promoted set is the top floor(n_i / eta) by mean score."""
    rng = np.random.default_rng(0)
    settings = SuccessiveHalvingSettings(num_configs=30, eta=3, min_env_steps=1, max_env_steps=27)
    state, actions = tuners.start(settings, 0)
    while not actions.finished:
        scores = rng.integers(0, 5, size=(30, 2)).astype(float)  # small integers: many ties
        before = list(actions.active)
        state, actions = tuners.decide(settings, state, actions.next_env_steps, scores)
        by_rank = sorted(before, key=lambda m: (-scores[m].mean(), m))
        if actions.finished:
            assert actions.best == by_rank[0]
        else:
            assert actions.active == tuple(sorted(by_rank[: len(before) // 3]))
    # 30 -> 10 -> 3 -> 1 members at 1, 3, 9, 27 env steps.
    assert state.charged_env_steps == 2 * (30 * 1 + 10 * 2 + 3 * 6 + 1 * 18)


def test_decide_out_of_turn_is_a_programming_error():
    settings = SuccessiveHalvingSettings(num_configs=3, eta=3, min_env_steps=10, max_env_steps=30)
    state, _ = tuners.start(settings, 0)
    with pytest.raises(ValueError, match="next decision point is 10"):
        tuners.decide(settings, state, 30, two_seeds([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="scores cover 2 members"):
        tuners.decide(settings, state, 10, two_seeds([1.0, 2.0]))


# ---------------------------------------------------------------------------------------------
# Hyperband

# Li et al. 2018 (JMLR 18(185)), Algorithm 1 and Table 1, R = 81, eta = 3:
#   s_max = floor(log_3 81) = 4, B = (s_max + 1) R = 5R.
#   Bracket s starts n = ceil(B / R * eta^s / (s + 1)) = ceil(5 * 3^s / (s + 1)) configurations at
#   r = R * eta^-s; rung i has n_i = floor(n * eta^-i) configurations at r_i = r * eta^i.
#   s = 4: n = ceil(5 * 81 / 5) = 81, r = 1   -> n_i 81, 27, 9, 3, 1 at r_i 1, 3, 9, 27, 81
#   s = 3: n = ceil(5 * 27 / 4) = ceil(33.75) = 34, r = 3 -> 34, 11, 3, 1 at 3, 9, 27, 81
#   s = 2: n = ceil(5 * 9 / 3) = 15, r = 9    -> 15, 5, 1 at 9, 27, 81
#   s = 1: n = ceil(5 * 3 / 2) = ceil(7.5) = 8, r = 27 -> 8, 2 at 27, 81
#   s = 0: n = ceil(5 * 1 / 1) = 5, r = 81    -> 5 at 81
# which is the paper's Table 1 (note bracket s = 3 starts 34 configurations, not 27).
TABLE_1 = {
    4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    3: [(34, 3), (11, 9), (3, 27), (1, 81)],
    2: [(15, 9), (5, 27), (1, 81)],
    1: [(8, 27), (2, 81)],
    0: [(5, 81)],
}


def test_hyperband_brackets_match_li_et_al_table_1():
    found = hyperband.brackets(81, 3)
    assert {b.index: [(r.configs, r.env_steps) for r in b.rungs] for b in found} == TABLE_1
    assert [b.offset for b in found] == [0, 81, 115, 130, 138]  # brackets laid out one after another
    # In env steps: the same table scaled by the minimum budget.
    the_plan = tuners.plan(HyperbandSettings(eta=3, min_env_steps=1000, max_env_steps=81_000))
    assert the_plan.brackets[1].rungs[0] == tuners.Rung(34, 3000)
    assert the_plan.decision_points == (1000, 3000, 9000, 27_000, 81_000)
    assert the_plan.members == 143


def test_hyperband_runs_its_brackets_side_by_side():
    """Scores -index (lower index better) until the end, where member 130 is best of the finalists."""
    settings = HyperbandSettings(eta=3, min_env_steps=1, max_env_steps=81)
    state, actions = tuners.start(settings, 0)
    members = np.arange(143)
    # Members by bracket: s=4 0..80, s=3 81..114, s=2 115..129, s=1 130..137, s=0 138..142.
    s3, s2, s1, s0 = range(81, 115), range(115, 130), range(130, 138), range(138, 143)
    expected = {  # after the decision at each budget: who trains on (brackets without a rung there go on whole)
        1: [*range(0, 27), *s3, *s2, *s1, *s0],
        3: [*range(0, 9), *range(81, 92), *s2, *s1, *s0],
        9: [*range(0, 3), *range(81, 84), *range(115, 120), *s1, *s0],
        27: [0, 81, 115, 130, 131, *s0],
    }
    for budget in (1, 3, 9, 27):
        assert actions.next_env_steps == budget
        state, actions = tuners.decide(settings, state, budget, two_seeds(-members))
        assert actions.active == tuple(expected[budget])
    final = np.where(members == 130, 100.0, -members)
    state, actions = tuners.decide(settings, state, 81, two_seeds(final))
    assert actions.finished and actions.best == 130
    # Per tuning seed, sum_i n_i (r_i - r_{i-1}) per bracket: 297 + 276 + 279 + 324 + 405 = 1581.
    assert state.charged_env_steps == tuners.plan(settings).charge(2) == 2 * 1581


# ---------------------------------------------------------------------------------------------
# PBT


def pbt_settings(**changes):
    base = PBTSettings(population=4, ready_env_steps=10, max_env_steps=30, hyperparameters=("lr",),
                       exploit_quantile=0.25, perturb_factors=(0.5,), resample_probability=0.0, space=(LR, ENT))
    return dataclasses.replace(base, **changes)


def test_pbt_exploit_explore_moves_exactly_the_expected_members_and_values():
    wide = Dim("lr", "uniform", low=1e-9, high=1.0)
    settings = pbt_settings(space=(wide,))  # floor(0.25 * 4) = 1: the worst member copies the best, lr halved
    state, actions = tuners.start(settings, 0)
    lr = [h["lr"] for h in state.hparams]
    assert actions.next_env_steps == 10 and len(set(lr)) == 4
    assert lr[2] / 4 > wide.low  # this seed's draws stay clear of the clipping (tested below)
    # Step 1: member 2 best, member 0 worst -> 0 continues from 2's carry with lr_2 / 2.
    state, actions = tuners.decide(settings, state, 10, two_seeds([0.0, 1.0, 3.0, 2.0]))
    assert actions.source == (2, 1, 2, 3) and actions.active == (0, 1, 2, 3) and actions.next_env_steps == 20
    assert [h["lr"] for h in actions.hparams] == [lr[2] / 2, lr[1], lr[2], lr[3]]
    # Step 2: member 0 best, member 3 worst -> 3 copies 0, halving again.
    state, actions = tuners.decide(settings, state, 20, two_seeds([5.0, 1.0, 3.0, 0.5]))
    assert actions.source == (0, 1, 2, 0)
    assert actions.hparams[3]["lr"] == lr[2] / 4
    # The end: member 3 is best; its schedule follows its lineage 3 <- 0 <- 2.
    state, actions = tuners.decide(settings, state, 30, two_seeds([0.0, 0.0, 0.0, 9.0]))
    assert actions.finished and actions.best == 3
    assert [start for start, _ in pbt.schedule(state, 3)] == [0, 10, 20]
    assert [values["lr"] for _, values in pbt.schedule(state, 3)] == [lr[2], lr[2] / 2, lr[2] / 4]
    assert state.charged_env_steps == 4 * 30 * 2


def test_pbt_bottom_quantile_copies_from_top_quantile_deterministically():
    settings = pbt_settings(population=8, resample_probability=1.0)  # 2 copy from the best 2, lr redrawn
    scores = two_seeds([7.0, 6.0, 0.0, 5.0, 4.0, 1.0, 3.0, 2.0])  # best 0, 1; worst 2, 5
    state, _ = tuners.start(settings, 0)
    _, actions = tuners.decide(settings, state, 10, scores)
    assert [i for i, s in enumerate(actions.source) if s != i] == [2, 5]
    assert {actions.source[2], actions.source[5]} <= {0, 1}
    for member in range(8):
        if member in (2, 5):
            assert LR.low <= actions.hparams[member]["lr"] <= LR.high
            assert actions.hparams[member]["lr"] != state.hparams[actions.source[member]]["lr"]
        else:
            assert actions.hparams[member] == state.hparams[member]
    again_state, _ = tuners.start(settings, 0)
    assert tuners.decide(settings, again_state, 10, scores)[1] == actions  # same seed, same draws
    state, _ = tuners.decide(settings, state, 10, scores)
    _, later = tuners.decide(settings, state, 20, scores)  # the stream moves on: fresh draws
    assert [later.hparams[m] for m in (2, 5)] != [actions.hparams[m] for m in (2, 5)]
    other_state, _ = tuners.start(dataclasses.replace(settings, repetitions=2), 1)
    assert other_state.hparams != state.hparams  # another repetition draws its own population


def test_perturb_steps_through_a_list_and_clips_a_range():
    assert pbt.perturb(ENT, 0.01, 1.2) == 0.1 and pbt.perturb(ENT, 0.01, 0.8) == 0.0
    assert pbt.perturb(ENT, 0.1, 1.2) == 0.1 and pbt.perturb(ENT, 0.0, 0.8) == 0.0  # the ends hold
    assert pbt.perturb(LR, 1e-3, 2.0) == 2e-3 and pbt.perturb(LR, 8e-3, 2.0) == LR.high


# ---------------------------------------------------------------------------------------------
# state, configurations, plans


@pytest.mark.parametrize("settings", [
    GridSettings(max_env_steps=30, space=(ENT,)),
    RandomSettings(num_configs=3, max_env_steps=30, space=(LR,)),
    SuccessiveHalvingSettings(num_configs=9, eta=3, min_env_steps=10, max_env_steps=90, space=(LR,)),
    HyperbandSettings(eta=3, min_env_steps=10, max_env_steps=90, space=(LR,)),
    pbt_settings(resample_probability=0.5, perturb_factors=(0.8, 1.2)),
], ids=lambda s: s.method)
def test_state_round_trips_through_json_and_resumes_identically(settings):
    rng = np.random.default_rng(1)
    members = tuners.plan(settings).members
    state, actions = tuners.start(settings, 0)
    scores = rng.normal(size=(members, 2))
    state, actions = tuners.decide(settings, state, actions.next_env_steps, scores)
    restored = TunerState.from_json(state.to_json())
    assert restored == state
    if not actions.finished:
        scores = rng.normal(size=(members, 2))
        assert tuners.decide(settings, restored, actions.next_env_steps, scores) == \
            tuners.decide(settings, state, actions.next_env_steps, scores)


def test_configurations_are_distinct_reproducible_draws():
    grid = GridSettings(max_env_steps=30, space=(ENT, Dim("gamma", "values", values=(0.9, 0.99))))
    assert len(tuners.configurations(grid, 0)) == 6
    finite = RandomSettings(num_configs=6, max_env_steps=30, space=grid.space, repetitions=2)
    drawn = tuners.configurations(finite, 0)
    assert sorted(map(str, drawn)) == sorted(map(str, tuners.configurations(grid, 0)))  # all six, none twice
    assert tuners.configurations(finite, 0) == drawn
    assert tuners.configurations(finite, 1) != drawn
    ranged = RandomSettings(num_configs=5, max_env_steps=30, space=(LR,))
    assert all(LR.low <= c["lr"] <= LR.high for c in tuners.configurations(ranged, 0))


def test_descriptions_name_the_rungs_and_the_charge():
    text = tuners.describe(SuccessiveHalvingSettings(9, 3, 10, 90, space=(LR,)), tuning_seeds=2)
    assert "9 x 10, 3 x 30, 1 x 90" in text and "charge: 420 env steps" in text
    assert "bracket s=3: 34 x 3, 11 x 9, 3 x 27, 1 x 81" in tuners.describe(HyperbandSettings(3, 1, 81), 1)
