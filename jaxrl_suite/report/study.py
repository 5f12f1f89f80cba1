"""Reading a study directory into arrays the report analyses, checked for everything it relies on.

A study's long table becomes, per algorithm label, arrays indexed [config, seed, checkpoint] for
each score and environment; anything that does not fill that grid exactly once, or disagrees with
the manifest, raises :class:`ReportError` naming the file and the problem.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl_suite import results

REPORT_FILE = "report.md"  # what `jaxrl-suite report` writes, beside its figures
SUMMARY_FILE = "summary.md"  # written by `jaxrl-suite run` into every study directory
#: the two per-run scores, with the words the report uses for them
SCORES = {
    "train_return": "final training return: each seed's mean return over its last 100 training episodes",
    "eval_return": "final evaluation return: mean return of the final policy's evaluation episodes",
}
SCORE_TITLES = {"train_return": "Final training return", "eval_return": "Final evaluation return"}
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
        tuned = manifest.get("tuners")
        if not tuned:
            raise ReportError(f"{path / results.TABLE} has no rows")
        # A study of tuners only: its runs are in tuners.parquet (the report's Tuners section).
        envs = tuple(sorted({str(entry.get("env")) for entry in tuned}))
        return Study(path, str(manifest.get("study")), manifest, envs, {})
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


# --- configurations --------------------------------------------------------------------------


def settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration's static settings and hyperparameters together, as the manifest lists them."""
    return {**config.get("static", {}), **config.get("hparams", {})}


def varying_hyperparameters(algo: AlgoRuns) -> list[str]:
    every = [settings(c) for c in algo.configs]
    names = sorted({name for s in every for name in s})
    return [n for n in names if len({repr(s.get(n)) for s in every}) > 1]
