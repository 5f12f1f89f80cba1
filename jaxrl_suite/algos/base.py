"""The contract every algorithm follows, and the bookkeeping they share.

An algorithm separates what shapes the compiled program from what the program computes:

* ``Static``: a frozen, hashable dataclass of shape and loop settings (num_envs, rollout
  length, minibatches, network widths, total env steps...). One compiled program per
  distinct (algorithm, env, Static).
* ``HParams``: a flax struct of scalar leaves (learning rates, gamma, ...). Every leaf is
  traced, so a stacked batch of HParams is vmapped by the runner.

and provides pure functions:

* ``init(key, hp, static, env, env_params) -> state``
* ``update(state, hp, static, env, env_params) -> (state, metrics)``: one iteration
  (collect ``steps_per_iteration(static)`` env steps, then learn). ``metrics`` is a dict of
  scalars and must contain the keys of :data:`REQUIRED_METRICS`.
* ``act(state, obs, key, static, env, env_params, deterministic) -> action`` for a batch of
  observations; used by the runner's periodic evaluation. An ``act`` that also takes
  ``action_mask=`` (bool[batch, n]) is given the env's masks there, where it has them.

Each HParams field declares its valid range (`positive`, `nonnegative`, `unit_interval`,
`hparam`), which spec validation reads. Constructing an `Algorithm` registers it under its name
(`REGISTRY`); every module of this package is imported by `jaxrl_suite.algos`, so writing the
module is the only step to add an algorithm.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

#: keys every algorithm's per-iteration metrics carry (the runner reads them)
REQUIRED_METRICS = ("train_return", "episodes", "loss", "diverged")

#: every constructed Algorithm, by name (`jaxrl_suite.algos.ALGORITHMS`)
REGISTRY: dict[str, Algorithm] = {}


# ---------------------------------------------------------------------------------------------
# Hyperparameter ranges, declared on the HParams fields


@dataclasses.dataclass(frozen=True)
class Range:
    """The values a hyperparameter may take; None is unbounded, an open end excludes the bound."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def problem(self, value: float) -> str | None:
        """Why `value` is out of range, or None."""
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return f"must be {'>' if self.low_open else '>='} {self.low}, got {value}"
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return f"must be {'<' if self.high_open else '<='} {self.high}, got {value}"
        return None


def hparam(default: float, value_range: Range = Range()) -> Any:
    """An HParams field (traced) with its valid range."""
    return struct.field(metadata={"range": value_range}, default=default)


def positive(default: float) -> Any:
    """A hyperparameter > 0 (learning rates, scales that divide)."""
    return hparam(default, Range(low=0.0, low_open=True))


def nonnegative(default: float) -> Any:
    """A hyperparameter >= 0 (loss weights, clipping norms, epsilons, step counts)."""
    return hparam(default, Range(low=0.0))


def unit_interval(default: float) -> Any:
    """A hyperparameter in [0, 1] (discounts, trace decays, probabilities, fractions)."""
    return hparam(default, Range(low=0.0, high=1.0))


def hparam_range(hparams_class: type, name: str) -> Range:
    """The declared range of field `name` of an HParams class (unbounded when none is declared)."""
    for field in dataclasses.fields(hparams_class):
        if field.name == name:
            return field.metadata.get("range", Range())
    raise KeyError(name)

#: CleanRL's training metric is the mean over each seed's last 100 training episodes
LAST_EPISODES = 100


@struct.dataclass
class EpisodeTracker:
    """The returns of the most recent finished training episodes, kept in a ring buffer."""

    returns: jax.Array  # [window]
    count: jax.Array  # finished episodes so far (int32)

    @classmethod
    def create(cls, window: int = LAST_EPISODES) -> EpisodeTracker:
        return cls(returns=jnp.zeros((window,), jnp.float32), count=jnp.zeros((), jnp.int32))

    def record(self, done: jax.Array, episode_return: jax.Array) -> EpisodeTracker:
        """Add the episodes that finished in a batch of steps (any shape, time-major)."""
        done = done.reshape(-1)
        episode_return = episode_return.reshape(-1).astype(jnp.float32)
        window = self.returns.shape[0]
        order = jnp.cumsum(done) - 1  # 0-based index among the batch's finished episodes
        new = order[-1] + 1
        # Only the last `window` of this batch's episodes can survive, so at most one write
        # lands on each slot and the scatter is deterministic.
        keep = done & (new - order <= window)
        slot = jnp.where(keep, (self.count + order) % window, window)
        returns = self.returns.at[slot].set(episode_return, mode="drop")
        return EpisodeTracker(returns=returns, count=self.count + new.astype(jnp.int32))

    def mean(self) -> jax.Array:
        """Mean return of the last min(count, window) episodes; NaN before the first one."""
        window = self.returns.shape[0]
        filled = jnp.minimum(self.count, window)
        valid = jnp.arange(window) < filled
        total = jnp.sum(jnp.where(valid, self.returns, 0.0))
        return jnp.where(filled > 0, total / jnp.maximum(filled, 1), jnp.nan)


