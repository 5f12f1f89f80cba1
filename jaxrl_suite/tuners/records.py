"""What a study writes about its tuners: the long table `tuners.parquet` and the manifest entries.

The table has one row per (run, checkpoint the run reached): the tuning runs of every repetition
(seed_role "tune"; a member stopped by the tuner has rows only up to its stop) and the outputs
trained from scratch on the test seeds (seed_role "test"). Beside the results table's columns
(`config_id` is the member index within its repetition) it has `tuner` (the method),
`repetition` and `charged_env_steps` (that repetition's tuning charge per environment: every env
step its runs advanced, summed over members and tuning seeds). `hp.<name>` holds the value a run
trained with up to that checkpoint, so a replayed PBT schedule shows its switches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from jaxrl_suite.results import HP_PREFIX
from jaxrl_suite.runner import EvalSettings, Schedule
from jaxrl_suite.tuners import plan
from jaxrl_suite.tuners.base import TunerState
from jaxrl_suite.tuners.execution import HP_RECORD, JobProgress, TunerJob

TABLE = "tuners.parquet"
COLUMNS = ("study", "algo", "algorithm", "env", "tuner", "repetition", "config_id", "seed", "seed_role",
           "checkpoint", "env_steps", "train_return", "eval_return", "episodes", "diverged", "charged_env_steps")


def ran(records: dict[str, np.ndarray]) -> np.ndarray:
    """[rows, segments]: which runs advanced in which segment. `diverged` is recorded for every
    segment a run ran (0 or 1), unlike the returns, which are NaN until an episode ends."""
    return ~np.isnan(records["diverged"])


def tuner_table(study: str, jobs: Sequence[TunerJob], progresses: Sequence[JobProgress],
                evaluation: EvalSettings) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for job, progress in zip(jobs, progresses):
        steps = Schedule.of(job.group, evaluation).env_steps()
        charges = [s.charged_env_steps for s in progress.states]
        test_runs = job.test_runs(progress.states)
        per_rep = max(1, len(job.test_seeds))
        runs = [(run, "tune", i // (job.members * job.seeds_per_repetition), i) for i, run in enumerate(job.group.runs)]
        runs += [(run, "test", i // per_rep, i) for i, run in enumerate(test_runs)]
        for run, role, repetition, row in runs:
            records = progress.records[role]
            for checkpoint in np.flatnonzero(ran(records)[row]):
                # the values the run trained with in this segment (PBT changes them)
                values = {**run.hparams, **{name: records[HP_RECORD + name][row, checkpoint] for name in job.searched}}
                rows.append({
                    "study": study, "algo": job.label, "algorithm": job.group.algorithm.name, "env": job.group.env_id,
                    "tuner": job.settings.method, "repetition": repetition, "config_id": run.config_id,
                    "seed": run.seed, "seed_role": role, "checkpoint": int(checkpoint),
                    "env_steps": int(steps[checkpoint]),
                    "train_return": float(records["train_return"][row, checkpoint]),
                    "eval_return": float(records["eval_return"][row, checkpoint]) if "eval_return" in records
                    else float("nan"),
                    "episodes": int(records["episodes"][row, checkpoint]),
                    "diverged": bool(records["diverged"][row, checkpoint]),
                    "charged_env_steps": int(charges[repetition]),
                    **{HP_PREFIX + k: float(v) for k, v in values.items()},
                })
    hp_names = sorted({k for r in rows for k in r if k.startswith(HP_PREFIX)})
    names = list(COLUMNS) + hp_names
    return pa.table({name: [r.get(name, float("nan")) for r in rows] for name in names}) if rows else \
        pa.table({name: [] for name in COLUMNS})


def manifest_entries(jobs: Sequence[TunerJob], progresses: Sequence[JobProgress]) -> list[dict[str, Any]]:
    """One entry per tuner job: plan, charge, configurations tried and each repetition's output."""
    entries = []
    for job, progress in zip(jobs, progresses):
        the_plan = plan(job.settings)
        first_segment = ran(progress.records["tune"])[:, 0]
        tried = [int(first_segment[job.rows(r, range(job.members))].sum()) // job.seeds_per_repetition
                 for r in range(job.repetitions)]
        entries.append({
            "algo": job.label, "algorithm": job.group.algorithm.name, "env": job.group.env_id,
            "method": job.settings.method, "settings": _settings_json(job.settings),
            "plan": the_plan.description, "members": the_plan.members, "repetitions": job.repetitions,
            "tuning_seeds": [list(s) for s in job.tuning_seeds], "test_seeds": list(job.test_seeds),
            "charged_env_steps": [s.charged_env_steps for s in progress.states],
            "charged_env_steps_total": sum(s.charged_env_steps for s in progress.states),
            "planned_charge_per_repetition": the_plan.charge(job.seeds_per_repetition),
            "configurations_tried": tried,
            "test_env_steps": _steps_per_run(job) * len(job.test_seeds) * job.repetitions,
            "outputs": [_output_json(job, s) for s in progress.states],
            "history": [list(s.history) for s in progress.states],
            "runs_per_device": progress.runs_per_device,
            "wall_clock_s": round(progress.wall_clock_s, 3),
            "first_segment_with_compile_s": round(progress.compile_s, 3),
        })
    return entries


def _steps_per_run(job: TunerJob) -> int:
    algo, static = job.group.algorithm, job.group.static
    return algo.num_iterations(static) * algo.steps_per_iteration(static)


def _output_json(job: TunerJob, state: TunerState) -> dict[str, Any]:
    output = job.output(state)
    if job.settings.method == "pbt":
        return {"member": state.best, "schedule": [{"from_env_steps": at, "hparams": v} for at, v in output]}
    return {"member": state.best, "hparams": output}


def _settings_json(settings: Any) -> dict[str, Any]:
    out = {k: v for k, v in dataclasses.asdict(settings).items() if k != "space"}
    out["space"] = [d.name for d in settings.space]
    return out
