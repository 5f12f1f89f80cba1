"""Hyperparameter sensitivity and effective hyperparameter dimensionality.

Source: Adkins, Bowling & White, "A Method for Evaluating Hyperparameter Sensitivity in
Reinforcement Learning", NeurIPS 2024 (arXiv:2412.07165).

Everything here is a pure function of one algorithm's score matrix Γ, shape (environments,
configurations): Γ[e, h] is the seed-averaged, per-environment p5/p95 percentile-normalised score
of configuration h on environment e, NaN where h was not run on e (the paper's released data drops
configurations that diverged). Configurations are described by `configs`, a mapping from each
hyperparameter name to an array of its value per configuration (column of Γ).

Definitions (E = environments, H = configurations, m = number of hyperparameters):

- per-environment tuned score  P = (1/|E|) Σ_e max_{h defined on e} Γ[e, h]
  (the best configuration chosen separately on every environment, from every row there is);
- cross-environment tuned score  X = max_{h ∈ H_c} (1/|E|) Σ_e Γ[e, h], where H_c are the
  "complete" configurations, those defined on every environment (one setting shared by all);
- hyperparameter sensitivity  Φ = P − X;
- best shared setting h* = argmax_{h ∈ H_c} of the cross-environment mean (first column on ties);
- partial tuning: for a set S of hyperparameters tuned per environment, the others held at h*,
  c(S) = (1/|E|) Σ_e max { Γ[e, h] : h eligible, defined on e, h_j = h*_j for every j ∉ S },
  and c_k = max_{|S| = k} c(S) for k = 0..m. Eligible is a parameter: "complete" (only H_c, as
  the paper's released analysis does) or "all" (every row). c_0 = X under both choices;
  c_m = P under "all", and P restricted to H_c under "complete";
- effective hyperparameter dimensionality d = the smallest k with c_k ≥ 0.95 · P, the
  per-environment tuned score over every row (the target the authors' released analysis uses, also
  under "complete"); None when even c_m falls short, which can happen under "complete". It needs
  P > 0: a fraction of a negative score would lie above it.

The percentile normalisation itself lives with the other normalisations; this module takes Γ as
given.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from jaxrl_suite.evaluation.bootstrap import (
    IntervalEstimate,
    percentile_interval,
    stratified_resample,
    stream_rng,
)

Eligibility = Literal["complete", "all"]
ELIGIBILITY_CHOICES: tuple[str, ...] = ("complete", "all")
#: fraction of the per-environment tuned score that defines "near-peak" in the paper
NEAR_PEAK_FRACTION = 0.95


def _as_score_matrix(gamma) -> np.ndarray:
    gamma = np.asarray(gamma, dtype=np.float64)
    if gamma.ndim != 2 or gamma.shape[0] == 0 or gamma.shape[1] == 0:
        raise ValueError(
            f"Γ must be a non-empty (environments, configurations) matrix, got shape {gamma.shape}"
        )
    if np.isinf(gamma).any():
        raise ValueError("Γ holds an infinite score; use NaN only for configurations not run")
    without_any = np.flatnonzero(np.isnan(gamma).all(axis=1))
    if without_any.size:
        raise ValueError(f"environment rows {without_any.tolist()} of Γ hold no score at all")
    return gamma


def complete_configurations(gamma) -> np.ndarray:
    """Boolean mask over configurations: True where the configuration has a score on every
    environment (the only ones a single shared setting can be chosen from)."""
    return ~np.isnan(_as_score_matrix(gamma)).any(axis=0)


def per_environment_tuned_score(gamma) -> float:
    """P = (1/|E|) Σ_e max_h Γ[e, h], each environment's maximum over the configurations run on
    it (Adkins et al. 2024, per-environment tuned score)."""
    return float(np.mean(np.nanmax(_as_score_matrix(gamma), axis=1)))


def _cross_environment_means(gamma: np.ndarray) -> np.ndarray:
    complete = ~np.isnan(gamma).any(axis=0)
    if not complete.any():
        raise ValueError(
            "no configuration has a score on every environment, so there is no shared setting "
            "and the cross-environment tuned score is undefined"
        )
    return np.where(complete, np.mean(np.where(complete, gamma, 0.0), axis=0), -np.inf)


def best_shared_configuration(gamma) -> int:
    """Column index h* of the best configuration shared by all environments: argmax over complete
    configurations of the mean score across environments (lowest index on ties)."""
    return int(np.argmax(_cross_environment_means(_as_score_matrix(gamma))))


def cross_environment_tuned_score(gamma) -> float:
    """X = max_{h complete} (1/|E|) Σ_e Γ[e, h] (Adkins et al. 2024, cross-environment tuned
    score; only configurations run on every environment are eligible)."""
    return float(np.max(_cross_environment_means(_as_score_matrix(gamma))))


def hyperparameter_sensitivity(gamma) -> float:
    """Φ = per-environment tuned score − cross-environment tuned score (Adkins et al. 2024):
    how much of an algorithm's tuned performance relies on tuning per environment."""
    return per_environment_tuned_score(gamma) - cross_environment_tuned_score(gamma)


