"""Population-based training (Jaderberg et al. 2017): truncation selection with perturb/resample.

A population trains side by side. Every `ready_env_steps` (a multiple of the segment length)
the members are ranked on their tuning-seed score; each of the worst floor(q * population)
members (q = exploit_quantile) copies the carry and every hyperparameter of a member drawn
uniformly from the best floor(q * population) (exploit), then explores: for each hyperparameter PBT may change, with
probability `resample_probability` a fresh draw from the search space, otherwise the source's
value times a factor drawn from `perturb_factors`, clipped to the space's bounds (for a list of
values, one step to the next larger or smaller listed value). The others keep their carry and
values. At the full budget the best member is the choice, and its hyperparameter *schedule*
(`schedule`) is the tuner's output, to be trained from scratch on the test seeds.

PBT shares weights between configurations, so it is outside Tang & Zhang's black-box class and
its lower bound; reports must say so. Its greediness is known (PB2, MF-PBT).

Random draws come from the repetition's own stream (base.generator(seed, repetition, 1)); its
state is part of the tuner state, so a resumed tuner draws what the uninterrupted one would.
Within a decision, the exploiting members draw in ascending index order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
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
    draw_value,
    generator,
    member_scores,
    ranked,
    start_state,
)

CONFIG_STREAM, EXPLORE_STREAM = 0, 1


@dataclasses.dataclass(frozen=True)
class PBTSettings:
    population: int
    ready_env_steps: int  # env steps per member between exploit/explore steps
    max_env_steps: int  # the full budget
    hyperparameters: tuple[str, ...]  # traced HParams that explore may change (each a dimension of `space`)
    exploit_quantile: float = 0.25  # in (0, 0.5]
    perturb_factors: tuple[float, ...] = (0.8, 1.2)
    resample_probability: float = 0.25
    space: tuple[Any, ...] = ()
    repetitions: int = 1
    seed: int = 0
    method = "pbt"

    @property
    def exploiters(self) -> int:
        return int(self.exploit_quantile * self.population)


def plan(settings: PBTSettings) -> Plan:
    ready = tuple(range(settings.ready_env_steps, settings.max_env_steps, settings.ready_env_steps))
    description = (
        f"pbt: population {settings.population}, exploit/explore every {settings.ready_env_steps:,} env steps "
        f"({len(ready)} times), the worst {settings.exploiters} copy the best {settings.exploiters}; explore "
        f"{', '.join(settings.hyperparameters)} (perturb x{' or x'.join(f'{f:g}' for f in settings.perturb_factors)}, "
        f"resample with probability {settings.resample_probability:g})\n"
        f"  {settings.population} members x {settings.max_env_steps:,} env steps per run")
    bracket = Bracket(0, 0, (Rung(settings.population, settings.max_env_steps),))
    return Plan("pbt", (bracket,), (*ready, settings.max_env_steps), description)


def configurations(settings: PBTSettings, repetition: int) -> list[dict[str, Any]]:
    """The initial population of one repetition."""
    return draw_configurations(settings.space, settings.population, generator(settings.seed, repetition, CONFIG_STREAM))


def start(settings: PBTSettings, repetition: int) -> tuple[TunerState, Actions]:
    initial = tuple({name: float(c[name]) for name in settings.hyperparameters}
                    for c in configurations(settings, repetition))
    rng = generator(settings.seed, repetition, EXPLORE_STREAM)
    state = start_state("pbt", repetition, settings.population, hparams=initial, rng=rng.bit_generator.state,
                        history=({"env_steps": 0, "hparams": list(initial)},))
    return state, Actions(state.active, plan(settings).decision_points[0])


def decide(settings: PBTSettings, state: TunerState, env_steps: int, scores: np.ndarray) -> tuple[TunerState, Actions]:
    the_plan = plan(settings)
    check_call(the_plan, state, env_steps, scores)
    means = member_scores(scores)
    order = ranked(means, range(settings.population))
    charge = charged(state, env_steps, np.shape(scores)[1])
    if env_steps == settings.max_env_steps:
        best = order[0]
        record = {"env_steps": env_steps, "ranked": order, "best": best}
        new_state = dataclasses.replace(state, env_steps=env_steps, active=(), best=best, charged_env_steps=charge,
                                        history=(*state.history, record))
        return new_state, Actions((), None, best=best)

    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state.rng
    k = settings.exploiters
    top, bottom = order[:k], sorted(order[-k:])
    source = list(range(settings.population))
    hparams = [dict(h) for h in state.hparams]
    for member in bottom:
        source[member] = top[int(rng.integers(k))]
        hparams[member] = explore(settings, state.hparams[source[member]], rng)
    record = {"env_steps": env_steps, "ranked": order, "source": source, "hparams": hparams}
    new_state = dataclasses.replace(
        state, env_steps=env_steps, hparams=tuple(hparams), rng=rng.bit_generator.state, charged_env_steps=charge,
        history=(*state.history, record))
    next_point = next(p for p in the_plan.decision_points if p > env_steps)
    return new_state, Actions(state.active, next_point, source=tuple(source), hparams=tuple(hparams))


def explore(settings: PBTSettings, values: Mapping[str, float], rng: np.random.Generator) -> dict[str, float]:
    dimensions = {d.name: d for d in settings.space}
    out = dict(values)
    for name in settings.hyperparameters:
        dimension = dimensions[name]
        if rng.random() < settings.resample_probability:
            out[name] = float(draw_value(dimension, rng))
        else:
            factor = settings.perturb_factors[int(rng.integers(len(settings.perturb_factors)))]
            out[name] = perturb(dimension, values[name], factor)
    return out


def perturb(dimension: Any, value: float, factor: float) -> float:
    """`value` times `factor` within the dimension's bounds; for a list of values, one step towards
    the larger (factor > 1) or smaller (factor < 1) neighbour of the nearest listed value."""
    if dimension.kind == "values":
        listed = sorted(float(v) for v in dimension.values)
        at = int(np.argmin([abs(v - value) for v in listed]))
        step = 1 if factor > 1 else -1 if factor < 1 else 0
        return listed[min(max(at + step, 0), len(listed) - 1)]
    return float(np.clip(value * factor, dimension.low, dimension.high))


def lineage_root(state: TunerState, member: int) -> int:
    """The member of the initial population whose weights `member` descends from: its other
    (unexplored) searched values are the root's, copied along with the weights."""
    for record in reversed(state.history):
        member = record["source"][member] if "source" in record else member
    return member


def schedule(state: TunerState, member: int) -> list[tuple[int, dict[str, float]]]:
    """The hyperparameters `member` trained with, as (from env step, values) pieces, following its
    lineage back through every copy; consecutive equal pieces are merged."""
    pieces = []
    for record in reversed(state.history):
        if "hparams" not in record:
            continue  # the final selection
        pieces.append((record["env_steps"], dict(record["hparams"][member])))
        member = record["source"][member] if "source" in record else member
    pieces.reverse()
    merged = [pieces[0]]
    for start_at, values in pieces[1:]:
        if values != merged[-1][1]:
            merged.append((start_at, values))
    return merged
