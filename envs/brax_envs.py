"""Adapter from brax's locomotion environments to the suite's `Environment` interface.

Brax leaves episode bookkeeping to its training wrappers (EpisodeWrapper, AutoResetWrapper),
which fold the time limit into `done`. Here that bookkeeping is re-expressed in the suite's
contract instead:

* the state counts the steps of the current episode;
* `terminated` is brax's `done` from the physics (e.g. the hopper falling);
* `truncated` is set when the count reaches `params.max_steps_in_episode` (an int leaf of the
  params, default 1000, so it can differ across vmapped runs). Both may be set together, as in
  gymnax and gymnasium; termination takes precedence;
* an ended episode restarts from a fresh `reset` with a new key (brax's AutoResetWrapper
  replays the first initial state instead), and `info["final_obs"]` holds its last observation.

Actions live in Box(-1, 1, (action_size,)); brax does not clip them, so wrap the env in
`ClipAction` when a policy can sample outside.

Backend: "generalized" by default, for three reasons. It is the default of brax's own
environment classes and the physics they were written for (joint-space dynamics, closest to
MuJoCo), so brax results are reproduced with it; it is the only backend every env supports
(swimmer accepts no other); and on CPU it steps about as fast as "mjx" (MuJoCo XLA, built for
accelerators) and faster than "positional". "spring" steps faster still but is an
approximation: pass `backend="spring"` where speed matters more than fidelity.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_suite.envs.core import Box, Environment, auto_reset

DEFAULT_BACKEND = "generalized"
DEFAULT_MAX_STEPS_IN_EPISODE = 1000

#: brax 0.14's environments; listed here so ids are known without importing brax
#: (brax's "fast" env is a unit-test stub and is left out)
BRAX_ENV_NAMES = (
    "ant",
    "halfcheetah",
    "hopper",
    "humanoid",
    "humanoidstandup",
    "inverted_pendulum",
    "inverted_double_pendulum",
    "pusher",
    "reacher",
    "swimmer",
    "walker2d",
)


class _JaxNumpyWithLegacyClip:
    """jax.numpy, except that `clip` still accepts the `a_min`/`a_max` keywords.

    brax 0.14's fluid model (swimmer's water) calls `jnp.clip(..., a_min=...)`, keywords jax
    0.10 removed, so swimmer fails as soon as its step is traced. This stands in for `jnp` in
    `brax.fluid` only; drop it once brax stops using the old keywords.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(jnp, name)

    @staticmethod
    def clip(x, a_min=None, a_max=None, *, min=None, max=None):  # min/max: jnp's own keywords
        return jnp.clip(x, a_min if min is None else min, a_max if max is None else max)


def _let_brax_fluid_run_on_this_jax() -> None:
    if "a_min" in inspect.signature(jnp.clip).parameters:
        return
    from brax import fluid

    if not isinstance(fluid.jp, _JaxNumpyWithLegacyClip):
        fluid.jp = _JaxNumpyWithLegacyClip()


@struct.dataclass
class BraxParams:
    max_steps_in_episode: int = DEFAULT_MAX_STEPS_IN_EPISODE


@struct.dataclass
class BraxEnvState:
    brax_state: Any  # brax.envs.State: physics state, obs, reward, done, metrics
    steps: jax.Array  # int32, steps taken in the current episode


class BraxEnv(Environment):
    """A brax environment with the suite's episode bookkeeping."""

    def __init__(
        self,
        name: str,
        backend: str = DEFAULT_BACKEND,
        max_steps_in_episode: int = DEFAULT_MAX_STEPS_IN_EPISODE,
        **kwargs: Any,
    ) -> None:
        """`kwargs` go to brax's environment class (e.g. hopper's `healthy_z_range`)."""
        # brax is imported here, not at module level, so that listing ids stays cheap.
        from brax import envs as brax_envs

        _let_brax_fluid_run_on_this_jax()

        self.brax_env = brax_envs.get_environment(name, backend=backend, **kwargs)
        self.brax_name = name
        self.backend = backend
        self._default_params = BraxParams(max_steps_in_episode=max_steps_in_episode)
        self._auto_reset_step = auto_reset(self._step_without_reset, self.reset)

    @property
    def default_params(self) -> BraxParams:
        return self._default_params

    def reset(self, key, params):
        brax_state = self.brax_env.reset(key)
        return brax_state.obs, BraxEnvState(brax_state=brax_state, steps=jnp.zeros((), jnp.int32))

    def step(self, key, state, action, params):
        return self._auto_reset_step(key, state, action, params)

    def _step_without_reset(self, key, state, action, params):
        brax_state = self.brax_env.step(state.brax_state, action)
        # Some envs return Python constants (inverted_pendulum's reward is 1.0); as arrays they
        # can be selected against the reset state and carried through lax.scan.
        brax_state = jax.tree.map(jnp.asarray, brax_state)
        steps = state.steps + 1
        terminated = brax_state.done > 0.5  # brax encodes done as a float 0/1
        truncated = steps >= params.max_steps_in_episode
        next_state = BraxEnvState(brax_state=brax_state, steps=steps)
        return brax_state.obs, next_state, brax_state.reward, terminated, truncated, {}

    def observation_space(self, params) -> Box:
        return Box(low=-jnp.inf, high=jnp.inf, shape=self._observation_shape)

    def action_space(self, params) -> Box:
        return Box(low=-1.0, high=1.0, shape=(self.brax_env.action_size,))

    @functools.cached_property
    def _observation_shape(self) -> tuple[int, ...]:
        # Shape inference only: tracing reset compiles nothing.
        obs, _ = jax.eval_shape(self.reset, jax.random.key(0), self._default_params)
        return tuple(obs.shape)
