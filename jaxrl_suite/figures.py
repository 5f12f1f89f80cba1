"""PNG figures for reports: generic line plots with confidence bands, interval charts, and the
sensitivity figures of jaxrl_suite.evaluation.sensitivity with error bars added.

The functions take plain data (arrays, labels, units), never report objects, so they know
nothing about studies; :mod:`jaxrl_suite.report` decides what to plot. Rendering uses the Agg
backend: reports are written on machines without a display, and Agg makes the PNG bytes
independent of whatever backend an interactive session had chosen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen before pyplot loads)
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from jaxrl_suite.evaluation import sensitivity  # noqa: E402

DPI = 120
#: how much wider than tall a subplot is, in inches
SUBPLOT_SIZE = (7.2, 4.6)
LEGEND_INSIDE_AT_MOST = 3


@dataclasses.dataclass(frozen=True)
class Series:
    """One line of a plot, optionally with a shaded band [lo, hi] (a confidence interval)."""

    label: str | None
    x: np.ndarray
    y: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    color: str | None = None
    linestyle: str = "-"
    marker: str | None = None
    linewidth: float = 1.8
    alpha: float = 1.0


@dataclasses.dataclass(frozen=True)
class LinePlot:
    """One subplot: its title, axis labels (with units) and lines."""

    title: str
    xlabel: str
    ylabel: str
    series: Sequence[Series]
    xscale: str = "linear"
    note: str | None = None  # small text in the corner, e.g. how many runs a band rests on
    x_is_steps: bool = False  # tick labels as 50k, 1.2M: raw step counts are hard to read


@dataclasses.dataclass(frozen=True)
class IntervalRow:
    """One horizontal bar of an interval chart: a point estimate with its interval."""

    label: str
    point: float
    lo: float
    hi: float
    color: str | None = None


@dataclasses.dataclass(frozen=True)
class IntervalChart:
    """One subplot of interval bars; `reference` draws a vertical line (e.g. 0.5 for P(X > Y))."""

    title: str
    xlabel: str
    rows: Sequence[IntervalRow]
    reference: float | None = None
    xlim: tuple[float, float] | None = None


def _grid(count: int, columns: int, height_per_row: float | None = None, width_factor: float = 1.0):
    cols = max(1, min(count, columns))
    rows = -(-count // cols)
    width, height = SUBPLOT_SIZE
    fig, axes = plt.subplots(
        rows, cols, figsize=(width * width_factor * cols, (height_per_row or height) * rows), squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def _steps_label(value: float, _position=None) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.4g}{suffix}"
    return f"{value:.4g}"


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _draw_series(ax, series: Series) -> None:
    (line,) = ax.plot(
        series.x, series.y, color=series.color, linestyle=series.linestyle, marker=series.marker,
        linewidth=series.linewidth, alpha=series.alpha, label=series.label, markersize=5,
    )
    if series.lo is not None and series.hi is not None:
        ax.fill_between(series.x, series.lo, series.hi, color=line.get_color(), alpha=0.18 * series.alpha,
                        linewidth=0)


def save_line_plots(path: Path, title: str, plots: Sequence[LinePlot], *, columns: int = 2) -> Path:
    """One figure of line subplots (shaded bands where a series has lo/hi), saved as PNG."""
    if not plots:
        raise ValueError("nothing to plot: no subplots given")
    legend_beside = any(_labelled(plot) > LEGEND_INSIDE_AT_MOST for plot in plots)
    # Legends beside the axes make each subplot wider, so such subplots are stacked in one column.
    fig, axes = _grid(len(plots), 1 if legend_beside else columns, width_factor=1.6 if legend_beside else 1.0)
    for ax, plot in zip(axes, plots):
        for series in plot.series:
            _draw_series(ax, series)
        ax.set_title(plot.title, fontsize="medium")
        ax.set_xlabel(plot.xlabel)
        ax.set_ylabel(plot.ylabel)
        ax.set_xscale(plot.xscale)
        if plot.x_is_steps:
            ax.xaxis.set_major_formatter(FuncFormatter(_steps_label))
        ax.grid(alpha=0.3)
        _legend(ax, plot)
    fig.suptitle(title)
    return _save(fig, path)


def _labelled(plot: LinePlot) -> int:
    return sum(1 for s in plot.series if s.label)


def _legend(ax, plot: LinePlot) -> None:
    """The legend, titled with the plot's note so the note never hides a line; a long legend goes
    beside the axes for the same reason."""
    labelled = _labelled(plot)
    if not labelled:
        if plot.note:
            ax.text(0.99, 0.01, plot.note, transform=ax.transAxes, ha="right", va="bottom",
                    fontsize="x-small", color="dimgray")
        return
    outside = ({"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)} if labelled > LEGEND_INSIDE_AT_MOST
               else {"loc": "best"})
    legend = ax.legend(fontsize="small", title=plot.note, title_fontsize="x-small", **outside)
    legend.get_title().set_color("dimgray")


def save_interval_charts(path: Path, title: str, charts: Sequence[IntervalChart], *, columns: int = 2) -> Path:
    """Horizontal interval bars (point and whiskers) per chart, saved as PNG."""
    if not charts:
        raise ValueError("nothing to plot: no charts given")
    most_rows = max(len(chart.rows) for chart in charts)
    fig, axes = _grid(len(charts), columns, height_per_row=max(2.8, 1.6 + 0.5 * most_rows))
    for ax, chart in zip(axes, charts):
        positions = np.arange(len(chart.rows))[::-1]
        for y, row in zip(positions, chart.rows):
            ax.errorbar(row.point, y, xerr=[[row.point - row.lo], [row.hi - row.point]], fmt="o",
                        color=row.color or "tab:blue", capsize=5, markersize=7, linewidth=2)
        ax.set_yticks(positions, [row.label for row in chart.rows])
        if chart.reference is not None:
            ax.axvline(chart.reference, color="gray", linestyle="--", linewidth=1)
        if chart.xlim is not None:
            ax.set_xlim(*chart.xlim)
        ax.set_ylim(-0.7, len(chart.rows) - 0.3)
        ax.set_title(chart.title, fontsize="medium")
        ax.set_xlabel(chart.xlabel)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def save_sensitivity_plane(
    path: Path,
    summaries: Mapping[str, sensitivity.SensitivitySummary],
    intervals: Mapping[str, tuple[tuple[float, float], tuple[float, float]]],
    *,
    title: str,
    ylabel: str,
) -> Path:
    """The performance–sensitivity plane (Adkins et al. 2024), with each algorithm's 95% CI of
    Φ (horizontal) and of its per-environment tuned score (vertical) where `intervals` has one:
    ``{name: ((phi_lo, phi_hi), (score_lo, score_hi))}``."""
    fig, ax = plt.subplots(figsize=(9.5, 5.2), layout="constrained")
    sensitivity.plot_performance_sensitivity_plane(summaries, title=title, ax=ax)
    for (name, summary), line in zip(summaries.items(), ax.get_lines()[-len(summaries):]):
        if name not in intervals:
            continue
        (phi_lo, phi_hi), (score_lo, score_hi) = intervals[name]
        x, y = summary.sensitivity, summary.per_environment_tuned
        # Lines, not errorbar: a bootstrap interval of a max-over-configurations score can lie
        # wholly on one side of the point estimate, and it is drawn as it is.
        ax.hlines(y, phi_lo, phi_hi, colors=line.get_color(), linewidth=1.2)
        ax.vlines(x, score_lo, score_hi, colors=line.get_color(), linewidth=1.2)
    ax.relim()
    ax.autoscale()
    ax.set_ylabel(ylabel)
    return _save(fig, path)


def save_partial_tuning(
    path: Path,
    curves: Mapping[str, Sequence[sensitivity.PartialTuningCurve]],
    per_environment_tuned: Mapping[str, float],
    *,
    title: str,
) -> Path:
    """Adkins et al.'s c_k curves (score with k hyperparameters tuned per environment)."""
    fig = sensitivity.plot_partial_tuning_curves(curves, per_environment_tuned, title=title)
    return _save(fig, path)
