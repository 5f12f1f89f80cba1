"""Tang & Zhang's hard instance (oracle 13): the environment family and the tuning simulation."""

import matplotlib

matplotlib.use("Agg")

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs.core import Discrete
from jaxrl_suite.envs.hard_instance import HardInstanceBandit
from jaxrl_suite.evaluation import hard_instance as hi

# --- the environment family ----------------------------------------------------------------------


def test_mdp_i_pays_only_action_i():
    env = HardInstanceBandit(4)
    params = env.default_params.replace(optimal_action=jnp.asarray(3, jnp.int32))
    obs, state = env.reset(jax.random.key(0), params)
    rewards = []
    for action in range(5):
        _, state, reward, terminated, truncated, info = env.step(
            jax.random.key(1), state, jnp.asarray(action), params
        )
        rewards.append(float(reward))
        assert bool(terminated) and not bool(truncated)  # one-step episodes
        np.testing.assert_array_equal(info["final_obs"], obs)
    assert rewards == [0.0, 0.0, 0.0, 1.0, 0.0]
    assert int(state.episodes_done) == 5
    assert env.action_space(params) == Discrete(5)
    assert env.observation_space(params).contains(obs)


def test_family_params_vmap_as_a_pytree():
    env = HardInstanceBandit(5)
    family = env.family_params()
    np.testing.assert_array_equal(family.optimal_action, [1, 2, 3, 4, 5])

    @jax.jit
    def reward_of_every_action(params):
        _, state = env.reset(jax.random.key(0), params)
        step = lambda a: env.step(jax.random.key(0), state, a, params)[2]
        return jax.vmap(step)(jnp.arange(6))

    rewards = jax.vmap(reward_of_every_action)(family)
    # Row i−1 (MDP i) pays only in column i; action 0 never pays.
    np.testing.assert_array_equal(rewards, np.eye(5, 6, k=1))


def test_family_needs_an_mdp():
    with pytest.raises(ValueError, match="at least one MDP"):
        HardInstanceBandit(0)


# --- the delayed agents --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "total, mdps, delay", [(10, 4, 5), (12, 4, 6), (7, 3, 5), (1, 3, 1), (5, 1, 10)]
)
def test_delay_is_ceil_two_t_over_m(total, mdps, delay):
    assert hi.delay_episodes(total, mdps) == delay


def test_agent_plays_zero_until_trained_then_its_own_action():
    actions = hi.delayed_agent_action(jnp.asarray(3), jnp.arange(6), delay=4)
    np.testing.assert_array_equal(actions, [0, 0, 0, 0, 3, 3])


def test_training_returns_show_reward_only_after_the_delay():
    env = HardInstanceBandit(3)
    total = 9  # L = 6
    outcome = hi.simulate_tuning(env, [[0, 8, 1]], total)
    assert outcome.delay == 6
    # Agent 2 on MDP 2 plays 0 for 6 episodes, then 2 for episodes 7 and 8: it collects 2.
    np.testing.assert_array_equal(outcome.training_return[0], [[0, 0, 0], [0, 2, 0], [0, 0, 0]])
    np.testing.assert_array_equal(outcome.fully_trained[0], [False, True, False])
    np.testing.assert_array_equal(outcome.success[0], [False, True, False])
    np.testing.assert_array_equal(outcome.selected[0], [1, 2, 1])


def test_over_budget_allocations_are_refused():
    with pytest.raises(ValueError, match="spend more than the T=4"):
        hi.simulate_tuning(HardInstanceBandit(2), [[3, 2]], 4)


# --- fact (a): at most ⌊M/2⌋ agents trained, success ≤ 1/2 ---------------------------------


@pytest.mark.parametrize("mdps, total", [(2, 4), (3, 6), (4, 8), (5, 7), (5, 10), (6, 12), (7, 9)])
def test_every_allocation_trains_at_most_half_the_agents(mdps, total):
    env = HardInstanceBandit(mdps)
    outcome = hi.simulate_tuning(env, hi.all_allocations(total, mdps), total)
    trained = outcome.fully_trained.sum(axis=1)
    assert trained.max() <= mdps // 2
    # With i uniform, success is exactly the fraction of agents trained fully.
    np.testing.assert_allclose(outcome.success_probability, trained / mdps)
    assert outcome.success_probability.max() <= 0.5
    # The exhaustive optimum is the bound min(M, ⌊T/L⌋)/M, and best_allocation attains it.
    best = hi.max_fully_trained_agents(total, mdps) / mdps
    assert outcome.success_probability.max() == pytest.approx(best)
    attained = hi.simulate_tuning(env, hi.best_allocation(total, mdps), total)
    assert attained.success_probability[0] == pytest.approx(best)
    if total % mdps == 0:
        assert best == pytest.approx((mdps // 2) / mdps)


def test_all_allocations_enumerates_every_split_once():
    allocations = hi.all_allocations(5, 3)
    assert allocations.shape == (21, 3)  # C(7, 2)
    assert (allocations.sum(axis=1) == 5).all()
    assert len({tuple(a) for a in allocations}) == 21


def test_random_allocations_never_beat_one_half_for_larger_families():
    mdps, total = 12, 36
    allocations = np.vstack([
        hi.random_allocations(7, total, mdps, 300),
        hi.best_allocation(total, mdps),
    ])
    assert (allocations.sum(axis=1) == total).all()
    outcome = hi.simulate_tuning(HardInstanceBandit(mdps), allocations, total)
    assert outcome.success_probability.max() == pytest.approx(0.5)  # reached by best_allocation
    assert (outcome.fully_trained.sum(axis=1) <= mdps // 2).all()


# --- fact (b): equal split fails -----------------------------------------------------------------


@pytest.mark.parametrize("mdps", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("per_mdp", [1, 5])
def test_equal_split_succeeds_never(mdps, per_mdp):
    for total in (per_mdp * mdps, per_mdp * mdps + mdps - 1):  # M | T and M ∤ T
        outcome = hi.simulate_tuning(
            HardInstanceBandit(mdps), hi.equal_split_allocation(total, mdps), total
        )
        assert outcome.success_probability[0] == 0.0
        assert not outcome.fully_trained.any()


@pytest.mark.parametrize("mdps", [3, 4, 6])
def test_a_learner_told_i_succeeds_where_equal_split_fails(mdps):
    # Same budget, all of it on the right agent: L = ⌈2T/M⌉ ≤ T, so it trains fully.
    total = 2 * mdps
    env = HardInstanceBandit(mdps)
    outcome = hi.simulate_tuning(env, total * np.eye(mdps, dtype=np.int32), total)
    assert np.diagonal(outcome.success).all()


# --- the committed figure's numbers --------------------------------------------------------------


def test_success_curves_and_figure():
    curves = hi.success_curves([2, 3, 4, 5], episodes_per_mdp=4)
    np.testing.assert_array_equal(curves.equal_split, 0.0)
    np.testing.assert_allclose(curves.best_allocation, [1 / 2, 1 / 3, 1 / 2, 2 / 5])
    np.testing.assert_allclose(curves.best_allocation, curves.analytic_bound)
    np.testing.assert_array_equal(curves.informed_learner, 1.0)
    fig = hi.plot_success_curves(curves)
    ax = fig.axes[0]
    assert ax.get_title() and "M" in ax.get_xlabel() and "success probability" in ax.get_ylabel()
    labels = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert "equal split" in labels and "best allocation" in labels and "1/2" in labels
