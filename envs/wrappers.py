"""Wrappers: pure functions of state, each an `Environment` around an `Environment`.

Per-environment wrappers (apply them before vectorising):

* `TimeLimit(env, max_steps)`: truncates (never terminates) after `max_steps` steps.
* `EpisodeStatistics(env)`: reports each finished episode's return and length in `info`.
* `FlattenObservation(env)`, `ClipAction(env)`, `ScaleReward(env, scale)`.

Batch-level wrappers:

* `VecEnv(env, num_envs)`: `num_envs` copies under one `vmap`; actions, observations, rewards
  and flags gain a leading `num_envs` axis, params are shared (vmap runs over params outside).
* `NormalizeVecObservation(vec_env)` and `NormalizeVecReward(vec_env, gamma)`: running
  statistics shared by all the envs of a `VecEnv`, kept in the state (as brax PPO setups do).

A usual stack, innermost first: ``NormalizeVecReward(NormalizeVecObservation(VecEnv(
EpisodeStatistics(TimeLimit(env)))))``. EpisodeStatistics goes inside the normalisers so that
`info["episode_return"]` is in the environment's own reward units, and outside TimeLimit so that
it sees the episodes TimeLimit ends.

Every wrapper passes `terminated` and `truncated` through untouched (TimeLimit only adds its
own truncations), so algorithms can still bootstrap on truncation. When the two flags are both
set (gymnax does this when a time limit coincides with a terminal state) termination wins.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl_suite.envs.core import Box, Discrete, Environment

#: normalised observations and rewards are clipped to ±this (SB3 VecNormalize, CleanRL PPO)
DEFAULT_CLIP = 10.0
#: keeps the normalisers' divisions finite while the variance is still zero
EPSILON = 1e-8


class Wrapper(Environment):
    """Delegates everything to the wrapped env; subclasses override what they change."""

    #: True when the wrapper's state is its own struct holding the wrapped one as `env_state`
    keeps_state: bool = False

    def __init__(self, env: Environment) -> None:
        self.env = env

    def inner_state(self, state: Any) -> Any:
        """The wrapped env's part of this wrapper's state."""
        return state.env_state if self.keeps_state else state

    @property
    def env_id(self) -> str:  # type: ignore[override]
        return self.env.env_id

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    def reset(self, key, params):
        return self.env.reset(key, params)

    def step(self, key, state, action, params):
        return self.env.step(key, state, action, params)

    def observation_space(self, params):
        return self.env.observation_space(params)

    def action_space(self, params):
        return self.env.action_space(params)

    @property
    def has_action_mask(self) -> bool:  # type: ignore[override]
        return self.env.has_action_mask

    def action_mask(self, state, params):
        return self.env.action_mask(self.inner_state(state), params)

    @property
    def unwrapped(self) -> Environment:
        return self.env.unwrapped if isinstance(self.env, Wrapper) else self.env


# ---------------------------------------------------------------------------------------------
# Per-environment wrappers


@struct.dataclass
class TimeLimitState:
    env_state: Any
    steps: jax.Array  # int32, steps taken in the current episode


class TimeLimit(Wrapper):
    """Truncate episodes after `max_steps` steps; the wrapped env's own ends pass through.

    When the limit strikes, the wrapped env did not reset itself, so this wrapper resets it and
    reports the observation the episode was cut at as `info["final_obs"]`.
    """

    keeps_state = True

    def __init__(self, env: Environment, max_steps: int) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {max_steps}")
        super().__init__(env)
        self.max_steps = max_steps

    def reset(self, key, params):
        obs, env_state = self.env.reset(key, params)
        return obs, TimeLimitState(env_state=env_state, steps=jnp.zeros((), jnp.int32))

    def step(self, key, state, action, params):
        key_step, key_reset = jax.random.split(key)
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key_step, state.env_state, action, params
        )
        steps = state.steps + 1
        inner_done = terminated | truncated
        cut_short = (steps >= self.max_steps) & ~inner_done
        reset_obs, reset_state = self.env.reset(key_reset, params)
        pick = lambda reset, current: jnp.where(cut_short, reset, current)
        obs = pick(reset_obs, obs)
        env_state = jax.tree.map(pick, reset_state, env_state)
        steps = jnp.where(inner_done | cut_short, 0, steps)
        next_state = TimeLimitState(env_state=env_state, steps=steps)
        return obs, next_state, reward, terminated, truncated | cut_short, info


@struct.dataclass
class EpisodeStatisticsState:
    env_state: Any
    episode_return: jax.Array  # float32, undiscounted return of the running episode so far
    episode_length: jax.Array  # int32, steps of the running episode so far


class EpisodeStatistics(Wrapper):
    """Track each episode's return and length, and report them when it ends.

    `info` gains, on every step:

    * ``"returned_episode"``: bool, an episode ended at this step (terminated or truncated);
    * ``"episode_return"``: float32, that episode's undiscounted return, else 0;
    * ``"episode_length"``: int32, that episode's number of steps, else 0.

    Returns are in the units of the wrapped env's rewards, so put reward normalisers outside.
    """

    keeps_state = True

    def reset(self, key, params):
        obs, env_state = self.env.reset(key, params)
        state = EpisodeStatisticsState(
            env_state=env_state,
            episode_return=jnp.zeros((), jnp.float32),
            episode_length=jnp.zeros((), jnp.int32),
        )
        return obs, state

    def step(self, key, state, action, params):
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action, params
        )
        done = terminated | truncated
        episode_return = state.episode_return + reward.astype(jnp.float32)
        episode_length = state.episode_length + 1
        info = {
            **info,
            "returned_episode": done,
            "episode_return": jnp.where(done, episode_return, 0.0),
            "episode_length": jnp.where(done, episode_length, 0),
        }
        next_state = EpisodeStatisticsState(
            env_state=env_state,
            episode_return=jnp.where(done, 0.0, episode_return),
            episode_length=jnp.where(done, 0, episode_length),
        )
        return obs, next_state, reward, terminated, truncated, info


class FlattenObservation(Wrapper):
    """Flatten one env's observations (and `final_obs`) to vectors, e.g. MinAtar's (10, 10, C).

    A discrete observation (an index, as in FrozenLake) becomes a length-1 vector.
    """

    def reset(self, key, params):
        obs, state = self.env.reset(key, params)
        return jnp.reshape(obs, (-1,)), state

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        info = {**info, "final_obs": jnp.reshape(info["final_obs"], (-1,))}
        return jnp.reshape(obs, (-1,)), state, reward, terminated, truncated, info

    def observation_space(self, params) -> Box:
        space = self.env.observation_space(params)
        if isinstance(space, Discrete):
            return Box(low=0, high=space.n - 1, shape=(1,), dtype=space.dtype)
        size = int(np.prod(space.shape))
        return Box(
            low=_flatten_bound(space.low, space.shape),
            high=_flatten_bound(space.high, space.shape),
            shape=(size,),
            dtype=space.dtype,
        )


def _flatten_bound(bound, shape):
    if jnp.ndim(bound) == 0:
        return bound
    return jnp.reshape(jnp.broadcast_to(bound, shape), (-1,))


class ClipAction(Wrapper):
    """Clip continuous actions into the action space, so unbounded policy samples are legal."""

    def __init__(self, env: Environment) -> None:
        super().__init__(env)
        if not isinstance(env.action_space(env.default_params), Box):
            raise TypeError(f"ClipAction needs a Box action space; {env.name} has a discrete one")

    def step(self, key, state, action, params):
        space = self.env.action_space(params)
        return self.env.step(key, state, jnp.clip(action, space.low, space.high), params)


class ScaleReward(Wrapper):
    """Multiply rewards by a constant `scale` (e.g. brax PPO's reward scaling)."""

    def __init__(self, env: Environment, scale: float) -> None:
        super().__init__(env)
        self.scale = scale

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        return obs, state, reward * self.scale, terminated, truncated, info


# ---------------------------------------------------------------------------------------------
# Vectorisation and batch-level normalisation


class VecEnv(Wrapper):
    """`num_envs` independent copies of `env` under one vmap, sharing `params`.

    `reset(key, params)` splits `key` into one key per env; `step(key, state, actions, params)`
    takes `actions` with a leading `num_envs` axis and returns everything batched along it.
    The spaces stay those of one env, since networks are built for a single observation.
    """

    def __init__(self, env: Environment, num_envs: int) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        super().__init__(env)
        self.num_envs = num_envs

    def reset(self, key, params):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.reset, in_axes=(0, None))(keys, params)

    def step(self, key, state, action, params):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(keys, state, action, params)

    def action_mask(self, state, params):
        return jax.vmap(self.env.action_mask, in_axes=(0, None))(state, params)


