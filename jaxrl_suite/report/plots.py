"""The figures of a study report, each returned with the caption report.md prints under it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from jaxrl_suite.report.analysis import ScoreAnalysis, StudyReport
from jaxrl_suite.report.scores import Scale
from jaxrl_suite.report.study import SCORE_TITLES, Unavailable

LEARNING_CURVES = ("Learning curves: the incumbent's mean over held-out runs at every checkpoint (band: 95% CI); "
                   "dashed, the other configurations' seed means.")
PERFORMANCE_PROFILE = ("Run-score performance profiles: the fraction of the incumbent's runs scoring above each "
                       "threshold τ (band: 95% CI); a curve further right is better.")
PROBABILITY_OF_IMPROVEMENT = "Probability of improvement P(X > Y) with its 95% CI; 0.5 (dashed) is no difference."
TUNING_CURVES = ("Tuning curves: the held-out TC@k (band: 95% CI) and the in-sample expected maxima against the "
                 "env steps spent on tuning; the gap between them is the winner's curse.")
SENSITIVITY_PLANE = ("Performance–sensitivity plane (Adkins et al. 2024): up is better tuned performance, left is "
                     "less reliance on per-environment tuning; bars: 95% CIs.")


@dataclasses.dataclass(frozen=True)
class Figure:
    """A written figure: its file name (relative to the report) and its caption."""

    file: str
    caption: str

    @classmethod
    def saved(cls, path: Path, caption: str) -> Figure:
        return cls(path.name, caption)


def study_figures(report: StudyReport, analysis: ScoreAnalysis, directory: Path) -> list[Figure]:
    """Every figure of one score's section, written into `directory`, each with its caption."""
    from jaxrl_suite import figures

    colors = {label: f"C{i}" for i, label in enumerate(report.study.algos)}
    title = f"{SCORE_TITLES[analysis.score].lower()} ({analysis.score})"
    over_time = title.removeprefix("final ")  # learning curves show the score at every checkpoint
    score = analysis.score
    made = [
        Figure.saved(figures.save_line_plots(directory / f"learning_curves_{score}.png",
                                             f"Learning curves — {over_time}",
                                             _learning_curve_plots(report, analysis, colors)), LEARNING_CURVES),
        Figure.saved(figures.save_line_plots(directory / f"performance_profile_{score}.png",
                                             f"Run-score performance profiles — {title}",
                                             _profile_plots(report, analysis, colors)), PERFORMANCE_PROFILE),
    ]
    charts = _improvement_charts(report, analysis, colors)
    if charts:
        made.append(Figure.saved(figures.save_interval_charts(
            directory / f"probability_of_improvement_{score}.png", f"Probability of improvement — {title}", charts),
            PROBABILITY_OF_IMPROVEMENT))
    tuning_plots = _tuning_plots(report, analysis, colors)
    if tuning_plots:
        made.append(Figure.saved(figures.save_line_plots(
            directory / f"tuning_curves_{score}.png", f"Tuning curves against env steps spent — {title}",
            tuning_plots), TUNING_CURVES))
    if not isinstance(analysis.sensitivity, Unavailable):
        made.append(Figure.saved(_plane_figure(directory / f"sensitivity_plane_{score}.png", analysis, title),
                                 SENSITIVITY_PLANE))
    return made


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
                              note=f"band: 95% CI of the incumbent's mean over {'/'.join(map(str, runs))} "
                                   "held-out runs"))
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
