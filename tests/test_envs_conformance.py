"""Conformance: every registered environment honours the interface of envs/core.py alike.

Compiling is nearly all the cost (a Brax or Craftax program takes about a minute on 2 cores),
so the suite has two tiers:

* every registered id (`test_outputs_match_the_declared_spaces`): reset and step are traced with
  `jax.eval_shape`, nothing compiled: shapes and dtypes of obs, reward, flags and
  `info["final_obs"]` against the declared spaces; the action mask's shape where there is one.
* one compiled program per id in `REPRESENTATIVES` (the cheapest id of each family, and every
  Jumanji game), shared by all the behaviour tests through a module-scoped fixture: the env under `EpisodeStatistics`
  runs a fixed action sequence for NUM_STEPS steps with a time limit of TIME_LIMIT steps, over
  NUM_KEYS keys, once vmapped and once key by key (`lax.map`), next to the family's own raw API
  driven by the same keys and actions. The tests then check, on the host:
  flags (truncated exactly when an episode reaches the time limit, terminated and truncated
  together only there), auto-reset (`final_obs` is the observation the episode ended on, `obs`
  the next episode's first), episode return and length across resets, vmap == per-key, and the
  raw API's observations, rewards, terminations and action masks.

Brax and Craftax programs compile for one to two minutes each on 2 cores, more than the test
budget allows, so in the default run Brax, Craftax and the other gymnax and xminigrid ids get
the first tier only; `JAXRL_CONFORMANCE_ALL=1` adds brax/inverted_pendulum,
Craftax-Classic-Symbolic and MiniGrid-DoorKey-8x8 (HEAVY_REPRESENTATIVES) to the second.
test_envs_brax.py and test_envs_gymnax.py step brax/inverted_pendulum, CartPole, Breakout-MinAtar
and Catch against the raw APIs in the default run.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs import Box, Discrete, EpisodeStatistics, list_envs, make
from jaxrl_suite.envs.core import describe_space
from jaxrl_suite.envs.registry import DOWNLOADS_WHEN_BUILT, MASKED_FAMILIES, SPACES

TIME_LIMIT = 6
NUM_STEPS = 20
NUM_KEYS = 8
#: XLA's backend optimisations off: these programs run a few steps, so compiling dominates
QUICK_COMPILE = {"xla_backend_optimization_level": 0}

REPRESENTATIVES = (
    "probe/truncation",
    "gymnax/CartPole-v1",
    "xminigrid/XLand-MiniGrid-R1-9x9",
    "jumanji/Snake-v1",
    "jumanji/Game2048-v1",
    "jumanji/Minesweeper-v0",
)
#: representatives whose program compiles for a minute or more on 2 cores (measured: Craftax
#: ~110 s, Brax ~50 s, each xminigrid layout ~30 s, on a loaded machine): run with
#: JAXRL_CONFORMANCE_ALL=1. test_envs_brax.py already checks brax/inverted_pendulum's flags,
#: auto-reset and raw parity in the default run; the xminigrid adapter is covered by XLand above.
HEAVY_REPRESENTATIVES = (
    "brax/inverted_pendulum",
    "craftax/Craftax-Classic-Symbolic-v1",
    "xminigrid/MiniGrid-DoorKey-8x8",
)

#: representatives whose runs do not depend on the key
DETERMINISTIC = ("probe/truncation",)

#: each family's name for the episode limit in its params
TIME_LIMIT_FIELDS = ("max_steps_in_episode", "max_timesteps", "max_steps")


def every_id():
    # MNISTBandit downloads MNIST when built (see test_envs.py::test_download_failure_is_explained)
    return [env_id for env_id in list_envs() if env_id not in DOWNLOADS_WHEN_BUILT]


def with_time_limit(params):
    """`params` with the episode limit at TIME_LIMIT, or None for an env without one."""
    for field in TIME_LIMIT_FIELDS:
        if hasattr(params, field):
            return params.replace(**{field: TIME_LIMIT})
    return None


def assert_matches(array, space, what):
    assert array.dtype == jnp.dtype(space.dtype), f"{what}: dtype {array.dtype}, declared {space.dtype}"
    assert tuple(array.shape) == tuple(space.shape), f"{what}: shape {array.shape}, declared {space.shape}"


@pytest.mark.parametrize("env_id", every_id())
def test_outputs_match_the_declared_spaces(env_id):
    env = make(env_id)
    params = env.default_params
    obs_space, action_space = env.observation_space(params), env.action_space(params)
    assert isinstance(action_space, Discrete | Box) and env.env_id == env_id
    obs, state = jax.eval_shape(env.reset, jax.random.key(0), params)
    action = jax.ShapeDtypeStruct(action_space.shape, action_space.dtype)
    next_obs, _, reward, terminated, truncated, info = jax.eval_shape(
        env.step, jax.random.key(1), state, action, params
    )
    for what, array in (("reset obs", obs), ("step obs", next_obs), ("final_obs", info["final_obs"])):
        if isinstance(obs_space, Discrete):  # FrozenLake observes a cell index
            assert array.shape == () and jnp.issubdtype(array.dtype, jnp.integer), what
        else:
            assert_matches(array, obs_space, what)
    assert reward.shape == () and reward.dtype == jnp.float32
    assert terminated.shape == truncated.shape == () and terminated.dtype == truncated.dtype == jnp.bool_
    assert env.has_action_mask == (env_id.split("/")[0] in MASKED_FAMILIES)
    if env.has_action_mask:
        mask = jax.eval_shape(env.action_mask, state, params)
        assert mask.shape == (action_space.n,) and mask.dtype == jnp.bool_
    # what `jaxrl-suite list` prints, from the registry's table, is what the env declares
    if not env_id.startswith("probe/"):
        assert env_id in SPACES, f"{env_id} is missing from envs/registry.py's SPACES"
        assert SPACES[env_id] == (describe_space(action_space), describe_space(obs_space))



# ---------------------------------------------------------------------------------------------
# The family's own API, stepped with the adapter's keys and actions, for the parity test.
# Each takes the adapter and returns `start(params, key) -> (step, state)` for `lax.scan`, whose
# records are per-step dicts; where it has no auto-reset of its own, it resets the way the
# suite's `auto_reset` does (the step key's second half), once the game ends or TIME_LIMIT is hit.


def raw_gymnax(env):
    gymnax_env = env.gymnax_env
    return lambda params, key: gymnax_start(gymnax_env, params, key)


def gymnax_start(gymnax_env, params, key):
    obs, state = gymnax_env.reset(jax.random.split(key)[0], params)

    def step(state, inputs):
        key, action = inputs
        obs, state, reward, terminated, truncated, info = gymnax_env.step(key, state, action, params)
        return state, dict(obs=obs, reward=reward, terminated=terminated, final_obs=info["final_observation"])

    return step, state


def raw_craftax(env):
    # Craftax's own auto-resetting class: it splits the key as the suite does, ends on `done`
    auto_resetting = type(env.craftax_env).__name__.replace("NoAutoReset", "")
    module = __import__(type(env.craftax_env).__module__, fromlist=[auto_resetting])
    craftax_env = getattr(module, auto_resetting)()
    return lambda params, key: craftax_start(craftax_env, params, key)


def craftax_start(craftax_env, params, key):
    _, state = craftax_env.reset(jax.random.split(key)[0], params)

    def step(state, inputs):
        key, action = inputs
        obs, state, reward, done, _ = craftax_env.step(key, state, action, params)
        return state, dict(obs=obs, reward=reward, done=done)

    return step, state


def raw_xminigrid(env):
    import xminigrid

    xminigrid_env, _ = xminigrid.make(env.xminigrid_name)
    return lambda params, key: xminigrid_start(xminigrid_env, params, key)


def xminigrid_start(xminigrid_env, params, key):
    timestep = xminigrid_env.reset(params, jax.random.split(key)[0])

    def step(timestep, inputs):
        key, action = inputs
        timestep = xminigrid_env.step(params, timestep, action)
        record = dict(reward=timestep.reward, terminated=timestep.discount == 0.0, final_obs=timestep.observation)
        restart = xminigrid_env.reset(params, jax.random.split(key)[1])
        timestep = jax.tree.map(lambda r, t: jnp.where(timestep.last(), r, t), restart, timestep)
        record["obs"] = timestep.observation
        return timestep, record

    return step, timestep


def raw_jumanji(env):
    import jumanji

    # built outside the traced program: Jumanji makes its specs from jnp arrays on first use
    jumanji_env = jumanji.make(env.game.jumanji_id, **dict(env.game.no_time_limit_kwargs))
    return lambda params, key: jumanji_start(env, jumanji_env, params, key)


def jumanji_start(env, jumanji_env, params, key):
    game_state, timestep = jumanji_env.reset(jax.random.split(key)[0])

    def step(carry, inputs):
        game_state, _ = carry
        key, action = inputs
        game_state, timestep = jumanji_env.step(game_state, env.to_game_action(action))
        ended = (timestep.discount == 0.0) | (game_state.step_count >= params.max_steps_in_episode)
        restart = jumanji_env.reset(jax.random.split(key)[1])
        record = dict(
            reward=timestep.reward,
            terminated=timestep.discount == 0.0,
            final_obs=getattr(timestep.observation, env.game.observation_field).astype(jnp.float32),
        )
        carry = jax.tree.map(lambda r, t: jnp.where(ended, r, t), restart, (game_state, timestep))
        record["obs"] = getattr(carry[1].observation, env.game.observation_field).astype(jnp.float32)
        record["action_mask"] = jnp.reshape(carry[1].observation.action_mask, (-1,))
        return carry, record

    return step, (game_state, timestep)


def raw_brax(env):
    return lambda params, key: brax_start(env.brax_env, params, key)


def brax_start(brax_env, params, key):
    brax_state = brax_env.reset(jax.random.split(key)[0])

    def step(carry, inputs):
        brax_state, steps = carry
        key, action = inputs
        stepped = brax_env.step(brax_state, action)
        steps = steps + 1
        ended = (stepped.done > 0.5) | (steps >= params.max_steps_in_episode)
        restart = brax_env.reset(jax.random.split(key)[1])
        record = dict(reward=stepped.reward, terminated=stepped.done > 0.5, final_obs=stepped.obs)
        brax_state = jax.tree.map(lambda r, t: jnp.where(ended, r, t), restart, stepped)
        record["obs"] = brax_state.obs
        return (brax_state, jnp.where(ended, 0, steps)), record

    return step, (brax_state, jnp.zeros((), jnp.int32))


RAW_APIS = {
    "gymnax": raw_gymnax,
    "craftax": raw_craftax,
    "xminigrid": raw_xminigrid,
    "jumanji": raw_jumanji,
    "brax": raw_brax,
}


@functools.cache
def conformance_run(env_id):
    """One compiled program for `env_id`; its outputs as numpy (see the module docstring)."""
    base = make(env_id)
    env = EpisodeStatistics(base)
    params = with_time_limit(base.default_params)
    has_limit = params is not None
    params = base.default_params if params is None else params
    action_space = base.action_space(params)
    family = env_id.split("/")[0]
    raw_start = RAW_APIS[family](base) if family in RAW_APIS else None

    def rollout(key, actions, with_raw=True):
        key_reset, key_steps = jax.random.split(key)
        obs, state = env.reset(key_reset, params)
        step_keys = jax.random.split(key_steps, NUM_STEPS)

        def one_step(carry, inputs):
            state = carry
            key, action = inputs
            obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
            record = dict(
                obs=obs, reward=reward, terminated=terminated, truncated=truncated, final_obs=info["final_obs"],
                episode_return=info["episode_return"], episode_length=info["episode_length"],
                returned_episode=info["returned_episode"],
            )
            if base.has_action_mask:
                record["action_mask"] = env.action_mask(state, params)
            return state, record

        _, records = jax.lax.scan(one_step, state, (step_keys, actions))
        records["first_obs"] = obs
        if with_raw and raw_start is not None:
            raw_step, raw_state = raw_start(params, key)
            _, records["raw"] = jax.lax.scan(raw_step, raw_state, (step_keys, actions))
        return records

    def program(keys):
        actions = jax.vmap(
            lambda key: jax.vmap(action_space.sample)(jax.random.split(key, NUM_STEPS))
        )(jax.random.split(jax.random.key(99), NUM_KEYS))
        batched = jax.vmap(rollout)(keys, actions)
        # the raw API runs once (batched): a second copy would only lengthen the compile
        one_by_one = jax.lax.map(lambda args: rollout(*args, with_raw=False), (keys, actions))
        return batched, one_by_one, actions

    keys = jax.random.split(jax.random.key(0), NUM_KEYS)
    compiled = jax.jit(program).lower(keys).compile(compiler_options=QUICK_COMPILE)
    batched, one_by_one, actions = jax.tree.map(np.asarray, compiled(keys))
    return dict(env=base, params=params, has_limit=has_limit, out=batched, one_by_one=one_by_one, actions=actions)


@pytest.fixture(
    scope="module",
    params=REPRESENTATIVES + (HEAVY_REPRESENTATIVES if os.environ.get("JAXRL_CONFORMANCE_ALL") else ()),
)
def run(request):
    return conformance_run(request.param)


def episode_lengths(out):
    """The length of the running episode at each step (1 on an episode's first step)."""
    done = out["terminated"] | out["truncated"]
    lengths = np.zeros(done.shape, np.int64)
    current = np.zeros(done.shape[0], np.int64)
    for t in range(done.shape[1]):
        current = current + 1
        lengths[:, t] = current
        current = np.where(done[:, t], 0, current)
    return lengths


def test_truncation_exactly_at_the_time_limit(run):
    out, lengths = run["out"], episode_lengths(run["out"])
    assert lengths.max() <= TIME_LIMIT or not run["has_limit"], "an episode ran past its time limit"
    if run["has_limit"]:
        # every episode that reaches the limit is truncated there, and none before it
        np.testing.assert_array_equal(out["truncated"], lengths == TIME_LIMIT)
        assert out["truncated"].any()
    else:
        assert not out["truncated"].any()
    both = out["terminated"] & out["truncated"]
    assert np.all(lengths[both] == TIME_LIMIT), "terminated and truncated together before the time limit"


def test_auto_reset_keeps_the_last_observation_in_final_obs(run):
    out = run["out"]
    done = out["terminated"] | out["truncated"]
    np.testing.assert_array_equal(out["obs"][~done], out["final_obs"][~done])
    assert done.any()
    if "raw" in out and "final_obs" in out["raw"]:
        # the raw API's last observation and its next episode's first, at every step
        np.testing.assert_allclose(out["final_obs"], out["raw"]["final_obs"], rtol=1e-6, atol=1e-6)
    if "raw" in out and "obs" in out["raw"]:
        np.testing.assert_allclose(out["obs"], out["raw"]["obs"], rtol=1e-6, atol=1e-6)


def test_episode_statistics_across_resets(run):
    out = run["out"]
    done = out["terminated"] | out["truncated"]
    np.testing.assert_array_equal(out["returned_episode"], done)
    lengths = episode_lengths(out)
    np.testing.assert_array_equal(out["episode_length"], np.where(done, lengths, 0))
    running = np.zeros(done.shape[0], np.float64)
    for t in range(done.shape[1]):
        running = running + out["reward"][:, t]
        np.testing.assert_allclose(out["episode_return"][:, t], np.where(done[:, t], running, 0.0), rtol=1e-5)
        running = np.where(done[:, t], 0.0, running)


def test_vmap_over_keys_matches_one_key_at_a_time(run):
    batched = {name: value for name, value in run["out"].items() if name != "raw"}
    jax.tree.map(
        lambda batched, single: np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6),
        batched,
        run["one_by_one"],
    )
    # the keys differ, so the runs must too (one key broadcast to all would pass the line above)
    if run["env"].env_id not in DETERMINISTIC:
        assert not np.array_equal(run["out"]["obs"][0], run["out"]["obs"][1])


def test_fixed_actions_reproduce_the_raw_api(run):
    out = run["out"]
    if "raw" not in out:
        pytest.skip(f"{run['env'].env_id} is the suite's own environment: there is no raw API")
    raw = out["raw"]
    np.testing.assert_allclose(out["reward"], raw["reward"], rtol=1e-6)
    if "terminated" in raw:
        np.testing.assert_array_equal(out["terminated"], raw["terminated"])
    if "done" in raw:  # Craftax folds its time limit into `done`
        np.testing.assert_array_equal(out["terminated"] | out["truncated"], raw["done"])
    if "action_mask" in raw:
        np.testing.assert_array_equal(out["action_mask"], raw["action_mask"])


def test_observations_lie_in_the_declared_space(run):
    space = run["env"].observation_space(run["params"])
    out = run["out"]
    for obs, batch_dims in ((out["first_obs"], 1), (out["obs"], 2), (out["final_obs"], 2)):
        assert obs.shape[batch_dims:] == tuple(space.shape) and obs.dtype == np.dtype(space.dtype)
        assert np.all(obs >= np.asarray(space.low)) and np.all(obs <= np.asarray(space.high))
    if run["env"].has_action_mask:
        assert out["action_mask"].any(axis=-1).all(), "a state with no legal action"