@dataclasses.dataclass(frozen=True)
class SensitivitySummary:
    """One algorithm's point on the performance–sensitivity plane."""

    per_environment_tuned: float
    cross_environment_tuned: float

    @property
    def sensitivity(self) -> float:
        """Φ = per-environment tuned − cross-environment tuned."""
        return self.per_environment_tuned - self.cross_environment_tuned


def summarize_sensitivity(gamma) -> SensitivitySummary:
    """Per-environment tuned score, cross-environment tuned score and (as a property) Φ."""
    return SensitivitySummary(
        per_environment_tuned=per_environment_tuned_score(gamma),
        cross_environment_tuned=cross_environment_tuned_score(gamma),
    )


@dataclasses.dataclass(frozen=True)
class SensitivityEstimate:
    """:class:`SensitivitySummary` with bootstrap intervals for Φ and for P."""

    summary: SensitivitySummary
    phi: IntervalEstimate
    per_environment_tuned: IntervalEstimate


def sensitivity_interval(
    normalised: np.ndarray, reps: int, confidence: float = 0.95, seed: int = 0, stream: str = "sensitivity"
) -> SensitivityEstimate:
    """Φ and P of one algorithm with percentile CIs from a bootstrap over seeds.

    ``normalised`` is (configs, seeds, envs): every run's normalised final score. Γ is its mean
    over seeds; a resample redraws the seeds independently in every (configuration,
    environment) cell, since the runs of different cells share nothing but a seed number.
    Draws come from ``stream_rng(seed, stream)``.
    """
    configs, seeds, envs = normalised.shape
    by_seed = normalised.transpose(1, 0, 2).reshape(seeds, configs * envs)
    resampled = stratified_resample(by_seed, reps, stream_rng(seed, stream))
    gammas = resampled.mean(axis=1).reshape(reps, configs, envs).transpose(0, 2, 1)
    samples = [summarize_sensitivity(gamma) for gamma in gammas]
    summary = summarize_sensitivity(normalised.mean(axis=1).T)
    phi = percentile_interval(summary.sensitivity, [s.sensitivity for s in samples], confidence)
    tuned = percentile_interval(summary.per_environment_tuned, [s.per_environment_tuned for s in samples], confidence)
    return SensitivityEstimate(summary, phi, tuned)


@dataclasses.dataclass(frozen=True)
class PartialTuningCurve:
    """c_k for k = 0..m hyperparameters tuned per environment, the rest held at h*.

    `scores[k]` is c_k; `tuned[k]` names the hyperparameters of the best size-k subset (first in
    `itertools.combinations` order on ties); `shared_configuration` is the column index of h*.
    """

    scores: np.ndarray
    tuned: tuple[tuple[str, ...], ...]
    hyperparameters: tuple[str, ...]
    eligibility: str
    shared_configuration: int


