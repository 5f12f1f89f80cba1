"""Reports: what a study says, with its uncertainty and its tuning cost, as report.md + PNGs.

    jaxrl-suite report RESULTS_DIR [--out DIR] [--reps N] [--seed S]
    jaxrl-suite report --external CSV --mapping MAPPING.toml [--out DIR]

Every statistic comes from :mod:`jaxrl_suite.evaluation`; this module decides which runs feed
which statistic and writes the answers down. Its choices, each restated in the report itself:

* One scalar per run before any bootstrap: the run's value at its last checkpoint, for each of
  the two scores, ``train_return`` (each seed's mean over its last 100 training episodes) and
  ``eval_return`` (mean return of the evaluation episodes of the final policy).
* Scale: min-max normalised with the frozen anchors when every environment has anchors; then
  all environments are analysed together. Otherwise raw returns, and every analysis is made per
  environment (raw returns of different environments do not add up).
* Failures: a run's values from its first diverged checkpoint on, and values never recorded
  (NaN: no finished episode yet), are charged the worst score: the anchor ``lo``, or without
  anchors the minimum value observed on that environment for that score.
* Selection: a configuration's tuning score u is the mean of its final scores over tuning seeds
  (and environments), its test score w the same over test seeds. The incumbent is argmax u; the
  aggregate tables, profiles and learning curves show the incumbent's test-seed runs.

The report is written into a temporary sibling directory and renamed into place, so a reader
sees the previous report or the new one, never a half-written mix; bad input raises
:class:`ReportError` before anything is written.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl_suite import results
from jaxrl_suite.evaluation import aggregates, bootstrap, normalization, sensitivity, tuning
from jaxrl_suite.evaluation.bootstrap import IntervalEstimate

REPORT_FILE = "report.md"
SUMMARY_FILE = "summary.md"  # written by `jaxrl-suite run` into every study directory
DEFAULT_REPS = 2000
CONFIDENCE = 0.95
#: the two per-run scores, with the words the report uses for them
SCORES = {
    "train_return": "final training return: each seed's mean return over its last 100 training episodes",
    "eval_return": "final evaluation return: mean return of the final policy's evaluation episodes",
}
SCORE_TITLES = {"train_return": "Final training return", "eval_return": "Final evaluation return"}
CARD_TC_KS = (1, 3, 10)  # and N
CARD_FB_MULTIPLES = (1, 10, 100)
FIGURE_CAPTIONS = {
    "learning_curves": "Learning curves: the incumbent's mean over held-out runs at every checkpoint (band: 95% CI); "
                       "dashed, the other configurations' seed means.",
    "performance_profile": "Run-score performance profiles: the fraction of the incumbent's runs scoring above each "
                           "threshold τ (band: 95% CI); a curve further right is better.",
    "probability_of_improvement": "Probability of improvement P(X > Y) with its 95% CI; 0.5 (dashed) is no "
                                  "difference.",
    "tuning_curves": "Tuning curves: the held-out TC@k (band: 95% CI) and the in-sample expected maxima against the "
                     "env steps spent on tuning; the gap between them is the winner's curse.",
    "sensitivity_plane": "Performance–sensitivity plane (Adkins et al. 2024): up is better tuned performance, left is "
                         "less reliance on per-environment tuning; bars: 95% CIs.",
}
MANIFEST_KEYS = ("configs", "groups", "tuning_seeds", "test_seeds", "env_steps_per_config")


class ReportError(ValueError):
    """Input a report cannot be made from; the message names the problem."""


@dataclasses.dataclass(frozen=True)
class Unavailable:
    """A number the data do not allow, with the reason (reports never drop a number silently)."""

    reason: str


# --- reading a study ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AlgoRuns:
    """Every run of one algorithm label: arrays indexed [config, seed, checkpoint]."""

    label: str
    config_ids: np.ndarray
    configs: tuple[Mapping[str, Any], ...]  # manifest entries: {"config_id", "static", "hparams"}
    seeds: np.ndarray
    roles: np.ndarray  # "tune" or "test", per seed
    env_steps: Mapping[str, np.ndarray]  # env -> (checkpoints,)
    values: Mapping[tuple[str, str], np.ndarray]  # (score, env) -> (configs, seeds, checkpoints), raw
    diverged: Mapping[str, np.ndarray]  # env -> True from a run's first diverged checkpoint on

    def seed_index(self, role: str) -> np.ndarray:
        return np.flatnonzero(self.roles == role)

    @property
    def n_configs(self) -> int:
        return len(self.config_ids)


@dataclasses.dataclass(frozen=True)
class Study:
    path: Path
    name: str
    manifest: Mapping[str, Any]
    envs: tuple[str, ...]
    algos: Mapping[str, AlgoRuns]

    def steps_per_run(self, algo: str, env: str) -> int:
        """Env steps one run (one seed, one environment) consumed, from the manifest's groups."""
        steps = [g.get("env_steps_per_run") for g in self.manifest["groups"]
                 if g.get("algo") == algo and g.get("env") == env]
        if not steps or not all(isinstance(s, int) for s in steps):
            raise ReportError(f"{self.path / results.MANIFEST}: no group with env_steps_per_run for "
                              f"algorithm {algo!r} on {env!r}")
        return max(steps)


def load_study(path: str | Path) -> Study:
    """A study directory, checked for everything the report relies on."""
    path = Path(path)
    if not path.exists():
        raise ReportError(f"{path} does not exist")
    try:
        table, manifest = results.read_study(path)
    except results.ResultsError as error:
        raise ReportError(str(error)) from None
    _check_manifest(path, manifest)
    if table.num_rows == 0:
        raise ReportError(f"{path / results.TABLE} has no rows")
    columns = _columns(path, table)
    envs = tuple(sorted(set(columns["env"].tolist())))
    labels = sorted(set(columns["algo"].tolist()))
    algos = {label: _algo_runs(path, columns, label, envs, manifest) for label in labels}
    name = str(manifest.get("study") or columns["study"][0])
    return Study(path, name, manifest, envs, algos)


def _check_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise ReportError(f"{path / results.MANIFEST} lacks {', '.join(missing)}")
    if not isinstance(manifest["configs"], Mapping) or not isinstance(manifest["groups"], list):
        raise ReportError(f"{path / results.MANIFEST}: 'configs' must map algorithms to configurations "
                          "and 'groups' must be a list")


def _columns(path: Path, table) -> dict[str, np.ndarray]:
    kinds = {"study": object, "algo": object, "env": object, "seed_role": object, "config_id": np.int64,
             "seed": np.int64, "checkpoint": np.int64, "env_steps": np.int64, "train_return": float,
             "eval_return": float, "diverged": bool}
    columns = {}
    for name, kind in kinds.items():
        try:
            columns[name] = np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=kind)
        except (TypeError, ValueError) as error:
            raise ReportError(f"{path / results.TABLE}: column {name!r} is not {np.dtype(kind)}: {error}") from None
    bad_roles = sorted(set(columns["seed_role"].tolist()) - {"tune", "test"})
    if bad_roles:
        raise ReportError(f"{path / results.TABLE}: seed_role must be 'tune' or 'test', found {bad_roles}")
    return columns


def _algo_runs(path: Path, columns: Mapping[str, np.ndarray], label: str, envs: Sequence[str],
               manifest: Mapping[str, Any]) -> AlgoRuns:
    mine = columns["algo"] == label
    config_ids = np.unique(columns["config_id"][mine])
    seeds = np.unique(columns["seed"][mine])
    roles = _seed_roles(path, columns, mine, label, seeds)
    env_steps, values, diverged = {}, {}, {}
    for env in envs:
        rows = np.flatnonzero(mine & (columns["env"] == env))
        if rows.size == 0:
            raise ReportError(f"{path / results.TABLE}: algorithm {label!r} has no runs on {env!r}; "
                              "every algorithm must run on every environment of the study")
        where = _grid_positions(path, columns, rows, label, env, config_ids, seeds)
        shape = (len(config_ids), len(seeds), int(columns["checkpoint"][rows].max()) + 1)
        env_steps[env] = _shared_env_steps(path, columns, rows, where, shape, label, env)
        for score in SCORES:
            grid = np.full(shape, np.nan)
            grid[where] = columns[score][rows]
            values[(score, env)] = grid
        flags = np.zeros(shape, bool)
        flags[where] = columns["diverged"][rows]
        diverged[env] = np.logical_or.accumulate(flags, axis=-1)
    configs = _manifest_configs(path, manifest, label, config_ids)
    return AlgoRuns(label, config_ids, configs, seeds, roles, env_steps, values, diverged)


def _seed_roles(path, columns, mine, label, seeds) -> np.ndarray:
    roles = []
    for seed in seeds:
        seen = set(columns["seed_role"][mine & (columns["seed"] == seed)].tolist())
        if len(seen) != 1:
            raise ReportError(f"{path / results.TABLE}: seed {seed} of {label!r} has roles {sorted(seen)}; "
                              "a seed is either a tuning or a test seed")
        roles.append(seen.pop())
    return np.asarray(roles, dtype=object)


def _grid_positions(path, columns, rows, label, env, config_ids, seeds) -> tuple[np.ndarray, ...]:
    """(config, seed, checkpoint) index of each row, checked to fill the grid exactly once."""
    where = (np.searchsorted(config_ids, columns["config_id"][rows]),
             np.searchsorted(seeds, columns["seed"][rows]), columns["checkpoint"][rows])
    if (where[2] < 0).any():
        raise ReportError(f"{path / results.TABLE}: negative checkpoint index for {label!r} on {env!r}")
    shape = (len(config_ids), len(seeds), int(where[2].max()) + 1)
    counts = np.zeros(shape, np.int64)
    np.add.at(counts, where, 1)
    if (counts != 1).any():
        raise ReportError(
            f"{path / results.TABLE}: {label!r} on {env!r} does not have exactly one row per (config, seed, "
            f"checkpoint) for its {shape[0]} configs x {shape[1]} seeds x {shape[2]} checkpoints "
            f"({int((counts == 0).sum())} missing, {int((counts > 1).sum())} repeated)")
    return where


