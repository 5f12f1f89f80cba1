"""The hard instance of Tang & Zhang's lower bound on the cost of hyperparameter tuning.

Tang & Zhang, "The Statistical Cost of Hyperparameter Tuning in Reinforcement Learning" (2026):
a family of M one-state, one-step MDPs (bandits) sharing the action set {0, 1, ..., M}. MDP i
(i ∈ {1..M}) pays reward 1{a = i}: action 0 never pays, exactly one other action does. Which
member of the family is in play is the env param `optimal_action` = i, so the family is a pytree
that vmaps like any other env params (`HardInstanceBandit.family_params()`).

Every episode is a single step that terminates; `step` auto-resets, so a rollout of n steps is n
episodes.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_suite.envs.core import Box, Discrete, Environment


@struct.dataclass
class HardInstanceParams:
    """Which MDP of the family: the action i ∈ {1..M} that pays 1."""

    optimal_action: jax.Array


@struct.dataclass
class HardInstanceState:
    """The single state; it carries only the number of episodes finished so far."""

    episodes_done: jax.Array


class HardInstanceBandit(Environment):
    """MDP i of the Tang & Zhang family of M one-state bandits; actions 0..M, reward 1{a = i}."""

    def __init__(self, num_mdps: int):
        if num_mdps < 1:
            raise ValueError(f"the family needs at least one MDP, got num_mdps={num_mdps}")
        self.num_mdps = int(num_mdps)

    @property
    def default_params(self) -> HardInstanceParams:
        return HardInstanceParams(optimal_action=jnp.asarray(1, jnp.int32))

    def family_params(self) -> HardInstanceParams:
        """All M members, batched along axis 0: optimal_action = 1..M."""
        return HardInstanceParams(
            optimal_action=jnp.arange(1, self.num_mdps + 1, dtype=jnp.int32)
        )

    def reset(self, key: jax.Array, params: HardInstanceParams):
        return self._observation(), HardInstanceState(episodes_done=jnp.asarray(0, jnp.int32))

    def step(
        self, key: jax.Array, state: HardInstanceState, action: jax.Array,
        params: HardInstanceParams,
    ) -> tuple[jax.Array, HardInstanceState, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        reward = (jnp.asarray(action) == params.optimal_action).astype(jnp.float32)
        # Every episode ends after one step. The auto-reset is written out rather than taken from
        # core.auto_reset because the reset observation equals the final one and the state keeps
        # counting episodes across resets.
        obs = self._observation()
        return (
            obs,
            HardInstanceState(episodes_done=state.episodes_done + 1),
            reward,
            jnp.asarray(True),
            jnp.asarray(False),
            {"final_obs": obs},
        )

    def observation_space(self, params: HardInstanceParams) -> Box:
        return Box(low=0.0, high=0.0, shape=(1,))

    def action_space(self, params: HardInstanceParams) -> Discrete:
        return Discrete(self.num_mdps + 1)

    @staticmethod
    def _observation() -> jax.Array:
        # One state, so the observation carries no information.
        return jnp.zeros((1,), jnp.float32)
