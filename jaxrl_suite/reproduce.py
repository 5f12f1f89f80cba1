"""Reproduce published numbers: run a study whose spec carries references, compare like with like.

Each `[[references]]` entry of a spec names an environment, an algorithm label, the published
value (and spread, seeds, budget, source) and the metric definition the source used. Our
per-seed numbers are computed in that same definition from the study's runs, then the verdict
asks whether the published k-seed result could have come from our distribution (VERDICT_METHOD;
jaxrl_suite/evaluation/published_seeds.py): reproduced when the k-seed resampling p-value is at
least 0.05, not reproduced otherwise; and when the two numbers do not measure the same thing
(another metric, a scaled budget, a searched configuration), not comparable, with the reason.
The old rule (our mean within the spec's `tolerance` of the published one) stays as a second
column. Nothing is dropped silently.

Metric definitions (the `metric` field; see benchmarks/published_tables.md):

* ``train_return_last100`` — CleanRL / Open RL Benchmark: mean over seeds of each seed's
  average return over its last 100 training episodes, ± population std over seeds (ddof 0).
* ``eval_stochastic_164`` — gymnax-blines: mean return of 164 evaluation episodes sampling the
  stochastic policy at the end of training (the spec's evaluation must be set that way); the
  source used one training seed, so we report mean ± std over ours.
* ``last_episode_return`` — PureJaxRL: return of the last completed training episode per env.
  The suite records the last-100-episode mean instead, so these rows are shown but not compared.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl_suite import results as R
from jaxrl_suite.evaluation import aggregate_iqm, interval_estimates, load_anchors
from jaxrl_suite.evaluation.published_seeds import LEVEL, RESAMPLES, collapse_threshold, k_seed_test
from jaxrl_suite.spec import StudySpec

METRICS = {
    "train_return_last100": "mean over seeds of each seed's mean return over its last 100 training episodes, "
                            "± std over seeds (ddof 0)",
    "eval_stochastic_164": "mean over seeds of the final policy's mean return over 164 episodes "
                           "sampling the stochastic policy",
    "last_episode_return": "return of the last completed training episode (PureJaxRL); not recorded by the suite",
}
BOOTSTRAP_REPS = 10_000
VERDICT_METHOD = (
    f"the published result is compared with {RESAMPLES:,} results of k seeds drawn with replacement from our "
    "per-seed values, k the published seed count (1 when the spec gives none): p_mean = P(|resampled k-seed mean − "
    "our mean| ≥ |published − our mean|); where the source gives its std over k ≥ 2 seeds, also p_spread = two-sided "
    "P(resampled k-seed std (ddof 0) at least as extreme as the published one), combined as p = min(1, 2 min(p_mean, "
    f"p_spread)) (Bonferroni). Reproduced when p ≥ {LEVEL:g}. Collapsed seeds: below the midpoint between a random "
    "policy's return (the environment's anchor lo) and the published value. The tolerance column is the old rule: "
    "our n-seed mean within the spec's tolerance of the published mean, whatever the seed counts"
)


@dataclasses.dataclass(frozen=True)
class Row:
    env: str
    algo: str
    metric: str
    source: str
    published: float
    published_spread: float | None
    published_seeds: int | None
    published_steps: int | None
    ours_mean: float | None
    ours_std: float | None
    ours_seeds: int
    ours_steps: int | None
    iqm: tuple[float, float, float] | None  # point, lo, hi
    diverged: int
    tolerance: float | None
    verdict: str  # "reproduced", "not reproduced", "not comparable"
    reason: str
    ours_values: tuple[float, ...] = ()  # every seed's value, ascending
    p_mean: float | None = None
    p_spread: float | None = None
    p_value: float | None = None  # the verdict's combined p-value
    collapse_below: float | None = None  # None: no anchor for the environment, or nothing to collapse from
    collapsed: int | None = None
    within_tolerance: bool | None = None  # the old rule; None when not comparable or no tolerance given

    @property
    def difference(self) -> float | None:
        return None if self.ours_mean is None else self.ours_mean - self.published


def compare(spec: StudySpec, table, scale: float = 1.0, *, smoke: bool = False) -> list[Row]:
    """One row per reference of `spec`, from the study's results table."""
    data = {name: np.asarray(table[name].to_numpy(zero_copy_only=False)) for name in
            ("algo", "env", "config_id", "seed", "checkpoint", "env_steps", "train_return", "eval_return", "diverged")}
    return [_row(reference, spec, data, scale, smoke) for reference in spec.references]


