"""Hyperband (Li, Jamieson, DeSalvo, Rostamizadeh & Talwalkar, JMLR 2018, Algorithm 1).

With R the maximum budget in units of the minimum budget r (R = max_env_steps / min_env_steps)
and s_max = floor(log_eta R), Hyperband runs s_max + 1 brackets s = s_max, ..., 0. Bracket s
starts n = ceil((s_max + 1) / (s + 1) * eta^s) configurations at r_0 = R * eta^(-s) units and is
a successive halving: at rung i, n_i = floor(n * eta^(-i)) members at r_i = r_0 * eta^i units,
keeping the top floor(n_i / eta). Every bracket ends at R, and the best of the brackets'
finalists is the choice. For R = 81, eta = 3 this is the paper's Table 1 (tests/test_tuners.py).

Here the brackets train side by side (one group of runs, all starting together), so a member of
bracket s trains straight on until its bracket's first rung; the decision points are the union
of all rung budgets. The budget in env steps of a rung is its units times min_env_steps, and R
must be a power of eta (so every rung falls on a segment end, which the spec checks).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jaxrl_suite.tuners.base import Bracket, Plan
from jaxrl_suite.tuners.successive_halving import bracket_rungs, configurations, decide, power_of, rung_plan, start

__all__ = ["HyperbandSettings", "brackets", "configurations", "decide", "plan", "start"]


@dataclasses.dataclass(frozen=True)
class HyperbandSettings:
    eta: int
    min_env_steps: int  # one unit of budget: the first rung of the most exploratory bracket
    max_env_steps: int  # R units of min_env_steps, R = eta^s_max
    space: tuple[Any, ...] = ()
    repetitions: int = 1
    seed: int = 0
    method = "hyperband"


def brackets(max_units: int, eta: int, min_env_steps: int = 1) -> tuple[Bracket, ...]:
    """Li et al.'s brackets for R = max_units, most exploratory first; budgets in env steps."""
    s_max = power_of(max_units, eta)
    if s_max is None:
        raise ValueError(f"R = {max_units} is not a power of eta = {eta}")
    out, offset = [], 0
    for s in range(s_max, -1, -1):
        # n = ceil((s_max + 1) / (s + 1) * eta^s), in integers: -(-a // b) is ceil(a / b).
        configs = -(-(s_max + 1) * eta**s // (s + 1))
        first_budget = max_units // eta**s * min_env_steps
        out.append(Bracket(s, offset, bracket_rungs(configs, eta, first_budget, s + 1)))
        offset += configs
    return tuple(out)


def plan(settings: HyperbandSettings) -> Plan:
    units = settings.max_env_steps // settings.min_env_steps
    found = brackets(units, settings.eta, settings.min_env_steps)
    members = sum(b.rungs[0].configs for b in found)
    return rung_plan(
        "hyperband", found,
        f"hyperband: R = {units} x {settings.min_env_steps:,} env steps, eta = {settings.eta}, "
        f"{len(found)} brackets, {members} configurations")
