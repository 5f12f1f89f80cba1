"""PQN: Q(λ) returns as a unit, then what must be learned on the probes."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.algos.dqn import Rollout
from jaxrl_suite.algos.pqn import PQN, Static, check_static, network, q_lambda_returns
from jaxrl_suite.envs import make
from jaxrl_suite.runner import EvalSettings, Group, Run, programs, run_group, segment_iterations, train

SMALL = Static(total_env_steps=16_384, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=2, hidden_sizes=(32, 32))
FAST = {"lr": 3e-3, "lr_final_ratio": 1.0, "exploration_fraction": 0.25}


def trained(env_id, static=SMALL, **overrides):
    env = make(env_id)
    state, metrics = train(PQN, env, static, {**FAST, **overrides}, seed=0)
    q_values = lambda obs: np.asarray(network(env, static).apply(state.params, jnp.asarray(obs, jnp.float32)))
    return env, q_values, metrics


def rollout(reward, terminated, truncated):
    """A one-env rollout, time-major [T, 1], from per-step lists."""
    column = lambda x, dtype: jnp.asarray(x, dtype)[:, None]
    terminated, truncated = column(terminated, bool), column(truncated, bool)
    zeros = jnp.zeros_like(terminated, jnp.float32)
    return Rollout(obs=zeros, action=zeros, reward=column(reward, jnp.float32), terminated=terminated,
                      done=terminated | truncated, final_obs=zeros, returned_episode=zeros, episode_return=zeros)


def test_q_lambda_returns_interpolate_between_one_step_and_monte_carlo():
    traj = rollout([1.0, 2.0, 3.0], [False, False, False], [False, False, False])
    next_q = jnp.array([[10.0], [20.0], [30.0]])
    g = 0.5
    one_step = [1 + g * 10, 2 + g * 20, 3 + g * 30]
    monte_carlo = [1 + g * 2 + g**2 * 3 + g**3 * 30, 2 + g * 3 + g**2 * 30, 3 + g * 30]
    np.testing.assert_allclose(q_lambda_returns(traj, next_q, g, 0.0)[:, 0], one_step)
    np.testing.assert_allclose(q_lambda_returns(traj, next_q, g, 1.0)[:, 0], monte_carlo)
    # λ = 0.5: G_t = r_t + γ [(1 - λ) Q_t + λ G_{t+1}]
    g2 = 3 + g * 30
    g1 = 2 + g * (0.5 * 20 + 0.5 * g2)
    g0 = 1 + g * (0.5 * 10 + 0.5 * g1)
    np.testing.assert_allclose(q_lambda_returns(traj, next_q, g, 0.5)[:, 0], [g0, g1, g2], rtol=1e-6)


def test_q_lambda_bootstraps_on_truncation_not_termination_and_cuts_the_trace():
    next_q = jnp.array([[10.0], [20.0], [30.0]])
    # Episode ends after step 0; what follows belongs to the next episode and must not leak back.
    truncated = q_lambda_returns(rollout([1.0, 2.0, 3.0], [False] * 3, [True, False, False]), next_q, 0.5, 1.0)
    terminated = q_lambda_returns(rollout([1.0, 2.0, 3.0], [True, False, False], [False] * 3), next_q, 0.5, 1.0)
    assert float(truncated[0, 0]) == pytest.approx(1.0 + 0.5 * 10.0)
    assert float(terminated[0, 0]) == pytest.approx(1.0)
    np.testing.assert_allclose(truncated[1:], terminated[1:])


def test_check_static_names_the_field():
    env = make("probe/two-step")
    fields = lambda **kw: [f for f, _ in check_static(dataclasses.replace(SMALL, **kw), env)]
    assert fields() == []
    assert fields(num_minibatches=3) == ["num_minibatches"]
    assert fields(total_env_steps=64) == ["total_env_steps"]


def test_two_step_q_values_discount_and_bootstrap():
    env, q_values, _ = trained("probe/two-step", gamma=0.9)
    obs = np.array([[0.0], [1.0]])
    np.testing.assert_allclose(q_values(obs)[:, 0], env.true_value(obs, 0.9), atol=0.05)


def test_truncation_is_bootstrapped_not_terminal():
    # Reward 1 forever, cut by a time limit: Q = 1/(1-γ) = 10 only if the cut is bootstrapped;
    # as termination it could not exceed (1 - γ^5)/(1 - γ) < 5.
    # Observation 0 meets all-zero hidden units at init, so only the output bias moves Q(0):
    # a larger step size and more steps per rollout let it climb to 10 within the budget.
    static = dataclasses.replace(SMALL, total_env_steps=32_768, num_minibatches=4, update_epochs=4)
    env, q_values, _ = trained("probe/truncation", static, gamma=0.9, lr=1e-2)
    obs = np.array([[0.0]])
    np.testing.assert_allclose(q_values(obs)[:, 0], env.true_value(obs, 0.9), rtol=0.1)


def test_learning_rate_sweep_is_one_program_and_learns_the_greedy_policy():
    """4 learning rates x 2 seeds on action-observation-reward: one compile, lr decides."""
    lrs = [1e-6, 1e-4, 1e-3, 3e-3]
    env = make("probe/action-observation-reward")
    static = dataclasses.replace(SMALL, total_env_steps=8_192)
    runs = tuple(Run(i, {**FAST, "lr": lr}, seed, "tune") for i, lr in enumerate(lrs) for seed in range(2))
    evaluation = EvalSettings(every_env_steps=2_048, episodes=16, max_steps=4)
    result = run_group(Group("pqn", PQN, env.env_id, env, static, runs), evaluation)
    init, advance = programs(PQN, env, static, evaluation, segment_iterations(PQN, static, evaluation))
    assert advance._cache_size() == 1 and init._cache_size() == 1
    loss = result.metrics["loss"][:, -1].reshape(4, 2).mean(axis=1)
    assert loss[0] > 0.5  # lr 1e-6 barely moves: Q ≈ 0 against targets of ±1
    assert loss[3] < 0.05 and loss[2] < loss[0]
    # The greedy policy (the runner's deterministic evaluation) earns +1 on every episode.
    np.testing.assert_array_equal(result.metrics["eval_return"][4:, -1], 1.0)
    assert np.all(result.metrics["train_return"][4:, -1] > 0.8)  # ε-greedy at ε = 0.05
