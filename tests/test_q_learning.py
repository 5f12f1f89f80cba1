"""DQN and PQN: the replay buffer, ε schedule, TD target and Q(λ) returns as units, then the Q-values
both must learn on the probes. (That each learns the greedy policy of its probe in one compiled
program is checked with every algorithm's in test_algorithm_contract.py.)"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.algos import common, dqn, pqn
from jaxrl_suite.algos.base import ReplayBuffer
from jaxrl_suite.envs import make
from jaxrl_suite.runner import train

DQN_SMALL = dqn.Static(
    total_env_steps=16_384, num_envs=4, train_frequency=4, buffer_size=2_048, batch_size=64,
    target_update_period=64, hidden_sizes=(32, 32),
)
DQN_FAST = {"lr": 1e-3, "learning_starts": 256.0, "exploration_fraction": 0.25}
PQN_SMALL = pqn.Static(total_env_steps=16_384, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=2,
                       hidden_sizes=(32, 32))
PQN_FAST = {"lr": 3e-3, "lr_final_ratio": 1.0, "exploration_fraction": 0.25}
SETTINGS = {"dqn": (dqn.DQN, DQN_SMALL, DQN_FAST), "pqn": (pqn.PQN, PQN_SMALL, PQN_FAST)}


def trained(name, env_id, static=None, **overrides):
    algo, small, fast = SETTINGS[name]
    static = static or small
    env = make(env_id)
    state, metrics = train(algo, env, static, {**fast, **overrides}, seed=0)
    net = common.q_network(env, static) if name == "dqn" else pqn.network(env, static)
    q_values = lambda obs: np.asarray(net.apply(state.params, jnp.asarray(obs, jnp.float32)))
    return env, q_values, metrics


# --- DQN's pieces ---------------------------------------------------------------------------


def transitions(start, n):
    """n transitions numbered start, start+1, ... in every field, to follow them through the buffer."""
    ids = np.arange(start, start + n)
    return dqn.Transition(obs=ids[:, None].astype(np.float32), action=ids.astype(np.int32),
                          reward=ids.astype(np.float32), next_obs=ids[:, None].astype(np.float32) + 0.5,
                          terminated=ids % 2 == 0)


EMPTY = jax.tree.map(lambda x: x[0], transitions(0, 1))
add = jax.jit(ReplayBuffer.add)


def test_replay_buffer_wraps_around_and_keeps_the_newest():
    buffer = add(ReplayBuffer.create(EMPTY, capacity=5), transitions(0, 3))
    assert (int(buffer.size), int(buffer.position)) == (3, 3)
    np.testing.assert_array_equal(buffer.data.action[:3], [0, 1, 2])
    buffer = add(buffer, transitions(3, 3))  # 3, 4 fill the end; 5 overwrites the oldest, 0
    assert (int(buffer.size), int(buffer.position)) == (5, 1)
    np.testing.assert_array_equal(buffer.data.action, [5, 1, 2, 3, 4])
    buffer = add(buffer, transitions(6, 3))  # full: 6, 7, 8 replace the oldest, 1, 2, 3
    assert (int(buffer.size), int(buffer.position)) == (5, 4)
    np.testing.assert_array_equal(buffer.data.action, [5, 6, 7, 8, 4])
    # Every field of a slot stays one transition.
    np.testing.assert_array_equal(buffer.data.reward, buffer.data.action.astype(np.float32))
    np.testing.assert_array_equal(buffer.data.next_obs[:, 0], buffer.data.action + 0.5)
    np.testing.assert_array_equal(buffer.data.terminated, buffer.data.action % 2 == 0)


def test_replay_buffer_samples_uniformly_from_filled_slots_only():
    buffer = add(ReplayBuffer.create(EMPTY, capacity=5), transitions(0, 3))
    batch = jax.jit(ReplayBuffer.sample, static_argnums=2)(buffer, jax.random.PRNGKey(0), 3_000)
    counts = np.bincount(np.asarray(batch.action), minlength=5)
    assert counts[3:].sum() == 0  # empty slots are never drawn
    np.testing.assert_allclose(counts[:3] / 3_000, 1 / 3, atol=0.03)
    np.testing.assert_array_equal(batch.reward, np.asarray(batch.action, np.float32))


def test_epsilon_schedule_is_linear_then_flat():
    hp = dqn.HParams(epsilon_start=1.0, epsilon_end=0.05, exploration_fraction=0.5)
    static = dataclasses.replace(DQN_SMALL, total_env_steps=1_000)
    eps = np.asarray(common.epsilon(hp, static, jnp.array([0, 250, 500, 900])))
    np.testing.assert_allclose(eps, [1.0, 0.525, 0.05, 0.05], rtol=1e-6)
    no_annealing = hp.replace(exploration_fraction=0.0)
    assert float(common.epsilon(no_annealing, static, 0)) == pytest.approx(0.05)
    # ε-greedy explores at the rate asked, and is greedy otherwise.
    q = jnp.tile(jnp.array([0.0, 1.0, 0.0, 0.0]), (20_000, 1))
    actions = np.asarray(common.epsilon_greedy(jax.random.PRNGKey(1), q, 0.2))
    assert np.mean(actions != 1) == pytest.approx(0.2 * 3 / 4, abs=0.01)
    assert np.all(np.asarray(common.epsilon_greedy(jax.random.PRNGKey(1), q, 0.0)) == 1)


class Table:
    """A tabular stand-in for the Q-network: params[state] are that state's action values."""

    @staticmethod
    def apply(params, obs):
        return params[obs[:, 0].astype(jnp.int32)]


