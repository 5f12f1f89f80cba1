"""Run a whole study: resolve its spec into groups, run each group, write the study directory."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl_suite import results as R
from jaxrl_suite.runner import GroupResult, run_group
from jaxrl_suite.spec import StudySpec, check_groups, groups
from jaxrl_suite.summary import markdown, summary_rows


@dataclasses.dataclass
class StudyOutcome:
    spec: StudySpec
    out_dir: Path
    group_results: list[GroupResult]
    manifest: dict[str, Any]
    table: Any


@functools.lru_cache(maxsize=None)
def environment(env_id: str):
    """One environment object per id: environments are immutable, and reusing the object lets
    the runner reuse compiled programs across studies in one process."""
    from jaxrl_suite.envs import make

    return make(env_id)


def plan(spec: StudySpec):
    """Groups and configurations, with every shape check done (nothing compiled yet)."""
    all_groups, all_configs = groups(spec, environment)
    check_groups(spec, all_groups)
    return all_groups, all_configs


def run_study(
    spec: StudySpec,
    out_dir: str | Path,
    *,
    max_runs_per_chunk: int | None = None,
    progress: Callable[[str, int, int], Any] | None = None,
) -> StudyOutcome:
    """Run every group of `spec` and write `out_dir`. `progress(label, done, total)` is optional."""
    all_groups, all_configs = plan(spec)
    out_dir = Path(out_dir)
    if out_dir.exists() and not R.is_study_dir(out_dir) and any(out_dir.iterdir()):
        raise R.ResultsError(f"{out_dir} exists and is not a jaxrl_suite study directory; refusing to overwrite it")
    started = time.perf_counter()
    group_results = []
    for group in all_groups:
        algo = group.algorithm
        budget = algo.num_iterations(group.static) * algo.steps_per_iteration(group.static) * len(group.runs)
        label = f"{group.label} on {group.env_id} ({len(group.runs)} runs)"
        done = 0

        def on_segment(steps: int, label=label, budget=budget) -> None:
            nonlocal done
            done += steps
            if progress:
                progress(label, done, budget)

        group_results.append(run_group(group, spec.evaluation, max_runs_per_chunk=max_runs_per_chunk, on_segment=on_segment))
    wall = time.perf_counter() - started
    table = R.table_from_groups(spec.name, group_results)
    manifest = {
        "study": spec.name,
        "spec": spec.raw,
        "spec_digest": spec.digest,
        "total_env_steps_requested": spec.raw.get("total_env_steps"),
        "tuning_seeds": list(spec.tuning_seeds),
        "test_seeds": list(spec.test_seeds),
        "evaluation": dataclasses.asdict(spec.evaluation),
        "configs": {
            label: [{"config_id": c.config_id, "static": dict(c.static), "hparams": dict(c.hparams)} for c in configs]
            for label, configs in all_configs.items()
        },
        "groups": [
            {
                "algo": r.group.label,
                "algorithm": r.group.algorithm.name,
                "env": r.group.env_id,
                "static": dataclasses.asdict(r.group.static),
                "runs": len(r.group.runs),
                "env_steps_per_run": int(r.env_steps[-1]),
                "wall_clock_s": round(r.wall_clock_s, 3),
                "first_segment_with_compile_s": round(r.compile_s, 3),
                "diverged_runs": int(np.sum(r.metrics["diverged"][:, -1])),
            }
            for r in group_results
        ],
        "env_steps_per_config": _steps_per_config(group_results),
        "wall_clock_s": round(wall, 3),
        **R.environment_record(),
    }
    summary = markdown(summary_rows(table), f"{spec.name}: final scores per configuration")
    R.write_study(out_dir, table, manifest, extra_files={"summary.md": summary})
    return StudyOutcome(spec, out_dir, group_results, manifest, table)


def _steps_per_config(group_results) -> dict[str, dict[str, int]]:
    """Env steps each configuration consumed, summed over its seeds and environments."""
    spent: dict[str, dict[str, int]] = {}
    for r in group_results:
        per_run = int(r.env_steps[-1])
        for run in r.group.runs:
            by_config = spent.setdefault(r.group.label, {})
            by_config[str(run.config_id)] = by_config.get(str(run.config_id), 0) + per_run
    return spent
