"""What every tuner shares: plans (brackets of rungs), the tuner state, the actions, ranking,
configuration draws and the charge.

A *plan* is fixed before anything runs and says, per bracket, how many configurations train to
which env-step budget (its rungs). Successive halving is one bracket, Hyperband several, a plain
grid or random search one bracket with a single rung at the full budget, PBT one bracket whose
population trains to the full budget with exploit/explore decisions at its ready points. All
brackets of a plan train side by side, as one group of runs that starts together; a member stops
at the rung where it is not promoted and never resumes. So the decision points are the distinct
rung budgets (or PBT's ready points), and every member of a plan has one global index (brackets
are laid out one after another: bracket b owns indices offset_b .. offset_b + n_0(b) - 1).

The *state* (`TunerState`) is plain JSON data (to_json / from_json), so a runner can store it in
its checkpoint manifest and resume a tuner exactly, random stream included.

Scores: `decide` takes an array of shape [members, tuning seeds] holding, for every member, the
score it reached on each tuning seed at the current decision point (higher is better; the runner
chooses the metric, e.g. the mean training return of the last episodes). Rows of members that
are no longer active are ignored. A member's score is its mean over the tuning seeds; a NaN (a
diverged run) makes that mean -inf, so a diverged member ranks last. Ties are broken by the
lowest member index, so every decision is deterministic.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

METHODS = ("grid", "random", "successive_halving", "hyperband", "pbt")


@dataclasses.dataclass(frozen=True)
class Rung:
    configs: int  # n_i: members evaluated at this rung
    env_steps: int  # r_i: the budget (env steps per run) every one of them has reached


@dataclasses.dataclass(frozen=True)
class Bracket:
    index: int  # Hyperband's s; 0 for single-bracket methods
    offset: int  # global index of the bracket's first member
    rungs: tuple[Rung, ...]

    @property
    def members(self) -> range:
        return range(self.offset, self.offset + self.rungs[0].configs)


@dataclasses.dataclass(frozen=True)
class Plan:
    method: str
    brackets: tuple[Bracket, ...]
    decision_points: tuple[int, ...]  # env steps per run at which `decide` is called, ascending
    description: str  # human-readable, for the CLI

    @property
    def members(self) -> int:
        return sum(b.rungs[0].configs for b in self.brackets)

    def charge(self, tuning_seeds: int, repetitions: int = 1) -> int:
        """Env steps the plan consumes: a member stopped after rung i has run r_i steps, so a bracket
        costs sum_i n_i (r_i - r_{i-1}); times tuning seeds, times repetitions."""
        per_seed = 0
        for bracket in self.brackets:
            previous = 0
            for rung in bracket.rungs:
                per_seed += rung.configs * (rung.env_steps - previous)
                previous = rung.env_steps
        return per_seed * tuning_seeds * repetitions


@dataclasses.dataclass(frozen=True)
class Actions:
    """What the runner must do after a decision (see the package docstring for how).

    active: members that train on, ascending; every other member stops for good (mask it or
        re-block the survivors; its records so far stay, it is charged for what it ran).
    next_env_steps: train the active members until each has this many env steps, then call
        `decide` again; None when the tuner has finished.
    source: PBT only: for every member, the member whose carry (weights, optimiser state,
        environment state) it continues from; source[i] == i means it keeps its own.
    hparams: PBT only: for every member, its hyperparameters from now on (overwrite the traced
        HParams leaves named here; the others stay).
    best: when finished, the member the tuner selects (its configuration, or for PBT its
        hyperparameter schedule, is what gets trained from scratch on the test seeds).
    """

    active: tuple[int, ...]
    next_env_steps: int | None
    source: tuple[int, ...] | None = None
    hparams: tuple[Mapping[str, float], ...] | None = None
    best: int | None = None

    @property
    def finished(self) -> bool:
        return self.next_env_steps is None


@dataclasses.dataclass(frozen=True)
class TunerState:
    """A tuner's progress, as JSON-ready data (it goes into the checkpoint manifest)."""

    method: str
    repetition: int
    env_steps: int  # the budget every active member has reached at the last decision
    active: tuple[int, ...]
    charged_env_steps: int  # every env step advanced so far, summed over members and tuning seeds
    history: tuple[Mapping[str, Any], ...] = ()  # one JSON-ready record per decision
    hparams: tuple[Mapping[str, float], ...] | None = None  # PBT: every member's current values
    rng: Mapping[str, Any] | None = None  # PBT: numpy bit-generator state
    best: int | None = None

    @property
    def finished(self) -> bool:
        return self.best is not None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TunerState:
        data = json.loads(text)
        data["active"] = tuple(data["active"])
        data["history"] = tuple(data["history"])
        if data["hparams"] is not None:
            data["hparams"] = tuple(data["hparams"])
        return cls(**data)