def _row(reference: dict[str, Any], spec: StudySpec, data: dict[str, np.ndarray], scale: float, smoke: bool) -> Row:
    env, algo, metric = reference["env"], reference["algo"], reference["metric"]
    mine = (data["env"] == env) & (data["algo"] == algo)
    base = dict(
        env=env, algo=algo, metric=metric, source=reference["source"], published=float(reference["value"]),
        published_spread=_maybe_float(reference.get("spread")), published_seeds=reference.get("seeds"),
        published_steps=reference.get("steps"), tolerance=_maybe_float(reference.get("tolerance")),
    )
    if not mine.any():
        return Row(**base, ours_mean=None, ours_std=None, ours_seeds=0, ours_steps=None, iqm=None, diverged=0,
                   verdict="not comparable", reason=f"the study has no runs of {algo!r} on {env}")
    last = mine & (data["checkpoint"] == data["checkpoint"][mine].max())
    column = "eval_return" if metric == "eval_stochastic_164" else "train_return"
    in_table_order = data[column][last].astype(float)  # the IQM bootstrap resamples in this order
    values = np.sort(in_table_order)
    steps = int(data["env_steps"][last].max())
    anchors = load_anchors()
    collapse_below = collapse_threshold(anchors[env].lo, base["published"]) if env in anchors else None
    ours = dict(
        ours_mean=float(np.mean(values)), ours_std=float(np.std(values)), ours_seeds=int(values.size),
        ours_steps=steps, iqm=_iqm(in_table_order), diverged=int(data["diverged"][last].sum()),
        ours_values=tuple(float(v) for v in values), collapse_below=collapse_below,
        collapsed=None if collapse_below is None else int(np.sum(values < collapse_below)),
    )
    reason = _incomparable(reference, spec, data, mine, steps, scale, smoke)
    if reason:
        return Row(**base, **ours, verdict="not comparable", reason=reason)
    tolerance = base["tolerance"]
    within = None if tolerance is None else bool(abs(ours["ours_mean"] - base["published"]) <= tolerance)
    note = f"; {reference['note']}" if reference.get("note") else ""
    if not np.isfinite(values).all():
        broken = int(np.sum(~np.isfinite(values)))
        return Row(**base, **ours, within_tolerance=within, verdict="not reproduced",
                   reason=f"{broken} of {values.size} seeds ended with a non-finite return{note}")
    k = reference.get("seeds") or 1
    test = k_seed_test(values, base["published"], k, base["published_spread"], name=f"{env} {algo}")
    explanation = f"p = {_p(test.p_value)} {'≥' if test.reproduced else '<'} {LEVEL:g}"
    if test.p_spread is not None:
        explanation += f" (p_mean {_p(test.p_mean)}, p_spread {_p(test.p_spread)})"
    explanation += f" for {k} published seed{'s' if k > 1 else ''}"
    if not test.reproduced:
        explanation += f"; the published mean is {'above' if base['published'] > ours['ours_mean'] else 'below'} ours"
    if not reference.get("seeds"):
        explanation += " (the spec gives no seed count: one assumed)"
    return Row(**base, **ours, p_mean=test.p_mean, p_spread=test.p_spread, p_value=test.p_value,
               within_tolerance=within, verdict="reproduced" if test.reproduced else "not reproduced",
               reason=explanation + note)


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"


def _incomparable(reference, spec: StudySpec, data, mine, steps: int, scale: float, smoke: bool) -> str | None:
    metric = reference["metric"]
    if metric == "last_episode_return":
        return "the source reports the last training episode's return; the suite records the last-100-episode mean"
    if metric == "eval_stochastic_164" and (spec.evaluation.deterministic or spec.evaluation.episodes != 164):
        return "the source evaluates 164 episodes of the stochastic policy; this spec's evaluation differs"
    if len(np.unique(data["config_id"][mine])) > 1:
        return "the study searches several configurations; a published number belongs to one"
    if scale != 1.0:
        return f"budget scaled by {scale:g} (smoke run)"
    if smoke:
        return "smoke run: one configuration and one seed per program"
    published_steps = reference.get("steps")
    if published_steps and not (0.95 * published_steps <= steps <= published_steps):
        return f"budget differs: ours {steps:,} env steps, published {published_steps:,}"
    if np.sum(mine & (data["checkpoint"] == data["checkpoint"][mine].max())) < 2:
        return "one seed of ours: no distribution to draw the published seeds from"
    return None