def test_td_target_double_dqn_huber_and_termination():
    # State 0 -> state 1 with reward 1. Online Q(1) = [1, 5], target Q(1) = [3, 2], Q(0, a=0) = 0.
    online, target = jnp.array([[0.0, 0.0], [1.0, 5.0]]), jnp.array([[0.0, 0.0], [3.0, 2.0]])
    batch = lambda terminated: dqn.Transition(obs=jnp.array([[0.0]]), action=jnp.array([0]), reward=jnp.array([1.0]),
                                          next_obs=jnp.array([[1.0]]), terminated=jnp.array([terminated]))
    hp = dqn.HParams(gamma=0.5)
    loss = lambda terminated=False, **kw: float(dqn.td_loss(online, target, Table, batch(terminated), hp,
                                                         dataclasses.replace(DQN_SMALL, **kw))[0])
    assert loss() == pytest.approx((1 + 0.5 * 3) ** 2)  # max over the target network's values
    assert loss(double_dqn=True) == pytest.approx((1 + 0.5 * 2) ** 2)  # online argmax, target value
    assert loss(loss="huber") == pytest.approx(2.5 - 0.5)  # |error| - δ/2 beyond δ = 1
    assert loss(terminated=True) == pytest.approx(1.0)  # no bootstrap past termination


def test_dqn_check_static_names_the_field():
    env = make("probe/two-step")
    fields = lambda **kw: [f for f, _ in dqn.check_static(dataclasses.replace(DQN_SMALL, **kw), env)]
    assert fields() == []
    assert fields(batch_size=4_096) == ["batch_size"]
    assert fields(buffer_size=8, batch_size=8) == ["buffer_size"]  # one iteration is 16 transitions
    assert fields(loss="l1") == ["loss"]
    assert fields(target_update_period=0) == ["target_update_period"]


# --- PQN's pieces ---------------------------------------------------------------------------


def rollout(reward, terminated, truncated):
    """A one-env rollout, time-major [T, 1], from per-step lists."""
    column = lambda x, dtype: jnp.asarray(x, dtype)[:, None]
    terminated, truncated = column(terminated, bool), column(truncated, bool)
    zeros = jnp.zeros_like(terminated, jnp.float32)
    return common.Rollout(obs=zeros, action=zeros, reward=column(reward, jnp.float32), terminated=terminated,
                          done=terminated | truncated, final_obs=zeros, returned_episode=zeros, episode_return=zeros,
                          extras=zeros)


