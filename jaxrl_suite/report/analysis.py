"""What a study says, computed: aggregates, learning curves, tuning cost, SC_eff, Φ and the ranking.

Every statistic comes from :mod:`jaxrl_suite.evaluation`; this module decides which runs feed
which statistic (see :mod:`jaxrl_suite.report.scores`) and returns the numbers, or an
:class:`Unavailable` with the reason; rendering them is :mod:`jaxrl_suite.report.markdown`'s job.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from jaxrl_suite.evaluation import aggregates, bootstrap, normalization, sample_complexity, sensitivity, tuning
from jaxrl_suite.evaluation.bootstrap import IntervalEstimate
from jaxrl_suite.evaluation.sample_complexity import SampleComplexityEstimate
from jaxrl_suite.evaluation.sensitivity import SensitivityEstimate
from jaxrl_suite.report.scores import (
    Panel,
    Scale,
    Scores,
    charge_failures,
    config_means,
    incumbent,
    incumbent_runs,
    incumbents,
    panel_final_scores,
    panels,
    reporting_role,
    study_scale,
)
from jaxrl_suite.report.study import SCORES, AlgoRuns, ReportError, Study, Unavailable, varying_hyperparameters
from jaxrl_suite.report.tuners import analyse_tuners

DEFAULT_REPS = 2000
CONFIDENCE = 0.95
CARD_FB_MULTIPLES = (1, 10, 100)  # fixed budgets B/T every tuning-cost table shows

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


def learning_curves(study: Study, scores: Scores, panel: Panel, reps: int,
                    seed: int) -> dict[tuple[str, str], LearningCurve]:
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
    # where the curves were read: exactly B/n, interpolated between the logging points
    # `lower` and `upper` that bracket it (equal on a logging point); None when unavailable
    read_at: float | None = None
    lower: float | None = None
    upper: float | None = None


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


def tuning_cost(study: Study, scores: Scores, algo: AlgoRuns, panel: Panel, reps: int,
                seed: int) -> TuningCost | Unavailable:
    tune, test = algo.seed_index("tune"), algo.seed_index("test")
    if tune.size == 0 or test.size == 0:
        return Unavailable("held-out analyses need both tuning seeds (to select) and test seeds (to report)")
    final = panel_final_scores(scores, algo.label, panel)
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
    held = effective = realizable = read = None
    if ok:
        read = tuning.budget_read_points(steps, budgets, n)
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
                                  float(realizable[i]), float(read.read_at[i]), float(read.lower[i]),
                                  float(read.upper[i])))
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
class SampleComplexityResult:
    algo: str
    env: str
    censored: SampleComplexityEstimate | Unavailable
    zhang: SampleComplexityEstimate | Unavailable


def sample_complexities(study: Study, scores: Scores, reps: int,
                        seed: int) -> list[SampleComplexityResult] | Unavailable:
    """SC_eff per algorithm and environment, on the tuning-seed mean curves in raw returns, in
    both modes: censored at the anchor's threshold τ, and Tang & Zhang's `zhang` mode, whose pool
    is the algorithm's own grid of curves on the environment (as in the authors' scripts)."""
    if any(a.seed_index("tune").size == 0 for a in study.algos.values()):
        return Unavailable("needs tuning seeds: SC_eff charges the curves seen while tuning")
    anchors = normalization.load_anchors()
    out = []
    for env in study.envs:
        curves = {label: scores.raw[(label, env)][:, a.seed_index("tune")].mean(axis=1)
                  for label, a in study.algos.items()}
        for label, algo in study.algos.items():
            estimate = functools.partial(_sample_complexity_estimate, curves[label], algo.env_steps[env], reps, seed)
            usable = env in anchors and anchors[env].threshold is not None
            censored = (estimate(f"SC_eff {label} {env}", {"threshold": anchors[env].threshold}) if usable
                        else Unavailable(f"no anchor threshold τ for {env} in evaluation/anchors.toml"
                                         + (f" ({anchors[env].threshold_unusable})" if env in anchors else "")))
            zhang = estimate(f"SC_eff zhang {label} {env}", {"mode": "zhang"})
            out.append(SampleComplexityResult(label, env, censored, zhang))
    return out


def _sample_complexity_estimate(curves: np.ndarray, steps: np.ndarray, reps: int, seed: int, name: str,
                                kwargs: Mapping[str, Any]) -> SampleComplexityEstimate | Unavailable:
    try:
        return sample_complexity.sample_complexity_interval(curves, steps, reps=reps, confidence=CONFIDENCE, seed=seed,
                                                 stream=name, **kwargs)
    except ValueError as error:  # e.g. an empty or non-finite pool
        return Unavailable(str(error))


# --- sensitivity -----------------------------------------------------------------------------------


def sensitivities(study: Study, scores: Scores, reps: int, seed: int) -> dict[str, SensitivityEstimate] | Unavailable:
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
        out[label] = sensitivity.sensitivity_interval(normalised, reps, CONFIDENCE, seed, f"sensitivity {label}")
    return out


# --- the ranking without and with the tuning charge -------------------------------------------


@dataclasses.dataclass(frozen=True)
class Ranking:
    """Each algorithm's standing when tuning is free (best configuration in hindsight; the
    tuning-seed incumbent) and when it is charged (FB@B at a budget common to all, SC_eff), with
    Φ beside it, and the orders those give (labels best first; ties keep the study's order).

    Every column covers every environment: on the normalised scale there is one panel holding
    them all; with raw returns there is one panel per environment, each algorithm has a value
    per panel, and it is ordered by its mean rank over the panels (as SC_eff always is)."""

    panels: tuple[Panel, ...]
    tuned: Mapping[str, int]  # m, the number of tuned hyperparameters
    configs: Mapping[str, int]  # N
    hindsight: Mapping[str, Mapping[str, float]]  # algo -> panel name -> value
    incumbent: Mapping[str, Mapping[str, float]]
    budget_multiple: float | None  # B / T of the common budget; None when there is none
    budget: Mapping[str, Mapping[str, BudgetRow]]  # FB@B held-out at that budget, where it was read
    mean_ranks: Mapping[str, Mapping[str, float]]  # column -> algo -> mean rank over panels (several panels)
    sample_complexity_rank: Mapping[str, float]  # mean rank of SC_eff `zhang` over environments
    reached: Mapping[str, int]  # environments where the censored SC_eff is finite
    environments: int
    phi: Mapping[str, IntervalEstimate]
    orders: Mapping[str, Sequence[str]]  # "hindsight", "fixed budget", "sample complexity"


def best_first(values: Mapping[str, float], higher_is_better: bool = True) -> list[str]:
    """Labels best first; ties keep the given order."""
    return sorted(values, key=lambda label: -values[label] if higher_is_better else values[label])


def mean_rank(by_group: Sequence[Mapping[str, float]], higher_is_better: bool = True) -> dict[str, float]:
    """Each label's rank (1 = best) averaged over groups (environments) that rank every label."""
    ranks: dict[str, float] = {}
    for values in by_group:
        for place, label in enumerate(best_first(values, higher_is_better), start=1):
            ranks[label] = ranks.get(label, 0.0) + place / len(by_group)
    return ranks


def common_budget(costs: Sequence[TuningCost]) -> float | None:
    """The fixed budget (a multiple of T) at which every algorithm has a held-out FB@B on every
    panel: the smallest grid size N if all have it there, else the largest multiple they all have."""
    available = [{row.multiple for row in cost.budgets if not isinstance(row.heldout, Unavailable)}
                 for cost in costs if not isinstance(cost.budgets, Unavailable)]
    if len(available) != len(costs):
        return None
    common = set.intersection(*available)
    smallest_grid = min(len(cost.ks) for cost in costs)
    return smallest_grid if smallest_grid in common else (max(common) if common else None)


def ranking(study: Study, study_panels: Sequence[Panel], costs_by_panel, sample_complexity,
            sensitivity_results) -> Ranking | Unavailable:
    missing = [f"{label} on {panel.name}" for panel in study_panels for label in study.algos
               if isinstance(costs_by_panel.get((panel.name, label), Unavailable("")), Unavailable)]
    if missing:
        return Unavailable(f"no tuning-cost analysis for {', '.join(missing)}")
    costs = {label: {panel.name: costs_by_panel[(panel.name, label)] for panel in study_panels}
             for label in study.algos}
    hindsight = {label: {name: float(np.max(cost.test_scores)) for name, cost in by_panel.items()}
                 for label, by_panel in costs.items()}
    chosen = {label: {name: float(cost.test_scores[cost.incumbent]) for name, cost in by_panel.items()}
              for label, by_panel in costs.items()}
    multiple = common_budget([cost for by_panel in costs.values() for cost in by_panel.values()])
    budget = {}
    if multiple is not None:
        budget = {label: {name: next(r for r in cost.budgets if r.multiple == multiple)
                          for name, cost in by_panel.items()} for label, by_panel in costs.items()}
    sc_rank: dict[str, float] = {}
    reached: dict[str, int] = {label: 0 for label in costs}
    if not isinstance(sample_complexity, Unavailable):
        by_env: dict[str, dict[str, float]] = {}
        for r in sample_complexity:
            if not isinstance(r.zhang, Unavailable):
                by_env.setdefault(r.env, {})[r.algo] = float(r.zhang.result.value)
            if not isinstance(r.censored, Unavailable) and np.isfinite(r.censored.result.value):
                reached[r.algo] += 1
        sc_rank = mean_rank([values for values in by_env.values() if set(values) == set(costs)], False)
    phi = {} if isinstance(sensitivity_results, Unavailable) else {
        label: result.phi for label, result in sensitivity_results.items()}
    columns = {"hindsight": hindsight}
    if budget:
        columns["fixed budget"] = {label: {name: float(row.heldout.point) for name, row in by_panel.items()}
                                   for label, by_panel in budget.items()}
    mean_ranks, orders = {}, {}
    for column, values in columns.items():
        if len(study_panels) == 1:
            orders[column] = best_first({label: by_panel[study_panels[0].name] for label, by_panel in values.items()})
        else:
            per_panel = [{label: values[label][panel.name] for label in values} for panel in study_panels]
            mean_ranks[column] = mean_rank(per_panel)
            orders[column] = best_first(mean_ranks[column], higher_is_better=False)
    if sc_rank:
        orders["sample complexity"] = best_first(sc_rank, higher_is_better=False)
    return Ranking(
        panels=tuple(study_panels), tuned={label: len(varying_hyperparameters(study.algos[label])) for label in costs},
        configs={label: study.algos[label].n_configs for label in costs}, hindsight=hindsight, incumbent=chosen,
        budget_multiple=multiple, budget=budget, mean_ranks=mean_ranks, sample_complexity_rank=sc_rank,
        reached=reached, environments=len(study.envs), phi=phi, orders=orders)


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
    sensitivity: Mapping[str, SensitivityEstimate] | Unavailable
    ranking: Ranking | Unavailable


@dataclasses.dataclass(frozen=True)
class StudyReport:
    study: Study
    scale: Scale
    panels: tuple[Panel, ...]
    analyses: Mapping[str, ScoreAnalysis | Unavailable]
    reps: int
    seed: int
    tuners: Any = None  # report.tuners.TunerAnalysis when the study ran tuners


def analyse_study(study: Study, reps: int = DEFAULT_REPS, seed: int = 0) -> StudyReport:
    check_settings(reps, seed)
    scale = study_scale(study.envs)
    study_panels = panels(study, scale)
    analyses = {score: analyse_score(study, score, scale, study_panels, reps, seed) for score in SCORES}
    report = StudyReport(study, scale, study_panels, analyses, reps, seed)
    return dataclasses.replace(report, tuners=analyse_tuners(report))


def check_settings(reps: int, seed: int) -> None:
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ReportError(f"--reps must be a positive integer, got {reps!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ReportError(f"--seed must be a non-negative integer, got {seed!r}")


def analyse_score(study: Study, score: str, scale: Scale, study_panels, reps: int,
                  seed: int) -> ScoreAnalysis | Unavailable:
    scores = charge_failures(study, score, scale)
    if isinstance(scores, Unavailable):
        return scores
    curves = {}
    for panel in study_panels:
        curves.update(learning_curves(study, scores, panel, reps, seed))
    tuning_costs = {(panel.name, label): tuning_cost(study, scores, algo, panel, reps, seed)
                    for panel in study_panels for label, algo in study.algos.items()}
    complexity = sample_complexities(study, scores, reps, seed)
    sensitivity_results = sensitivities(study, scores, reps, seed)
    return ScoreAnalysis(
        score=score, scores=scores,
        aggregates=[panel_aggregates(study, scores, scale, panel, reps, seed) for panel in study_panels],
        curves=curves, tuning=tuning_costs, sample_complexity=complexity, sensitivity=sensitivity_results,
        ranking=ranking(study, study_panels, tuning_costs, complexity, sensitivity_results))

