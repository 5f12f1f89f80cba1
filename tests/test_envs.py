"""The suite's own environment layer: probes, wrappers and the registry (pure JAX, fast).

The gymnax and brax adapters have their own files (test_envs_gymnax.py, test_envs_brax.py).
"""

import functools
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_suite.envs import (
    PROBES,
    Box,
    ClipAction,
    Discrete,
    Environment,
    EpisodeStatistics,
    NormalizeVecObservation,
    NormalizeVecReward,
    RunningMeanStd,
    ScaleReward,
    TimeLimit,
    UnknownEnvironmentError,
    VecEnv,
    Wrapper,
    auto_reset,
    list_envs,
    make,
    normalize_observation,
    normalize_reward,
    observation_statistics,
    reward_statistics,
)
from jaxrl_suite.envs.wrappers import EPSILON

GAMMA = 0.9

#: XLA's backend optimisations off: these programs run a few steps, so compiling them dominates
#: (this halves it) and running them unoptimised costs nothing noticeable
QUICK_COMPILE = {"xla_backend_optimization_level": 0}


def compile_quickly(fn, *example_args):
    return jax.jit(fn).lower(*example_args).compile(compiler_options=QUICK_COMPILE)


def rollout(env, params, policy, key, num_steps):
    """Run `env` for `num_steps` under `policy(key, obs)`; per-step arrays, time-major.

    Returns (trajectory as numpy, final env state). `obs` is what the policy saw at each step.
    """

    def run(key):
        key_reset, key_steps = jax.random.split(key)
        obs, state = env.reset(key_reset, params)

        def one_step(carry, key):
            obs, state = carry
            key_act, key_step = jax.random.split(key)
            action = policy(key_act, obs)
            next_obs, state, reward, terminated, truncated, info = env.step(
                key_step, state, action, params
            )
            record = dict(
                obs=obs,
                action=action,
                reward=reward,
                terminated=terminated,
                truncated=truncated,
                next_obs=next_obs,
                info=info,
            )
            return (next_obs, state), record

        (_, state), trajectory = jax.lax.scan(
            one_step, (obs, state), jax.random.split(key_steps, num_steps)
        )
        return trajectory, state

    trajectory, state = compile_quickly(run, key)(key)
    return jax.tree.map(np.asarray, trajectory), state


def action_zero_rollout(env, num_envs, num_steps):
    """Every env always takes action 0 (the only one, or the one the test is about)."""
    policy = lambda key, obs: jnp.zeros(num_envs, jnp.int32)
    vec_env = VecEnv(env, num_envs)
    return rollout(vec_env, env.default_params, policy, jax.random.key(0), num_steps)[0]


def random_policy(env, params, num_envs):
    space = env.action_space(params)
    return lambda key, obs: jax.vmap(space.sample)(jax.random.split(key, num_envs))


EXPLORING_ENVS, OPTIMAL_ENVS = slice(0, 16), slice(16, 24)


def exploring_actions(space, num_envs):
    """Every action in turn across envs; continuous ones reach past the bounds on purpose.

    Fixed rather than random actions: random sampling would double each probe's compile time.
    """
    if isinstance(space, Discrete):
        return jnp.arange(num_envs) % space.n
    return jnp.linspace(-1.5, 1.5, num_envs)[:, None]


@functools.cache
def probe_rollout(name):
    """12 steps of 24 envs: 16 explore every action, 8 follow the probe's `optimal_action`.

    One rollout (one compilation) per probe serves all of its tests.
    """
    env = make(f"probe/{name}")
    params = env.default_params
    space = env.action_space(params)
    explore = exploring_actions(space, 24)

    def policy(key, obs):
        optimal = jnp.broadcast_to(env.optimal_action(obs, params), explore.shape)
        is_optimal = jnp.arange(24) >= OPTIMAL_ENVS.start
        return jnp.where(is_optimal.reshape(-1, *[1] * len(space.shape)), optimal, explore)

    trajectory, _ = rollout(VecEnv(env, 24), params, policy, jax.random.key(0), 12)
    return env, trajectory


