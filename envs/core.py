"""The one functional environment interface every backend is adapted to.

    reset(key, params) -> (obs, state)
    step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)

`step` auto-resets: when an episode ends (terminated or truncated) the returned `obs` and
`state` already belong to the next episode, and `info["final_obs"]` holds the observation the
episode ended on. Algorithms bootstrap from V(final_obs) on truncation and from 0 on
termination; that is why the two flags are kept apart.

Environment params are a pytree (a flax struct), so a batch of them can be vmapped like
hyperparameters. Everything here is pure: no Python state changes after construction.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

Obs = jax.Array
EnvState = Any
EnvParams = Any


@dataclasses.dataclass(frozen=True)
class Discrete:
    """Actions 0..n-1."""

    n: int
    shape: tuple[int, ...] = ()
    dtype: Any = jnp.int32

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(key, self.shape, 0, self.n, dtype=self.dtype)

    def contains(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        return jnp.all((x >= 0) & (x < self.n))


@dataclasses.dataclass(frozen=True)
class Box:
    """A real-valued array in [low, high] (bounds may be infinite)."""

    low: Any
    high: Any
    shape: tuple[int, ...]
    dtype: Any = jnp.float32

    def sample(self, key: jax.Array) -> jax.Array:
        low = jnp.broadcast_to(jnp.asarray(self.low, self.dtype), self.shape)
        high = jnp.broadcast_to(jnp.asarray(self.high, self.dtype), self.shape)
        # Unbounded dimensions are sampled from a unit normal, bounded ones uniformly.
        finite = jnp.isfinite(low) & jnp.isfinite(high)
        uniform = jax.random.uniform(
            key, self.shape, self.dtype, jnp.where(finite, low, 0.0), jnp.where(finite, high, 1.0)
        )
        normal = jax.random.normal(key, self.shape, self.dtype)
        return jnp.where(finite, uniform, normal)

    def contains(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        return jnp.all((x >= self.low) & (x <= self.high))


Space = Discrete | Box


def describe_space(space: Space) -> str:
    """A short label: "Discrete(4)" or dtype[shape], e.g. "float32[1345]", "uint8[7,7,2]"."""
    if isinstance(space, Discrete):
        return f"Discrete({space.n})"
    return f"{jnp.dtype(space.dtype).name}[{','.join(str(n) for n in space.shape)}]"


class Environment:
    """Base class of the suite's environments and adapters.

    Subclasses implement `reset`, `step` (with auto-reset and `info["final_obs"]`),
    `observation_space`, `action_space` and `default_params`. Instances are immutable and
    hashable by identity, so they can be closed over by jitted code.
    """

    #: registry id, e.g. "gymnax/CartPole-v1"; set by `make`
    env_id: str = ""

    @property
    def default_params(self) -> EnvParams:
        raise NotImplementedError

    def reset(self, key: jax.Array, params: EnvParams) -> tuple[Obs, EnvState]:
        raise NotImplementedError

    def step(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[Obs, EnvState, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        raise NotImplementedError

    def observation_space(self, params: EnvParams) -> Box:
        raise NotImplementedError

    def action_space(self, params: EnvParams) -> Space:
        raise NotImplementedError

    #: True when some actions can be illegal in some states (Jumanji's games); the policy then
    #: reads `action_mask(state, params)` and never samples an illegal action
    has_action_mask: bool = False

    def action_mask(self, state: EnvState, params: EnvParams) -> jax.Array:
        """bool[n]: which discrete actions are legal in `state` (all, unless the env says so).

        Taken from the state, not from `info`, so the mask of a reset state (an episode's first
        step, after an auto-reset too) is as available as any other.
        """
        space = self.action_space(params)
        if not isinstance(space, Discrete):
            raise TypeError(f"{self.name} has continuous actions; action masks are for Discrete spaces")
        return jnp.ones((space.n,), jnp.bool_)

    @property
    def name(self) -> str:
        return self.env_id or type(self).__name__


def auto_reset(env_step, env_reset):
    """Build an auto-resetting `step` from a step without reset and a reset.

    `env_step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)`
    must not reset; the returned step selects the reset state and observation where the
    episode ended and records the true last observation as `info["final_obs"]`.
    """

    def step(key, state, action, params):
        key_step, key_reset = jax.random.split(key)
        obs, next_state, reward, terminated, truncated, info = env_step(
            key_step, state, action, params
        )
        done = jnp.logical_or(terminated, truncated)
        reset_obs, reset_state = env_reset(key_reset, params)
        pick = lambda r, s: jax.lax.select(jnp.broadcast_to(done, jnp.shape(s)), r, s)
        next_state = jax.tree.map(pick, reset_state, next_state)
        info = {**info, "final_obs": obs}
        return (
            pick(reset_obs, obs),
            next_state,
            reward.astype(jnp.float32),
            terminated.astype(jnp.bool_),
            truncated.astype(jnp.bool_),
            info,
        )

    return step
