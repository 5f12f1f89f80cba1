"""REINFORCE with a baseline: returns bootstrapped at truncation, and the separate actor and critic
optimisers (the contract test covers its policy on the continuous probe)."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.algos.common import actor_critic, actor_critic_adam
from jaxrl_suite.algos.reinforce import REINFORCE, HParams, Static
from jaxrl_suite.envs import make
from jaxrl_suite.networks import ActorCritic
from jaxrl_suite.runner import train

SMALL = Static(total_env_steps=16_384, num_envs=8, num_steps=4, hidden_sizes=(16,))


def test_returns_are_bootstrapped_where_a_time_limit_cuts_the_episode():
    # Reward 1 forever, truncated every 5 steps and cut every 4 by the rollout: with the
    # baseline standing in for the unseen rest, G = V = 1 / (1 - gamma) = 10; Monte-Carlo
    # returns that stopped at the cut could not exceed (1 - gamma^5) / (1 - gamma) = 4.1.
    env = make("probe/truncation")
    state, _ = train(REINFORCE, env, SMALL, {"gamma": 0.9}, seed=0)
    value = actor_critic(env, SMALL).apply(state.params, jnp.zeros((1, 1)), method=ActorCritic.value)
    np.testing.assert_allclose(value, env.true_value(jnp.zeros((1, 1)), 0.9), rtol=0.02)


def test_actor_and_critic_have_their_own_learning_rates():
    # Adam's first step is -lr * sign(g) (up to eps): each subtree moves by its own rate.
    params = {"params": {"actor": {"w": jnp.ones(2)}, "critic": {"w": jnp.ones(2)}}}
    grads = jax.tree.map(lambda x: 0.1 * x, params)
    tx = actor_critic_adam(HParams(actor_lr=1e-3, critic_lr=1e-1, max_grad_norm=10.0, adam_eps=1e-8))
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(updates["params"]["actor"]["w"], -1e-3, rtol=1e-4)
    np.testing.assert_allclose(updates["params"]["critic"]["w"], -1e-1, rtol=1e-4)