@struct.dataclass
class RunningMeanStd:
    """Running mean and (population) variance of a stream of batches, merged exactly."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array  # float32; starts at a tiny pseudo-count so the first merge is defined

    @classmethod
    def create(cls, shape: tuple[int, ...] = ()) -> RunningMeanStd:
        return cls(
            mean=jnp.zeros(shape, jnp.float32),
            var=jnp.ones(shape, jnp.float32),
            count=jnp.asarray(1e-4, jnp.float32),
        )

    def update(self, batch: jax.Array) -> RunningMeanStd:
        """Merge a batch whose leading axis indexes samples (Chan et al.'s parallel formula)."""
        batch = jnp.asarray(batch, jnp.float32)
        batch_count = jnp.asarray(batch.shape[0], jnp.float32)
        batch_mean = jnp.mean(batch, axis=0)
        batch_var = jnp.var(batch, axis=0)
        total = self.count + batch_count
        delta = batch_mean - self.mean
        mean = self.mean + delta * batch_count / total
        sum_sq = (
            self.var * self.count
            + batch_var * batch_count
            + delta**2 * self.count * batch_count / total
        )
        return RunningMeanStd(mean=mean, var=sum_sq / total, count=total)


def normalize_observation(
    obs: jax.Array, stats: RunningMeanStd, clip: float | None = DEFAULT_CLIP
) -> jax.Array:
    """Standardise observations with given statistics, e.g. frozen ones for evaluation.

    Pass the same `clip` as the `NormalizeVecObservation` that gathered `stats`.
    """
    normalized = (jnp.asarray(obs, jnp.float32) - stats.mean) / jnp.sqrt(stats.var + EPSILON)
    return normalized if clip is None else jnp.clip(normalized, -clip, clip)


def normalize_reward(
    reward: jax.Array, stats: RunningMeanStd, clip: float | None = DEFAULT_CLIP
) -> jax.Array:
    """Divide rewards by the std of the discounted return (`stats` from NormalizeVecReward)."""
    scaled = jnp.asarray(reward, jnp.float32) / jnp.sqrt(stats.var + EPSILON)
    return scaled if clip is None else jnp.clip(scaled, -clip, clip)


def _num_envs(env: Environment) -> int:
    num_envs = getattr(env, "num_envs", None)
    if num_envs is None:
        raise TypeError(
            f"{type(env).__name__} is not batched: wrap a VecEnv, since the statistics are "
            "shared across its envs"
        )
    return num_envs


@struct.dataclass
class NormalizeVecObservationState:
    env_state: Any
    obs_stats: RunningMeanStd  # per observation feature, shared by all envs


class NormalizeVecObservation(Wrapper):
    """Standardise a VecEnv's observations by running statistics shared across its envs.

    The statistics are updated with every batch of returned observations (reset ones
    included), then applied to that batch. `info["final_obs"]` is normalised with the same
    statistics as `obs`, so V(final_obs) and V(obs) see one input distribution. Read the
    statistics with `observation_statistics(env, state)`, and evaluate a policy with frozen
    ones through `normalize_observation(obs, stats, clip)`.
    """

    keeps_state = True

    def __init__(self, env: Environment, clip: float | None = DEFAULT_CLIP) -> None:
        super().__init__(env)
        self.num_envs = _num_envs(env)
        self.clip = clip

    def reset(self, key, params):
        obs, env_state = self.env.reset(key, params)
        stats = RunningMeanStd.create(jnp.shape(obs)[1:]).update(obs)
        state = NormalizeVecObservationState(env_state=env_state, obs_stats=stats)
        return normalize_observation(obs, stats, self.clip), state

    def step(self, key, state, action, params):
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action, params
        )
        stats = state.obs_stats.update(obs)
        info = {**info, "final_obs": normalize_observation(info["final_obs"], stats, self.clip)}
        next_state = NormalizeVecObservationState(env_state=env_state, obs_stats=stats)
        obs = normalize_observation(obs, stats, self.clip)
        return obs, next_state, reward, terminated, truncated, info

    def observation_space(self, params) -> Box:
        shape = self.env.observation_space(params).shape
        bound = jnp.inf if self.clip is None else self.clip
        return Box(low=-bound, high=bound, shape=shape)