def _shared_env_steps(path, columns, rows, where, shape, label, env) -> np.ndarray:
    steps = np.zeros(shape, np.int64)
    steps[where] = columns["env_steps"][rows]
    if (steps != steps[:1, :1]).any():
        raise ReportError(f"{path / results.TABLE}: the runs of {label!r} on {env!r} were logged at different "
                          "env steps; the report compares runs checkpoint by checkpoint and needs one schedule")
    if np.any(np.diff(steps[0, 0]) <= 0):
        raise ReportError(f"{path / results.TABLE}: env_steps of {label!r} on {env!r} do not increase "
                          "with the checkpoint")
    return steps[0, 0]


def _manifest_configs(path, manifest, label, config_ids) -> tuple[Mapping[str, Any], ...]:
    entries = manifest["configs"].get(label)
    if not isinstance(entries, list):
        raise ReportError(f"{path / results.MANIFEST}: no configurations listed for algorithm {label!r}")
    by_id = {entry.get("config_id"): entry for entry in entries if isinstance(entry, Mapping)}
    missing = [int(c) for c in config_ids if int(c) not in by_id]
    if missing:
        raise ReportError(f"{path / results.MANIFEST}: configurations {missing} of {label!r} are not listed")
    return tuple(by_id[int(c)] for c in config_ids)


# --- scores: scale and failures ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scale:
    """How returns become the scores the report aggregates."""

    anchors: Mapping[str, normalization.Anchor] | None  # None: raw returns
    version: str | None

    @property
    def normalised(self) -> bool:
        return self.anchors is not None

    def apply(self, values: np.ndarray, env: str) -> np.ndarray:
        return normalization.min_max(values, self.anchors[env]) if self.normalised else values

    @property
    def unit(self) -> str:
        return "normalised score" if self.normalised else "return"

    @property
    def digits(self) -> int:
        return 3 if self.normalised else 2

    def describe(self) -> str:
        if self.normalised:
            return (f"min-max normalised with the frozen anchors (evaluation/anchors.toml, version {self.version}): "
                    "g = (R − lo)/(hi − lo); 0 is a uniform-random policy, 1 the best known return; all "
                    "environments are aggregated together")
        return ("raw returns (not every environment has anchors in evaluation/anchors.toml), so every "
                "analysis is made per environment")


def study_scale(envs: Sequence[str]) -> Scale:
    anchors = normalization.load_anchors()
    if all(env in anchors for env in envs):
        return Scale({env: anchors[env] for env in envs}, anchors.version)
    return Scale(None, None)


@dataclasses.dataclass(frozen=True)
class Scores:
    """One score of every run at every checkpoint, failures charged (see module docstring)."""

    score: str
    scaled: Mapping[tuple[str, str], np.ndarray]  # (algo, env) -> (configs, seeds, checkpoints)
    raw: Mapping[tuple[str, str], np.ndarray]
    worst: Mapping[str, float]  # env -> the raw value charged to a failure
    diverged_runs: Mapping[str, dict[str, int]]  # algo -> role -> runs (config x seed x env) diverged
    unrecorded_final: Mapping[str, int]  # algo -> runs whose final value was never recorded


def charge_failures(study: Study, score: str, scale: Scale) -> Scores | Unavailable:
    unrecorded = [env for env in study.envs
                  if not any(np.isfinite(a.values[(score, env)]).any() for a in study.algos.values())]
    if unrecorded:
        return Unavailable(f"no {score} was recorded on {', '.join(unrecorded)} (e.g. evaluation episodes = 0)")
    worst = {env: _worst_value(study, score, env, scale) for env in study.envs}
    scaled, raw, diverged_runs, unrecorded_final = {}, {}, {}, {}
    for algo in study.algos.values():
        diverged_runs[algo.label] = {role: 0 for role in ("tune", "test")}
        unrecorded_final[algo.label] = 0
        for env in study.envs:
            values = algo.values[(score, env)]
            failed = algo.diverged[env] | ~np.isfinite(values)
            raw[(algo.label, env)] = np.where(failed, worst[env], values)
            scaled[(algo.label, env)] = scale.apply(raw[(algo.label, env)], env)
            final_diverged = algo.diverged[env][..., -1]
            for role in diverged_runs[algo.label]:
                diverged_runs[algo.label][role] += int(final_diverged[:, algo.seed_index(role)].sum())
            unrecorded_final[algo.label] += int((~np.isfinite(values[..., -1]) & ~final_diverged).sum())
    return Scores(score, scaled, raw, worst, diverged_runs, unrecorded_final)


def _worst_value(study: Study, score: str, env: str, scale: Scale) -> float:
    if scale.normalised:
        return scale.anchors[env].lo
    observed = np.concatenate([a.values[(score, env)].ravel() for a in study.algos.values()])
    return float(np.nanmin(observed))


# --- which runs feed which statistic -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Panel:
    """The environments analysed together: all of them (normalised scores) or one (raw)."""

    name: str
    envs: tuple[str, ...]


def panels(study: Study, scale: Scale) -> tuple[Panel, ...]:
    if scale.normalised:
        return (Panel("all environments", study.envs),)
    return tuple(Panel(env, (env,)) for env in study.envs)


def final_scores(scores: Scores, algo: str, panel: Panel) -> np.ndarray:
    """(configs, seeds, envs of the panel): each run's scaled value at its last checkpoint."""
    return np.stack([scores.scaled[(algo, env)][..., -1] for env in panel.envs], axis=-1)


def config_means(final: np.ndarray, seed_index: np.ndarray) -> np.ndarray:
    """(configs,): each configuration's mean final score over the given seeds and the envs."""
    return final[:, seed_index].mean(axis=(1, 2))


def reporting_role(algo: AlgoRuns) -> str:
    """Scores are reported on test seeds; a study without any falls back to tuning seeds."""
    return "test" if algo.seed_index("test").size else "tune"


def incumbent(algo: AlgoRuns, final: np.ndarray) -> int:
    """Index of the configuration with the best tuning score (the lowest index on ties)."""
    tune = algo.seed_index("tune")
    if algo.n_configs == 1:
        return 0
    if tune.size == 0:
        raise ReportError(f"algorithm {algo.label!r} has {algo.n_configs} configurations but no tuning seeds "
                          "to choose between them")
    return int(np.argmax(config_means(final, tune)))


def incumbents(study: Study, scores: Scores, panel: Panel) -> dict[str, int]:
    return {label: incumbent(algo, final_scores(scores, label, panel)) for label, algo in study.algos.items()}


def incumbent_runs(study: Study, scores: Scores, panel: Panel) -> dict[str, np.ndarray]:
    """rliable-style {algo: (runs, envs)}: the incumbent's final scores on its reporting seeds."""
    chosen = incumbents(study, scores, panel)
    return {label: final_scores(scores, label, panel)[chosen[label], algo.seed_index(reporting_role(algo))]
            for label, algo in study.algos.items()}


# --- aggregate statistics ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PanelAggregates:
    panel: Panel
    incumbents: Mapping[str, int]
    runs: Mapping[str, np.ndarray]
    estimates: Mapping[str, Mapping[str, IntervalEstimate]]  # algo -> statistic -> estimate
    skipped: Mapping[str, str]  # statistic -> why it is not reported
    improvement: Mapping[str, IntervalEstimate] | Unavailable
    profile_taus: np.ndarray
    profiles: Mapping[str, IntervalEstimate]


def aggregate_functions(scale: Scale) -> tuple[dict[str, Callable], dict[str, str]]:
    functions = {"mean": aggregates.aggregate_mean, "median": aggregates.aggregate_median,
                 "IQM": aggregates.aggregate_iqm}
    if scale.normalised:
        functions["optimality gap"] = functools.partial(aggregates.aggregate_optimality_gap, gamma=1.0)
        return functions, {}
    return functions, {"optimality gap": "needs a target score (γ = 1 on the normalised scale); raw returns "
                                         "have none because some environment lacks anchors"}


def panel_aggregates(study: Study, scores: Scores, scale: Scale, panel: Panel, reps: int, seed: int) -> PanelAggregates:
    runs = incumbent_runs(study, scores, panel)
    functions, skipped = aggregate_functions(scale)
    estimates = bootstrap.interval_estimates(runs, functions, reps=reps, confidence=CONFIDENCE, seed=seed)
    taus = profile_thresholds(runs, scale)
    profiles = bootstrap.interval_estimates(
        runs, {"profile": functools.partial(aggregates.run_score_profile, taus=taus)},
        reps=reps, confidence=CONFIDENCE, seed=seed)
    return PanelAggregates(
        panel=panel, incumbents=incumbents(study, scores, panel), runs=runs, estimates=estimates, skipped=skipped,
        improvement=improvement_estimates(runs, reps, seed), profile_taus=taus,
        profiles={algo: by_statistic["profile"] for algo, by_statistic in profiles.items()})


