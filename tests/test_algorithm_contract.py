"""The algorithm contract (jaxrl_suite/algos/base.py), checked once for every registered algorithm.

Per algorithm: Static is frozen and hashable; HParams is a pytree of scalar leaves, each with a
declared range that holds its default, and a batch of two HParams traces through init and update
under vmap; update keeps the state's types and reports REQUIRED_METRICS as scalars; act answers a
batch; the presets build. Then the algorithm solves its probe (envs/probes.py) in a short budget,
in one vmapped program whose two configurations differ only in a traced learning rate -- one
that learns and one too small to, so the rate is data and it matters. (That a group compiles
once in the runner is the runner's test, tests/test_runner.py.)
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.algos import ALGORITHMS
from jaxrl_suite.algos.base import REQUIRED_METRICS, Range, hparam_range
from jaxrl_suite.envs import make
from jaxrl_suite.runner import train

DISCRETE, CONTINUOUS = "probe/action-observation-reward", "probe/action-observation-reward-continuous"
SURROGATE = dict(total_env_steps=8_192, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=4,
                 hidden_sizes=(16,))
CRITIC = {"critic_lr": 3e-3, "ent_coef": 0.0}

#: name -> (probe, Static overrides, fixed hyperparameters, the learning rate that is varied, its value)
PROBES = {
    "ppo": (DISCRETE, SURROGATE, {"lr_final_ratio": 1.0, "ent_coef": 0.0}, "lr", 3e-3),
    "dpo": (DISCRETE, SURROGATE, {"lr_final_ratio": 1.0, "ent_coef": 0.0}, "lr", 3e-3),
    "spo": (DISCRETE, SURROGATE, {"lr_final_ratio": 1.0, "ent_coef": 0.0}, "lr", 3e-3),
    "ppo_gae": (DISCRETE, SURROGATE, CRITIC, "actor_lr", 3e-3),
    "ppo_advn": (DISCRETE, SURROGATE, CRITIC, "actor_lr", 3e-3),
    "ppo_vanilla": (DISCRETE, SURROGATE, CRITIC, "actor_lr", 3e-3),
    "ppo_grpo": (DISCRETE, SURROGATE, {"ent_coef": 0.0}, "actor_lr", 3e-3),
    "a2c": (DISCRETE, dict(total_env_steps=8_192, num_envs=8, num_steps=4, hidden_sizes=(16,)), {}, "lr", 3e-3),
    "reinforce": (CONTINUOUS, dict(total_env_steps=16_384, num_envs=8, num_steps=4, hidden_sizes=(16,)),
                  {"critic_lr": 1e-2}, "actor_lr", 1e-2),
    "dqn": (DISCRETE, dict(total_env_steps=8_192, num_envs=4, train_frequency=4, buffer_size=2_048, batch_size=64,
                           target_update_period=64, hidden_sizes=(32, 32)),
            {"learning_starts": 256.0, "exploration_fraction": 0.25}, "lr", 3e-3),
    "pqn": (DISCRETE, dict(total_env_steps=8_192, num_envs=8, num_steps=16, num_minibatches=2, update_epochs=2,
                           hidden_sizes=(32, 32)),
            {"lr_final_ratio": 1.0, "exploration_fraction": 0.25}, "lr", 3e-3),
    "sac": (CONTINUOUS, dict(total_env_steps=4_096, num_envs=8, buffer_size=4_096, batch_size=64, learning_starts=256,
                             hidden_sizes=(32, 32)),
            {"critic_lr": 3e-3, "alpha_lr": 3e-3, "alpha": 0.1}, "actor_lr", 3e-3),
}
TOO_SMALL = 1e-6  # a learning rate under which nothing is learnt in these budgets
NAMES = sorted(ALGORITHMS)


def test_every_registered_algorithm_has_a_probe():
    assert sorted(PROBES) == NAMES


def probe_setup(name):
    env_id, static, hparams, lr_name, lr = PROBES[name]
    algo = ALGORITHMS[name]
    return algo, make(env_id), algo.Static(**static), hparams, lr_name, lr


@pytest.mark.parametrize("name", NAMES)
def test_types_and_metrics(name):
    algo, env, static, _, _, _ = probe_setup(name)
    assert algo.name == name
    # Static: frozen and hashable (it keys the compiled programs).
    hash(static)
    assert static == algo.Static(**dataclasses.asdict(static))
    with pytest.raises(dataclasses.FrozenInstanceError):
        static.total_env_steps = 1
    assert algo.check_static(static, env) == []
    # HParams: scalar leaves, each with a declared range that holds its default.
    defaults = algo.HParams()
    for field in dataclasses.fields(algo.HParams):
        value = getattr(defaults, field.name)
        assert np.ndim(value) == 0, field.name
        assert isinstance(hparam_range(algo.HParams, field.name), Range), field.name
        assert "range" in field.metadata, f"{name}.HParams.{field.name} declares no range"
        assert hparam_range(algo.HParams, field.name).problem(float(value)) is None, field.name
    assert len(jax.tree.leaves(defaults)) == len(dataclasses.fields(algo.HParams))
    # A batch of two HParams traces through init and update under vmap (no compile: shapes only).
    batch = jax.tree.map(lambda x: jnp.asarray([x, x], jnp.float32), defaults)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)

    def init_and_update(key, hp):
        state = algo.init(key, hp, static, env, env.default_params)
        return state, algo.update(state, hp, static, env, env.default_params)

    state, (new_state, metrics) = jax.eval_shape(jax.vmap(init_and_update), keys, batch)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    same = jax.tree.map(lambda a, b: (a.shape, a.dtype) == (b.shape, b.dtype), new_state, state)
    assert all(jax.tree.leaves(same)), "update changes the state's shapes or dtypes"
    assert set(REQUIRED_METRICS) <= set(metrics), sorted(metrics)
    assert all(m.shape == (2,) for m in metrics.values()), {k: m.shape for k, m in metrics.items()}
    # act: one action per observation.
    one_state = jax.tree.map(lambda s: jnp.zeros(s.shape[1:], s.dtype), state)
    obs = jnp.zeros((3, *env.observation_space(env.default_params).shape), jnp.float32)
    for deterministic in (True, False):
        action = jax.eval_shape(lambda s, o, deterministic=deterministic: algo.act(
            s, o, jax.random.PRNGKey(1), static, env, env.default_params, deterministic), one_state, obs)
        assert action.shape[0] == 3
    # Presets build, and their hyperparameters are in range.
    for preset in algo.presets.values():
        algo.Static(**preset.static)
        hp = algo.HParams(**preset.hparams)
        for key, value in preset.hparams.items():
            assert hparam_range(algo.HParams, key).problem(float(value)) is None, (key, value)
        assert isinstance(hp, algo.HParams)


@pytest.mark.parametrize("name", NAMES)
def test_solves_its_probe_with_the_learning_rate_as_data(name):
    algo, env, static, hparams, lr_name, lr = probe_setup(name)
    # Two configurations in one vmapped program, the same seed, only the traced rate differs.
    hps = jax.tree.map(lambda *x: jnp.asarray(x, jnp.float32),
                       *(algo.HParams(**{**hparams, lr_name: value}) for value in (TOO_SMALL, lr)))
    keys = jnp.stack([jax.random.PRNGKey(0)] * 2)
    obs = jnp.array([[-1.0], [1.0]])

    def run(key, hp):
        state = algo.init(key, hp, static, env, env.default_params)
        step = lambda state, _: algo.update(state, hp, static, env, env.default_params)
        state, metrics = jax.lax.scan(step, state, None, algo.num_iterations(static))
        greedy = algo.act(state, obs, key, static, env, env.default_params, True)
        return greedy, {name: metrics[name][-1] for name in ("train_return", "diverged")}

    greedy, final = jax.device_get(jax.jit(jax.vmap(run))(keys, hps))
    assert not final["diverged"].any()
    optimum = np.asarray(env.optimal_action(obs))
    if env.env_id == DISCRETE:  # reward +1 for the right action, -1 otherwise
        np.testing.assert_array_equal(greedy[1], optimum)
        assert final["train_return"][1] > 0.8, final  # exploration (ε or entropy) costs a little
    else:  # reward 1 - (a - obs/2)^2: the greedy action within 0.15 of it
        np.testing.assert_allclose(greedy[1], optimum, atol=0.15)
    # The same seed, only the rate differs: the too-small one is left behind.
    assert final["train_return"][1] > final["train_return"][0] + 0.1, final


def test_runner_refuses_an_update_without_the_required_metrics():
    algo = ALGORITHMS["a2c"]

    def update(state, hp, static, env, env_params):
        state, metrics = algo.update(state, hp, static, env, env_params)
        return state, {k: v for k, v in metrics.items() if k not in ("loss", "episodes")}

    broken = dataclasses.replace(algo, name="a2c_without_loss", update=update)
    try:
        env = make(DISCRETE)
        with pytest.raises(TypeError, match=r"'a2c_without_loss'.*\['episodes', 'loss'\]"):
            train(broken, env, algo.Static(total_env_steps=64, num_envs=2, num_steps=4, hidden_sizes=(4,)))
    finally:
        ALGORITHMS.pop("a2c_without_loss", None)


def test_registration_is_one_step_and_names_are_unique():
    algo = ALGORITHMS["a2c"]
    with pytest.raises(ValueError, match="two algorithms are named 'a2c'"):
        dataclasses.replace(algo)
    extra = dataclasses.replace(algo, name="a2c_copy")
    try:
        assert ALGORITHMS["a2c_copy"] is extra
    finally:
        ALGORITHMS.pop("a2c_copy")
