"""Adapter from XLand-MiniGrid (Nikulin et al., 2024) to the suite's `Environment` interface.

xminigrid's environments step a `TimeStep` (state, observation, reward, discount, step type) and
do not reset themselves. The adapter keeps that `TimeStep` as its state and adds the suite's
auto-reset; the flags come from xminigrid's own: `terminated` where it sets discount 0 (goal
reached), `truncated` where the step count reaches `params.max_steps` (both on a goal reached
at the last step, as in gymnax and brax; termination takes precedence). Observations are
xminigrid's symbolic egocentric views, uint8[view, view, 2] (tile id, colour id), as its
authors' agents embed them.

XLand ids need a ruleset (goal, rules, objects). xminigrid's benchmarks of rulesets are downloaded
when loaded, which an offline run cannot do, so `XLand-MiniGrid-*` ids get one ruleset made on
the spot from the package's own goal and rule classes (`single_rule_ruleset`): a depth-one task
like the "trivial" ones of the benchmarks. It is a fixed task for a given `ruleset_seed`, not a
sample of the published benchmark; pass `ruleset=` (an `xminigrid.types.RuleSet`, e.g. from
`xminigrid.load_benchmark(...)` where it can download) to train on another.

xminigrid's params are static (not vmappable): a changed `max_steps` compiles a new program.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite.envs.core import Box, Discrete, Environment, auto_reset


def single_rule_ruleset(seed: int) -> Any:
    """A depth-one XLand task from `seed`: bring object A next to B, which makes C; go next to C.

    A fourth object is a distractor. All four are distinct (tile, colour) pairs, drawn with numpy
    so the ruleset is the same on every machine and made without compiling anything.
    """
    from xminigrid.core.constants import Colors, Tiles
    from xminigrid.core.goals import AgentNearGoal
    from xminigrid.core.rules import TileNearRule
    from xminigrid.types import RuleSet

    shapes = (Tiles.BALL, Tiles.SQUARE, Tiles.PYRAMID, Tiles.KEY, Tiles.STAR, Tiles.HEX)
    colors = (Colors.RED, Colors.GREEN, Colors.BLUE, Colors.PURPLE, Colors.YELLOW, Colors.GREY)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(shapes) * len(colors), size=4, replace=False)
    tile_a, tile_b, product, distractor = (
        jnp.array((shapes[p // len(colors)], colors[p % len(colors)]), jnp.uint8) for p in picks
    )
    return RuleSet(
        goal=AgentNearGoal(tile=product).encode(),
        rules=TileNearRule(tile_a=tile_a, tile_b=tile_b, prod_tile=product).encode()[None, :],
        init_tiles=jnp.stack([tile_a, tile_b, distractor]),
    )


class XMiniGridEnv(Environment):
    """An xminigrid environment with the suite's auto-reset and flags."""

    def __init__(self, name: str, ruleset: Any = None, ruleset_seed: int = 0, **kwargs: Any) -> None:
        """`kwargs` are xminigrid params fields (e.g. `max_steps`, `view_size`)."""
        import xminigrid

        self.xminigrid_env, params = xminigrid.make(name, **kwargs)
        if name.startswith("XLand-MiniGrid"):
            params = params.replace(ruleset=single_rule_ruleset(ruleset_seed) if ruleset is None else ruleset)
        elif ruleset is not None:
            raise ValueError(f"{name} is a fixed MiniGrid task; only XLand-MiniGrid ids take a ruleset")
        self._default_params = params
        self.xminigrid_name = name
        self._auto_reset_step = auto_reset(self._step_without_reset, self.reset)

    @property
    def default_params(self) -> Any:
        return self._default_params

    def reset(self, key, params):
        timestep = self.xminigrid_env.reset(params, key)
        return timestep.observation, timestep

    def step(self, key, state, action, params):
        return self._auto_reset_step(key, state, action, params)

    def _step_without_reset(self, key, state, action, params):
        timestep = self.xminigrid_env.step(params, state, action)
        terminated = timestep.discount == 0.0
        truncated = timestep.state.step_num >= params.max_steps
        return timestep.observation, timestep, jnp.asarray(timestep.reward, jnp.float32), terminated, truncated, {}

    def observation_space(self, params) -> Box:
        from xminigrid.core.constants import NUM_COLORS, NUM_TILES

        shape = tuple(self.xminigrid_env.observation_shape(params))
        return Box(low=0, high=max(NUM_TILES, NUM_COLORS) - 1, shape=shape, dtype=self._observation_dtype)

    def action_space(self, params) -> Discrete:
        return Discrete(n=int(self.xminigrid_env.num_actions(params)))

    @functools.cached_property
    def _observation_dtype(self) -> Any:
        obs, _ = jax.eval_shape(self.reset, jax.random.key(0), self._default_params)
        return obs.dtype
