"""Adapter from any gymnax 1.x environment to the suite's `Environment` interface.

gymnax 1.x already separates `terminated` from `truncated` and auto-resets, so the adapter
calls gymnax's own `step` (same keys, same trajectory) and only renames and normalises types:
`info["final_observation"]` becomes `info["final_obs"]`, rewards become float32, the flags
bool. The state and params are gymnax's own pytrees, so e.g. a batch of CartPole params with
different pole lengths vmaps. Observations keep gymnax's shapes (MinAtar's are (10, 10, C));
wrap in `FlattenObservation` for vectors. FrozenLake-misc observes a cell index, so its
observation space stays `Discrete`.

gymnax may set both flags at once (a terminal state reached exactly at the time limit); they are
passed on as they are and termination takes precedence.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces as gymnax_spaces

from jaxrl_suite.envs.core import Box, Discrete, Environment

# The flags are returned as values already; a second copy in `info` would only cost memory in
# every rollout buffer that stores info.
_REDUNDANT_INFO_KEYS = ("final_observation", "terminated", "truncated")


def gymnax_ids() -> list[str]:
    """Every environment id gymnax has registered, including ones registered at run time."""
    return list(gymnax.registered_envs)


def _bound(value: Any) -> Any:
    """A space bound as a Python number or numpy array, or unchanged while traced."""
    try:
        array = np.asarray(value)
    except jax.errors.TracerArrayConversionError:
        return value
    return array.item() if array.ndim == 0 else array


def convert_space(space: Any) -> Discrete | Box:
    """The suite's equivalent of a gymnax `Discrete` or `Box` space."""
    if isinstance(space, gymnax_spaces.Discrete):
        return Discrete(n=int(space.n), dtype=space.dtype)
    if isinstance(space, gymnax_spaces.Box):
        return Box(
            low=_bound(space.low),
            high=_bound(space.high),
            shape=tuple(space.shape),
            dtype=space.dtype,
        )
    raise TypeError(f"gymnax {type(space).__name__} spaces have no counterpart in the suite")


class GymnaxEnv(Environment):
    """A gymnax environment seen through the suite's interface."""

    def __init__(self, gymnax_env: Any, default_params: Any = None) -> None:
        self.gymnax_env = gymnax_env
        self._default_params = (
            gymnax_env.default_params if default_params is None else default_params
        )

    @classmethod
    def from_id(cls, gymnax_id: str, **kwargs: Any) -> GymnaxEnv:
        """Build from a gymnax id, e.g. "CartPole-v1"; kwargs go to the gymnax constructor."""
        gymnax_env, default_params = gymnax.make(gymnax_id, **kwargs)
        return cls(gymnax_env, default_params)

    @property
    def default_params(self) -> Any:
        return self._default_params

    def reset(self, key, params):
        return self.gymnax_env.reset(key, params)

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.gymnax_env.step(
            key, state, action, params
        )
        final_obs = info["final_observation"]
        info = {k: v for k, v in info.items() if k not in _REDUNDANT_INFO_KEYS}
        info["final_obs"] = final_obs
        return (
            obs,
            state,
            jnp.asarray(reward, jnp.float32),
            jnp.asarray(terminated, jnp.bool_),
            jnp.asarray(truncated, jnp.bool_),
            info,
        )

    def observation_space(self, params) -> Discrete | Box:
        space = convert_space(self.gymnax_env.observation_space(params))
        # Some gymnax spaces declare a dtype their observations do not have (Catch declares
        # int32 and emits float32); the space should describe what the network receives.
        if isinstance(space, Box) and jnp.dtype(space.dtype) != self._observation_dtype:
            space = Box(space.low, space.high, space.shape, self._observation_dtype)
        return space

    def action_space(self, params) -> Discrete | Box:
        return convert_space(self.gymnax_env.action_space(params))

    @functools.cached_property
    def _observation_dtype(self) -> Any:
        obs, _ = jax.eval_shape(self.reset, jax.random.key(0), self._default_params)
        return obs.dtype