def _iqm(values: np.ndarray) -> tuple[float, float, float] | None:
    if values.size < 2 or not np.all(np.isfinite(values)):
        return None
    estimate = interval_estimates({"x": values[:, None]}, {"iqm": aggregate_iqm}, reps=BOOTSTRAP_REPS,
                                  seed=0)["x"]["iqm"]
    return float(estimate.point), float(estimate.lo), float(estimate.hi)


#: Spec fields that change the table but not the training: a finished study is re-tabled under them.
TABLE_ONLY_FIELDS = ("references", "description")


def finished_study(spec: StudySpec, directory: Path):
    """(table, manifest) of the complete study `directory` that training `spec` would write, for
    re-making the table without training. Raises ResultsError when the directory is not a
    complete study or was trained from a different spec (anything but TABLE_ONLY_FIELDS, or
    the budget after --scale, differs)."""
    table, manifest = R.read_study(directory)
    recorded = manifest.get("spec") if isinstance(manifest.get("spec"), dict) else {}
    recorded = {k: v for k, v in recorded.items() if k not in TABLE_ONLY_FIELDS}
    wanted = _as_json({k: v for k, v in spec.raw.items() if k not in TABLE_ONLY_FIELDS})
    if recorded != wanted:
        fields = sorted(k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k))
        raise R.ResultsError(f"{directory} was trained from another spec than {spec.name!r} (fields differing: "
                             f"{', '.join(fields)}); re-run without --from-results to train it")
    if manifest.get("total_env_steps") != spec.total_env_steps:
        raise R.ResultsError(f"{directory} trained {manifest.get('total_env_steps')} env steps per run, the spec as "
                             f"requested {spec.total_env_steps} (check --scale)")
    return table, manifest


def _as_json(value: Any) -> Any:
    """`value` as the manifest's JSON stores it (tuples become lists)."""
    import json

    return json.loads(json.dumps(value, default=str))


def _maybe_float(value: Any) -> float | None:
    return None if value is None else float(value)