def improvement_pairs(runs: Mapping[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every unordered pair once, as "X > Y" (P(Y > X) = 1 − P(X > Y))."""
    return {f"{x} > {y}": (runs[x], runs[y]) for x, y in itertools.combinations(sorted(runs), 2)}


def improvement_estimates(runs, reps: int, seed: int) -> Mapping[str, IntervalEstimate] | Unavailable:
    if len(runs) < 2:
        return Unavailable("needs at least two algorithms; this study has one")
    return bootstrap.pairwise_interval_estimates(improvement_pairs(runs), reps=reps, confidence=CONFIDENCE,
                                                 seed=seed)


def profile_thresholds(runs: Mapping[str, np.ndarray], scale: Scale, points: int = 101) -> np.ndarray:
    pooled = np.concatenate([r.ravel() for r in runs.values()])
    lo, hi = float(pooled.min()), float(pooled.max())
    if scale.normalised:
        lo, hi = min(lo, 0.0), max(hi, 1.0)
    pad = 0.02 * max(hi - lo, 1e-9)
    return np.linspace(lo - pad, hi + pad, points)


@dataclasses.dataclass(frozen=True)
class LearningCurve:
    env_steps: np.ndarray
    incumbent: IntervalEstimate  # mean over reporting seeds, per checkpoint
    runs: int
    other_configs: np.ndarray  # (configs - 1, checkpoints): seed means of the other configurations


def learning_curves(study: Study, scores: Scores, panel: Panel, reps: int, seed: int) -> dict[tuple[str, str], LearningCurve]:
    """The incumbent's mean curve on its reporting seeds, with a CI per checkpoint (runs are
    resampled whole, so a band is the bootstrap of curves, not of independent points)."""
    out = {}
    chosen = incumbents(study, scores, panel)
    for label, algo in study.algos.items():
        seeds = algo.seed_index(reporting_role(algo))
        for env in panel.envs:
            curves = scores.scaled[(label, env)][:, seeds]
            band = bootstrap.interval_estimates({label: curves[chosen[label]][:, None, :]},
                                                {"mean": aggregates.aggregate_mean},
                                                reps=reps, confidence=CONFIDENCE, seed=seed)[label]["mean"]
            others = np.delete(curves.mean(axis=1), chosen[label], axis=0)
            out[(label, env)] = LearningCurve(algo.env_steps[env], band, len(seeds), others)
    return out


# --- tuning cost ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BudgetRow:
    multiple: float  # B in units of T
    budget: int  # B, env steps of one seed on one environment
    per_config: float  # B / n
    heldout: IntervalEstimate | Unavailable
    effective_auc: float | None
    realizable_auc: float | None


@dataclasses.dataclass(frozen=True)
class TuningCost:
    """Tuning-cost analyses of one algorithm on one panel (see the report's definitions)."""

    algo: str
    panel: Panel
    tune_scores: np.ndarray  # u, per configuration
    test_scores: np.ndarray  # w
    incumbent: int
    ks: np.ndarray
    steps_spent: np.ndarray  # env steps of k configurations x tuning seeds x envs
    heldout: IntervalEstimate | Unavailable
    in_sample_with: np.ndarray
    in_sample_without: np.ndarray
    run_length: int  # T
    budgets: Sequence[BudgetRow] | Unavailable


def tuning_cost(study: Study, scores: Scores, algo: AlgoRuns, panel: Panel, reps: int, seed: int) -> TuningCost | Unavailable:
    tune, test = algo.seed_index("tune"), algo.seed_index("test")
    if tune.size == 0 or test.size == 0:
        return Unavailable("held-out analyses need both tuning seeds (to select) and test seeds (to report)")
    final = final_scores(scores, algo.label, panel)
    u, w = config_means(final, tune), config_means(final, test)
    ks = np.arange(1, algo.n_configs + 1)
    steps_per_config = sum(study.steps_per_run(algo.label, env) for env in panel.envs)
    heldout = tuning.tuning_curve_interval(u, w, ks, reps=reps, confidence=CONFIDENCE, seed=seed)
    return TuningCost(
        algo=algo.label, panel=panel, tune_scores=u, test_scores=w, incumbent=incumbent(algo, final), ks=ks,
        steps_spent=tuning.tuning_cost_steps(ks, steps_per_config, tune.size), heldout=heldout,
        in_sample_with=tuning.expected_max_with_replacement(u, ks).mean,
        in_sample_without=tuning.expected_max_without_replacement(u, ks),
        run_length=int(algo.env_steps[panel.envs[0]][-1]),
        budgets=fixed_budget_rows(scores, algo, panel, reps, seed,
                                  common=min(a.n_configs for a in study.algos.values())))


def panel_curves(scores: Scores, algo: AlgoRuns, panel: Panel, role: str) -> np.ndarray:
    """(configs, checkpoints): the seed and environment mean of each configuration's curve."""
    stacked = np.stack([scores.scaled[(algo.label, env)][:, algo.seed_index(role)] for env in panel.envs])
    return stacked.mean(axis=(0, 2))


def fixed_budget_rows(scores: Scores, algo: AlgoRuns, panel: Panel, reps: int, seed: int,
                      common: int | None = None) -> list[BudgetRow] | Unavailable:
    """FB@B at B = 1, 10, 100 T, this algorithm's own N T, and `common` T (the smallest grid of
    the study: a budget every algorithm can be compared at)."""
    steps = algo.env_steps[panel.envs[0]]
    if any(not np.array_equal(algo.env_steps[env], steps) for env in panel.envs):
        return Unavailable("its environments were logged at different env steps, so their curves cannot be averaged")
    n, run_length = algo.n_configs, int(steps[-1])
    multiples = sorted(set(CARD_FB_MULTIPLES) | {n} | ({common} if common else set()))
    reasons = {m: budget_unavailable(m * run_length / n, steps, n) for m in multiples}
    ok = [m for m in multiples if reasons[m] is None]
    tune_curves, test_curves = panel_curves(scores, algo, panel, "tune"), panel_curves(scores, algo, panel, "test")
    budgets = np.asarray([m * run_length for m in ok], dtype=float)
    held = effective = realizable = None
    if ok:
        held = tuning.fixed_budget_interval(tune_curves, test_curves, steps, budgets, n_configs=n, reps=reps,
                                            confidence=CONFIDENCE, seed=seed)
        effective = tuning.effective_auc(tune_curves, steps, budgets)
        realizable = tuning.realizable_auc(tune_curves, steps, budgets)
    rows = []
    for m in multiples:
        if m in ok:
            i = ok.index(m)
            estimate = IntervalEstimate(held.point[i], held.lo[i], held.hi[i])
            rows.append(BudgetRow(m, m * run_length, m * run_length / n, estimate, float(effective[i]),
                                  float(realizable[i])))
        else:
            rows.append(BudgetRow(m, m * run_length, m * run_length / n, Unavailable(reasons[m]), None, None))
    return rows


def budget_unavailable(per_config: float, steps: np.ndarray, n: int) -> str | None:
    if per_config > steps[-1]:
        return (f"each of the n = {n} configurations would train B/n = {per_config / steps[-1]:.3g} T, "
                f"beyond the T = {int(steps[-1]):,} env steps recorded")
    if per_config < steps[0]:
        return (f"B/n = {per_config:,.0f} env steps is less than the first logging point "
                f"({int(steps[0]):,} env steps): no configuration has a score yet")
    return None


@dataclasses.dataclass(frozen=True)
class SampleComplexityEstimate:
    result: tuning.SampleComplexity
    interval: IntervalEstimate


@dataclasses.dataclass(frozen=True)
class SampleComplexityResult:
    algo: str
    env: str
    censored: SampleComplexityEstimate | Unavailable
    zhang: SampleComplexityEstimate | Unavailable


def sample_complexities(study: Study, scores: Scores, reps: int, seed: int) -> list[SampleComplexityResult] | Unavailable:
    """SC_eff per algorithm and environment, on the tuning-seed mean curves in raw returns, in
    both modes: censored at the anchor's threshold τ, and Tang & Zhang's `zhang` mode with the
    p5/p95 pool of every algorithm's curves on the environment."""
    if any(a.seed_index("tune").size == 0 for a in study.algos.values()):
        return Unavailable("needs tuning seeds: SC_eff charges the curves seen while tuning")
    anchors = normalization.load_anchors()
    out = []
    for env in study.envs:
        curves = {label: scores.raw[(label, env)][:, a.seed_index("tune")].mean(axis=1)
                  for label, a in study.algos.items()}
        pool = np.concatenate([c.ravel() for c in curves.values()])
        for label, algo in study.algos.items():
            estimate = functools.partial(_sample_complexity_estimate, curves[label], algo.env_steps[env], reps, seed)
            censored = (estimate(f"SC_eff {label} {env}", {"threshold": anchors[env].threshold})
                        if env in anchors and anchors[env].threshold is not None
                        else Unavailable(f"no anchor threshold τ for {env} in evaluation/anchors.toml"
                                         + (f" ({anchors[env].threshold_unusable})" if env in anchors else "")))
            zhang = estimate(f"SC_eff zhang {label} {env}", {"mode": "zhang", "pool": pool})
            out.append(SampleComplexityResult(label, env, censored, zhang))
    return out


def _sample_complexity_estimate(curves: np.ndarray, steps: np.ndarray, reps: int, seed: int, name: str,
                                kwargs: Mapping[str, Any]) -> SampleComplexityEstimate | Unavailable:
    """SC_eff with an outer bootstrap over the configurations (as for TC and FB). The percentiles
    are taken on 1/SC_eff, where a resample in which no configuration reaches τ (SC_eff = ∞) is a
    finite 0 and keeps its place in the order; the interval is mapped back with 1/x."""
    try:
        result = tuning.effective_sample_complexity(curves, steps, **kwargs)
    except ValueError as error:  # e.g. a constant pool has no p5/p95 scale
        return Unavailable(str(error))
    draws = bootstrap.stream_rng(seed, name).integers(0, curves.shape[0], size=(reps, curves.shape[0]))

    # SC_eff of a resample depends only on which configurations it holds (n stays the pool size,
    # a repeat cannot lower the minimum), so resamples with the same set share one evaluation.
    @functools.cache
    def value_of(distinct: tuple[int, ...]) -> float:
        chosen = np.asarray(distinct)[np.arange(curves.shape[0]) % len(distinct)]
        return tuning.effective_sample_complexity(curves[chosen], steps, **kwargs).value

    values = np.array([value_of(tuple(np.unique(d).tolist())) for d in draws])
    rates = bootstrap.percentile_interval(1.0 / result.value, 1.0 / values, CONFIDENCE)
    with np.errstate(divide="ignore"):
        interval = IntervalEstimate(np.asarray(result.value), 1.0 / rates.hi, 1.0 / rates.lo)
    return SampleComplexityEstimate(result, interval)


# --- sensitivity -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SensitivityResult:
    summary: sensitivity.SensitivitySummary
    phi: IntervalEstimate
    per_environment_tuned: IntervalEstimate


def sensitivities(study: Study, scores: Scores, reps: int, seed: int) -> dict[str, SensitivityResult] | Unavailable:
    """Φ per algorithm on Γ = seed-averaged final scores, p5/p95-normalised per environment
    over every run of every algorithm there (Adkins et al. 2024)."""
    if len(study.envs) < 2:
        return Unavailable("needs at least two environments; this study has one")
    pools = {}
    for env in study.envs:
        pool = np.concatenate([scores.raw[(label, env)][..., -1].ravel() for label in study.algos])
        try:
            pools[env] = normalization.percentile_pool(pool)
        except ValueError as error:
            return Unavailable(f"on {env}: {error}")
    out = {}
    for label in study.algos:
        # (configs, seeds, envs), every seed: Φ describes the configurations, not a selection.
        normalised = np.stack([pools[env].apply(scores.raw[(label, env)][..., -1]) for env in study.envs], -1)
        out[label] = _sensitivity_with_interval(normalised, reps, seed, label)
    return out


def _sensitivity_with_interval(normalised: np.ndarray, reps: int, seed: int, label: str) -> SensitivityResult:
    """Φ and its 95% CI from a bootstrap over seeds, drawn independently in every (config, env) cell."""
    configs, seeds, envs = normalised.shape
    by_seed = normalised.transpose(1, 0, 2).reshape(seeds, configs * envs)
    resampled = bootstrap.stratified_resample(by_seed, reps, bootstrap.stream_rng(seed, f"sensitivity {label}"))
    gammas = resampled.mean(axis=1).reshape(reps, configs, envs).transpose(0, 2, 1)
    samples = [sensitivity.summarize_sensitivity(gamma) for gamma in gammas]
    summary = sensitivity.summarize_sensitivity(normalised.mean(axis=1).T)
    phi = bootstrap.percentile_interval(summary.sensitivity, [s.sensitivity for s in samples], CONFIDENCE)
    tuned = bootstrap.percentile_interval(summary.per_environment_tuned, [s.per_environment_tuned for s in samples],
                                          CONFIDENCE)
    return SensitivityResult(summary, phi, tuned)


# --- the whole analysis ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ScoreAnalysis:
    """Everything the report says about one score (train_return or eval_return)."""

    score: str
    scores: Scores
    aggregates: Sequence[PanelAggregates]
    curves: Mapping[tuple[str, str], LearningCurve]
    tuning: Mapping[tuple[str, str], TuningCost | Unavailable]  # (panel name, algo) -> ...
    sample_complexity: Sequence[SampleComplexityResult] | Unavailable
    sensitivity: Mapping[str, SensitivityResult] | Unavailable


@dataclasses.dataclass(frozen=True)
class StudyReport:
    study: Study
    scale: Scale
    panels: tuple[Panel, ...]
    analyses: Mapping[str, ScoreAnalysis | Unavailable]
    reps: int
    seed: int


def analyse_study(study: Study, reps: int = DEFAULT_REPS, seed: int = 0) -> StudyReport:
    check_settings(reps, seed)
    scale = study_scale(study.envs)
    study_panels = panels(study, scale)
    analyses = {score: analyse_score(study, score, scale, study_panels, reps, seed) for score in SCORES}
    return StudyReport(study, scale, study_panels, analyses, reps, seed)


def check_settings(reps: int, seed: int) -> None:
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ReportError(f"--reps must be a positive integer, got {reps!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ReportError(f"--seed must be a non-negative integer, got {seed!r}")


def analyse_score(study: Study, score: str, scale: Scale, study_panels, reps: int, seed: int) -> ScoreAnalysis | Unavailable:
    scores = charge_failures(study, score, scale)
    if isinstance(scores, Unavailable):
        return scores
    curves = {}
    for panel in study_panels:
        curves.update(learning_curves(study, scores, panel, reps, seed))
    tuning_costs = {(panel.name, label): tuning_cost(study, scores, algo, panel, reps, seed)
                    for panel in study_panels for label, algo in study.algos.items()}
    return ScoreAnalysis(
        score=score, scores=scores,
        aggregates=[panel_aggregates(study, scores, scale, panel, reps, seed) for panel in study_panels],
        curves=curves, tuning=tuning_costs,
        sample_complexity=sample_complexities(study, scores, reps, seed),
        sensitivity=sensitivities(study, scores, reps, seed))


# --- formatting -------------------------------------------------------------------------------------


def format_number(value: float, digits: int) -> str:
    if value is None or not np.isfinite(value):
        return "∞" if value is not None and value > 0 else "—"
    return f"{value:.{digits}f}"


def format_interval(estimate: IntervalEstimate, digits: int) -> str:
    """"point [lo, hi]", the form every CI takes in report.md."""
    point, lo, hi = (float(np.asarray(v)) for v in (estimate.point, estimate.lo, estimate.hi))
    return f"{format_number(point, digits)} [{format_number(lo, digits)}, {format_number(hi, digits)}]"


def format_steps(value: float) -> str:
    """Env steps with thousands separators; ∞ for a censored SC_eff."""
    return f"{value:,.0f}" if np.isfinite(value) else "∞"


def format_steps_interval(estimate: IntervalEstimate) -> str:
    return f"[{format_steps(float(estimate.lo))}, {format_steps(float(estimate.hi))}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration's static settings and hyperparameters together, as the manifest lists them."""
    return {**config.get("static", {}), **config.get("hparams", {})}


def _format_value(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _value_order(value: Any) -> tuple:
    # numbers in numeric order, anything else (a JSON list such as hidden sizes) after them
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return (0, value, "") if is_number else (1, 0, repr(value))


def hyperparameter_setting(config: Mapping[str, Any], varying: Sequence[str]) -> str:
    settings = _settings(config)
    return ", ".join(f"{name}={_format_value(settings.get(name))}" for name in varying) or "(no varying hyperparameter)"


def varying_hyperparameters(algo: AlgoRuns) -> list[str]:
    settings = [_settings(c) for c in algo.configs]
    names = sorted({name for s in settings for name in s})
    return [n for n in names if len({repr(s.get(n)) for s in settings}) > 1]


def search_space(study: Study, algo: AlgoRuns) -> str:
    settings = [_settings(c) for c in algo.configs]
    parts = []
    for name in varying_hyperparameters(algo):
        values = sorted({repr(s.get(name)): s.get(name) for s in settings}.values(), key=_value_order)
        if len(values) <= 6:
            parts.append(f"{name} ∈ {{{', '.join(_format_value(v) for v in values)}}}")
        else:
            parts.append(f"{name}: {len(values)} values from {_format_value(values[0])} to {_format_value(values[-1])}")
    return f"{_search_method(study, algo.label)}: " + "; ".join(parts) if parts else "none (one configuration)"


def _search_method(study: Study, label: str) -> str:
    for entry in study.manifest.get("spec", {}).get("algorithms", []):
        if isinstance(entry, Mapping) and entry.get("label", entry.get("algorithm")) == label:
            search = entry.get("search", {})
            return str(search.get("method", "grid" if search.get("space") else "none"))
    return "search method not recorded"


# --- report.md -----------------------------------------------------------------------------------


def render_markdown(report: StudyReport, figures: Mapping[str, Sequence[str]], command: str) -> str:
    """report.md; `figures` lists each score's figure files, `command` is how to make it again."""
    lines = _header(report)
    for score, analysis in report.analyses.items():
        lines += ["", f"## {SCORE_TITLES[score]} (`{score}`)", "", f"*{SCORES[score]}.*", ""]
        if isinstance(analysis, Unavailable):
            lines.append(f"Not available: {analysis.reason}.")
            continue
        lines += _score_section(report, analysis, figures.get(score, ()))
    lines += ["", *_definitions(command)]
    return "\n".join(lines) + "\n"


def _header(report: StudyReport) -> list[str]:
    study, manifest = report.study, report.study.manifest
    description = manifest.get("spec", {}).get("description", "")
    algos = ", ".join(f"{label} ({a.n_configs} config{'s' * (a.n_configs != 1)})" for label, a in study.algos.items())
    host = manifest.get("host", {})
    versions = manifest.get("versions", {})
    rows = [
        ("algorithms", algos),
        ("environments", ", ".join(study.envs)),
        ("env steps per run (T)", "; ".join(f"{label} on {env}: {study.steps_per_run(label, env):,}"
                                            for label in study.algos for env in study.envs)),
        ("tuning seeds", f"{_seed_list(manifest['tuning_seeds'])} — configurations are selected on these"),
        ("test seeds", f"{_seed_list(manifest['test_seeds'])} — held out; scores are reported on these"),
        ("runs", f"{_run_count(study)} (configuration × seed × environment)"),
        ("devices", ", ".join(manifest.get("devices", [])) or "not recorded"),
        ("host", f"{host.get('platform', 'not recorded')}, {host.get('cpu_count', '?')} CPUs, Python "
                 f"{manifest.get('python', '?')}"),
        ("wall-clock", f"{manifest.get('wall_clock_s', float('nan')):.1f} s, as the runner recorded it (compilation "
                       "included; per algorithm in the report cards)"),
        ("git revision", f"`{manifest.get('git_revision') or 'not recorded'}`"),
        ("results written", str(manifest.get("written_at", "not recorded"))),
        ("versions", ", ".join(f"{name} {v}" for name, v in versions.items() if v) or "not recorded"),
    ]
    lines = [f"# Report: {study.name}", ""]
    if description:
        lines += [description, ""]
    lines += [
        f"Generated by `jaxrl-suite report` from `{study.path}`. Every interval is a 95% percentile "
        f"bootstrap confidence interval ({report.reps:,} resamples, seed {report.seed}), written "
        "`point [lo, hi]`.", "",
        "## Study", "", *_table(("", ""), rows), "", "### How runs become scores", "",
        f"- **Scale**: {report.scale.describe()}.",
        "- **Failures**: a run's values from its first diverged checkpoint on, and values never recorded "
        "(no finished episode yet), count as the worst score: "
        + ("the environment's anchor lo (normalised 0)." if report.scale.normalised
           else "the minimum value observed on that environment for that score.")
        + " They are censored (never reaching τ) for SC_eff.",
        "- **Selection**: a configuration's tuning score u is its mean final score over the tuning seeds"
        + (" and the environments" if report.scale.normalised else "") + "; its test score w the same over the "
        "test seeds. The *incumbent* is the configuration with the best u. Aggregates, profiles, the probability "
        "of improvement and the learning curves use the incumbent's runs on test seeds (tuning seeds if a study "
        "has no test seeds).",
        "- **Two scores**, each with its own section below: `train_return` and `eval_return`.",
    ]
    if (study.path / SUMMARY_FILE).is_file():
        lines.append(f"- **Per configuration**: mean ± std over seeds of every configuration in [{SUMMARY_FILE}]"
                     f"({SUMMARY_FILE}) (copied from the study directory).")
    return lines


def _seed_list(seeds: Sequence[int]) -> str:
    return ", ".join(str(s) for s in seeds) if seeds else "none"


def _run_count(study: Study) -> int:
    return sum(_run_count_of(study, label) for label in study.algos)


def _score_section(report: StudyReport, analysis: ScoreAnalysis, figure_files: Sequence[str]) -> list[str]:
    lines = _failure_lines(report, analysis.scores)
    lines += ["", "### Aggregate scores", ""]
    for panel_result in analysis.aggregates:
        lines += _aggregate_table(report, panel_result)
    lines += ["", "### Probability of improvement", ""]
    for panel_result in analysis.aggregates:
        lines += _improvement_lines(report, panel_result)
    if figure_files:
        lines += ["", "### Figures", ""]
        for name in figure_files:
            lines += [f"![{name}]({name})", "", f"*{FIGURE_CAPTIONS[name.rsplit('_', 2)[0]]}*", ""]
    lines += ["", "### Ranking without and with the tuning charge", "", *_ranking_lines(report, analysis)]
    lines += _tuning_sections(report, analysis)
    lines += ["", "### Effective sample complexity SC_eff", "", *_sample_complexity_lines(report, analysis)]
    lines += ["", "### Hyperparameter sensitivity Φ across environments", "", *_sensitivity_lines(report, analysis)]
    lines += ["", "### Report cards", ""]
    for label in report.study.algos:
        lines += _report_card(report, analysis, label)
    return lines


def _failure_lines(report: StudyReport, scores: Scores) -> list[str]:
    parts = []
    for label, by_role in scores.diverged_runs.items():
        total = _run_count_of(report.study, label)
        parts.append(f"{label}: {by_role['tune'] + by_role['test']} of {total} runs diverged "
                     f"({by_role['tune']} on tuning seeds, {by_role['test']} on test seeds), "
                     f"{scores.unrecorded_final[label]} without a recorded final value")
    worst = ", ".join(f"{env}: {value:.4g}" for env, value in scores.worst.items())
    return [f"Failures, charged the worst score (raw: {worst}): " + "; ".join(parts) + "."]


def _run_count_of(study: Study, label: str) -> int:
    algo = study.algos[label]
    return algo.n_configs * len(algo.seeds) * len(study.envs)


def _panel_heading(report: StudyReport, panel: Panel) -> list[str]:
    return [f"**{panel.name}** (raw returns)", ""] if len(report.panels) > 1 else []


def _incumbent_label(report: StudyReport, label: str, config_index: int) -> str:
    algo = report.study.algos[label]
    config = algo.configs[config_index]
    return f"{config['config_id']}: {hyperparameter_setting(config, varying_hyperparameters(algo))}"


def _aggregate_table(report: StudyReport, result: PanelAggregates) -> list[str]:
    statistics = ["mean", "median", "IQM", "optimality gap"]
    rows = []
    for label, estimates in result.estimates.items():
        runs = result.runs[label]
        cells = [format_interval(estimates[s], report.scale.digits) if s in estimates else "not available"
                 for s in statistics]
        role = reporting_role(report.study.algos[label])
        rows.append([label, _incumbent_label(report, label, result.incumbents[label]),
                     f"{runs.shape[0]} {role} seeds × {runs.shape[1]} env", *cells])
    notes = [f"*{s}*: not available — {reason}." for s, reason in result.skipped.items()]
    return [*_panel_heading(report, result.panel),
            *_table(["algorithm", "incumbent config", "runs", *statistics], rows), "",
            f"Per-run final {report.scale.unit}s of each algorithm's incumbent. Mean and median: over environments "
            "of the per-environment mean over runs; IQM: mean of the middle 50% of all runs × environments pooled; "
            "optimality gap: 1 − mean(min(score, 1)), lower is better. Intervals: stratified bootstrap over runs "
            "(resampled within each environment).", *notes, ""]


def _improvement_lines(report: StudyReport, result: PanelAggregates) -> list[str]:
    if isinstance(result.improvement, Unavailable):
        return [*_panel_heading(report, result.panel), f"Not available: {result.improvement.reason}.", ""]
    rows = [[pair, format_interval(estimate, 3)] for pair, estimate in result.improvement.items()]
    return [*_panel_heading(report, result.panel), *_table(["comparison X > Y", "P(X > Y)"], rows), "",
            "P(X > Y): the probability that a run of X's incumbent scores higher than a run of Y's on the same "
            "environment (Mann–Whitney, ties ½, averaged over environments); 0.5 = no difference; "
            "P(Y > X) = 1 − P(X > Y). Intervals: independent stratified bootstraps of both algorithms' runs.", ""]


def _order(values: Mapping[str, float], higher_is_better: bool = True) -> list[str]:
    """Labels best first; ties keep the study's order."""
    return sorted(values, key=lambda label: -values[label] if higher_is_better else values[label])


def _common_budget(costs: Mapping[str, TuningCost]) -> float | None:
    """The fixed budget (a multiple of T) at which every algorithm has a held-out FB@B: the
    smallest grid size N if all have it there, else the largest multiple they all have."""
    available = [{row.multiple for row in cost.budgets if not isinstance(row.heldout, Unavailable)}
                 for cost in costs.values() if not isinstance(cost.budgets, Unavailable)]
    if len(available) != len(costs):
        return None
    common = set.intersection(*available)
    smallest_grid = min(len(cost.ks) for cost in costs.values())
    return smallest_grid if smallest_grid in common else (max(common) if common else None)


def _ranking_lines(report: StudyReport, analysis: ScoreAnalysis) -> list[str]:
    """One table: each algorithm's standing when tuning is free (best configuration in
    hindsight; the tuning-seed incumbent) and when it is charged (FB@B at a budget common to all,
    SC_eff), with Φ beside it, and the orders those give, in words."""
    panel = report.panels[0]
    costs = {label: analysis.tuning.get((panel.name, label)) for label in report.study.algos}
    if any(cost is None or isinstance(cost, Unavailable) for cost in costs.values()):
        missing = [label for label, cost in costs.items() if cost is None or isinstance(cost, Unavailable)]
        return [f"Not available: no tuning-cost analysis for {', '.join(missing)} on {panel.name}."]
    digits = report.scale.digits
    hindsight = {label: float(np.max(cost.test_scores)) for label, cost in costs.items()}
    incumbent = {label: float(cost.test_scores[cost.incumbent]) for label, cost in costs.items()}
    multiple = _common_budget(costs)
    budget = {}
    if multiple is not None:
        for label, cost in costs.items():
            (row,) = [r for r in cost.budgets if r.multiple == multiple]
            budget[label] = row.heldout
    sc_rank: dict[str, float] = {}
    reached: dict[str, int] = {label: 0 for label in costs}
    if not isinstance(analysis.sample_complexity, Unavailable):
        by_env: dict[str, dict[str, float]] = {}
        for r in analysis.sample_complexity:
            if not isinstance(r.zhang, Unavailable):
                by_env.setdefault(r.env, {})[r.algo] = float(r.zhang.result.value)
            if not isinstance(r.censored, Unavailable) and np.isfinite(r.censored.result.value):
                reached[r.algo] += 1
        complete = [values for values in by_env.values() if set(values) == set(costs)]
        for values in complete:
            for place, label in enumerate(_order(values, higher_is_better=False), start=1):
                sc_rank[label] = sc_rank.get(label, 0.0) + place / len(complete)
    phi = {} if isinstance(analysis.sensitivity, Unavailable) else analysis.sensitivity
    rows = []
    for label, cost in costs.items():
        m = len(varying_hyperparameters(report.study.algos[label]))
        rows.append([
            label, f"{m} / {len(cost.ks)}", format_number(hindsight[label], digits), format_number(incumbent[label], digits),
            format_interval(budget[label], digits) if label in budget else "—",
            f"{sc_rank[label]:.1f}" if label in sc_rank else "—",
            f"{reached[label]} of {len(panel.envs)}",
            format_interval(phi[label].phi, 3) if label in phi else "—",
        ])
    budget_name = f"FB@{multiple:g}T held-out" if multiple is not None else "FB@B held-out"
    lines = _table(["algorithm", "m / N", "best config in hindsight (test seeds)", "tuned incumbent (test seeds)",
                    budget_name, "SC_eff `zhang`: mean rank", "envs where SC_eff (censored) is finite", "Φ"], rows)
    orders = {"without the tuning charge (best configuration in hindsight)": _order(hindsight)}
    if budget:
        orders[f"charged: same tuning budget B = {multiple:g} T per environment and seed (FB@B)"] = _order(
            {label: float(estimate.point) for label, estimate in budget.items()})
    if sc_rank:
        orders["charged: effective sample complexity, `zhang` mode (mean rank, lower first)"] = _order(sc_rank, False)
    lines += ["", f"Scores on the {panel.name} panel ({report.scale.describe()}). m / N: tuned hyperparameters and "
              "configurations. FB@B splits one budget over each algorithm's own N configurations, so a larger grid "
              "gives each configuration fewer steps; SC_eff multiplies the fastest configuration's steps to τ by N.",
              ""]
    lines += [f"- Order {name}: {' > '.join(order)}." for name, order in orders.items()]
    first = {name: order[0] for name, order in orders.items()}
    if len(set(first.values())) == 1:
        lines.append(f"- {next(iter(first.values()))} comes first whether or not tuning is charged.")
    else:
        free, *charged = first.values()
        lines.append(f"- Charging for tuning changes the winner: {free} without the charge, "
                     f"{' / '.join(dict.fromkeys(charged))} with it.")
    return lines


def _tuning_sections(report: StudyReport, analysis: ScoreAnalysis) -> list[str]:
    lines = []
    for (panel_name, label), cost in analysis.tuning.items():
        if report.study.algos[label].n_configs < 2:
            continue
        suffix = f" on {panel_name}" if len(report.panels) > 1 else ""
        lines += ["", f"### Tuning cost: {label}{suffix}", ""]
        if isinstance(cost, Unavailable):
            lines.append(f"Not available: {cost.reason}.")
            continue
        lines += _tuning_curve_table(report, cost) + [""] + _budget_table(report, cost)
    single = [label for label, algo in report.study.algos.items() if algo.n_configs < 2]
    if single:
        lines += ["", f"No tuning-cost section for {', '.join(single)}: one configuration, nothing was tuned "
                      "(TC@1 is in the report card)."]
    return lines


def _tuning_curve_table(report: StudyReport, cost: TuningCost) -> list[str]:
    digits = report.scale.digits
    rows = []
    for i, k in enumerate(cost.ks):
        heldout = IntervalEstimate(cost.heldout.point[i], cost.heldout.lo[i], cost.heldout.hi[i])
        rows.append([str(k), format_steps(cost.steps_spent[i]), format_interval(heldout, digits),
                     format_number(cost.in_sample_with[i], digits), format_number(cost.in_sample_without[i], digits)])
    algo = report.study.algos[cost.algo]
    configs = [[str(c["config_id"]), hyperparameter_setting(c, varying_hyperparameters(algo)),
                format_number(cost.tune_scores[j], digits), format_number(cost.test_scores[j], digits)
                + (" ← incumbent" if j == cost.incumbent else "")]
               for j, c in enumerate(algo.configs)]
    return [
        *_table(["config", "setting", "u (tuning seeds)", "w (test seeds)"], configs), "",
        *_table(["k", "env steps spent tuning", "TC@k held-out", "E[max u] in-sample, with repl.",
                 "E[max u] in-sample, without repl."], rows), "",
        "TC@k: expected test-seed score w of the configuration with the best tuning-seed score u among k drawn "
        "without replacement from the N configurations; interval from an outer bootstrap over the configurations. "
        "In-sample E[max u] (Dodge et al. 2019) selects and reports on the same tuning-seed scores: its excess "
        "over TC@k is the winner's curse. Env steps spent = k × T × tuning seeds × environments.",
    ]


def _budget_table(report: StudyReport, cost: TuningCost) -> list[str]:
    if isinstance(cost.budgets, Unavailable):
        return [f"Fixed budget FB@B: not available — {cost.budgets.reason}."]
    digits = report.scale.digits
    rows = []
    for row in cost.budgets:
        if isinstance(row.heldout, Unavailable):
            rows.append([f"{row.multiple:g} T", f"{row.budget:,}", f"{row.per_config:,.0f}",
                         f"not available: {row.heldout.reason}", "—", "—"])
        else:
            rows.append([f"{row.multiple:g} T", f"{row.budget:,}", f"{row.per_config:,.0f}",
                         format_interval(row.heldout, digits), format_number(row.effective_auc, digits),
                         format_number(row.realizable_auc, digits)])
    n_envs = len(cost.panel.envs)
    return [
        *_table(["B", "B (env steps)", "B/n per config", "FB@B held-out", "Effective AUC", "realizable AUC"], rows),
        "",
        f"Fixed budget: B env steps (of one seed on one environment; T = {cost.run_length:,}) split evenly over "
        f"n = N = {len(cost.ks)} configurations; each is read at its last logging point within B/n steps, the one "
        "best on tuning seeds is chosen and scored on test seeds (outer-bootstrap interval). Effective AUC "
        "(Tang & Zhang) = n × max over configurations of the sum of its tuning-seed curve over logging points "
        "within B/n — optimistic, as if the best configuration were known; realizable AUC = the sum over all n "
        f"configurations. Env steps actually spent = B × tuning seeds × {n_envs} environment(s).",
    ]


def _sample_complexity_cell(estimate: SampleComplexityEstimate | Unavailable) -> str:
    if isinstance(estimate, Unavailable):
        return f"not available: {estimate.reason}"
    return (f"{format_steps(estimate.result.value)} {format_steps_interval(estimate.interval)}, "
            f"{estimate.result.censored_fraction:.0%} of configurations censored")


def _sample_complexity_lines(report: StudyReport, analysis: ScoreAnalysis) -> list[str]:
    results_ = analysis.sample_complexity
    if isinstance(results_, Unavailable):
        return [f"Not available: {results_.reason}."]
    anchors = normalization.load_anchors()
    rows = [[r.algo, r.env, str(report.study.algos[r.algo].n_configs),
             f"{anchors[r.env].threshold:.4g}" if r.env in anchors and anchors[r.env].threshold is not None else "—",
             _sample_complexity_cell(r.censored), _sample_complexity_cell(r.zhang)] for r in results_]
    return [*_table(["algorithm", "env", "n", "τ (raw return)", "SC_eff, censored mode [95% CI]",
                     "SC_eff, `zhang` mode [95% CI]"], rows), "",
            "SC_eff = n × min over the n configurations of the first env step (of one run) at which the "
            "configuration's tuning-seed mean curve reaches τ (Tang & Zhang 2026). *Censored mode*: τ is the "
            "anchor's solved threshold; configurations that never reach it are reported as the censored fraction, "
            "never imputed (∞ when none does). *`zhang` mode*: the paper's exact choices — curves p5/p95-normalised "
            "over every algorithm's tuning curves on the environment, τ = 0.9 on that scale, a censored "
            "configuration charged 10 × T. Intervals: outer bootstrap over configurations (percentiles of "
            "1/SC_eff, so ∞ keeps its place)."]


def _sensitivity_lines(report: StudyReport, analysis: ScoreAnalysis) -> list[str]:
    result = analysis.sensitivity
    if isinstance(result, Unavailable):
        return [f"Not available: {result.reason}."]
    rows = [[label, format_interval(r.per_environment_tuned, 3),
             format_number(r.summary.cross_environment_tuned, 3), format_interval(r.phi, 3)]
            for label, r in result.items()]
    return [*_table(["algorithm", "per-env tuned P", "cross-env tuned X", "Φ = P − X"], rows), "",
            "Γ[e, h]: configuration h's final score on environment e, averaged over all its seeds, p5/p95 "
            "percentile-normalised over every run of every algorithm on e (Adkins et al. 2024). P: mean over "
            "environments of the best configuration per environment; X: the best single configuration's mean; "
            "Φ = P − X is how much the algorithm relies on per-environment tuning. Intervals: bootstrap over "
            "seeds within each (configuration, environment)."]


def _report_card(report: StudyReport, analysis: ScoreAnalysis, label: str) -> list[str]:
    study, algo = report.study, report.study.algos[label]
    n_tune = algo.seed_index("tune").size
    steps_per_config = sum(study.steps_per_run(label, env) for env in study.envs)
    wall = sum(g.get("wall_clock_s", 0.0) for g in study.manifest["groups"] if g.get("algo") == label)
    diverged = analysis.scores.diverged_runs[label]
    rows = [
        ("search space", search_space(study, algo)),
        ("m (tuned hyperparameters)", str(len(varying_hyperparameters(algo)))),
        ("N (configurations)", str(algo.n_configs)),
        ("seeds", f"{n_tune} tuning ({_seed_list(algo.seeds[algo.seed_index('tune')].tolist())}), "
                  f"{algo.seed_index('test').size} test ({_seed_list(algo.seeds[algo.seed_index('test')].tolist())})"),
        ("env steps spent tuning", f"{algo.n_configs * n_tune * steps_per_config:,} (N × tuning seeds × "
                                   f"{steps_per_config:,} steps per configuration over {len(study.envs)} env)"),
        ("wall-clock, hardware", f"{wall:.1f} s (its groups' recorded wall-clock) on "
                                 f"{', '.join(study.manifest.get('devices', [])) or 'unrecorded devices'}"),
        ("diverged runs", f"{diverged['tune'] + diverged['test']} of {_run_count_of(study, label)}, charged as failures"),
    ]
    for panel in report.panels:
        suffix = f" ({panel.name})" if len(report.panels) > 1 else ""
        cost = analysis.tuning[(panel.name, label)]
        chosen = next(a.incumbents[label] for a in analysis.aggregates if a.panel == panel)
        rows.append((f"incumbent{suffix}", _incumbent_label(report, label, chosen)))
        rows += _card_tuning_rows(report, cost, algo.n_configs, suffix)
    rows += _card_sample_complexity_rows(analysis, label)
    rows.append(("Φ", _card_sensitivity(analysis, label)))
    return [f"#### {label}", "", *_table(("item", "value [95% CI]"), rows), ""]


def _card_tuning_rows(report: StudyReport, cost, n: int, suffix: str) -> list[tuple[str, str]]:
    ks = sorted(set(CARD_TC_KS) | {n})
    if isinstance(cost, Unavailable):
        return [(f"TC@{{{', '.join(map(str, ks))}}}{suffix}", f"not available: {cost.reason}"),
                (f"FB@{{1, 10, 100}}×T{suffix}", f"not available: {cost.reason}")]
    rows = []
    for k in ks:
        if k > n:
            rows.append((f"TC@{k}{suffix}", f"not available: k = {k} exceeds the N = {n} configurations"))
            continue
        i = k - 1
        estimate = IntervalEstimate(cost.heldout.point[i], cost.heldout.lo[i], cost.heldout.hi[i])
        rows.append((f"TC@{k}{'=N' if k == n else ''}{suffix}", f"{format_interval(estimate, report.scale.digits)} "
                                                              f"after {format_steps(cost.steps_spent[i])} env steps"))
    if isinstance(cost.budgets, Unavailable):
        return rows + [(f"FB@{{1, 10, 100}}×T{suffix}", f"not available: {cost.budgets.reason}")]
    for row in cost.budgets:
        if row.multiple not in CARD_FB_MULTIPLES:
            continue
        value = (f"not available: {row.heldout.reason}" if isinstance(row.heldout, Unavailable)
                 else format_interval(row.heldout, report.scale.digits))
        rows.append((f"FB@{row.multiple:g}×T{suffix}", value))
    return rows


def _card_sample_complexity_rows(analysis: ScoreAnalysis, label: str) -> list[tuple[str, str]]:
    if isinstance(analysis.sample_complexity, Unavailable):
        return [("SC_eff", f"not available: {analysis.sample_complexity.reason}")]
    rows = []
    for r in analysis.sample_complexity:
        if r.algo == label:
            rows += [(f"SC_eff on {r.env}", _sample_complexity_cell(r.censored)),
                     (f"SC_eff (`zhang` mode) on {r.env}", _sample_complexity_cell(r.zhang))]
    return rows


def _card_sensitivity(analysis: ScoreAnalysis, label: str) -> str:
    if isinstance(analysis.sensitivity, Unavailable):
        return f"not available: {analysis.sensitivity.reason}"
    return format_interval(analysis.sensitivity[label].phi, 3)


def _definitions(command: str) -> list[str]:
    return [
        "## Definitions and sources", "",
        "- Aggregates, probability of improvement, performance profiles: Agarwal et al. 2021, *Deep RL at the Edge "
        "of the Statistical Precipice*; intervals by a stratified bootstrap that resamples whole runs within each "
        "environment.",
        "- Held-out tuning curve TC@k, fixed budget FB@B, Effective AUC, SC_eff: Tang & Zhang 2026, *The Statistical "
        "Cost of Hyperparameter Tuning in RL*. In-sample expected maximum: Dodge et al. 2019, *Show Your Work*.",
        "- Sensitivity Φ and the performance–sensitivity plane: Adkins, Bowling & White 2024, *A Method for "
        "Evaluating Hyperparameter Sensitivity in RL*.",
        "- Steps, not seconds: vmapped configurations look free in wall-clock, so every cost is in env steps.",
        f"- Code: `jaxrl_suite/report.py` over `jaxrl_suite/evaluation/`; made by `{command}`.",
    ]


# --- figures -------------------------------------------------------------------------------------


def study_figures(report: StudyReport, analysis: ScoreAnalysis, directory: Path) -> list[str]:
    """Every figure of one score's section, written into `directory`; returns the file names."""
    from jaxrl_suite import figures

    colors = {label: f"C{i}" for i, label in enumerate(report.study.algos)}
    title = f"{SCORE_TITLES[analysis.score].lower()} ({analysis.score})"
    over_time = title.removeprefix("final ")  # learning curves show the score at every checkpoint
    made = [
        figures.save_line_plots(directory / f"learning_curves_{analysis.score}.png", f"Learning curves — {over_time}",
                                _learning_curve_plots(report, analysis, colors)),
        figures.save_line_plots(directory / f"performance_profile_{analysis.score}.png",
                                f"Run-score performance profiles — {title}", _profile_plots(report, analysis, colors)),
    ]
    charts = _improvement_charts(report, analysis, colors)
    if charts:
        made.append(figures.save_interval_charts(directory / f"probability_of_improvement_{analysis.score}.png",
                                                 f"Probability of improvement — {title}", charts))
    tuning_plots = _tuning_plots(report, analysis, colors)
    if tuning_plots:
        made.append(figures.save_line_plots(directory / f"tuning_curves_{analysis.score}.png",
                                            f"Tuning curves against env steps spent — {title}", tuning_plots))
    if not isinstance(analysis.sensitivity, Unavailable):
        made.append(_plane_figure(directory / f"sensitivity_plane_{analysis.score}.png", analysis, title))
    return [path.name for path in made]


def _unit_label(scale: Scale) -> str:
    return "normalised score (min-max)" if scale.normalised else "return (raw)"


def _learning_curve_plots(report: StudyReport, analysis: ScoreAnalysis, colors) -> list:
    from jaxrl_suite.figures import LinePlot, Series

    plots = []
    for env in report.study.envs:
        series = []
        for label in report.study.algos:
            curve = analysis.curves[(label, env)]
            band = curve.incumbent
            series.append(Series(f"{label} (incumbent, mean)", curve.env_steps, band.point, band.lo, band.hi,
                                 color=colors[label], marker="o"))
            for i, other in enumerate(curve.other_configs):
                series.append(Series(f"{label}: other configs (seed mean)" if i == 0 else None, curve.env_steps,
                                     other, color=colors[label], linestyle="--", linewidth=1.0, alpha=0.45))
        runs = sorted({analysis.curves[(label, env)].runs for label in report.study.algos})
        plots.append(LinePlot(env, "env steps (of one run)", _unit_label(report.scale), series, x_is_steps=True,
                              note=f"band: 95% CI of the incumbent's mean over {'/'.join(map(str, runs))} held-out runs"))
    return plots


def _profile_plots(report: StudyReport, analysis: ScoreAnalysis, colors) -> list:
    from jaxrl_suite.figures import LinePlot, Series

    plots = []
    for result in analysis.aggregates:
        series = [Series(label, result.profile_taus, p.point, p.lo, p.hi, color=colors[label])
                  for label, p in result.profiles.items()]
        plots.append(LinePlot(result.panel.name, f"score threshold τ, {_unit_label(report.scale)}",
                              "fraction of runs with score > τ", series, note="bands: 95% stratified-bootstrap CIs"))
    return plots


def _improvement_charts(report: StudyReport, analysis: ScoreAnalysis, colors) -> list:
    from jaxrl_suite.figures import IntervalChart, IntervalRow

    charts = []
    for result in analysis.aggregates:
        if isinstance(result.improvement, Unavailable):
            continue
        rows = [IntervalRow(pair, float(e.point), float(e.lo), float(e.hi), colors[pair.split(" > ")[0]])
                for pair, e in result.improvement.items()]
        charts.append(IntervalChart(result.panel.name, "P(X > Y): probability that a run of X beats a run of Y",
                                    rows, reference=0.5, xlim=(0.0, 1.0)))
    return charts


def _tuning_plots(report: StudyReport, analysis: ScoreAnalysis, colors) -> list:
    from jaxrl_suite.figures import LinePlot, Series

    plots = []
    for panel in report.panels:
        series = []
        for label in report.study.algos:
            cost = analysis.tuning[(panel.name, label)]
            if isinstance(cost, Unavailable) or len(cost.ks) < 2:
                continue
            x = cost.steps_spent
            series += [
                Series(f"{label}: TC@k held-out", x, cost.heldout.point, cost.heldout.lo, cost.heldout.hi,
                       color=colors[label], marker="o"),
                Series(f"{label}: in-sample E[max], with repl.", x, cost.in_sample_with, color=colors[label],
                       linestyle="--", linewidth=1.2),
                Series(f"{label}: in-sample E[max], without repl.", x, cost.in_sample_without, color=colors[label],
                       linestyle=":", linewidth=1.2),
            ]
        if series:
            spread = max(s.x.max() for s in series) / min(s.x.min() for s in series)
            plots.append(LinePlot(panel.name, "env steps spent tuning (k configs × T × tuning seeds × envs)",
                                  f"score of the chosen config\n{_unit_label(report.scale)}", series,
                                  xscale="log" if spread > 20 else "linear", x_is_steps=True,
                                  note="markers: k = 1, 2, …, N configurations; band: 95% CI (outer bootstrap)"))
    return plots


def _plane_figure(path: Path, analysis: ScoreAnalysis, title: str) -> Path:
    from jaxrl_suite import figures

    results_ = analysis.sensitivity
    summaries = {label: r.summary for label, r in results_.items()}
    intervals = {label: ((float(r.phi.lo), float(r.phi.hi)),
                         (float(r.per_environment_tuned.lo), float(r.per_environment_tuned.hi)))
                 for label, r in results_.items()}
    return figures.save_sensitivity_plane(
        path, summaries, intervals, title=f"Performance–sensitivity plane — {title} (bars: 95% CIs)",
        ylabel="per-environment tuned score P (p5/p95-normalised)")


# --- writing ---------------------------------------------------------------------------------------


def check_destination(out: Path) -> None:
    """Refuse to replace anything but an earlier report (a directory holding report.md)."""
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / REPORT_FILE).is_file():
        raise ReportError(f"{out} exists, is not empty and holds no {REPORT_FILE}; refusing to overwrite it")


def publish(out: Path, write: Callable[[Path], None]) -> Path:
    """Run `write(directory)` into a fresh temporary sibling of `out`, then rename it into place."""
    check_destination(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.writing-", dir=out.parent))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would make the published report private
        write(staging)
        if out.exists():
            retired = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, retired)
            os.replace(staging, out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def write_report(results_dir: str | Path, out: str | Path | None = None, *, reps: int = DEFAULT_REPS,
                 seed: int = 0) -> Path:
    """Analyse a study directory and write report.md and its figures into `out` (default
    RESULTS_DIR/report). Raises ReportError, with nothing written, for bad input."""
    check_settings(reps, seed)
    study = load_study(results_dir)
    out = Path(out) if out is not None else Path(results_dir) / "report"
    check_destination(out)
    report = analyse_study(study, reps, seed)

    command = f"jaxrl-suite report {study.path} --out {out} --reps {reps} --seed {seed}"

    def write(directory: Path) -> None:
        made = {score: study_figures(report, analysis, directory)
                for score, analysis in report.analyses.items() if not isinstance(analysis, Unavailable)}
        (directory / REPORT_FILE).write_text(render_markdown(report, made, command), encoding="utf-8")
        if (study.path / SUMMARY_FILE).is_file():  # the per-configuration table, next to the report citing it
            shutil.copyfile(study.path / SUMMARY_FILE, directory / SUMMARY_FILE)

    return publish(out, write)


# --- external tables -------------------------------------------------------------------------------


EXTERNAL_TABLE_KS = (1, 3, 10, 30, 100, 300, 1000)


@dataclasses.dataclass(frozen=True)
class ExternalAlgorithm:
    name: str
    configs: int
    complete: int
    summary: sensitivity.SensitivitySummary | Unavailable
    partial: Mapping[str, sensitivity.PartialTuningCurve] | Unavailable
    dimensionality: Mapping[str, int | None | Unavailable]
    tuning: Any  # external.InSampleTuningCurves over every k = 1..N (the table shows a few)


def write_external_report(csv_path: str | Path, mapping_path: str | Path, out: str | Path | None = None) -> Path:
    """Sensitivity and in-sample tuning analyses of a published per-configuration table
    (e.g. Adkins et al. 2024's), written like a study report. Raises ReportError for bad input."""
    from jaxrl_suite.evaluation import external

    try:
        mapping = external.ColumnMapping.from_toml(mapping_path)
        table = external.read_external_csv(csv_path, mapping)
        matrices = {name: table.score_matrix(name) for name in table.algorithms()}
    except external.ExternalDataError as error:
        raise ReportError(str(error)) from None
    out = Path(out) if out is not None else Path.cwd() / f"report-{Path(csv_path).name.split('.')[0]}"
    check_destination(out)
    analysed = [analyse_external_algorithm(matrix) for matrix in matrices.values()]

    def write(directory: Path) -> None:
        made = external_figures(analysed, directory)
        (directory / REPORT_FILE).write_text(render_external(table, analysed, made), encoding="utf-8")

    return publish(out, write)


def analyse_external_algorithm(matrix) -> ExternalAlgorithm:
    from jaxrl_suite.evaluation import external

    gamma = matrix.scores
    complete = int(sensitivity.complete_configurations(gamma).sum())
    ks = np.arange(1, gamma.shape[1] + 1)
    try:
        summary = sensitivity.summarize_sensitivity(gamma)
    except ValueError as error:
        summary = Unavailable(str(error))
    partial, dimensionality = _external_partial_tuning(matrix, summary)
    return ExternalAlgorithm(matrix.algorithm, gamma.shape[1], complete, summary, partial, dimensionality,
                             external.in_sample_tuning_curves(gamma, ks))


def _external_partial_tuning(matrix, summary):
    if isinstance(summary, Unavailable):
        return summary, {}
    if not matrix.hyperparameter_names:
        reason = Unavailable("the mapping names no hyperparameter columns")
        return reason, {e: reason for e in sensitivity.ELIGIBILITY_CHOICES}
    curves = {e: sensitivity.partial_tuning_curve(matrix.scores, matrix.configs, e)
              for e in sensitivity.ELIGIBILITY_CHOICES}
    dimensionality = {}
    for eligibility, curve in curves.items():
        try:
            dimensionality[eligibility] = sensitivity.effective_dimensionality(curve, summary.per_environment_tuned)
        except ValueError as error:
            dimensionality[eligibility] = Unavailable(str(error))
    return curves, dimensionality


def external_figures(analysed: Sequence[ExternalAlgorithm], directory: Path) -> list[str]:
    from jaxrl_suite import figures

    made = []
    with_summary = [a for a in analysed if not isinstance(a.summary, Unavailable)]
    if with_summary:
        made.append(figures.save_sensitivity_plane(
            directory / "sensitivity_plane.png", {a.name: a.summary for a in with_summary}, {},
            title="Performance–sensitivity plane (seed-averaged table: no CIs)",
            ylabel="per-environment tuned score P (normalised)"))
    with_partial = [a for a in with_summary if not isinstance(a.partial, Unavailable)]
    if with_partial:
        made.append(figures.save_partial_tuning(
            directory / "partial_tuning.png", {a.name: list(a.partial.values()) for a in with_partial},
            {a.name: a.summary.per_environment_tuned for a in with_partial},
            title="Score with k hyperparameters tuned per environment, the rest at the best shared setting"))
    made.append(figures.save_line_plots(directory / "in_sample_tuning_curves.png",
                                        "In-sample tuning curves (expected best of k random configurations)",
                                        _external_tuning_plots(analysed)))
    return [path.name for path in made]


def _external_tuning_plots(analysed: Sequence[ExternalAlgorithm]) -> list:
    from jaxrl_suite.figures import LinePlot, Series

    plots = []
    for kind, title in (("per_environment", "Best configuration chosen per environment"),
                        ("shared", "One configuration shared by all environments")):
        series = [Series(a.name, a.tuning.budgets, getattr(a.tuning, f"{kind}_without_replacement"),
                         color=f"C{i % 10}") for i, a in enumerate(analysed)]
        plots.append(LinePlot(title, "k, configurations tried (random search, without "
                              "replacement)", "expected best normalised score (mean over envs)", series,
                              xscale="log"))
    return plots


def render_external(table, analysed: Sequence[ExternalAlgorithm], figure_files: Sequence[str]) -> str:
    mapping = table.mapping
    lines = [
        f"# Report: external results `{table.source}`", "",
        "Generated by `jaxrl-suite report --external`. A published per-configuration table holds seed-averaged "
        "scores, so what needs runs or seeds is not available here: confidence intervals (no seeds to resample), "
        "and the held-out analyses TC@k and FB@B (they select on tuning seeds and report on disjoint test seeds).",
        "", "## Source", "",
        *_table(("", ""), [
            ("rows", f"{len(table.score):,}"),
            ("algorithms", ", ".join(table.algorithms())),
            ("environments", ", ".join(table.environments())),
            ("mapping", f"algorithm = `{mapping.algorithm}`, environment = `{mapping.environment}`, score = "
                        f"`{mapping.score}`, hyperparameters = {', '.join(f'`{h}`' for h in mapping.hyperparameters) or 'none'}"
                        f", normalized_score = `{mapping.normalized_score or 'none'}`"),
            ("scores Γ", table.normalization),
        ]),
        "", "## Hyperparameter sensitivity", "", *_external_sensitivity_table(analysed), "",
        "P: mean over environments of the best configuration per environment; X: the best configuration shared "
        "by all environments (only configurations run on every environment, *complete*, are eligible); Φ = P − X "
        "(Adkins et al. 2024). d: fewest hyperparameters tuned per environment, the rest at the best shared "
        "setting, that reach 95% of P; *complete*/*all*: which configurations may be chosen per environment.",
        "", "## c_k: score with k hyperparameters tuned per environment", "", *_external_partial_table(analysed),
        "", "## In-sample tuning curves", "", *_external_tuning_table(analysed), "",
        "Expected best normalised score (mean over environments) of k configurations drawn uniformly at random, "
        "tuned per environment or shared by all (Dodge et al. 2019's estimator, with and without replacement). "
        "In-sample: the same scores select and report, so these curves are optimistic.",
        "", "## Figures", "", *[f"![{name}]({name})" for name in figure_files],
    ]
    return "\n".join(lines) + "\n"


def _external_sensitivity_table(analysed: Sequence[ExternalAlgorithm]) -> list[str]:
    rows = []
    for a in analysed:
        if isinstance(a.summary, Unavailable):
            rows.append([a.name, f"{a.configs} ({a.complete})", f"not available: {a.summary.reason}", "—", "—", "—", "—"])
            continue
        d = [_format_dimensionality(a.dimensionality.get(e)) for e in sensitivity.ELIGIBILITY_CHOICES]
        rows.append([a.name, f"{a.configs} ({a.complete})", f"{a.summary.per_environment_tuned:.4f}",
                     f"{a.summary.cross_environment_tuned:.4f}", f"{a.summary.sensitivity:.4f}", *d])
    return _table(["algorithm", "configs (complete)", "P", "X", "Φ", "d (complete)", "d (all)"], rows)


def _format_dimensionality(value) -> str:
    if isinstance(value, Unavailable):
        return f"not available: {value.reason}"
    return "not reached" if value is None else str(value)


def _external_partial_table(analysed: Sequence[ExternalAlgorithm]) -> list[str]:
    rows = []
    for a in analysed:
        if isinstance(a.partial, Unavailable):
            rows.append([a.name, "—", f"not available: {a.partial.reason}", "—"])
            continue
        for eligibility, curve in a.partial.items():
            scores = ", ".join(f"{s:.4f}" for s in curve.scores)
            best = "; ".join(", ".join(subset) or "∅" for subset in curve.tuned)
            rows.append([a.name, eligibility, scores, best])
    return _table(["algorithm", "eligible", "c_0, c_1, …, c_m", "best subset per k"], rows)


def _external_tuning_table(analysed: Sequence[ExternalAlgorithm]) -> list[str]:
    rows = []
    for a in analysed:
        ks = [k for k in EXTERNAL_TABLE_KS if k < a.configs] + [a.configs]
        for k in ks:
            i = k - 1
            t = a.tuning
            rows.append([a.name, str(k), *(f"{v[i]:.4f}" for v in (
                t.per_environment_with_replacement, t.per_environment_without_replacement,
                t.shared_with_replacement, t.shared_without_replacement))])
    return _table(["algorithm", "k", "per-env, with repl.", "per-env, without repl.", "shared, with repl.",
                   "shared, without repl."], rows)
