"""The brax adapter: raw brax physics, with the suite's episode bookkeeping around it.

Brax compiles slowly on CPU, so every stepping test shares one compiled program over
inverted_pendulum (the smallest system whose physics can end an episode: the pole falls) on the
default backend; episode limits are params, so changing them does not recompile.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.envs import Box, make
from jaxrl_suite.envs.brax_envs import DEFAULT_BACKEND, BraxParams

NUM_STEPS = 40

#: XLA's backend optimisations off: halves the compile, which is nearly all of these tests' time
QUICK_COMPILE = {"xla_backend_optimization_level": 0}


@functools.cache
def pendulum():
    """The adapter, and a jitted run of it beside raw brax on the same physics states.

    run(key, params, actions) -> (first obs, adapter outputs per step, raw brax per step), where
    raw brax steps the adapter's pre-step state (XLA merges the two identical physics steps, so
    the comparison costs no extra compile time).
    """
    env = make("brax/inverted_pendulum")
    brax_env = env.brax_env

    def run(key, params, actions):
        key_reset, key_steps = jax.random.split(key)
        first_obs, state = env.reset(key_reset, params)

        def one_step(state, inputs):
            key, action = inputs
            raw = brax_env.step(state.brax_state, action)
            ours = env.step(key, state, action, params)
            return ours[1], (ours, dict(obs=raw.obs, reward=raw.reward, done=raw.done))

        keys = jax.random.split(key_steps, actions.shape[0])
        _, (ours, raw) = jax.lax.scan(one_step, state, (keys, actions))
        return first_obs, ours, raw

    example_args = (jax.random.key(0), env.default_params, jnp.zeros((NUM_STEPS, 1)))
    compiled = jax.jit(run).lower(*example_args).compile(compiler_options=QUICK_COMPILE)
    return env, compiled


@functools.cache
def pendulum_run(max_steps_in_episode):
    """Zero actions (the pole falls after about 20 steps) for NUM_STEPS steps, as numpy."""
    env, run = pendulum()
    params = env.default_params.replace(max_steps_in_episode=max_steps_in_episode)
    first_obs, ours, raw = run(jax.random.key(0), params, jnp.zeros((NUM_STEPS, 1)))
    obs, state, reward, terminated, truncated, info = jax.tree.map(np.asarray, ours)
    outputs = dict(
        obs=obs, steps=state.steps, reward=reward, terminated=terminated, truncated=truncated,
        final_obs=info["final_obs"],
    )
    return np.asarray(first_obs), outputs, jax.tree.map(np.asarray, raw)


def test_steps_match_raw_brax():
    _, ours, raw = pendulum_run(1000)
    np.testing.assert_array_equal(ours["final_obs"], raw["obs"])
    np.testing.assert_array_equal(ours["reward"], raw["reward"])
    np.testing.assert_array_equal(ours["terminated"], raw["done"] > 0.5)
    assert ours["reward"].dtype == np.float32 and ours["terminated"].dtype == np.bool_


def test_physics_terminates_and_auto_reset_starts_afresh():
    first_obs, ours, raw = pendulum_run(1000)
    ends = ours["terminated"]
    assert ends.any(), "the unactuated pole should fall within 40 steps"
    assert not np.any(ours["truncated"])
    assert np.all(np.abs(ours["final_obs"][ends, 1]) > 0.2)  # brax's fall: |pole angle| > 0.2
    np.testing.assert_array_equal(ours["obs"][~ends], ours["final_obs"][~ends])
    # A fresh start: within brax's reset noise (±0.01), yet not a replay of the first start
    # (brax's AutoResetWrapper would replay it).
    restarts = ours["obs"][ends]
    assert np.all(np.abs(restarts) <= 0.01) and np.all(np.abs(first_obs) <= 0.01)
    assert not np.any(np.all(restarts == first_obs, axis=1))
    assert np.all(ours["steps"][ends] == 0)


def test_truncates_at_max_steps_in_episode():
    _, ours, raw = pendulum_run(5)
    step_numbers = np.arange(1, NUM_STEPS + 1)
    assert np.array_equal(ours["truncated"], step_numbers % 5 == 0)
    assert not np.any(ours["terminated"])  # 5 steps are too few for the pole to fall
    assert np.array_equal(ours["steps"], step_numbers % 5)
    np.testing.assert_array_equal(ours["final_obs"], raw["obs"])
    assert np.all(np.abs(ours["obs"][ours["truncated"]]) <= 0.01)  # restarted


def test_spaces_params_and_backend():
    env, _ = pendulum()
    assert env.backend == DEFAULT_BACKEND == "generalized"
    assert env.default_params == BraxParams(max_steps_in_episode=1000)
    assert env.observation_space(env.default_params).shape == (4,)
    assert env.action_space(env.default_params) == Box(-1.0, 1.0, (1,))
    hopper = make("brax/hopper", backend="spring", max_steps_in_episode=50)
    assert hopper.backend == "spring" and hopper.brax_env.backend == "spring"
    assert hopper.default_params.max_steps_in_episode == 50
    assert hopper.action_space(hopper.default_params).shape == (3,)


# Every brax id is built and traced against its declared spaces in test_envs_conformance.py.


def test_swimmer_steps_on_this_jax():
    """brax's fluid model (swimmer only) used jnp.clip keywords newer jax removed."""
    env = make("brax/swimmer")
    params = env.default_params
    _, state = jax.eval_shape(env.reset, jax.random.key(0), params)
    obs, *_ = jax.eval_shape(env.step, jax.random.key(1), state, jnp.zeros(2), params)
    assert obs.shape == env.observation_space(params).shape == (8,)
