"""Tuners: adaptive tuning as a charged protocol (grid, random, successive halving, Hyperband, PBT).

A tuner is a small pure policy over host-side records, run between segments:

    state, actions = start(settings, repetition)
    while not actions.finished:
        ... train actions.active until each has actions.next_env_steps env steps ...
        state, actions = decide(settings, state, env_steps, scores)   # scores: [members, tuning seeds]

`settings` come from the spec's `[algorithms.tuner]` table (tuners/spec.py); `plan(settings)`
derives the rungs / brackets / ready points before anything runs and describes them; `charge`
is the env steps the plan consumes (the state's `charged_env_steps` is the same count, traced).
Everything here is numpy on the host; a decision is deterministic given the scores (ties go to
the lowest member index; random draws come from a generator seeded by (tuner seed, repetition)).

STATUS: the policies, the spec table and their tests are in place; the runner does not run them
yet, so `jaxrl-suite run` validates a spec with a tuner, prints its plan and refuses (exit 2).
What the runner integration must do (the next step):

1. Runs. For each repetition, `configurations(settings, repetition)` gives the members'
   configurations (member index = list index; Hyperband's brackets laid out one after another).
   Build one group of runs per (member, tuning seed) from them. Test seeds never reach a tuner.
2. Segments. The spec guarantees every decision point is a segment end (the evaluation interval
   is a whole number of iterations and divides every rung budget and the PBT ready interval).
   Advance the active runs segment by segment to `actions.next_env_steps`, then call `decide`
   with each member's score on each tuning seed there.
3. Stopping (every method): members not in `actions.active` stop for good. Mask them in the
   compiled program (their carries stop changing and they cost nothing more) or re-block the
   survivors into fewer blocks of the same block size, so nothing recompiles. Their records up
   to the stop stay in the results.
4. PBT: before the next segment, gather along the runs axis: member i's carry becomes member
   `actions.source[i]`'s (the same tuning seed's run), then overwrite member i's traced HParams
   leaves named in `actions.hparams[i]`. Both are array updates on device; no recompile.
5. Charge: `state.charged_env_steps` (or `charge(settings, tuning_seeds)`) times the number of
   environments is what the tuner cost; report it beside the score, as the tuning cost is today.
6. Checkpoint: store `state.to_json()` per repetition in the manifest; `TunerState.from_json`
   resumes it exactly (including PBT's random stream).
7. Output: `actions.best` when finished. Its configuration (PBT: `pbt.schedule(state, best)`,
   a hyperparameter schedule) is then trained from scratch on the test seeds and judged there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxrl_suite.tuners import hyperband, pbt, search, successive_halving
from jaxrl_suite.tuners.base import METHODS, Actions, Bracket, Plan, Rung, TunerState
from jaxrl_suite.tuners.hyperband import HyperbandSettings
from jaxrl_suite.tuners.pbt import PBTSettings
from jaxrl_suite.tuners.search import GridSettings, RandomSettings
from jaxrl_suite.tuners.successive_halving import SuccessiveHalvingSettings

TunerSettings = GridSettings | RandomSettings | SuccessiveHalvingSettings | HyperbandSettings | PBTSettings

MODULES = {"grid": search, "random": search, "successive_halving": successive_halving, "hyperband": hyperband,
           "pbt": pbt}

__all__ = ["METHODS", "Actions", "Bracket", "GridSettings", "HyperbandSettings", "PBTSettings", "Plan",
           "RandomSettings", "Rung", "SuccessiveHalvingSettings", "TunerSettings", "TunerState", "charge",
           "configurations", "decide", "describe", "plan", "start"]


def plan(settings: TunerSettings) -> Plan:
    return MODULES[settings.method].plan(settings)


def configurations(settings: TunerSettings, repetition: int) -> list[dict[str, Any]]:
    return MODULES[settings.method].configurations(settings, repetition)


def start(settings: TunerSettings, repetition: int) -> tuple[TunerState, Actions]:
    if not 0 <= repetition < settings.repetitions:
        raise ValueError(f"repetition {repetition} of {settings.repetitions}")
    return MODULES[settings.method].start(settings, repetition)


def decide(settings: TunerSettings, state: TunerState, env_steps: int,
           scores: np.ndarray) -> tuple[TunerState, Actions]:
    return MODULES[settings.method].decide(settings, state, env_steps, scores)


def charge(settings: TunerSettings, tuning_seeds: int) -> int:
    """Env steps all repetitions of the tuner consume, per environment."""
    return plan(settings).charge(tuning_seeds, settings.repetitions)


def describe(settings: TunerSettings, tuning_seeds: int) -> str:
    """The plan as the CLI prints it, with its charge."""
    reps = settings.repetitions
    return (f"{plan(settings).description}\n  charge: {charge(settings, tuning_seeds):,} env steps per environment "
            f"({tuning_seeds} tuning seed{'s' * (tuning_seeds != 1)} x {reps} repetition{'s' * (reps != 1)})")
