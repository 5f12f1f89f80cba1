"""Grid and random search as tuners: every configuration trains the full budget on the tuning
seeds, and the best one (mean over tuning seeds; ties to the lowest index) is the choice.

They are one-rung plans of the rung machinery in successive_halving.py, so they share its
decide/charge/state and a runner needs no special case for them. A grid tuner draws nothing, so
its repetitions are identical unless the runner gives each repetition its own tuning seeds.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from jaxrl_suite.tuners.base import Bracket, Plan, Rung
from jaxrl_suite.tuners.successive_halving import configurations, decide, rung_plan, start

__all__ = ["GridSettings", "RandomSettings", "configurations", "decide", "plan", "start"]


@dataclasses.dataclass(frozen=True)
class GridSettings:
    max_env_steps: int
    space: tuple[Any, ...] = ()  # every dimension a list of values
    repetitions: int = 1
    seed: int = 0
    method = "grid"


@dataclasses.dataclass(frozen=True)
class RandomSettings:
    num_configs: int
    max_env_steps: int
    space: tuple[Any, ...] = ()
    repetitions: int = 1
    seed: int = 0
    method = "random"


def plan(settings: GridSettings | RandomSettings) -> Plan:
    if settings.method == "grid":
        configs = math.prod(len(d.values) for d in settings.space)
        headline = f"grid search: {configs} configurations, each to the full budget"
    else:
        configs = settings.num_configs
        headline = f"random search: {configs} configurations, each to the full budget"
    return rung_plan(settings.method, (Bracket(0, 0, (Rung(configs, settings.max_env_steps),)),), headline)