def _validated_configs(configs: Mapping[str, Sequence], num_configs: int) -> dict[str, np.ndarray]:
    columns = {name: np.asarray(values) for name, values in configs.items()}
    for name, values in columns.items():
        if values.shape != (num_configs,):
            raise ValueError(
                f"hyperparameter {name!r} has values of shape {values.shape}; expected one per "
                f"configuration, ({num_configs},)"
            )
    # A repeated configuration would make "hold the others at h*" match two columns.
    keys = list(zip(*columns.values())) if columns else [()] * num_configs
    if len(set(keys)) != len(keys):
        raise ValueError("two configurations have identical hyperparameter values")
    return columns


def partial_tuning_curve(
    gamma, configs: Mapping[str, Sequence], eligibility: Eligibility = "complete"
) -> PartialTuningCurve:
    """The c_k curve of Adkins et al. (2024): c_k = max over subsets S of k hyperparameters of
    (1/|E|) Σ_e max{Γ[e, h] : h eligible, h agrees with h* outside S}; see the module docstring.

    `eligibility` = "complete" restricts the per-environment maxima to configurations run on every
    environment (the authors' released analysis); "all" lets each environment use every row it
    has. The choice can change d, so it is explicit.
    """
    if eligibility not in ELIGIBILITY_CHOICES:
        raise ValueError(f"eligibility must be one of {ELIGIBILITY_CHOICES}, got {eligibility!r}")
    gamma = _as_score_matrix(gamma)
    columns = _validated_configs(configs, gamma.shape[1])
    names = tuple(columns)
    shared = best_shared_configuration(gamma)
    eligible = complete_configurations(gamma) if eligibility == "complete" else np.ones(
        gamma.shape[1], dtype=bool
    )
    agrees_with_shared = {name: values == values[shared] for name, values in columns.items()}

    scores, tuned = [], []
    for k in range(len(names) + 1):
        best_score, best_subset = -np.inf, ()
        for subset in itertools.combinations(names, k):
            allowed = eligible.copy()
            for name in names:
                if name not in subset:
                    allowed &= agrees_with_shared[name]
            # h* itself is always allowed and defined everywhere, so no environment is empty.
            per_env_best = np.nanmax(np.where(allowed, gamma, np.nan), axis=1)
            score = float(np.mean(per_env_best))
            if score > best_score:
                best_score, best_subset = score, subset
        scores.append(best_score)
        tuned.append(best_subset)
    return PartialTuningCurve(
        scores=np.asarray(scores),
        tuned=tuple(tuned),
        hyperparameters=names,
        eligibility=eligibility,
        shared_configuration=shared,
    )