def envs_of(trajectory, envs):
    return jax.tree.map(lambda x: x[:, envs], trajectory)


# ---------------------------------------------------------------------------------------------
# Probes: each follows its definition


def test_constant_reward_probe():
    env, t = probe_rollout("constant-reward")
    assert env.action_space(env.default_params) == Discrete(1)
    assert np.all(t["obs"] == 0.0) and t["obs"].dtype == np.float32
    assert np.all(t["reward"] == 1.0)
    assert np.all(t["terminated"]) and not np.any(t["truncated"])
    assert np.allclose(env.true_value(t["obs"], GAMMA), 1.0)


def test_observation_reward_probe():
    env, t = probe_rollout("observation-reward")
    obs = t["obs"][..., 0]
    assert set(np.unique(obs)) == {-1.0, 1.0}  # both signs occur: the observation is random
    assert np.array_equal(t["reward"], obs)
    assert np.all(t["terminated"])
    assert np.array_equal(env.true_value(t["obs"], GAMMA), obs)


def test_two_step_probe():
    env, t = probe_rollout("two-step")
    obs = t["obs"][..., 0]
    expected_obs = np.broadcast_to((np.arange(len(obs)) % 2)[:, None], obs.shape)
    assert np.array_equal(obs, expected_obs)
    assert np.array_equal(t["reward"], expected_obs.astype(np.float32))
    assert np.array_equal(t["terminated"], expected_obs == 1)
    assert not np.any(t["truncated"])
    assert np.allclose(env.true_value(np.array([[0.0], [1.0]]), GAMMA), [GAMMA, 1.0])


def test_action_reward_probe():
    env, t = probe_rollout("action-reward")
    assert set(np.unique(t["action"])) == {0, 1}
    assert np.array_equal(t["reward"], np.where(t["action"] == 1, 1.0, -1.0))
    assert np.all(t["terminated"])
    assert np.all(env.optimal_action(t["obs"]) == 1)


def test_action_observation_reward_probe():
    env, t = probe_rollout("action-observation-reward")
    matches_sign = t["action"] == (t["obs"][..., 0] > 0)
    assert matches_sign.any() and (~matches_sign).any()
    assert np.array_equal(t["reward"], np.where(matches_sign, 1.0, -1.0))
    assert np.array_equal(env.optimal_action(np.array([[1.0], [-1.0]])), [1, 0])


def test_action_reward_continuous_probe():
    env, t = probe_rollout("action-reward-continuous")
    assert env.action_space(env.default_params) == Box(-1.0, 1.0, (1,))
    action = np.clip(t["action"][..., 0], -1.0, 1.0)  # the probe scores the nearest legal action
    assert np.abs(t["action"]).max() > 1.0
    assert np.allclose(t["reward"], 1.0 - (action - 0.5) ** 2, atol=1e-6)
    assert np.all(t["terminated"])
    assert np.allclose(env.optimal_action(t["obs"]), 0.5)


def test_action_observation_reward_continuous_probe():
    env, t = probe_rollout("action-observation-reward-continuous")
    target = 0.5 * t["obs"][..., 0]
    action = np.clip(t["action"][..., 0], -1.0, 1.0)
    assert np.allclose(t["reward"], 1.0 - (action - target) ** 2, atol=1e-6)
    assert np.allclose(env.optimal_action(t["obs"])[..., 0], target)


def test_truncation_probe_truncates_without_revealing_time():
    env, t = probe_rollout("truncation")
    assert np.all(t["obs"] == 0.0) and np.all(t["reward"] == 1.0)
    assert not np.any(t["terminated"])
    steps = np.arange(1, len(t["obs"]) + 1)[:, None]
    assert np.array_equal(t["truncated"], np.broadcast_to(steps % 5 == 0, t["truncated"].shape))


def test_truncation_probe_separates_bootstrapping_from_termination():
    """Bootstrapping on truncation gives 1/(1-γ) at every step; stopping there does not."""
    env, t = probe_rollout("truncation")
    reward, truncated = t["reward"][:10, 0], t["truncated"][:10, 0]
    value = env.true_value(t["obs"][:10, 0], GAMMA)
    bootstrapped = reward + GAMMA * value  # one-step target, final_obs = obs here
    assert np.allclose(bootstrapped, 1.0 / (1.0 - GAMMA)) and np.allclose(value, 1 / (1 - GAMMA))
    # Monte Carlo returns that treat truncation as termination depend on the (hidden) time.
    returns, running = np.zeros(10), 0.0
    for i in reversed(range(10)):
        running = reward[i] + GAMMA * running * (1.0 - truncated[i])
        returns[i] = running
    first_episode = returns[:5]
    assert np.allclose(first_episode, (1 - GAMMA ** np.arange(5, 0, -1)) / (1 - GAMMA))
    assert np.all(first_episode < 1.0 / (1.0 - GAMMA) - 0.1)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe_ground_truth_satisfies_bellman_under_optimal_policy(name):
    """V*(s) = r + γ (1 - terminated) V*(s') on every step the optimal policy takes."""
    env, t = probe_rollout(name)
    t = envs_of(t, OPTIMAL_ENVS)
    value = env.true_value(t["obs"], GAMMA)
    next_value = env.true_value(t["info"]["final_obs"], GAMMA)
    target = t["reward"] + GAMMA * (1.0 - t["terminated"]) * next_value
    assert np.allclose(value, target, atol=1e-6)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe_optimal_action_beats_every_other(name):
    env, t = probe_rollout(name)
    exploring, best = envs_of(t, EXPLORING_ENVS), envs_of(t, OPTIMAL_ENVS)["reward"]
    assert np.all(exploring["reward"] <= best.max() + 1e-6)
    if env.action_space(env.default_params) != Discrete(1):
        assert exploring["reward"].mean() < best.mean() - 0.1


def test_probe_spaces_and_dtypes():
    for name in PROBES:
        env = make(f"probe/{name}")
        params = env.default_params
        obs, state = env.reset(jax.random.key(0), params)
        assert obs.shape == env.observation_space(params).shape == (1,)
        assert obs.dtype == jnp.float32
        assert env.description, f"probe/{name} lacks a description"


# ---------------------------------------------------------------------------------------------
# Wrappers


class EchoAction(Environment):
    """Observes the action it was last given; never ends. Lets tests see what reached the env."""

    def __init__(self):
        self._step = auto_reset(self._echo, self.reset)

    @property
    def default_params(self):
        return ()

    def reset(self, key, params):
        return jnp.zeros(2), jnp.zeros(2)

    def _echo(self, key, state, action, params):
        action = jnp.asarray(action, jnp.float32)
        return action, action, jnp.sum(action), jnp.array(False), jnp.array(False), {}

    def step(self, key, state, action, params):
        return self._step(key, state, action, params)

    def observation_space(self, params):
        return Box(-jnp.inf, jnp.inf, (2,))

    def action_space(self, params):
        return Box(np.array([-1.0, 0.0]), np.array([1.0, 2.0]), (2,))


def test_clip_action_clips_into_the_box_and_rejects_discrete_spaces():
    env = ClipAction(EchoAction())
    _, state = env.reset(jax.random.key(0), ())
    obs, *_ = env.step(jax.random.key(1), state, jnp.array([-5.0, 5.0]), ())
    assert np.array_equal(obs, [-1.0, 2.0])
    obs, *_ = env.step(jax.random.key(1), state, jnp.array([0.5, 1.5]), ())
    assert np.array_equal(obs, [0.5, 1.5])
    with pytest.raises(TypeError, match="Box"):
        ClipAction(make("probe/action-reward"))


def test_scale_reward():
    env = ScaleReward(make("probe/two-step"), 0.25)
    t = action_zero_rollout(env, 2, 4)
    assert np.array_equal(t["reward"][:, 0], [0.0, 0.25, 0.0, 0.25])
    assert np.array_equal(t["terminated"][:, 0], [False, True, False, True])