def test_q_lambda_returns_interpolate_between_one_step_and_monte_carlo():
    traj = rollout([1.0, 2.0, 3.0], [False, False, False], [False, False, False])
    next_q = jnp.array([[10.0], [20.0], [30.0]])
    g = 0.5
    one_step = [1 + g * 10, 2 + g * 20, 3 + g * 30]
    monte_carlo = [1 + g * 2 + g**2 * 3 + g**3 * 30, 2 + g * 3 + g**2 * 30, 3 + g * 30]
    np.testing.assert_allclose(pqn.q_lambda_returns(traj, next_q, g, 0.0)[:, 0], one_step)
    np.testing.assert_allclose(pqn.q_lambda_returns(traj, next_q, g, 1.0)[:, 0], monte_carlo)
    # λ = 0.5: G_t = r_t + γ [(1 - λ) Q_t + λ G_{t+1}]
    g2 = 3 + g * 30
    g1 = 2 + g * (0.5 * 20 + 0.5 * g2)
    g0 = 1 + g * (0.5 * 10 + 0.5 * g1)
    np.testing.assert_allclose(pqn.q_lambda_returns(traj, next_q, g, 0.5)[:, 0], [g0, g1, g2], rtol=1e-6)


def test_q_lambda_bootstraps_on_truncation_not_termination_and_cuts_the_trace():
    next_q = jnp.array([[10.0], [20.0], [30.0]])
    # Episode ends after step 0; what follows belongs to the next episode and must not leak back.
    truncated = pqn.q_lambda_returns(rollout([1.0, 2.0, 3.0], [False] * 3, [True, False, False]), next_q, 0.5, 1.0)
    terminated = pqn.q_lambda_returns(rollout([1.0, 2.0, 3.0], [True, False, False], [False] * 3), next_q, 0.5, 1.0)
    assert float(truncated[0, 0]) == pytest.approx(1.0 + 0.5 * 10.0)
    assert float(terminated[0, 0]) == pytest.approx(1.0)
    np.testing.assert_allclose(truncated[1:], terminated[1:])


def test_pqn_check_static_names_the_field():
    env = make("probe/two-step")
    fields = lambda **kw: [f for f, _ in pqn.check_static(dataclasses.replace(PQN_SMALL, **kw), env)]
    assert fields() == []
    assert fields(num_minibatches=3) == ["num_minibatches"]
    assert fields(total_env_steps=64) == ["total_env_steps"]


# --- what both must learn --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dqn", "pqn"])
def test_two_step_q_values_discount_and_bootstrap(name):
    env, q_values, _ = trained(name, "probe/two-step", gamma=0.9)
    obs = np.array([[0.0], [1.0]])
    np.testing.assert_allclose(q_values(obs)[:, 0], env.true_value(obs, 0.9), atol=0.05)


def test_dqn_truncation_is_bootstrapped_and_warm_up_does_not_learn():
    # Reward 1 forever, cut by a time limit: Q = 1/(1-γ) = 10 only if the cut is bootstrapped.
    static = dataclasses.replace(DQN_SMALL, total_env_steps=32_768)
    # Observation 0 meets all-zero hidden units at init, so only the output bias moves Q(0):
    # a larger step size lets it climb to 10 within the budget.
    env, q_values, metrics = trained("dqn", "probe/truncation", static, gamma=0.9, lr=1e-2, learning_starts=1_024.0)
    obs = np.array([[0.0]])
    np.testing.assert_allclose(q_values(obs)[:, 0], env.true_value(obs, 0.9), rtol=0.1)
    # One state, one action: the sampled Q is the same number until learning starts.
    warm_up = metrics["learning"] == 0
    assert warm_up.sum() == 1_024 // 16 - 1  # counted after each iteration's collection
    assert np.all(metrics["q_value"][warm_up] == metrics["q_value"][0])
    assert metrics["q_value"][-1] > 5.0


def test_pqn_truncation_is_bootstrapped_not_terminal():
    # Reward 1 forever, cut by a time limit: Q = 1/(1-γ) = 10 only if the cut is bootstrapped;
    # as termination it could not exceed (1 - γ^5)/(1 - γ) < 5.
    # Observation 0 meets all-zero hidden units at init, so only the output bias moves Q(0):
    # a larger step size and more steps per rollout let it climb to 10 within the budget.
    static = dataclasses.replace(PQN_SMALL, total_env_steps=32_768, num_minibatches=4, update_epochs=4)
    env, q_values, _ = trained("pqn", "probe/truncation", static, gamma=0.9, lr=1e-2)
    obs = np.array([[0.0]])
    np.testing.assert_allclose(q_values(obs)[:, 0], env.true_value(obs, 0.9), rtol=0.1)