def effective_dimensionality(
    curve: PartialTuningCurve,
    per_environment_tuned: float,
    fraction: float = NEAR_PEAK_FRACTION,
) -> int | None:
    """d = min{k : c_k ≥ fraction · P} (Adkins et al. 2024, effective hyperparameter
    dimensionality), P > 0 the per-environment tuned score over every row; None if no k
    reaches it.

    The authors' released analysis uses this target with c_k computed over complete
    configurations; the paper phrases it as "95% of the per-environment tuned performance".
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if not per_environment_tuned > 0.0:
        # A fraction of a non-positive score lies above it: "near-peak" would mean "above peak".
        raise ValueError(
            "effective dimensionality needs a positive per-environment tuned score, got "
            f"{per_environment_tuned}"
        )
    target = fraction * per_environment_tuned
    # Scores and target come from different summation orders; forgive rounding only.
    reached = np.flatnonzero(curve.scores >= target - 1e-12 * max(1.0, abs(target)))
    return int(reached[0]) if reached.size else None


def plot_performance_sensitivity_plane(
    summaries: Mapping[str, SensitivitySummary],
    *,
    reference: str | None = None,
    labels: Mapping[str, str] | None = None,
    title: str = "Performance–sensitivity plane",
    ax=None,
):
    """Scatter one point per algorithm: x = Φ, y = per-environment tuned score (Adkins et al.
    2024, Fig. 5). With `reference` (an algorithm name) the plane is divided as in the paper by a
    horizontal and a vertical line through the reference point and the unit-slope line on which a
    gain in performance equals the gain in sensitivity; the quadrant better on both is shaded.
    Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    if not summaries:
        raise ValueError("nothing to plot: no algorithm summaries given")
    labels = dict(labels or {})
    if ax is None:
        fig, ax = plt.subplots(figsize=(11, 5.5), layout="constrained")
    else:
        fig = ax.figure
    xs = np.array([s.sensitivity for s in summaries.values()])
    ys = np.array([s.per_environment_tuned for s in summaries.values()])
    pad_x = 0.15 * max(np.ptp(xs), 0.05)
    pad_y = 0.15 * max(np.ptp(ys), 0.05)
    x_lim = (min(0.0, xs.min() - pad_x), xs.max() + pad_x)
    y_lim = (ys.min() - pad_y, ys.max() + pad_y)
    if reference is not None:
        if reference not in summaries:
            raise ValueError(f"reference {reference!r} is not among the algorithms plotted")
        ref = summaries[reference]
        ax.axhline(ref.per_environment_tuned, color="grey", linestyle="--", linewidth=1)
        ax.axvline(ref.sensitivity, color="grey", linestyle="--", linewidth=1)
        line_x = np.linspace(*x_lim, 100)
        ax.plot(
            line_x,
            ref.per_environment_tuned + (line_x - ref.sensitivity),
            color="grey",
            linestyle=":",
            label=f"performance gain = sensitivity gain vs {labels.get(reference, reference)}",
        )
        ax.fill_between(
            [x_lim[0], ref.sensitivity],
            ref.per_environment_tuned,
            y_lim[1],
            color="tab:green",
            alpha=0.08,
            label=f"better and less sensitive than {labels.get(reference, reference)}",
        )
    for (name, summary), marker in zip(summaries.items(), itertools.cycle("osD^v<>pP*X")):
        ax.plot(
            summary.sensitivity,
            summary.per_environment_tuned,
            marker=marker,
            linestyle="none",
            markersize=9,
            label=labels.get(name, name),
        )
    ax.set_xlim(*x_lim)
    ax.set_ylim(*y_lim)
    ax.set_xlabel(
        "hyperparameter sensitivity Φ (per-env tuned − cross-env tuned, normalised score)"
    )
    ax.set_ylabel("per-environment tuned score (p5/p95-normalised)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    # Outside the axes, so that no point is hidden behind it.
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def plot_partial_tuning_curves(
    curves: Mapping[str, Sequence[PartialTuningCurve]],
    per_environment_tuned: Mapping[str, float],
    *,
    fraction: float = NEAR_PEAK_FRACTION,
    labels: Mapping[str, str] | None = None,
    title: str = "Score when k hyperparameters are tuned per environment",
):
    """One panel per algorithm: c_k against k for each curve given (e.g. both eligibility choices),
    the near-peak target fraction · P as a dashed line, and d marked on each curve.
    Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    if not curves:
        raise ValueError("nothing to plot: no curves given")
    labels = dict(labels or {})
    n = len(curves)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.6 * cols, 3.2 * rows), squeeze=False, layout="constrained"
    )
    for ax, (name, algorithm_curves) in zip(axes.flat, curves.items()):
        target = fraction * per_environment_tuned[name]
        ax.axhline(target, color="black", linestyle="--", linewidth=1,
                   label=f"{fraction:.0%} of per-env tuned")
        # Distinct line styles keep coinciding curves (same c_k under both choices) visible.
        styles = itertools.cycle([("o", "-"), ("s", "--"), ("^", ":")])
        for curve, (marker, linestyle) in zip(algorithm_curves, styles):
            ks = np.arange(curve.scores.size)
            (line,) = ax.plot(ks, curve.scores, marker=marker, linestyle=linestyle,
                              fillstyle="none", label=f"eligible: {curve.eligibility}")
            d = effective_dimensionality(curve, per_environment_tuned[name], fraction)
            if d is not None:
                ax.plot(d, curve.scores[d], marker="*", markersize=14, color=line.get_color(),
                        linestyle="none", label=f"d = {d} ({curve.eligibility})")
        ax.set_title(labels.get(name, name), fontsize="medium")
        ax.set_xticks(np.arange(max(c.scores.size for c in algorithm_curves)))
        ax.set_xlabel("hyperparameters tuned per environment, k")
        ax.set_ylabel("c_k (normalised score)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small", loc="lower right")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig
