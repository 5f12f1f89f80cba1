"""From runs to the scores the report aggregates: the scale, failures charged, panels, incumbents.

* Scale: min-max normalised with the frozen anchors when every environment has anchors; then
  all environments are analysed together (one panel). Otherwise raw returns, and every analysis
  is made per environment (one panel each: raw returns of different environments do not add up).
* Failures: a run's values from its first diverged checkpoint on, and values never recorded
  (NaN: no finished episode yet), are charged the worst score: the anchor ``lo``, or without
  anchors the minimum value observed on that environment for that score.
* Selection: a configuration's tuning score u is the mean of its final scores over tuning seeds
  (and environments), its test score w the same over test seeds. The incumbent is argmax u.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from jaxrl_suite.evaluation import normalization
from jaxrl_suite.report.study import AlgoRuns, ReportError, Study, Unavailable

# --- scale and failures ----------------------------------------------------------------------


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


def panel_final_scores(scores: Scores, algo: str, panel: Panel) -> np.ndarray:
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
    return {label: incumbent(algo, panel_final_scores(scores, label, panel)) for label, algo in study.algos.items()}


def incumbent_runs(study: Study, scores: Scores, panel: Panel) -> dict[str, np.ndarray]:
    """rliable-style {algo: (runs, envs)}: the incumbent's final scores on its reporting seeds."""
    chosen = incumbents(study, scores, panel)
    return {label: panel_final_scores(scores, label, panel)[chosen[label], algo.seed_index(reporting_role(algo))]
            for label, algo in study.algos.items()}