def test_vec_env_matches_independent_envs_with_split_keys():
    env = make("probe/observation-reward")
    params = env.default_params
    vec_env = VecEnv(env, 5)
    obs, state = vec_env.reset(jax.random.key(3), params)
    assert obs.shape == (5, 1) and state.time.shape == (5,)
    for i, key in enumerate(jax.random.split(jax.random.key(3), 5)):
        assert np.array_equal(obs[i], env.reset(key, params)[0])
    assert len(np.unique(obs)) == 2  # the envs are not copies of one another
    out = vec_env.step(jax.random.key(4), state, jnp.zeros(5, int), params)
    assert [x.shape for x in out[2:5]] == [(5,), (5,), (5,)]
    assert out[5]["final_obs"].shape == (5, 1)
    assert vec_env.observation_space(params).shape == (1,)  # spaces describe one env


def test_episode_statistics_report_finished_episodes():
    """Random rewards, episodes of 7 steps: each episode's summed reward, reported at its end."""
    num_envs, num_steps = 3, 23
    env = EpisodeStatistics(TimeLimit(EchoAction(), 7))
    policy = random_policy(env, (), num_envs)
    t, _ = rollout(VecEnv(env, num_envs), (), policy, jax.random.key(0), num_steps)
    info = t["info"]
    ends = np.arange(1, num_steps + 1) % 7 == 0
    assert np.array_equal(info["returned_episode"], np.tile(ends[:, None], (1, num_envs)))
    assert np.array_equal(t["truncated"], info["returned_episode"])
    for env_index in range(num_envs):
        rewards = t["reward"][:, env_index]
        expected = [rewards[start : start + 7].sum() for start in (0, 7, 14)]
        assert len(set(expected)) == 3  # the rewards really vary
        assert np.allclose(info["episode_return"][ends, env_index], expected, rtol=1e-5)
        assert np.all(info["episode_length"][ends, env_index] == 7)
    assert np.all(info["episode_return"][~ends] == 0) and np.all(info["episode_length"][~ends] == 0)


def test_time_limit_truncates_and_resets_the_wrapped_env():
    env = TimeLimit(make("probe/two-step"), 1)  # cut every episode after its first step
    t = action_zero_rollout(env, 2, 6)
    assert np.all(t["truncated"]) and not np.any(t["terminated"])
    assert np.all(t["obs"] == 0.0)  # always the first step again: the wrapped env was reset
    assert np.all(t["info"]["final_obs"] == 1.0)  # where the cut episode would have gone
    assert np.all(t["reward"] == 0.0)


def test_time_limit_passes_the_wrapped_env_ends_through():
    env = TimeLimit(make("probe/truncation"), 3)  # the probe truncates at 5 on its own
    t = action_zero_rollout(env, 1, 9)
    assert np.array_equal(t["truncated"][:, 0], (np.arange(1, 10) % 3) == 0)
    terminating = TimeLimit(make("probe/two-step"), 5)
    t = action_zero_rollout(terminating, 1, 6)
    assert np.array_equal(t["terminated"][:, 0], [False, True] * 3)
    assert not np.any(t["truncated"])  # episodes of 2 never reach the limit of 5: no carried count


NUM_CARTPOLES, CARTPOLE_STEPS, CARTPOLE_LIMIT, REWARD_GAMMA = 4, 100, 15, 0.95


class KeepRaw(Wrapper):
    """Copies what the wrapped env returned into `info`, to compare with what wrappers made."""

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        raw = dict(
            obs=obs,
            final_obs=info["final_obs"],
            reward=reward,
            terminated=terminated,
            truncated=truncated,
        )
        return obs, state, reward, terminated, truncated, {**info, "raw": raw}


