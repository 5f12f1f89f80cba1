"""Network initialisation schemes, the Static setting that picks one, and presets that follow their sources.

Host-side and eager: one small layer per scheme (orthogonal init runs one QR, never vmapped),
no training.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.algos import ALGORITHMS, common, ppo, ppo_variants, pqn, sac
from jaxrl_suite.envs import make
from jaxrl_suite.networks import INITIALIZERS, MLP, ActorCritic
from jaxrl_suite.spec import parse_spec

FAN_IN, WIDTH = 256, 128  # one hidden layer: 32,768 weights, enough for 2% on a standard deviation


def hidden_layer(scheme):
    """Kernel and bias of a FAN_IN -> WIDTH dense layer initialised by `scheme`."""
    params = MLP((WIDTH,), init_scheme=scheme).init(jax.random.key(0), jnp.zeros((1, FAN_IN)))["params"]["Dense_0"]
    return np.asarray(params["kernel"], np.float64), np.asarray(params["bias"], np.float64)


def test_lecun_normal_is_flax_default_variance_with_zero_bias():
    kernel, bias = hidden_layer("lecun_normal")
    assert kernel.std() * np.sqrt(FAN_IN) == pytest.approx(1.0, rel=0.03)
    assert abs(kernel.mean()) < 0.1 / np.sqrt(FAN_IN)
    assert np.all(bias == 0)


def test_torch_default_draws_weights_and_biases_within_one_over_root_fan_in():
    kernel, bias = hidden_layer("torch_default")
    bound = 1 / np.sqrt(FAN_IN)
    assert np.abs(kernel).max() <= bound and np.abs(bias).max() <= bound
    assert kernel.std() == pytest.approx(bound / np.sqrt(3), rel=0.03)  # uniform, not a narrower law
    assert np.all(bias != 0) and bias.std() > bound / 3  # biases spread over the range, not zero
    weights_only, zero_bias = hidden_layer("torch_weights_zero_bias")
    assert np.abs(weights_only).max() <= bound and np.all(zero_bias == 0)


def test_orthogonal_columns_are_orthonormal_times_the_gain():
    kernel, bias = hidden_layer("orthogonal")
    np.testing.assert_allclose(kernel.T @ kernel, 2.0 * np.eye(WIDTH), atol=1e-4)  # hidden gain sqrt 2
    assert np.all(bias == 0)
    # The output layers keep their own gains: 0.01 on the policy head, 1 on the value head.
    net = ActorCritic(action_dim=3, discrete=True, hidden_sizes=(FAN_IN,), init_scheme="orthogonal")
    params = net.init(jax.random.key(1), jnp.zeros((1, 4)))["params"]
    policy_out = np.asarray(params["actor"]["Dense_0"]["kernel"], np.float64)
    value_out = np.asarray(params["critic"]["Dense_0"]["kernel"], np.float64)
    np.testing.assert_allclose(policy_out.T @ policy_out, 0.01**2 * np.eye(3), atol=1e-7)
    np.testing.assert_allclose(value_out.T @ value_out, [[1.0]], atol=1e-5)


def test_glorot_uniform_and_gymnax_blines():
    kernel, bias = hidden_layer("glorot_uniform")
    bound = np.sqrt(6 / (FAN_IN + WIDTH))
    assert np.abs(kernel).max() <= bound and kernel.std() == pytest.approx(bound / np.sqrt(3), rel=0.03)
    assert np.all(bias == 0)
    kernel, bias = hidden_layer("gymnax_blines")
    assert kernel.std() * np.sqrt(FAN_IN) == pytest.approx(1.0, rel=0.03)
    assert np.all((bias >= 0) & (bias < 0.05)) and bias.std() > 0.01


def bias_leaves(params):
    """The bias arrays of a flax parameter tree (LayerNorm's excluded: its init is fixed)."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    names = [(jax.tree_util.keystr(path), np.asarray(leaf)) for path, leaf in flat]
    return [leaf for name, leaf in names if name.endswith("['bias']") and "LayerNorm" not in name]


def test_every_algorithm_takes_network_init_as_a_static_setting_and_checks_it():
    discrete, continuous = make("probe/action-reward"), make("probe/action-reward-continuous")  # 1-d observations
    for name, algo in ALGORITHMS.items():
        env = discrete if algo.action_kinds != "continuous" else continuous
        assert "network_init" in {f.name for f in dataclasses.fields(algo.Static)}, name
        bad = algo.check_static(algo.Static(network_init="xavier"), env)
        assert [field for field, _ in bad] == ["network_init"], name
        assert all(f"'{scheme}'" in bad[0][1] for scheme in INITIALIZERS), name
    # ...and every network builder passes it on: only torch_default draws non-zero biases.
    obs, action = jnp.zeros((1, 1)), jnp.zeros((1, 1))

    def sac_networks(static):
        actor, critic = sac.networks(continuous, static)
        return actor.init(jax.random.key(0), obs), critic.init(jax.random.key(0), obs, action)

    builders = {
        "ppo": lambda s: common.actor_critic(discrete, s).init(jax.random.key(0), obs),
        "ppo_grpo": lambda s: ppo_variants.policy_only_network(discrete, s).init(jax.random.key(0), obs),
        "dqn": lambda s: common.q_network(discrete, s).init(jax.random.key(0), obs),
        "pqn": lambda s: pqn.network(discrete, s).init(jax.random.key(0), obs),
        "sac": sac_networks,
        "a2c": lambda s: common.actor_critic(discrete, s).init(jax.random.key(0), obs),
        "reinforce": lambda s: common.actor_critic(discrete, s).init(jax.random.key(0), obs),
    }
    for name, build in builders.items():
        static = dataclasses.replace(ALGORITHMS[name].Static(), hidden_sizes=(8,), network_init="torch_default")
        biases = bias_leaves(build(static))
        assert biases and all(np.all(b != 0) for b in biases), name
        assert all(np.all(b == 0) for b in bias_leaves(build(dataclasses.replace(static, network_init="lecun_normal"))))


def spec_with(algorithm, preset):
    raw = {"name": "presets", "envs": ["gymnax/CartPole-v1"], "total_env_steps": 10_000, "test_seeds": [0],
           "algorithms": [{"algorithm": algorithm, "preset": preset}]}
    return parse_spec(raw).algorithms[0]


def test_dqn_cleanrl_presets_resolve_to_their_sources_init():
    # dqn_jax.py (the published 498.38) builds flax nn.Dense layers with their defaults; dqn.py
    # builds torch nn.Linear layers with theirs.
    assert spec_with("dqn", "cleanrl-cartpole").static["network_init"] == "lecun_normal"
    assert spec_with("dqn", "cleanrl").static["network_init"] == "lecun_normal"
    torch = spec_with("dqn", "cleanrl-torch-cartpole")
    assert torch.static["network_init"] == "torch_default"
    assert torch.hparams["learning_starts"] == 10_001  # first gradient step after 10,010 env steps, as CleanRL's
    # CleanRL's PPO and PQN use orthogonal init and step the learning rate once per iteration.
    for algorithm in ("ppo", "pqn"):
        static = spec_with(algorithm, "cleanrl-cartpole").static
        assert (static["network_init"], static["lr_decay_every"]) == ("orthogonal", "iteration")


@pytest.mark.parametrize("module", [ppo, pqn], ids=["ppo", "pqn"])
def test_lr_decay_every_iteration_is_cleanrls_staircase(module):
    # 4 iterations of 16 gradient steps. CleanRL: iteration i (1-based) runs at lr (1 - (i - 1) / 4).
    static = module.Static(total_env_steps=4 * 512, num_envs=4, num_steps=128, num_minibatches=4, update_epochs=4)
    hp = module.HParams(lr=1.0)
    counts = jnp.arange(64)
    staircase = common.annealed_lr(hp, dataclasses.replace(static, lr_decay_every="iteration"))(counts)
    np.testing.assert_allclose(staircase, 1.0 - (counts // 16) / 4, rtol=1e-6)
    smooth = common.annealed_lr(hp, static)(counts)  # the default: a new rate every gradient step
    np.testing.assert_allclose(smooth, 1.0 - counts / 64, rtol=1e-6)