@struct.dataclass
class NormalizeVecRewardState:
    env_state: Any
    return_stats: RunningMeanStd  # scalar statistics of the discounted return
    discounted_return: jax.Array  # float32[num_envs], running discounted return per env


class NormalizeVecReward(Wrapper):
    """Scale a VecEnv's rewards by the std of a running discounted return (gym-style).

    Each env accumulates G ← γ·G + r; all envs' G update one shared running variance, and the
    reward is divided by its square root (not centred, so the sign of rewards is kept). G
    restarts after an episode ends, terminated or truncated, because the next reward belongs
    to a fresh episode. Read the statistics with `reward_statistics(env, state)`.

    `gamma` may be a traced value (e.g. an algorithm's HParams gamma) when the wrapper is built
    inside the traced function.
    """

    keeps_state = True

    def __init__(self, env: Environment, gamma: float, clip: float | None = DEFAULT_CLIP) -> None:
        super().__init__(env)
        self.num_envs = _num_envs(env)
        self.gamma = gamma
        self.clip = clip

    def reset(self, key, params):
        obs, env_state = self.env.reset(key, params)
        state = NormalizeVecRewardState(
            env_state=env_state,
            return_stats=RunningMeanStd.create(),
            discounted_return=jnp.zeros((self.num_envs,), jnp.float32),
        )
        return obs, state

    def step(self, key, state, action, params):
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action, params
        )
        discounted_return = state.discounted_return * self.gamma + reward
        stats = state.return_stats.update(discounted_return)
        next_state = NormalizeVecRewardState(
            env_state=env_state,
            return_stats=stats,
            discounted_return=jnp.where(terminated | truncated, 0.0, discounted_return),
        )
        reward = normalize_reward(reward, stats, self.clip)
        return obs, next_state, reward, terminated, truncated, info


def _wrapper_state(env: Environment, state: Any, wrapper_type: type) -> Any:
    """The state of the outermost `wrapper_type` in a stack, found by walking env and state."""
    while isinstance(env, Wrapper):
        if isinstance(env, wrapper_type):
            return state
        env, state = env.env, env.inner_state(state)
    raise ValueError(f"no {wrapper_type.__name__} in this environment stack")


def observation_statistics(env: Environment, state: Any) -> RunningMeanStd:
    """The running observation statistics of the NormalizeVecObservation in `env`'s stack."""
    return _wrapper_state(env, state, NormalizeVecObservation).obs_stats


def reward_statistics(env: Environment, state: Any) -> RunningMeanStd:
    """The discounted-return statistics of the NormalizeVecReward in `env`'s stack."""
    return _wrapper_state(env, state, NormalizeVecReward).return_stats
