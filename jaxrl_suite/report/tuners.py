"""The report's "Tuners" section: each tuner's held-out score against the env steps it was charged.

Read from a study's `tuners.parquet` and the manifest's `tuners` entries (jaxrl_suite/tuners/
records.py). Per environment and tuner:

* charge: env steps the tuning took per repetition (every member, rung, bracket and tuning
  seed), also per tuning seed in units of T, the budget of one run;
* test score: repetition r's output trained from scratch on test seed s gives scores[r, s], its
  final `eval_return` on the report's scale (normalised when the study's environments all have
  anchors); a run diverged at the end, or never evaluated, is charged the worst score, as
  elsewhere in the report. Mean over repetitions and test seeds, with a two-stage bootstrap CI
  (evaluation/tuner_scores.py: repetitions, then test seeds within them);
* P(A beats B): the probability that tuner A's output scores above tuner B's on a test seed, for
  tuners of the same algorithm;
* beside each tuner, the plain grid of the same algorithm in the study (an entry without a
  tuner, trained on tuning and test seeds) at the same budget: its held-out tuning curve TC@k at
  k = floor(charge per tuning seed / T) and its fixed-budget FB@B at B = charge per tuning seed.

PBT shares weights between configurations, so it lies outside Tang & Zhang's black-box class
(their Def. 3.5) and their lower bound; its rows say so.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from jaxrl_suite.evaluation import tuning
from jaxrl_suite.evaluation.bootstrap import IntervalEstimate
from jaxrl_suite.evaluation.tuner_scores import tuner_improvement_interval, tuner_score_interval
from jaxrl_suite.report.study import ReportError, Unavailable
from jaxrl_suite.report.text import format_interval, table

TABLE = "tuners.parquet"  # as jaxrl_suite.tuners.records writes it
OUTSIDE_BLACK_BOX = "PBT shares weights between configurations: outside Tang & Zhang's black-box class and its bound"
FIGURE = ("Held-out score of each tuner's output (mean over repetitions and test seeds; bars: 95% two-stage "
          "bootstrap CI) against the env steps the tuning was charged per repetition.")


@dataclasses.dataclass(frozen=True)
class TunerRow:
    label: str
    algorithm: str
    method: str
    env: str
    charge: float  # env steps per repetition (all tuning seeds), mean over repetitions
    budget_in_runs: float  # charge per tuning seed / T
    configurations: float  # configurations tried per repetition, mean
    scores: np.ndarray  # [repetitions, test seeds], on the report's scale, failures charged
    score: IntervalEstimate
    grid: str | None  # the plain grid of the same algorithm, if the study has one
    grid_tc: tuple[int, IntervalEstimate | Unavailable] | None  # (k, TC@k)
    grid_fb: tuple[float, IntervalEstimate | Unavailable] | None  # (B, FB@B)


@dataclasses.dataclass(frozen=True)
class TunerAnalysis:
    rows: Mapping[str, list[TunerRow]]  # env -> rows
    improvements: Mapping[str, list[tuple[str, str, IntervalEstimate]]]  # env -> (A, B, P(A beats B))
    failures: int  # test runs charged the worst score
    unit: str
    digits: int


def analyse_tuners(report: Any) -> TunerAnalysis | None:
    """The Tuners section of a StudyReport (None when the study ran no tuner)."""
    study = report.study
    entries = study.manifest.get("tuners")
    if not entries:
        return None
    frame = _read_table(study.path)
    analysis = report.analyses.get("eval_return")
    scores = None if isinstance(analysis, Unavailable) or analysis is None else analysis.scores
    rows: dict[str, list[TunerRow]] = {}
    failures = 0
    for entry in entries:
        env, label = entry["env"], entry["algo"]
        test = frame[(frame["algo"] == label) & (frame["env"] == env) & (frame["seed_role"] == "test")]
        final = test[test["checkpoint"] == test["checkpoint"].max()] if len(test) else test
        if len(final) != entry["repetitions"] * len(entry["test_seeds"]) or len(final) == 0:
            raise ReportError(f"{study.path / TABLE}: {label} on {env} has {len(final)} final test runs; "
                              f"the manifest promises {entry['repetitions']} x {len(entry['test_seeds'])}")
        final = final.sort_values(["repetition", "seed"])
        values = final["eval_return"].to_numpy(float)
        failed = final["diverged"].to_numpy(bool) | ~np.isfinite(values)
        failures += int(failed.sum())
        worst = scores.worst[env] if scores is not None else float(np.nanmin(frame["eval_return"]))
        raw = np.where(failed, worst, values).reshape(entry["repetitions"], -1)
        scaled = report.scale.apply(raw, env) if report.scale.normalised else raw
        steps_per_run = int(test["env_steps"].max())
        charge = float(np.mean(entry["charged_env_steps"]))
        per_seed = charge / len(entry["tuning_seeds"][0])
        grid = _plain_grid(study, entry["algorithm"])
        rows.setdefault(env, []).append(TunerRow(
            label, entry["algorithm"], entry["method"], env, charge, per_seed / steps_per_run,
            float(np.mean(entry["configurations_tried"])), scaled,
            tuner_score_interval(scaled, reps=report.reps, seed=report.seed, name=f"{label} on {env}"), grid,
            *_grid_at_budget(study, scores, report, grid, env, per_seed, steps_per_run)))
    improvements = {env: _improvements(env_rows, report) for env, env_rows in rows.items()}
    return TunerAnalysis(rows, improvements, failures, report.scale.unit, report.scale.digits)


def _read_table(path: Path):
    try:
        return pq.read_table(path / TABLE).to_pandas()
    except (OSError, pa.ArrowInvalid) as error:
        raise ReportError(f"{path / TABLE} cannot be read: {error}") from None


def _plain_grid(study: Any, algorithm: str) -> str | None:
    """The first algorithm entry without a tuner that runs `algorithm` over a grid of several
    configurations on tuning and test seeds."""
    for group in study.manifest["groups"]:
        label = group.get("algo")
        algo = study.algos.get(label)
        if group.get("algorithm") == algorithm and algo is not None and algo.n_configs > 1 \
                and algo.seed_index("tune").size and algo.seed_index("test").size:
            return label
    return None


def _grid_at_budget(study, scores, report, grid, env, per_seed, steps_per_run):
    if grid is None or scores is None:
        return None, None
    algo = study.algos[grid]
    values = scores.scaled[(grid, env)]  # (configs, seeds, checkpoints)
    tune, test = algo.seed_index("tune"), algo.seed_index("test")
    k = math.floor(per_seed / steps_per_run + 1e-9)
    if 1 <= k <= algo.n_configs:
        tc = tuning.tuning_curve_interval(values[:, tune, -1].mean(axis=1), values[:, test, -1].mean(axis=1), [k],
                                          reps=report.reps, seed=report.seed)
        tc = IntervalEstimate(tc.point[0], tc.lo[0], tc.hi[0])
    else:
        tc = Unavailable(f"the budget buys {per_seed / steps_per_run:.2f} runs of T; TC@k needs 1 <= k <= "
                         f"{algo.n_configs}")
    steps = algo.env_steps[env]
    n = algo.n_configs
    if steps[0] <= per_seed / n <= steps[-1]:
        fb = tuning.fixed_budget_interval(values[:, tune].mean(axis=1), values[:, test].mean(axis=1), steps,
                                          [per_seed], n_configs=n, reps=report.reps, seed=report.seed)
        fb = IntervalEstimate(fb.point[0], fb.lo[0], fb.hi[0])
    else:
        fb = Unavailable(f"B/n = {per_seed / n:,.0f} env steps lies outside the grid's logged "
                         f"{int(steps[0]):,}..{int(steps[-1]):,}")
    return (k, tc), (per_seed, fb)


def _improvements(rows: Sequence[TunerRow], report) -> list[tuple[str, str, IntervalEstimate]]:
    """P(A beats B) for every pair of tuners of the same algorithm, the better-scoring one as A."""
    ordered = sorted(rows, key=lambda r: -float(r.score.point))
    return [(a.label, b.label, tuner_improvement_interval(a.scores, b.scores, reps=report.reps, seed=report.seed,
                                                          name=f"{a.label} > {b.label} on {a.env}"))
            for a, b in itertools.combinations(ordered, 2) if a.algorithm == b.algorithm]


# --- rendering ---------------------------------------------------------------------------------


def render(analysis: TunerAnalysis, figure: str | None) -> list[str]:
    lines = ["", "## Tuners", "",
             "*Each tuner tuned on the tuning seeds only; its output (one configuration, or PBT's hyperparameter "
             "schedule) was then trained from scratch for the full budget T on every held-out test seed, and that "
             f"is its score: the final evaluation return ({analysis.unit}), mean over repetitions × test seeds, "
             "with a 95% two-stage bootstrap CI (repetitions, then test seeds within each). Charge: every env step "
             "the tuning took, per repetition (all members, rungs, brackets and tuning seeds); B/T is that per "
             "tuning seed in runs of T. Beside each row, the study's plain grid of the same algorithm at the same "
             "budget: TC@k with k = ⌊B/T⌋, and FB@B.*", ""]
    if figure:
        lines += [f"![tuners]({figure})", "", f"*{FIGURE}*", ""]
    digits = analysis.digits
    for env, rows in analysis.rows.items():
        lines += [f"### {env}", ""]
        body = []
        for row in sorted(rows, key=lambda r: (r.algorithm, -float(r.score.point))):
            tc = _cell(row.grid_tc, digits, lambda k: f"TC@{k}")
            fb = _cell(row.grid_fb, digits, lambda b: f"FB@{b:,.0f}")
            note = " †" if row.method == "pbt" else ""
            body.append((f"{row.label}{note}", row.method, f"{row.charge:,.0f}", f"{row.budget_in_runs:.2f}",
                         f"{row.configurations:g}", f"{row.scores.shape[0]} x {row.scores.shape[1]}",
                         format_interval(row.score, digits), row.grid or "—", tc, fb))
        lines += table(("tuner", "method", "env steps charged", "B/T", "configurations tried", "repetitions x test "
                        "seeds", "test score [95% CI]", "grid beside", "grid TC@k", "grid FB@B"), body)
        if any(row.method == "pbt" for row in rows):
            lines += ["", f"† {OUTSIDE_BLACK_BOX}."]
        pairs = analysis.improvements.get(env, [])
        if pairs:
            lines += ["", "P(A's output beats B's) on a test seed (0.5: no difference):", ""]
            lines += table(("A", "B", "P(A beats B) [95% CI]"),
                           [(a, b, format_interval(estimate, 2)) for a, b, estimate in pairs])
        lines.append("")
    if analysis.failures:
        lines.append(f"{analysis.failures} test run(s) diverged or were never evaluated and count as the worst score.")
    return lines


def _cell(value, digits, name) -> str:
    if value is None:
        return "—"
    at, estimate = value
    if isinstance(estimate, Unavailable):
        return f"{name(at)}: n/a ({estimate.reason})"
    return f"{name(at)} = {format_interval(estimate, digits)}"


def plot(analysis: TunerAnalysis, directory: Path) -> str:
    """The score-against-charge figure, one panel per environment; returns its file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(analysis.rows)
    fig, axes = plt.subplots(1, len(envs), figsize=(5.5 * len(envs), 4.2), squeeze=False)
    markers = {"grid": "s", "random": "D", "successive_halving": "v", "hyperband": "^", "pbt": "o"}
    for ax, env in zip(axes[0], envs):
        algorithms = sorted({r.algorithm for r in analysis.rows[env]})
        for row in analysis.rows[env]:
            point, lo, hi = (float(v) for v in (row.score.point, row.score.lo, row.score.hi))
            ax.errorbar(row.charge, point, yerr=[[point - lo], [hi - point]], fmt=markers.get(row.method, "o"),
                        color=f"C{algorithms.index(row.algorithm)}", capsize=3, label=row.label)
        ax.set_xscale("log")
        ax.set_xlabel("env steps charged per repetition")
        ax.set_ylabel(f"held-out {analysis.unit}")
        ax.set_title(env)
        ax.legend(fontsize=7)
    fig.tight_layout()
    name = "tuners.png"
    fig.savefig(directory / name, dpi=120)
    plt.close(fig)
    return name
