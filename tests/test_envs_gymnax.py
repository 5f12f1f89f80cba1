"""The gymnax adapter reproduces raw gymnax exactly and speaks the suite's interface."""

import functools

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs import Box, Discrete, FlattenObservation, GymnaxEnv, make

#: XLA's backend optimisations off: these programs run a few steps, so compiling them dominates
QUICK_COMPILE = {"xla_backend_optimization_level": 0}


def compile_quickly(fn, *example_args):
    return jax.jit(fn).lower(*example_args).compile(compiler_options=QUICK_COMPILE)


@functools.cache
def paired_runner(gymnax_id, num_steps):
    """A compiled (key, params) -> (raw gymnax run, adapter run) on the same keys and actions."""
    raw_env, _ = gymnax.make(gymnax_id)
    env = make(f"gymnax/{gymnax_id}")

    def run(key, params):
        key_reset, key_steps = jax.random.split(key)
        raw_first, raw_state = raw_env.reset(key_reset, params)
        first, state = env.reset(key_reset, params)

        def one_step(carry, key):
            raw_state, state = carry
            key_action, key_step = jax.random.split(key)
            action = raw_env.action_space(params).sample(key_action)
            raw = raw_env.step(key_step, raw_state, action, params)
            ours = env.step(key_step, state, action, params)
            return (raw[1], ours[1]), (raw, ours)

        _, (raw, ours) = jax.lax.scan(
            one_step, (raw_state, state), jax.random.split(key_steps, num_steps)
        )
        return (raw_first, *raw), (first, *ours)

    return env, compile_quickly(run, jax.random.key(0), env.default_params)


def assert_same_trajectory(raw, ours):
    raw_first, raw_obs, raw_state, raw_reward, raw_terminated, raw_truncated, raw_info = raw
    first, obs, state, reward, terminated, truncated, info = ours
    np.testing.assert_array_equal(first, raw_first)
    np.testing.assert_array_equal(obs, raw_obs)
    jax.tree.map(np.testing.assert_array_equal, state, raw_state)
    np.testing.assert_array_equal(reward, raw_reward)
    np.testing.assert_array_equal(terminated, raw_terminated)
    np.testing.assert_array_equal(truncated, raw_truncated)
    np.testing.assert_array_equal(info["final_obs"], raw_info["final_observation"])
    assert reward.dtype == jnp.float32
    assert terminated.dtype == truncated.dtype == jnp.bool_
    assert "final_observation" not in info


@pytest.mark.parametrize(
    "gymnax_id, num_steps",
    [("CartPole-v1", 150), ("Breakout-MinAtar", 150), ("Catch-bsuite", 40)],
)
def test_adapter_reproduces_raw_gymnax(gymnax_id, num_steps):
    env, run = paired_runner(gymnax_id, num_steps)
    raw, ours = run(jax.random.key(7), env.default_params)
    assert_same_trajectory(raw, ours)
    terminated = np.asarray(ours[4])
    assert terminated.any()  # the run crossed episode ends, so auto-reset was exercised too


def test_auto_reset_returns_the_reset_obs_and_final_obs_the_terminal_one():
    env, run = paired_runner("CartPole-v1", 150)
    params = env.default_params
    _, (_, obs, _, _, terminated, _, info) = run(jax.random.key(7), params)
    obs, final_obs, ends = map(np.asarray, (obs, info["final_obs"], terminated))
    # CartPole ends when the cart leaves ±2.4 or the pole tilts past 12 degrees.
    out_of_bounds = (np.abs(final_obs[:, 0]) > params.x_threshold) | (
        np.abs(final_obs[:, 2]) > params.theta_threshold_radians
    )
    assert np.array_equal(out_of_bounds, ends)
    # After an end the agent sees a fresh start, near the origin; elsewhere obs == final_obs.
    assert np.all(np.abs(obs[ends]) <= 0.05)
    assert np.array_equal(obs[~ends], final_obs[~ends])


def test_truncation_comes_from_the_params_time_limit():
    env, run = paired_runner("CartPole-v1", 150)
    short = env.default_params.replace(max_steps_in_episode=6)  # data, not shape: no recompile
    raw, ours = run(jax.random.key(1), short)
    assert_same_trajectory(raw, ours)
    terminated, truncated = np.asarray(ours[4]), np.asarray(ours[5])
    assert truncated.sum() >= 5
    ends = np.flatnonzero(terminated | truncated)
    lengths = np.diff(np.concatenate([[-1], ends]))
    assert np.all(lengths[truncated[ends]] == 6) and np.all(lengths <= 6)


def test_params_vmap_over_pole_lengths():
    env = make("gymnax/CartPole-v1")
    lengths = jnp.array([0.25, 0.5, 2.0])
    params = jax.vmap(lambda length: env.default_params.replace(length=length))(lengths)
    actions = jnp.ones(5, jnp.int32)  # push right, short enough that no pole falls yet

    def pole_angles(params):
        _, state = env.reset(jax.random.key(0), params)

        def one_step(state, action):
            obs, state, *_ = env.step(jax.random.key(1), state, action, params)
            return state, obs[2]

        return jax.lax.scan(one_step, state, actions)[1]

    batched = np.asarray(compile_quickly(jax.vmap(pole_angles), params)(params))
    one = env.default_params.replace(length=0.5)
    single = np.asarray(compile_quickly(pole_angles, one)(one))
    np.testing.assert_allclose(batched[1], single, rtol=1e-6, atol=1e-7)
    # Pushing right tips the pole left; a longer pole tips more slowly.
    final_angles = batched[:, -1]
    assert final_angles[0] < final_angles[1] < final_angles[2] < 0


def test_spaces_are_converted():
    cartpole = make("gymnax/CartPole-v1")
    raw_space = cartpole.gymnax_env.observation_space(cartpole.default_params)
    space = cartpole.observation_space(cartpole.default_params)
    assert isinstance(space, Box) and space.shape == (4,)
    np.testing.assert_array_equal(space.high, raw_space.high)
    assert cartpole.action_space(cartpole.default_params) == Discrete(2)
    pendulum = make("gymnax/Pendulum-v1")
    assert pendulum.action_space(pendulum.default_params) == Box(-2.0, 2.0, (1,))
    breakout = make("gymnax/Breakout-MinAtar")
    assert breakout.observation_space(breakout.default_params).shape == (10, 10, 4)
    # gymnax declares Catch's observations int32 but emits float32: the space tells the truth.
    catch = make("gymnax/Catch-bsuite")
    assert jnp.dtype(catch.observation_space(catch.default_params).dtype) == jnp.float32


def test_flatten_observation_on_minatar():
    env = make("gymnax/Breakout-MinAtar")
    flat = FlattenObservation(env)
    params = env.default_params
    assert flat.observation_space(params) == Box(0, 1, (400,), env.observation_space(params).dtype)
    obs, state = env.reset(jax.random.key(0), params)
    flat_obs, flat_state = flat.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(flat_obs, np.reshape(obs, -1))
    # Shapes only: compiling Breakout's step again would cost seconds and prove no more.
    step = jax.eval_shape(flat.step, jax.random.key(1), flat_state, 0, params)
    flat_obs, info = step[0], step[5]
    assert flat_obs.shape == info["final_obs"].shape == (400,)


def test_adapter_accepts_gymnax_instances_and_kwargs():
    raw_env, raw_params = gymnax.make("DeepSea-bsuite", size=5)
    env = GymnaxEnv(raw_env, raw_params)
    assert env.observation_space(env.default_params).shape == (5, 5)
    made = make("gymnax/DeepSea-bsuite", size=5)
    assert made.observation_space(made.default_params).shape == (5, 5)
