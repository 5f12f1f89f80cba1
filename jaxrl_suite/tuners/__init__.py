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

How a study runs them (tuners/execution.py): every (repetition, member, tuning seed) is a run
of one pool; the active runs advance segment by segment in the runner's fixed blocks (stopped
runs are never gathered again, survivors are re-blocked, so nothing recompiles); at each
decision point `decide` gets each member's tuning-seed scores; PBT's `source`/`hparams` become
row copies of carries and HParams; the states go into the checkpoint after every segment; and
each repetition's output (`best`: its configuration, or PBT's `schedule`) is trained from
scratch on the test seeds. tuners/records.py writes what the study records about them.
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