def markdown(spec: StudySpec, rows: list[Row], manifest: dict[str, Any], figure: str | None) -> str:
    versions = manifest.get("versions", {})
    lines = [
        f"# {spec.name}: reproduction",
        "",
        spec.description or "",
        "",
        f"Made by `jaxrl-suite reproduce {manifest.get('spec_path', 'SPEC')}` "
        f"on {', '.join(manifest.get('devices', []))} "
        f"({manifest.get('host', {}).get('platform', '?')}, {manifest.get('host', {}).get('cpu_count', '?')} cores); "
        f"wall-clock {manifest.get('wall_clock_s', float('nan')):.0f} s; jax {versions.get('jax')}, "
        f"gymnax {versions.get('gymnax')}, "
        f"brax {versions.get('brax')}; git {str(manifest.get('git_revision'))[:10]}.",
    ]
    if manifest.get("table_git_revision"):
        lines += ["", "Table re-made without training from the study directory by `jaxrl-suite reproduce "
                      f"{manifest.get('spec_path', 'SPEC')} --from-results` at git "
                      f"{str(manifest['table_git_revision'])[:10]}."]
    lines += [
        "",
        "| env | algo | metric | steps (ours / published) | ours: mean ± std (seeds) | our seeds, ascending "
        "| collapsed | IQM [95% CI] | published ± spread (seeds) | difference | verdict (k-seed test) "
        "| tolerance rule |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ours = "—" if r.ours_mean is None else f"{r.ours_mean:.2f} ± {r.ours_std:.2f} ({r.ours_seeds})"
        iqm = "—" if r.iqm is None else f"{r.iqm[0]:.2f} [{r.iqm[1]:.2f}, {r.iqm[2]:.2f}]"
        published = (f"{r.published:.2f}" + (f" ± {r.published_spread:.2f}" if r.published_spread is not None else "")
                     + (f" ({r.published_seeds})" if r.published_seeds else ""))
        steps = f"{r.ours_steps or 0:,} / {r.published_steps:,}" if r.published_steps else f"{r.ours_steps or 0:,} / —"
        diff = "—" if r.difference is None else f"{r.difference:+.2f}"
        diverged = f" ({r.diverged} diverged)" if r.diverged else ""
        lines.append(f"| {r.env} | {r.algo} | {r.metric} | {steps} | {ours}{diverged} | {_seed_values(r.ours_values)} "
                     f"| {_collapsed(r)} | {iqm} | {published} | {diff} | **{r.verdict}**: {r.reason} "
                     f"| {_tolerance(r)} |")
    lines += ["", f"Verdict: {VERDICT_METHOD}.", "", "Metric definitions:", ""]
    lines += [f"- `{name}`: {text}" for name, text in METRICS.items() if any(r.metric == name for r in rows)]
    lines += ["", "Sources: " + "; ".join(sorted({r.source for r in rows})) + ".",
              "Time limits: the suite bootstraps on truncation and not on termination (gymnax 1.x separates them); "
              "a row's note says how its source treated truncation where the spec records it."]
    if figure:
        lines += ["", f"![learning curves]({figure})"]
    return "\n".join(lines) + "\n"


def _seed_values(values: tuple[float, ...]) -> str:
    """Every value up to 10 seeds; beyond, the quartiles and extremes."""
    if not values:
        return "—"
    if len(values) <= 10:
        return ", ".join(f"{v:.4g}" for v in values)
    quantiles = np.quantile(values, [0, 0.25, 0.5, 0.75, 1])
    return "min / q25 / median / q75 / max: " + " / ".join(f"{v:.4g}" for v in quantiles)


def _collapsed(r: Row) -> str:
    return "—" if r.collapsed is None else f"{r.collapsed} of {r.ours_seeds} (< {r.collapse_below:.4g})"


def _tolerance(r: Row) -> str:
    if r.within_tolerance is None:
        return "—"
    return f"{'within' if r.within_tolerance else 'outside'} ±{r.tolerance:g}"


def csv_text(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["env", "algo", "metric", "ours_steps", "ours_mean", "ours_std", "ours_seeds", "ours_values",
                     "collapse_below", "collapsed", "iqm", "iqm_lo", "iqm_hi", "diverged", "published",
                     "published_spread", "published_seeds", "published_steps", "difference", "p_mean", "p_spread",
                     "p_value", "verdict", "reason", "tolerance", "within_tolerance", "source"])
    for r in rows:
        iqm = r.iqm or (None, None, None)
        writer.writerow([r.env, r.algo, r.metric, r.ours_steps, r.ours_mean, r.ours_std, r.ours_seeds,
                         " ".join(repr(v) for v in r.ours_values), r.collapse_below, r.collapsed, *iqm, r.diverged,
                         r.published, r.published_spread, r.published_seeds, r.published_steps, r.difference,
                         r.p_mean, r.p_spread, r.p_value, r.verdict, r.reason, r.tolerance, r.within_tolerance,
                         r.source])
    return out.getvalue()


def learning_curves(path: Path, spec: StudySpec, table, rows: list[Row]) -> Path:
    """Mean training return over seeds with a 95% bootstrap band, the published value dashed."""
    from jaxrl_suite.figures import LinePlot, Series, save_line_plots

    data = {name: np.asarray(table[name].to_numpy(zero_copy_only=False)) for name in
            ("algo", "env", "seed", "config_id", "checkpoint", "env_steps", "train_return")}
    plots = []
    for env in spec.envs:
        series = []
        for algo in spec.algorithms:
            mine = (data["env"] == env) & (data["algo"] == algo.label)
            if not mine.any():
                continue
            runs = sorted(set(zip(data["config_id"][mine], data["seed"][mine])))
            points = np.unique(data["checkpoint"][mine])
            curves = np.full((len(runs), len(points)), np.nan)
            index = {run: i for i, run in enumerate(runs)}
            for c, s, k, v in zip(data["config_id"][mine], data["seed"][mine], data["checkpoint"][mine],
                                  data["train_return"][mine]):
                curves[index[(c, s)], k] = v
            steps = np.array([data["env_steps"][mine & (data["checkpoint"] == k)][0] for k in points])
            mean = np.nanmean(curves, axis=0)
            lo = hi = None
            if len(runs) > 1 and np.all(np.isfinite(curves)):
                band = interval_estimates({"x": curves[:, None, :]}, {"mean": _mean}, reps=2_000, seed=0)["x"]["mean"]
                lo, hi = band.lo, band.hi
            series.append(Series(f"{algo.label} ({len(runs)} runs)", steps, mean, lo, hi))
            for r in rows:
                if r.env == env and r.algo == algo.label:
                    series.append(Series(f"published ({r.source.split(' ')[0]})", steps,
                                         np.full_like(mean, r.published), linestyle="--", linewidth=1.2))
        if series:
            plots.append(LinePlot(env, "env steps", "training return (last 100 episodes)", series,
                                  note="bands: 95% bootstrap CI of the mean over runs"))
    return save_line_plots(path, f"{spec.name}: learning curves", plots)


def _mean(x: np.ndarray) -> np.ndarray:
    return np.mean(x, axis=(-2, -1))