@functools.cache
def cartpole_runs():
    """CartPole (random policy, 15-step limit) through both normalisers, and what they got.

    With the limit, some episodes terminate (the pole falls) and others are truncated.
    Returns (trajectory, raw trajectory, first raw observations, env, final state).
    """
    env = make("gymnax/CartPole-v1")
    params = env.default_params
    raw_env = VecEnv(KeepRaw(EpisodeStatistics(TimeLimit(env, CARTPOLE_LIMIT))), NUM_CARTPOLES)
    normalized_env = NormalizeVecReward(NormalizeVecObservation(raw_env), REWARD_GAMMA)
    policy = random_policy(env, params, NUM_CARTPOLES)
    t, state = rollout(normalized_env, params, policy, jax.random.key(0), CARTPOLE_STEPS)
    key_reset, _ = jax.random.split(jax.random.key(0))  # as `rollout` splits it
    first_obs = np.asarray(raw_env.reset(key_reset, params)[0])
    return t, t["info"]["raw"], first_obs, normalized_env, state


def test_episode_statistics_lengths_follow_episode_ends():
    t, raw, _, _, _ = cartpole_runs()
    done = raw["terminated"] | raw["truncated"]
    assert raw["terminated"].sum() > 4 and raw["truncated"].sum() > 4
    info = t["info"]
    assert np.all(info["episode_length"][raw["truncated"]] == CARTPOLE_LIMIT)
    for env_index in range(NUM_CARTPOLES):
        ends = np.flatnonzero(done[:, env_index])
        lengths = np.diff(np.concatenate([[-1], ends]))
        assert np.array_equal(info["episode_length"][ends, env_index], lengths)
        # Episode returns stay in CartPole's units (+1 a step): the reward normaliser is outside.
        assert np.array_equal(info["episode_return"][ends, env_index], lengths.astype(np.float32))


def test_normalize_vec_observation_statistics_match_the_data():
    t, raw, first_obs, env, state = cartpole_runs()
    seen = np.concatenate([first_obs[None], raw["obs"]]).reshape(-1, 4)
    stats = observation_statistics(env, state)
    assert np.allclose(stats.mean, seen.mean(axis=0), atol=1e-4)
    assert np.allclose(stats.var, seen.var(axis=0), rtol=1e-3, atol=1e-5)
    assert not np.allclose(stats.var, 1.0, atol=0.1)  # far from where the statistics started
    expected_last = (raw["obs"][-1] - stats.mean) / np.sqrt(stats.var + EPSILON)
    assert np.allclose(t["next_obs"][-1], np.clip(expected_last, -10, 10), atol=1e-5)
    final = normalize_observation(raw["final_obs"][-1], stats)
    assert np.allclose(t["info"]["final_obs"][-1], final, atol=1e-5)  # same statistics as obs


def test_normalize_vec_reward_divides_by_the_std_of_discounted_returns():
    t, raw, _, env, state = cartpole_runs()
    done = raw["terminated"] | raw["truncated"]
    returns, running = [], np.zeros(NUM_CARTPOLES)
    for step in range(CARTPOLE_STEPS):
        running = running * REWARD_GAMMA + raw["reward"][step]
        returns.append(running)
        running = np.where(done[step], 0.0, running)
    stats = reward_statistics(env, state)
    assert stats.var == pytest.approx(np.var(returns), rel=1e-3)
    assert np.allclose(t["reward"][-1], raw["reward"][-1] / np.sqrt(stats.var + EPSILON), rtol=1e-5)


def test_normalizers_pass_flags_through():
    """Terminations and truncations reach the algorithm exactly as the wrapped env made them."""
    t, raw, _, _, _ = cartpole_runs()
    assert np.array_equal(t["terminated"], raw["terminated"])
    assert np.array_equal(t["truncated"], raw["truncated"])


def test_normalizers_require_a_vec_env():
    with pytest.raises(TypeError, match="VecEnv"):
        NormalizeVecObservation(make("probe/two-step"))
    with pytest.raises(TypeError, match="VecEnv"):
        NormalizeVecReward(make("probe/two-step"), 0.99)


