"""A2C: its critic on the two-step probe and its optimiser (the contract test covers its policy on a probe)."""

import jax.numpy as jnp
import numpy as np

from jaxrl_suite.algos.a2c import A2C, Static, optimizer
from jaxrl_suite.algos.common import actor_critic
from jaxrl_suite.envs import make
from jaxrl_suite.runner import train


def test_two_step_values_need_discounting_and_bootstrapping():
    env = make("probe/two-step")
    static = Static(total_env_steps=16_384, num_envs=8, num_steps=4, hidden_sizes=(16,))
    state, metrics = train(A2C, env, static, {"lr": 3e-3, "gamma": 0.9}, seed=0)
    net = actor_critic(env, static)
    obs = jnp.array([[0.0], [1.0]])
    values = np.asarray(net.apply(state.params, obs, method=net.value))
    np.testing.assert_allclose(values, env.true_value(obs, 0.9), atol=0.05)
    assert not metrics["diverged"].any()


def test_optimizer_is_pytorch_style_rmsprop():
    # One step from zero state: v = (1 - decay) g^2, update = -lr g / (sqrt(v) + eps), as in
    # torch.optim.RMSprop (eps outside the root), which Stable-Baselines3's settings assume.
    from jaxrl_suite.algos.a2c import HParams

    hp = HParams(lr=0.1, rmsprop_decay=0.99, rmsprop_eps=1e-5, max_grad_norm=100.0)
    tx = optimizer(hp)
    grad = jnp.array([0.5])
    updates, _ = tx.update(grad, tx.init(grad))
    expected = -0.1 * 0.5 / (np.sqrt(0.01 * 0.25) + 1e-5)
    np.testing.assert_allclose(np.asarray(updates), [expected], rtol=1e-5)
