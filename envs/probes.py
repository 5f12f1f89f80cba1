"""Probe environments: tiny pure-JAX MDPs that each isolate one learning mechanism.

When an agent fails a probe, the bug lives in the one mechanism that probe exercises, which is
why they run first in every algorithm's tests. All observations are float32 vectors of shape
(1,); every episode starts afresh on auto-reset. Ids (as registered in `make`), what each
isolates, and its optimal value V*(obs):

* ``probe/constant-reward``: fitting a value at all. One obs (0), one action, r = +1, one
  step. V* = 1.
* ``probe/observation-reward``: a value that depends on the observation. obs = ±1 at random,
  r = obs, one step. V*(obs) = obs.
* ``probe/two-step``: discounting and bootstrapping. obs 0 then 1, r = 0 then +1.
  V*(0) = γ, V*(1) = 1.
* ``probe/action-reward``: policy improvement. Two actions, r = +1 for action 1, -1 for
  action 0, one step. V* = 1.
* ``probe/action-observation-reward``: a policy conditioned on the observation. obs = ±1,
  r = +1 for action 1 on +1 and action 0 on -1, else -1. V* = 1.
* ``probe/action-reward-continuous``: the same for continuous actions in [-1, 1]:
  r = 1 - (a - 0.5)². V* = 1 at a* = 0.5.
* ``probe/action-observation-reward-continuous``: obs = ±1, r = 1 - (a - obs/2)². V* = 1 at
  a* = obs / 2.
* ``probe/truncation``: bootstrapping on truncation. r = +1 forever, never terminated,
  truncated after `params.max_steps_in_episode` (5) steps. V* = 1 / (1 - γ).

Ground truth, for tests of algorithms (all broadcast over leading batch axes of `obs`):

* ``true_value(obs, gamma, params=None) -> float32[...]``: the optimal state value V*(obs).
* ``optimal_action(obs, params=None)``: int32[...] for discrete actions, float32[..., 1] for
  continuous ones.

Continuous actions are clipped to [-1, 1] before they are scored, so an unbounded Gaussian sample
earns what the nearest legal action earns and rewards stay bounded (in [-1.25, 1]).

`probe/truncation` hides time from the observation on purpose: with bootstrapping on truncation
the value is 1/(1−γ) in every state, whereas treating truncation as termination gives the
time-dependent (1−γ^(H−t))/(1−γ), which no value function of the observation can represent.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_suite.envs.core import Box, Discrete, Environment, auto_reset

OBSERVATION_SPACE = Box(low=-1.0, high=1.0, shape=(1,))
CONTINUOUS_ACTION_SPACE = Box(low=-1.0, high=1.0, shape=(1,))


@struct.dataclass
class ProbeState:
    obs: jax.Array  # float32[1], the observation the agent currently sees
    time: jax.Array  # int32, steps taken in the current episode


@struct.dataclass
class NoParams:
    """Probes without tunable parameters still pass a (leafless) pytree, as the contract asks."""


@struct.dataclass
class TruncationParams:
    max_steps_in_episode: int = 5


def _obs(value) -> jax.Array:
    return jnp.full((1,), value, jnp.float32)


def _random_sign_obs(key: jax.Array) -> jax.Array:
    return _obs(jnp.where(jax.random.bernoulli(key), 1.0, -1.0))


def _signed(success: jax.Array) -> jax.Array:
    return jnp.where(success, 1.0, -1.0).astype(jnp.float32)


def _continuous_score(action: jax.Array, target: jax.Array) -> jax.Array:
    action = jnp.clip(jnp.reshape(action, (-1,))[0], -1.0, 1.0)
    return (1.0 - (action - target) ** 2).astype(jnp.float32)


class ProbeEnv(Environment):
    """Shared machinery: subclasses define the first observation and one transition."""

    #: one line on what the probe isolates, for listings such as the CLI's `list`
    description: str = ""

    def __init__(self) -> None:
        self._auto_reset_step = auto_reset(self._transition, self.reset)

    @property
    def default_params(self) -> Any:
        return NoParams()

    def observation_space(self, params: Any) -> Box:
        return OBSERVATION_SPACE

    def action_space(self, params: Any) -> Discrete | Box:
        return Discrete(1)

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, ProbeState]:
        obs = self._first_obs(key, params)
        return obs, ProbeState(obs=obs, time=jnp.zeros((), jnp.int32))

    def step(self, key, state, action, params):
        return self._auto_reset_step(key, state, action, params)

    def _first_obs(self, key: jax.Array, params: Any) -> jax.Array:
        return _obs(0.0)

    def _transition(self, key, state, action, params):
        """One step without reset; the default is a one-step episode paying `_reward`."""
        reward = self._reward(state.obs, action, params)
        next_state = state.replace(time=state.time + 1)
        return state.obs, next_state, reward, jnp.array(True), jnp.array(False), {}

    def _reward(self, obs: jax.Array, action: jax.Array, params: Any) -> jax.Array:
        raise NotImplementedError

    def true_value(self, obs: jax.Array, gamma: float, params: Any = None) -> jax.Array:
        """V*(obs); one-step probes whose best reward is +1 are worth 1 everywhere."""
        return jnp.ones(jnp.shape(obs)[:-1], jnp.float32)

    def optimal_action(self, obs: jax.Array, params: Any = None) -> jax.Array:
        return jnp.zeros(jnp.shape(obs)[:-1], jnp.int32)


class ConstantReward(ProbeEnv):
    description = "one observation, one action, reward +1, one step: can the critic fit V = 1?"

    def _reward(self, obs, action, params):
        return jnp.float32(1.0)


class ObservationReward(ProbeEnv):
    description = "observation ±1 at random, reward = observation, one step: V(obs) = obs"

    def _first_obs(self, key, params):
        return _random_sign_obs(key)

    def _reward(self, obs, action, params):
        return obs[0]

    def true_value(self, obs, gamma, params=None):
        return jnp.asarray(obs, jnp.float32)[..., 0]


class TwoStep(ProbeEnv):
    description = "obs 0 then 1, reward 0 then +1: V(0) = γ needs discounting and bootstrapping"

    def _transition(self, key, state, action, params):
        second_step = state.obs[0] == 1.0
        reward = jnp.where(second_step, 1.0, 0.0).astype(jnp.float32)
        next_state = ProbeState(obs=_obs(1.0), time=state.time + 1)
        return next_state.obs, next_state, reward, second_step, jnp.array(False), {}

    def true_value(self, obs, gamma, params=None):
        first_step = jnp.asarray(obs)[..., 0] == 0.0
        return jnp.where(first_step, gamma, 1.0).astype(jnp.float32)


class ActionReward(ProbeEnv):
    description = "one observation, two actions, reward +1 for action 1 and -1 for action 0"

    def action_space(self, params):
        return Discrete(2)

    def _reward(self, obs, action, params):
        return _signed(action == 1)

    def optimal_action(self, obs, params=None):
        return jnp.ones(jnp.shape(obs)[:-1], jnp.int32)


class ActionObservationReward(ProbeEnv):
    description = "obs ±1; reward +1 for action 1 on +1 and action 0 on -1, else -1"

    def action_space(self, params):
        return Discrete(2)

    def _first_obs(self, key, params):
        return _random_sign_obs(key)

    def _reward(self, obs, action, params):
        return _signed(action == self.optimal_action(obs))

    def optimal_action(self, obs, params=None):
        return (jnp.asarray(obs)[..., 0] > 0).astype(jnp.int32)


class ActionRewardContinuous(ProbeEnv):
    description = "one observation, action in [-1, 1], reward 1 - (a - 0.5)^2"

    target = 0.5

    def action_space(self, params):
        return CONTINUOUS_ACTION_SPACE

    def _reward(self, obs, action, params):
        return _continuous_score(action, self.target)

    def optimal_action(self, obs, params=None):
        return jnp.full(jnp.shape(obs), self.target, jnp.float32)


class ActionObservationRewardContinuous(ProbeEnv):
    description = "obs ±1, action in [-1, 1], reward 1 - (a - obs/2)^2"

    def action_space(self, params):
        return CONTINUOUS_ACTION_SPACE

    def _first_obs(self, key, params):
        return _random_sign_obs(key)

    def _reward(self, obs, action, params):
        return _continuous_score(action, 0.5 * obs[0])

    def optimal_action(self, obs, params=None):
        return 0.5 * jnp.asarray(obs, jnp.float32)


class Truncation(ProbeEnv):
    description = "reward +1 forever, truncated (never terminated) after a few steps: V = 1/(1-γ)"

    @property
    def default_params(self):
        return TruncationParams()

    def _transition(self, key, state, action, params):
        next_state = state.replace(time=state.time + 1)
        truncated = next_state.time >= params.max_steps_in_episode
        return state.obs, next_state, jnp.float32(1.0), jnp.array(False), truncated, {}

    def true_value(self, obs, gamma, params=None):
        return jnp.full(jnp.shape(obs)[:-1], 1.0 / (1.0 - gamma), jnp.float32)


PROBES: dict[str, type[ProbeEnv]] = {
    "constant-reward": ConstantReward,
    "observation-reward": ObservationReward,
    "two-step": TwoStep,
    "action-reward": ActionReward,
    "action-observation-reward": ActionObservationReward,
    "action-reward-continuous": ActionRewardContinuous,
    "action-observation-reward-continuous": ActionObservationRewardContinuous,
    "truncation": Truncation,
}
"""Probe classes by the name after `probe/` in their registry id."""
