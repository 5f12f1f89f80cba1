"""SAC: the squashed Gaussian's density, the replay buffer, probes with known answers, and one
compiled program for a sweep of traced hyperparameters."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.algos.base import ReplayBuffer
from jaxrl_suite.algos.sac import (
    PRESETS,
    SAC,
    Static,
    Transition,
    check_static,
    networks,
    squashed_log_prob,
    squashed_sample,
)
from jaxrl_suite.envs import Box, Wrapper, make
from jaxrl_suite.runner import EvalSettings, Group, Run, programs, run_group, segment_iterations, train

SMALL = Static(
    total_env_steps=4_096, num_envs=8, buffer_size=4_096, batch_size=64, learning_starts=256, hidden_sizes=(32, 32)
)
FAST = {"actor_lr": 3e-3, "critic_lr": 3e-3, "alpha_lr": 3e-3, "alpha": 0.1}


def normal_cdf(z):
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


@pytest.mark.parametrize("mean, log_std", [(0.3, -0.4), (-1.2, 0.5), (0.0, -2.0)])
def test_squashed_log_prob_matches_the_numerical_density(mean, log_std):
    # Independent reference: P(tanh(x) <= u) = Phi((atanh(u) - mean) / std), differentiated in u
    # by central differences in float64. No Jacobian formula is involved.
    std, h = math.exp(log_std), 1e-6
    cdf = lambda u: normal_cdf((math.atanh(u) - mean) / std)
    for u in (-0.95, -0.5, 0.0, 0.3, 0.9, 0.99):
        numerical = (cdf(u + h) - cdf(u - h)) / (2 * h)
        ours = squashed_log_prob(jnp.array([mean]), jnp.array([log_std]), jnp.array([math.atanh(u)]))
        assert math.exp(float(ours)) == pytest.approx(numerical, rel=2e-3, abs=1e-6), u


def test_squashed_log_prob_sums_dimensions_and_stays_finite_at_the_bounds():
    mean, log_std = jnp.array([0.3, -1.2]), jnp.array([-0.4, 0.5])
    x = jnp.array([0.2, -0.7])
    joint = squashed_log_prob(mean, log_std, x)
    split = sum(squashed_log_prob(mean[i : i + 1], log_std[i : i + 1], x[i : i + 1]) for i in range(2))
    assert float(joint) == pytest.approx(float(split), rel=1e-6)
    # tanh(20) rounds to 1 in float32, where log(1 - tanh^2) would be -inf.
    far = squashed_log_prob(jnp.array([20.0]), jnp.array([0.0]), jnp.array([20.0]))
    assert np.isfinite(float(far)) and float(far) == pytest.approx(
        -0.5 * math.log(2 * math.pi) - 2 * (math.log(2) - 20), rel=1e-5)
    action, log_prob = squashed_sample(jax.random.PRNGKey(0), jnp.zeros((1000, 1)), jnp.full((1000, 1), 1.0))
    assert np.all(np.abs(np.asarray(action)) <= 1.0) and np.all(np.isfinite(np.asarray(log_prob)))


def test_replay_buffer_is_a_ring_and_samples_only_filled_slots():
    one = jnp.zeros((1,))
    buffer = ReplayBuffer.create(Transition(one, one, jnp.float32(0), one, jnp.float32(0)), capacity=5)

    def rows(rewards):
        n = len(rewards)
        col = jnp.zeros((n, 1))
        return Transition(col, col, jnp.asarray(rewards, jnp.float32), col, jnp.zeros(n))

    buffer = buffer.add(rows([0, 1, 2]))
    assert (int(buffer.size), int(buffer.position)) == (3, 3)
    drawn = set(np.asarray(buffer.sample(jax.random.PRNGKey(0), 300).reward).tolist())
    assert drawn == {0.0, 1.0, 2.0}  # never the empty slots
    buffer = buffer.add(rows([3, 4, 5, 6]))  # wraps: 5 and 6 overwrite the two oldest
    assert (int(buffer.size), int(buffer.position)) == (5, 2)
    np.testing.assert_array_equal(buffer.data.reward, [5, 6, 2, 3, 4])
    drawn = set(np.asarray(buffer.sample(jax.random.PRNGKey(1), 300).reward).tolist())
    assert drawn == {2.0, 3.0, 4.0, 5.0, 6.0}


LRS = [1e-6, 1e-4, 1e-3, 3e-3]  # actor learning rates of the sweep; the last one is FAST's


class FinalStates:
    """The runner's checkpoint hook, used only to keep each chunk's final carry."""

    every = 10**9

    def __init__(self):
        self.carry = None

    def save(self, progress):
        pass

    def save_final(self, chunk, carry):
        self.carry = carry


@pytest.fixture(scope="module")
def sweep():
    """4 actor learning rates on the observation-dependent continuous probe, one program."""
    env = make("probe/action-observation-reward-continuous")
    runs = tuple(Run(i, {**FAST, "actor_lr": lr}, 0, "tune") for i, lr in enumerate(LRS))
    evaluation = EvalSettings(every_env_steps=2_048, episodes=8, max_steps=1)
    final = FinalStates()
    result = run_group(Group("sac", SAC, env.env_id, env, SMALL, runs), evaluation, checkpoints=final)
    programs_ = programs(SAC, env, SMALL, evaluation, segment_iterations(SAC, SMALL, evaluation))
    state = jax.tree.map(lambda x: x[len(LRS) - 1], final.carry.state)  # the run at 3e-3
    return env, state, result, programs_


def test_sweep_of_4_actor_learning_rates_compiles_one_program(sweep):
    _, _, result, (init, advance) = sweep
    assert advance._cache_size() == 1 and init._cache_size() == 1
    # The learning rate is data, and it matters: an actor at lr 1e-6 keeps its random initial
    # greedy actions, one at 3e-3 approaches the optimum (evaluation return 1).
    final = result.metrics["eval_return"][:, -1]
    assert final[-1] > 0.95 and final[-1] > final[0] + 0.1, final
    assert not result.metrics["diverged"].any()


def test_greedy_action_finds_the_observation_dependent_optimum(sweep):
    env, state, result, _ = sweep
    obs = jnp.array([[-1.0], [1.0]])
    greedy = SAC.act(state, obs, None, SMALL, env, env.default_params, deterministic=True)
    np.testing.assert_allclose(greedy, env.optimal_action(obs), atol=0.1)
    assert result.metrics["train_return"][-1, -1] > 0.9


def test_critics_learn_the_true_values_and_the_reward_surface(sweep):
    # One-step episodes: Q(s, a) is the reward 1 - (a - s/2)^2, whose maximum is V*(s) = 1.
    env, state, _, _ = sweep
    _, critic = networks(env, SMALL)
    obs = jnp.array([[-1.0], [1.0]])
    q_best = critic.apply(state.learner.critic, obs, env.optimal_action(obs))  # [2 critics, 2 obs]
    np.testing.assert_allclose(q_best, np.broadcast_to(env.true_value(obs, 0.99), (2, 2)), atol=0.05)
    # Around the optimum, where the policy keeps sampling; far actions were only tried during the
    # random warm-up, so the critics know them less well.
    for o in (-1.0, 1.0):
        actions = o / 2 + jnp.linspace(-0.5, 0.5, 5)[:, None]
        q = critic.apply(state.learner.critic, jnp.full((5, 1), o), actions)
        np.testing.assert_allclose(q, np.broadcast_to(1.0 - (actions[:, 0] - o / 2) ** 2, (2, 5)), atol=0.1)


class BoxActionTruncation(Wrapper):
    """probe/truncation (reward 1 forever, truncated after 5 steps) with a continuous action."""

    def action_space(self, params):
        return Box(low=-1.0, high=1.0, shape=(1,))


def test_truncation_is_bootstrapped_with_a_fixed_zero_temperature():
    # With alpha fixed at 0 the soft value is the plain one, 1/(1 - gamma) = 10 with bootstrapping
    # from final_obs; treating the time limit as termination could not exceed (1 - 0.9^5)/0.1 = 4.1.
    env = BoxActionTruncation(make("probe/truncation"))
    static = dataclasses.replace(SMALL, autotune=False)
    state, metrics = train(SAC, env, static, {**FAST, "alpha": 0.0, "gamma": 0.9, "tau": 0.2}, seed=0)
    _, critic = networks(env, static)
    q = critic.apply(state.learner.critic, jnp.zeros((1, 1)), jnp.zeros((1, 1)))
    np.testing.assert_allclose(q, 10.0, rtol=0.05)
    assert float(metrics["alpha"][-1]) == 0.0


def test_static_checks_and_presets():
    pendulum = make("gymnax/Pendulum-v1")
    assert check_static(Static(), pendulum) == []
    for name, preset in PRESETS.items():
        static = Static(**preset.static)
        SAC.HParams(**preset.hparams)
        assert check_static(static, make(preset.env_id) if preset.env_id else pendulum) == [], name
    fields = lambda static: [field for field, _ in check_static(static, pendulum)]
    assert fields(Static(updates_per_iteration=3, policy_frequency=2)) == ["policy_frequency"]
    assert fields(Static(total_env_steps=1_000, learning_starts=1_000)) == ["learning_starts"]
    assert fields(Static(num_envs=8, buffer_size=4)) == ["buffer_size"]
