"""A2C on the probe environments, and its learning rate as traced data (one compiled program)."""

import jax.numpy as jnp
import numpy as np

from jaxrl_suite.algos.a2c import A2C, Static, optimizer
from jaxrl_suite.algos.ppo import network
from jaxrl_suite.envs import make
from jaxrl_suite.runner import EvalSettings, Group, Run, programs, run_group, segment_iterations, train

SMALL = Static(total_env_steps=8_192, num_envs=8, num_steps=4, hidden_sizes=(16,))
EVAL = EvalSettings(every_env_steps=4_096, episodes=8, max_steps=10)


def test_sweep_of_learning_rates_is_one_program_and_learns_an_observation_dependent_policy():
    # 2 learning rates x 2 seeds in one vmapped program; 1e-5 barely moves in 256 updates.
    env_id = "probe/action-observation-reward"
    runs = tuple(Run(i, {"lr": lr}, seed, "tune") for i, lr in enumerate([1e-5, 3e-3]) for seed in (0, 1))
    group = Group("a2c", A2C, env_id, make(env_id), SMALL, runs)
    result = run_group(group, EVAL)
    _, advance = programs(A2C, group.env, SMALL, EVAL, segment_iterations(A2C, SMALL, EVAL))
    assert advance._cache_size() == 1
    final = result.metrics["train_return"][:, -1]
    assert np.all(final[2:] > 0.95), final  # reward +1 for the right action, -1 otherwise
    assert np.all(result.metrics["eval_return"][2:, -1] == 1.0)  # the greedy policy is optimal
    assert np.all(np.abs(final[:2]) < 0.5), final  # a random policy earns 0 on average


def test_two_step_values_need_discounting_and_bootstrapping():
    env = make("probe/two-step")
    static = Static(total_env_steps=16_384, num_envs=8, num_steps=4, hidden_sizes=(16,))
    state, metrics = train(A2C, env, static, {"lr": 3e-3, "gamma": 0.9}, seed=0)
    net = network(env, static)
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
