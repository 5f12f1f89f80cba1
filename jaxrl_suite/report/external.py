"""The report of a published per-configuration table (e.g. Adkins et al. 2024's): sensitivity,
partial tuning and in-sample tuning curves, written like a study report.

    jaxrl-suite report --external CSV --mapping MAPPING.toml [--out DIR]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl_suite.evaluation import external, sensitivity
from jaxrl_suite.report.study import REPORT_FILE, ReportError, Unavailable
from jaxrl_suite.report.text import table as markdown_table
from jaxrl_suite.report.writing import check_destination, publish

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
        *markdown_table(("", ""), [
            ("rows", f"{len(table.score):,}"),
            ("algorithms", ", ".join(table.algorithms())),
            ("environments", ", ".join(table.environments())),
            ("mapping", f"algorithm = `{mapping.algorithm}`, environment = `{mapping.environment}`, score = "
                        f"`{mapping.score}`, hyperparameters = "
                        f"{', '.join(f'`{h}`' for h in mapping.hyperparameters) or 'none'}"
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
            rows.append([a.name, f"{a.configs} ({a.complete})", f"not available: {a.summary.reason}",
                         "—", "—", "—", "—"])
            continue
        d = [_format_dimensionality(a.dimensionality.get(e)) for e in sensitivity.ELIGIBILITY_CHOICES]
        rows.append([a.name, f"{a.configs} ({a.complete})", f"{a.summary.per_environment_tuned:.4f}",
                     f"{a.summary.cross_environment_tuned:.4f}", f"{a.summary.sensitivity:.4f}", *d])
    return markdown_table(["algorithm", "configs (complete)", "P", "X", "Φ", "d (complete)", "d (all)"], rows)


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
    return markdown_table(["algorithm", "eligible", "c_0, c_1, …, c_m", "best subset per k"], rows)


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
    return markdown_table(["algorithm", "k", "per-env, with repl.", "per-env, without repl.", "shared, with repl.",
                   "shared, without repl."], rows)