def generator(seed: int, repetition: int, stream: int) -> np.random.Generator:
    """The random stream `stream` of one repetition: independent of every other (seed, repetition,
    stream), and the same on every machine. Stream 0 draws configurations, stream 1 is PBT's."""
    return np.random.default_rng([seed, repetition, stream])


def member_scores(scores: np.ndarray) -> np.ndarray:
    """Each member's score: the mean over tuning seeds; a NaN on any seed makes it -inf."""
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2 or scores.shape[1] < 1:
        raise ValueError(f"scores must have shape [members, tuning seeds], got {scores.shape}")
    means = scores.mean(axis=1)
    return np.where(np.isnan(means), -np.inf, means)


def ranked(scores: np.ndarray, members: Sequence[int]) -> list[int]:
    """`members` best first by their score in `scores` (a vector over all members); equal scores
    keep the lower index first."""
    members = list(members)
    # lexsort sorts by its last key first: descending score, then ascending index.
    order = np.lexsort((np.asarray(members), -scores[members]))
    return [members[i] for i in order]


def start_state(method: str, repetition: int, members: int, **extra: Any) -> TunerState:
    return TunerState(method, repetition, 0, tuple(range(members)), 0, **extra)


def charged(state: TunerState, env_steps: int, tuning_seeds: int) -> int:
    """The charge after the active members advanced from state.env_steps to env_steps."""
    return state.charged_env_steps + len(state.active) * (env_steps - state.env_steps) * tuning_seeds


def check_call(plan: Plan, state: TunerState, env_steps: int, scores: np.ndarray) -> None:
    """Guard against a runner calling `decide` out of turn (a programming error, not bad input)."""
    if state.finished:
        raise ValueError("the tuner has finished; nothing more to decide")
    expected = next((p for p in plan.decision_points if p > state.env_steps), None)
    if env_steps != expected:
        raise ValueError(f"decide called at {env_steps} env steps; the next decision point is {expected}")
    if np.shape(scores)[0] != plan.members:
        raise ValueError(f"scores cover {np.shape(scores)[0]} members; the plan has {plan.members}")


# ---------------------------------------------------------------------------------------------
# configurations


def space_size(dimensions: Sequence[Any]) -> int | None:
    """How many distinct points the space has; None when a dimension is a distribution."""
    if any(d.kind != "values" for d in dimensions):
        return None
    return math.prod(len(d.values) for d in dimensions)


def draw_configurations(dimensions: Sequence[Any], count: int | None, rng: np.random.Generator) -> list[dict[str, Any]]:
    """`count` distinct points of the space (every grid point in order when count is None).

    A finite space (every dimension a list) is sampled without replacement, so no configuration is
    trained twice; a space with a distribution draws every dimension independently. `dimensions`
    are jaxrl_suite.spec.Dimension (name, kind "values" | "uniform" | "log_uniform", values, low,
    high).
    """
    names = [d.name for d in dimensions]
    size = space_size(dimensions)
    if size is not None:
        grid = list(itertools.product(*(d.values for d in dimensions)))
        if count is None:
            return [dict(zip(names, point, strict=True)) for point in grid]
        if count > size:
            raise ValueError(f"{count} configurations from a space of {size} points")
        chosen = rng.choice(size, size=count, replace=False)
        return [dict(zip(names, grid[int(i)], strict=True)) for i in chosen]
    if count is None:
        raise ValueError("a grid needs every dimension to be a list of values")
    return [{d.name: draw_value(d, rng) for d in dimensions} for _ in range(count)]


def draw_value(dimension: Any, rng: np.random.Generator) -> Any:
    if dimension.kind == "values":
        return dimension.values[int(rng.integers(len(dimension.values)))]
    if dimension.kind == "uniform":
        return float(rng.uniform(dimension.low, dimension.high))
    return float(np.exp(rng.uniform(np.log(dimension.low), np.log(dimension.high))))


def rung_table(brackets: Sequence[Bracket]) -> str:
    """One line per bracket: n_i x r_i for each rung."""
    lines = []
    for bracket in brackets:
        cells = ", ".join(f"{r.configs} x {r.env_steps:,}" for r in bracket.rungs)
        lines.append(f"  bracket s={bracket.index}: {cells}  (configurations x env steps per run)")
    return "\n".join(lines)
