"""Successive halving (Jamieson & Talwalkar 2016, in the form Li et al. 2018 use inside Hyperband).

n configurations train to the minimum budget r; at each rung i the n_i = floor(n / eta^i) members
still in are ranked on their tuning-seed score and the top floor(n_i / eta) go on to the budget
r * eta^(i+1); the rest stop. The last rung is the full budget R = r * eta^s, and the best member
there is the tuner's choice. Members continue from where they stopped (the runner keeps their
carries), so a member that stops after rung i has cost r_i env steps per tuning seed.

Ties at a rung are broken by the lowest member index (`base.ranked`), so a plan and a set of
scores give one decision. The rung-based `decide` here also drives Hyperband (several brackets
side by side) and plain grid/random search (one rung at the full budget).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxrl_suite.tuners.base import (
    Actions,
    Bracket,
    Plan,
    Rung,
    TunerState,
    charged,
    check_call,
    draw_configurations,
    generator,
    member_scores,
    ranked,
    rung_table,
    start_state,
)


@dataclasses.dataclass(frozen=True)
class SuccessiveHalvingSettings:
    num_configs: int  # n
    eta: int  # reduction factor: the top 1/eta of each rung goes on
    min_env_steps: int  # r: the first rung's budget per run
    max_env_steps: int  # R = r * eta^s: the last rung's budget per run
    space: tuple[Any, ...] = ()  # the search space's dimensions (jaxrl_suite.spec.Dimension)
    repetitions: int = 1
    seed: int = 0
    method = "successive_halving"


def power_of(ratio: int, eta: int) -> int | None:
    """s with eta^s == ratio, or None."""
    if eta < 2:
        raise ValueError(f"eta must be at least 2, got {eta}")
    s, value = 0, 1
    while value < ratio:
        s, value = s + 1, value * eta
    return s if value == ratio else None


def bracket_rungs(configs: int, eta: int, min_env_steps: int, rungs: int) -> tuple[Rung, ...]:
    """n_i = floor(n / eta^i) members at budget r_i = r * eta^i, for i = 0 .. rungs - 1.

    floor(floor(n / eta^i) / eta) == floor(n / eta^(i+1)) for integer eta, so keeping the top
    floor(n_i / eta) at rung i leaves exactly n_{i+1} members for rung i + 1."""
    return tuple(Rung(configs // eta**i, min_env_steps * eta**i) for i in range(rungs))


def plan(settings: SuccessiveHalvingSettings) -> Plan:
    s = power_of(settings.max_env_steps // settings.min_env_steps, settings.eta)
    if s is None or settings.min_env_steps * settings.eta**s != settings.max_env_steps:
        raise ValueError("max_env_steps must be min_env_steps * eta^s")
    if settings.num_configs // settings.eta**s < 1:
        raise ValueError(f"{settings.num_configs} configurations leave none for the last of {s + 1} rungs")
    rungs = bracket_rungs(settings.num_configs, settings.eta, settings.min_env_steps, s + 1)
    return rung_plan(
        "successive_halving", (Bracket(s, 0, rungs),),
        f"successive halving: {settings.num_configs} configurations, eta = {settings.eta}, {s + 1} rungs "
        f"(keep the top 1/{settings.eta} at each)")


def rung_plan(method: str, brackets: Sequence[Bracket], headline: str) -> Plan:
    points = tuple(sorted({rung.env_steps for bracket in brackets for rung in bracket.rungs}))
    return Plan(method, tuple(brackets), points, headline + "\n" + rung_table(brackets))


def configurations(settings: Any, repetition: int) -> list[dict[str, Any]]:
    """The members' configurations for one repetition: distinct draws from the space, from the
    repetition's own stream (every grid point, in order, for a grid)."""
    count = None if settings.method == "grid" else plan_of(settings).members
    return draw_configurations(settings.space, count, generator(settings.seed, repetition, 0))


def plan_of(settings: Any) -> Plan:
    from jaxrl_suite.tuners import plan as any_plan

    return any_plan(settings)


def start(settings: Any, repetition: int) -> tuple[TunerState, Actions]:
    """Every member trains to the first decision point."""
    the_plan = plan_of(settings)
    state = start_state(settings.method, repetition, the_plan.members)
    return state, Actions(state.active, the_plan.decision_points[0])


def decide(settings: Any, state: TunerState, env_steps: int, scores: np.ndarray) -> tuple[TunerState, Actions]:
    """At `env_steps`, every bracket with a rung there keeps its top floor(n_i / eta) members (its
    next rung's n); brackets without a rung there go on unchanged. After the last rung the best
    finalist (all finalists have the full budget) is the choice."""
    the_plan = plan_of(settings)
    check_call(the_plan, state, env_steps, scores)
    means = member_scores(scores)
    active = set(state.active)
    kept: list[int] = []
    finalists: list[int] = []
    record: dict[str, Any] = {"env_steps": env_steps, "rungs": []}
    for bracket in the_plan.brackets:
        members = [m for m in bracket.members if m in active]
        at = next((i for i, rung in enumerate(bracket.rungs) if rung.env_steps == env_steps), None)
        if at is None:
            kept += members
            continue
        if len(members) != bracket.rungs[at].configs:
            raise ValueError(f"bracket {bracket.index} has {len(members)} active members at rung {at}; "
                             f"its plan says {bracket.rungs[at].configs}")
        order = ranked(means, members)
        last = at == len(bracket.rungs) - 1
        promoted = [] if last else order[: bracket.rungs[at + 1].configs]
        kept += promoted
        if last:
            finalists.append(order[0])
        record["rungs"].append({"bracket": bracket.index, "rung": at, "ranked": order, "promoted": sorted(promoted)})
    next_point = next((p for p in the_plan.decision_points if p > env_steps), None) if kept else None
    best = ranked(means, finalists)[0] if next_point is None else None
    record["best"] = best
    new_state = dataclasses.replace(
        state, env_steps=env_steps, active=tuple(sorted(kept)), best=best,
        charged_env_steps=charged(state, env_steps, np.shape(scores)[1]), history=(*state.history, record))
    return new_state, Actions(new_state.active, next_point, best=best)