def test_statistics_lookup_needs_a_normalizer_in_the_stack():
    _, _, _, env, state = cartpole_runs()
    assert observation_statistics(env, state).mean.shape == (4,)
    assert reward_statistics(env, state).var.shape == ()
    with pytest.raises(ValueError, match="NormalizeVecObservation"):
        observation_statistics(env.env.env, state.env_state.env_state)


def test_normalize_functions_clip():
    stats = RunningMeanStd.create((1,))
    assert normalize_observation(jnp.array([[100.0]]), stats)[0, 0] == 10.0
    unclipped = normalize_observation(jnp.array([[100.0]]), stats, clip=None)
    assert unclipped[0, 0] == pytest.approx(100.0)
    assert normalize_reward(jnp.array([-50.0]), stats.replace(var=jnp.array(4.0)))[0] == -10.0


def test_wrappers_keep_the_env_id_and_spaces():
    env = make("probe/action-reward-continuous")
    wrapped = ClipAction(EpisodeStatistics(env))
    assert wrapped.env_id == "probe/action-reward-continuous"
    assert wrapped.unwrapped is env
    assert wrapped.action_space(env.default_params) == env.action_space(env.default_params)


# ---------------------------------------------------------------------------------------------
# Registry


def test_list_envs_covers_every_family():
    import gymnax

    ids = list_envs()
    assert len(ids) == len(set(ids))
    assert {f"gymnax/{name}" for name in gymnax.registered_envs} <= set(ids)
    assert {"brax/hopper", "brax/ant", "brax/halfcheetah", "probe/two-step"} <= set(ids)
    assert list_envs("probe") == [f"probe/{name}" for name in PROBES]
    assert all(i.startswith("brax/") for i in list_envs("brax"))
    with pytest.raises(ValueError, match="families"):
        list_envs("atari")


# Every listed id is built and traced against its declared spaces in test_envs_conformance.py.


def test_download_failure_is_explained():
    try:
        env = make("gymnax/MNISTBandit-bsuite")
    except RuntimeError as error:  # offline: the reason is spelled out
        assert "downloads" in str(error) and "MNISTBandit" in str(error)
    else:
        assert env.action_space(env.default_params) == Discrete(10)


def test_a_missing_optional_package_is_named_with_its_install_command(monkeypatch):
    from jaxrl_suite.envs.registry import MissingEnvironmentPackageError

    for family in ("craftax", "xminigrid", "jumanji"):
        # what an absent package looks like to import (its submodules too, loaded by an earlier test)
        for name in [name for name in sys.modules if name.startswith(f"{family}.")]:
            monkeypatch.delitem(sys.modules, name)
        monkeypatch.setitem(sys.modules, family, None)
        monkeypatch.delitem(sys.modules, f"jaxrl_suite.envs.{family}_envs", raising=False)
        env_id = list_envs(family)[0]
        with pytest.raises(MissingEnvironmentPackageError, match=rf"{env_id} needs the {family} package.*\[envs\]"):
            make(env_id)


def test_unknown_id_suggests_close_matches():
    with pytest.raises(UnknownEnvironmentError) as caught:
        make("gymnax/Cartpole-v1")
    assert "gymnax/Cartpole-v1" in str(caught.value)
    assert caught.value.suggestions == ["gymnax/CartPole-v1"]
    assert "did you mean: gymnax/CartPole-v1" in str(caught.value)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, KeyError)
    with pytest.raises(UnknownEnvironmentError, match="brax/halfcheetah"):
        make("brax/half_cheetah")
    with pytest.raises(UnknownEnvironmentError, match="brax/hopper"):
        make("hopper")
    with pytest.raises(UnknownEnvironmentError, match="list_envs"):
        make("nothing-like-it")


def test_importing_the_package_does_not_import_any_backend():
    backends = ("gymnax", "brax", "craftax", "xminigrid", "jumanji")
    code = f"import sys, jaxrl_suite.envs; print(*(name in sys.modules for name in {backends!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"] * len(backends)
