"""DQN: the replay buffer, ε schedule and TD target as units, then what must be learned on the probes."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.algos.base import ReplayBuffer
from jaxrl_suite.algos.dqn import (DQN, HParams, Static, Transition, check_static, epsilon, epsilon_greedy,
                                  network, td_loss)
from jaxrl_suite.envs import make
from jaxrl_suite.runner import EvalSettings, Group, Run, programs, run_group, segment_iterations, train

SMALL = Static(
    total_env_steps=16_384, num_envs=4, train_frequency=4, buffer_size=2_048, batch_size=64,
    target_update_period=64, hidden_sizes=(32, 32),
)
FAST = {"lr": 1e-3, "learning_starts": 256.0, "exploration_fraction": 0.25}


def trained(env_id, static=SMALL, **overrides):
    env = make(env_id)
    state, metrics = train(DQN, env, static, {**FAST, **overrides}, seed=0)
    q_values = lambda obs: np.asarray(network(env, static).apply(state.params, jnp.asarray(obs, jnp.float32)))
    return env, q_values, metrics


def transitions(start, n):
    """n transitions numbered start, start+1, ... in every field, to follow them through the buffer."""
    ids = np.arange(start, start + n)
    return Transition(obs=ids[:, None].astype(np.float32), action=ids.astype(np.int32), reward=ids.astype(np.float32),
                      next_obs=ids[:, None].astype(np.float32) + 0.5, terminated=ids % 2 == 0)


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
    hp = HParams(epsilon_start=1.0, epsilon_end=0.05, exploration_fraction=0.5)
    static = dataclasses.replace(SMALL, total_env_steps=1_000)
    eps = np.asarray(epsilon(hp, static, jnp.array([0, 250, 500, 900])))
    np.testing.assert_allclose(eps, [1.0, 0.525, 0.05, 0.05], rtol=1e-6)
    no_annealing = hp.replace(exploration_fraction=0.0)
    assert float(epsilon(no_annealing, static, 0)) == pytest.approx(0.05)
    # ε-greedy explores at the rate asked, and is greedy otherwise.
    q = jnp.tile(jnp.array([0.0, 1.0, 0.0, 0.0]), (20_000, 1))
    actions = np.asarray(epsilon_greedy(jax.random.PRNGKey(1), q, 0.2))
    assert np.mean(actions != 1) == pytest.approx(0.2 * 3 / 4, abs=0.01)
    assert np.all(np.asarray(epsilon_greedy(jax.random.PRNGKey(1), q, 0.0)) == 1)


class Table:
    """A tabular stand-in for the Q-network: params[state] are that state's action values."""

    @staticmethod
    def apply(params, obs):
        return params[obs[:, 0].astype(jnp.int32)]


def test_td_target_double_dqn_huber_and_termination():
    # State 0 -> state 1 with reward 1. Online Q(1) = [1, 5], target Q(1) = [3, 2], Q(0, a=0) = 0.
    online, target = jnp.array([[0.0, 0.0], [1.0, 5.0]]), jnp.array([[0.0, 0.0], [3.0, 2.0]])
    batch = lambda terminated: Transition(obs=jnp.array([[0.0]]), action=jnp.array([0]), reward=jnp.array([1.0]),
                                          next_obs=jnp.array([[1.0]]), terminated=jnp.array([terminated]))
    hp = HParams(gamma=0.5)
    loss = lambda terminated=False, **kw: float(td_loss(online, target, Table, batch(terminated), hp,
                                                         dataclasses.replace(SMALL, **kw))[0])
    assert loss() == pytest.approx((1 + 0.5 * 3) ** 2)  # max over the target network's values
    assert loss(double_dqn=True) == pytest.approx((1 + 0.5 * 2) ** 2)  # online argmax, target value
    assert loss(loss="huber") == pytest.approx(2.5 - 0.5)  # |error| - δ/2 beyond δ = 1
    assert loss(terminated=True) == pytest.approx(1.0)  # no bootstrap past termination


def test_check_static_names_the_field():
    env = make("probe/two-step")
    fields = lambda **kw: [f for f, _ in check_static(dataclasses.replace(SMALL, **kw), env)]
    assert fields() == []
    assert fields(batch_size=4_096) == ["batch_size"]
    assert fields(buffer_size=8, batch_size=8) == ["buffer_size"]  # one iteration is 16 transitions
    assert fields(loss="l1") == ["loss"]
    assert fields(target_update_period=0) == ["target_update_period"]


def test_two_step_q_values_discount_and_bootstrap():
    env, q_values, _ = trained("probe/two-step", gamma=0.9)
    obs = np.array([[0.0], [1.0]])
    np.testing.assert_allclose(q_values(obs)[:, 0], env.true_value(obs, 0.9), atol=0.05)


def test_truncation_is_bootstrapped_and_warm_up_does_not_learn():
    # Reward 1 forever, cut by a time limit: Q = 1/(1-γ) = 10 only if the cut is bootstrapped.
    static = dataclasses.replace(SMALL, total_env_steps=32_768)
    # Observation 0 meets all-zero hidden units at init, so only the output bias moves Q(0):
    # a larger step size lets it climb to 10 within the budget.
    env, q_values, metrics = trained("probe/truncation", static, gamma=0.9, lr=1e-2, learning_starts=1_024.0)
    obs = np.array([[0.0]])
    np.testing.assert_allclose(q_values(obs)[:, 0], env.true_value(obs, 0.9), rtol=0.1)
    # One state, one action: the sampled Q is the same number until learning starts.
    warm_up = metrics["learning"] == 0
    assert warm_up.sum() == 1_024 // 16 - 1  # counted after each iteration's collection
    assert np.all(metrics["q_value"][warm_up] == metrics["q_value"][0])
    assert metrics["q_value"][-1] > 5.0


def test_learning_rate_sweep_is_one_program_and_learns_the_greedy_policy():
    """4 learning rates x 2 seeds on action-observation-reward: one compile, lr decides."""
    lrs = [1e-6, 1e-4, 1e-3, 3e-3]
    env = make("probe/action-observation-reward")
    static = dataclasses.replace(SMALL, total_env_steps=8_192)
    runs = tuple(Run(i, {**FAST, "lr": lr}, seed, "tune") for i, lr in enumerate(lrs) for seed in range(2))
    evaluation = EvalSettings(every_env_steps=2_048, episodes=16, max_steps=4)
    result = run_group(Group("dqn", DQN, env.env_id, env, static, runs), evaluation)
    init, advance = programs(DQN, env, static, evaluation, segment_iterations(DQN, static, evaluation))
    assert advance._cache_size() == 1 and init._cache_size() == 1
    loss = result.metrics["loss"][:, -1].reshape(4, 2).mean(axis=1)
    assert loss[0] > 0.5  # lr 1e-6 barely moves: Q ≈ 0 against targets of ±1
    assert loss[3] < 0.05 and loss[2] < loss[0]
    # The greedy policy (the runner's deterministic evaluation) earns +1 on every episode.
    np.testing.assert_array_equal(result.metrics["eval_return"][4:, -1], 1.0)
    assert np.all(result.metrics["train_return"][4:, -1] > 0.8)  # ε-greedy at ε = 0.05
