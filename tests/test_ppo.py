"""PPO's critic on the probe environments: each probe isolates one mechanism, with known targets.

That PPO's policy solves its probe is checked with every algorithm's in test_algorithm_contract.py.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.algos import common
from jaxrl_suite.algos.ppo import PPO, Static
from jaxrl_suite.envs import make
from jaxrl_suite.runner import train

SMALL = Static(total_env_steps=16_384, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=4,
               hidden_sizes=(32, 32))
FAST = {"lr": 3e-3, "lr_final_ratio": 1.0, "ent_coef": 0.0}


def trained(env_id, static=SMALL, **overrides):
    env = make(env_id)
    state, metrics = train(PPO, env, static, {**FAST, **overrides}, seed=0)
    net = common.actor_critic(env, static)
    values = lambda obs: np.asarray(net.apply(state.params, jnp.asarray(obs, jnp.float32), method=net.value))
    policy = lambda obs: np.asarray(net.apply(state.params, jnp.asarray(obs, jnp.float32), method=net.policy))
    return env, values, policy, metrics


def test_constant_reward_value():
    # Every episode is one step paying +1 and then terminating, so V = 1 + γ · 0 = 1 exactly: no
    # bootstrap past a termination. (Any policy earns the return 1 here, so the return proves
    # nothing; the critic's estimate is the test. At init V ≈ 0; with the value loss switched
    # off, vf_coef = 0, it stays there; bootstrapping through the termination would give
    # 1/(1 - γ) = 100.)
    env, values, _, _ = trained("probe/constant-reward")
    obs = np.array([[0.0]])
    np.testing.assert_allclose(env.true_value(obs, 0.99), 1.0)
    np.testing.assert_allclose(values(obs), 1.0, atol=0.05)


def test_observation_dependent_value():
    env, values, _, _ = trained("probe/observation-reward")
    obs = np.array([[-1.0], [1.0]])
    np.testing.assert_allclose(values(obs), env.true_value(obs, 0.99), atol=0.1)


def test_two_step_discounting():
    env, values, _, _ = trained("probe/two-step", gamma=0.9)
    obs = np.array([[0.0], [1.0]])
    np.testing.assert_allclose(values(obs), env.true_value(obs, 0.9), atol=0.05)


def test_continuous_policy_finds_observation_dependent_target():
    env, _, policy, metrics = trained("probe/action-observation-reward-continuous", ent_coef=0.0)
    obs = np.array([[-1.0], [1.0]])
    mean, _ = policy(obs)
    np.testing.assert_allclose(mean, env.optimal_action(obs), atol=0.15)
    assert metrics["train_return"][-1] > 0.9


def test_truncation_is_bootstrapped_not_terminal():
    # Reward 1 forever, cut by a time limit: V = 1/(1-γ) = 10 with correct bootstrapping; treating
    # the cut as termination could not exceed (1 - γ^H)/(1 - γ) < 5 for the probe's short horizon.
    static = Static(**{**SMALL.__dict__, "total_env_steps": 32_768})
    env, values, _, _ = trained("probe/truncation", static, gamma=0.9)
    np.testing.assert_allclose(values(np.array([[0.0]])), env.true_value(np.array([[0.0]]), 0.9), rtol=0.1)


def test_gae_bootstraps_on_truncation_and_not_on_termination():
    one = lambda x: jnp.asarray([[x]], jnp.float32)
    def step(terminated, done):
        return common.Rollout(obs=one(0), action=one(0), reward=one(1), terminated=one(terminated), done=one(done),
                              final_obs=one(0), returned_episode=one(done), episode_return=one(0), extras=None)
    next_value = one(5.0)
    truncated_adv, _ = common.gae(step(0.0, 1.0), one(0), next_value, 0.9, 0.95)
    terminated_adv, _ = common.gae(step(1.0, 1.0), one(0), next_value, 0.9, 0.95)
    assert float(truncated_adv[0, 0]) == pytest.approx(1.0 + 0.9 * 5.0)
    assert float(terminated_adv[0, 0]) == pytest.approx(1.0)