@struct.dataclass
class ReplayBuffer:
    """A fixed-capacity ring buffer of transitions (any pytree) for off-policy algorithms.

    Each leaf of `data` has a leading `capacity` axis; once full, new transitions overwrite the
    oldest. It lives inside the train state, so a batch of runs keeps a batch of buffers.
    """

    data: Any
    position: jax.Array  # the slot the next transition goes to (int32)
    size: jax.Array  # filled slots, at most capacity (int32)

    @classmethod
    def create(cls, example: Any, capacity: int) -> ReplayBuffer:
        """An empty buffer for transitions shaped like `example` (one transition, no batch axis)."""
        data = jax.tree.map(lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example)
        return cls(data=data, position=jnp.zeros((), jnp.int32), size=jnp.zeros((), jnp.int32))

    @property
    def capacity(self) -> int:
        return jax.tree.leaves(self.data)[0].shape[0]

    def add(self, batch: Any) -> ReplayBuffer:
        """Append a batch (leading axis n <= capacity), overwriting the oldest slots when full."""
        n = jax.tree.leaves(batch)[0].shape[0]
        slots = (self.position + jnp.arange(n)) % self.capacity
        data = jax.tree.map(lambda store, new: store.at[slots].set(new), self.data, batch)
        return ReplayBuffer(
            data=data,
            position=(self.position + n) % self.capacity,
            size=jnp.minimum(self.size + n, self.capacity),
        )

    def sample(self, key, batch_size: int) -> Any:
        """`batch_size` transitions drawn uniformly, with replacement, from the filled slots
        (as SB3's buffer samples, which CleanRL uses)."""
        index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(self.size, 1))
        return jax.tree.map(lambda store: store[index], self.data)


def all_finite(tree: Any) -> jax.Array:
    """True when every floating leaf of a pytree is finite."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
    if not leaves:
        return jnp.array(True)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def episode_metrics(tracker: EpisodeTracker, loss: jax.Array, params: Any) -> dict[str, jax.Array]:
    """The metrics every algorithm reports, from its tracker, its loss and its parameters."""
    return {
        "train_return": tracker.mean(),
        "episodes": tracker.count,
        "loss": loss,
        "diverged": ~(jnp.isfinite(loss) & all_finite(params)),
    }


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named configuration with its source, e.g. CleanRL's PPO on CartPole-v1."""

    static: Mapping[str, Any]
    hparams: Mapping[str, Any]
    source: str
    env_id: str | None = None


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: one object per algorithm
class Algorithm:
    """An algorithm's functions and types, as the runner and the spec see them."""

    name: str
    Static: type
    HParams: type
    init: Callable[..., Any]
    update: Callable[..., tuple[Any, dict[str, jax.Array]]]
    act: Callable[..., jax.Array]
    steps_per_iteration: Callable[[Any], int]
    #: "discrete", "continuous" or "both"
    action_kinds: str
    description: str
    presets: Mapping[str, Preset] = dataclasses.field(default_factory=dict)
    #: extra shape checks beyond field types: (static, env) -> [(field, message), ...]
    check_static: Callable[[Any, Any], list[tuple[str, str]]] = lambda static, env: []
    #: checks of hyperparameters against each other or the Static, beyond each field's range:
    #: (hparams: name -> value, static) -> [(hyperparameter name, message), ...]
    check_hparams: Callable[[Mapping[str, float], Any], list[tuple[str, str]]] | None = None

    def __post_init__(self):
        if self.name in REGISTRY:
            raise ValueError(f"two algorithms are named {self.name!r}")
        REGISTRY[self.name] = self

    def num_iterations(self, static: Any) -> int:
        """Whole iterations in the budget; a remainder is dropped (as CleanRL and PureJaxRL do)."""
        return static.total_env_steps // self.steps_per_iteration(static)

    def act_masks(self, env: Any, env_state: Any, env_params: Any) -> dict[str, jax.Array]:
        """`act`'s keywords for a batch of env states: their action masks, where the env has masks
        and `act` takes an `action_mask` (the actor-critic family); otherwise none (act unmasked)."""
        if not (env.has_action_mask and "action_mask" in inspect.signature(self.act).parameters):
            return {}
        return {"action_mask": jax.vmap(env.action_mask, (0, None))(env_state, env_params)}

    def supports(self, env: Any, env_params: Any) -> bool:
        from jaxrl_suite.envs.core import Discrete

        discrete = isinstance(env.action_space(env_params), Discrete)
        return self.action_kinds == "both" or (self.action_kinds == "discrete") == discrete
