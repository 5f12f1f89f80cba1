"""Adapter from Jumanji (InstaDeep) games to the suite's `Environment` interface.

Jumanji steps `(state, action) -> (state, TimeStep)` with its randomness inside the state, and
marks every end with discount 0, its time limit included (Snake's 4,000 steps). Here:

* the Jumanji environment is built without a time limit, so discount 0 is a real end of the game:
  that is `terminated`;
* the time limit is the adapter's, `params.max_steps_in_episode`, a traced int leaf (Snake: 4,000,
  Jumanji's own; Game2048 and Minesweeper have none in Jumanji, so theirs is only a safety net),
  and sets `truncated` (with `terminated` too if the game ends on that step; termination wins);
* observations are the game's main array as float32 (Snake's feature planes, 2048's tile
  exponents, Minesweeper's board); Jumanji's `step_count` is not observed, as in the suite's
  other families;
* every game here has an action mask: `action_mask(state, params)` returns it, and a policy that
  reads it never plays an illegal move (an illegal move ends a Snake or Minesweeper episode).
  Minesweeper's (row, column) action is flattened to one index, row-major.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl_suite.envs.core import Box, Discrete, Environment, auto_reset


@dataclasses.dataclass(frozen=True)
class JumanjiGame:
    jumanji_id: str
    observation_field: str  # the field of Jumanji's Observation that is observed
    low: float
    high: float
    max_steps_in_episode: int
    no_time_limit_kwargs: tuple[tuple[str, Any], ...] = ()


_FOREVER = int(np.iinfo(np.int32).max)

JUMANJI_GAMES = {
    "Snake-v1": JumanjiGame("Snake-v1", "grid", 0.0, 1.0, 4000, (("time_limit", _FOREVER),)),
    # 2048 tile exponents: a 4x4 board can hold at most 2^17
    "Game2048-v1": JumanjiGame("Game2048-v1", "board", 0.0, 17.0, 100_000),
    # -1 unexplored, else the number of adjacent mines; 100 cells bound an episode anyway
    "Minesweeper-v0": JumanjiGame("Minesweeper-v0", "board", -1.0, 8.0, 100),
}


@struct.dataclass
class JumanjiParams:
    max_steps_in_episode: int


@struct.dataclass
class JumanjiState:
    game_state: Any  # Jumanji's own state (with its PRNG key)
    action_mask: jax.Array  # bool[num_actions], flattened


class JumanjiEnv(Environment):
    """A Jumanji game with a separate time limit and its action mask exposed."""

    has_action_mask = True

    def __init__(self, name: str) -> None:
        import jumanji

        self.game = JUMANJI_GAMES[name]
        self.jumanji_env = jumanji.make(self.game.jumanji_id, **dict(self.game.no_time_limit_kwargs))
        spec = self.jumanji_env.action_spec
        # DiscreteArray has num_values; Minesweeper's MultiDiscreteArray has one per axis
        self._action_shape = tuple(int(n) for n in np.atleast_1d(np.asarray(spec.num_values)))
        self._default_params = JumanjiParams(max_steps_in_episode=self.game.max_steps_in_episode)
        self._auto_reset_step = auto_reset(self._step_without_reset, self.reset)

    @property
    def default_params(self) -> JumanjiParams:
        return self._default_params

    def _observe(self, game_state, timestep):
        obs = getattr(timestep.observation, self.game.observation_field).astype(jnp.float32)
        mask = jnp.reshape(timestep.observation.action_mask, (-1,)).astype(jnp.bool_)
        return obs, JumanjiState(game_state=game_state, action_mask=mask)

    def reset(self, key, params):
        return self._observe(*self.jumanji_env.reset(key))

    def step(self, key, state, action, params):
        return self._auto_reset_step(key, state, action, params)

    def _step_without_reset(self, key, state, action, params):
        game_action = self.to_game_action(action)
        game_state, timestep = self.jumanji_env.step(state.game_state, game_action)
        obs, next_state = self._observe(game_state, timestep)
        terminated = timestep.discount == 0.0
        truncated = game_state.step_count >= params.max_steps_in_episode
        return obs, next_state, jnp.asarray(timestep.reward, jnp.float32), terminated, truncated, {}

    def to_game_action(self, action: jax.Array) -> jax.Array:
        """The suite's flat action index as the action Jumanji's `step` takes."""
        if len(self._action_shape) == 1:
            return action
        return jnp.stack(jnp.unravel_index(action, self._action_shape)).astype(jnp.int32)

    def action_mask(self, state, params) -> jax.Array:
        return state.action_mask

    def observation_space(self, params) -> Box:
        return Box(low=self.game.low, high=self.game.high, shape=self._observation_shape, dtype=jnp.float32)

    def action_space(self, params) -> Discrete:
        return Discrete(n=int(np.prod(self._action_shape)))

    @functools.cached_property
    def _observation_shape(self) -> tuple[int, ...]:
        obs, _ = jax.eval_shape(self.reset, jax.random.key(0), self._default_params)
        return tuple(obs.shape)
