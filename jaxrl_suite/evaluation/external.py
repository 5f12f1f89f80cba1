"""Ingest published per-configuration results (a long CSV) for the sensitivity and tuning analyses.

A results table from another project, such as the one released with Adkins, Bowling & White
(NeurIPS 2024), has one row per (algorithm, environment, configuration). A small `ColumnMapping`
(a dict or a TOML file) says which column is which; `read_external_csv` validates the file and
`ExternalTable.score_matrix` turns one algorithm's rows into the (environments × configurations)
matrix Γ with its configuration keys, NaN where a configuration was not run on an environment.

`in_sample_tuning_curves` gives the expected best score of k random configurations, tuned per
environment or shared by all, on such a matrix.

Every problem with the data raises `ExternalDataError`, whose message names the mapping field,
the column and the line (1-based, the header is line 1) involved.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import importlib.resources
import io
import math
import tomllib
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from jaxrl_suite.evaluation import sensitivity, tuning
from jaxrl_suite.evaluation.normalization import percentile_normalize


class ExternalDataError(ValueError):
    """A problem with an external results table or its column mapping.

    `field` is the mapping field involved (e.g. "score"), `column` the CSV column, `line` the
    1-based line of the file (header = line 1); each is None when it does not apply.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        column: str | None = None,
        line: int | None = None,
    ):
        super().__init__(message)
        self.field = field
        self.column = column
        self.line = line


_REQUIRED_FIELDS = ("algorithm", "environment", "score")
_OPTIONAL_FIELDS = ("hyperparameters", "normalized_score")


@dataclasses.dataclass(frozen=True)
class ColumnMapping:
    """Which CSV column plays which role.

    algorithm, environment: columns of labels; score: the (seed-averaged) return; hyperparameters:
    the columns that together identify a configuration; normalized_score: optional column already
    holding the normalised score Γ (otherwise Γ is the per-environment p5/p95 normalisation of
    `score` over all rows of that environment).
    """

    algorithm: str
    environment: str
    score: str
    hyperparameters: tuple[str, ...] = ()
    normalized_score: str | None = None

    @classmethod
    def from_dict(cls, spec: Mapping) -> ColumnMapping:
        """Build and validate a mapping from a dict with the field names as keys."""
        if not isinstance(spec, Mapping):
            raise ExternalDataError(
                f"a column mapping must be a table of fields, got {type(spec).__name__}"
            )
        known = _REQUIRED_FIELDS + _OPTIONAL_FIELDS
        for key in spec:
            if key not in known:
                raise ExternalDataError(
                    f"unknown mapping field {key!r}; the fields are {', '.join(known)}", field=key
                )
        for field in _REQUIRED_FIELDS:
            if field not in spec:
                raise ExternalDataError(f"mapping field {field!r} is required", field=field)
        for field in ("algorithm", "environment", "score", "normalized_score"):
            if field in spec and spec[field] is not None:
                _check_column_name(field, spec[field])
        hyperparameters = spec.get("hyperparameters", ())
        if isinstance(hyperparameters, str) or not isinstance(hyperparameters, Sequence):
            raise ExternalDataError(
                "mapping field 'hyperparameters' must be a list of column names, got "
                f"{type(hyperparameters).__name__}",
                field="hyperparameters",
            )
        for name in hyperparameters:
            _check_column_name("hyperparameters", name)
        mapping = cls(
            algorithm=spec["algorithm"],
            environment=spec["environment"],
            score=spec["score"],
            hyperparameters=tuple(hyperparameters),
            normalized_score=spec.get("normalized_score"),
        )
        mapping._check_roles_distinct()
        return mapping

    @classmethod
    def from_toml(cls, path: str | Path) -> ColumnMapping:
        """Read a mapping from a TOML file whose top-level keys are the field names."""
        path = Path(path)
        try:
            with path.open("rb") as f:
                spec = tomllib.load(f)
        except FileNotFoundError:
            raise ExternalDataError(f"{path}: mapping file not found") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ExternalDataError(f"{path}: not valid TOML ({err})") from None
        except OSError as err:  # a directory, an unreadable file
            raise ExternalDataError(f"{path}: cannot read the mapping file ({_reason(err)})") from None
        return cls.from_dict(spec)

    def roles(self) -> list[tuple[str, str]]:
        """(field, column) for every column the mapping uses."""
        pairs = [("algorithm", self.algorithm), ("environment", self.environment),
                 ("score", self.score)]
        if self.normalized_score is not None:
            pairs.append(("normalized_score", self.normalized_score))
        pairs += [("hyperparameters", name) for name in self.hyperparameters]
        return pairs

    def _check_roles_distinct(self) -> None:
        seen: dict[str, str] = {}
        for field, column in self.roles():
            if column in seen:
                raise ExternalDataError(
                    f"column {column!r} is named by mapping fields {seen[column]!r} and "
                    f"{field!r}; each column can play one role only",
                    field=field,
                    column=column,
                )
            seen[column] = field


def _check_column_name(field: str, value) -> None:
    if not isinstance(value, str) or not value:
        raise ExternalDataError(
            f"mapping field {field!r} must name a column (a non-empty string), got {value!r}",
            field=field,
        )


#: The released data of Adkins, Bowling & White (NeurIPS 2024).
ADKINS2024_MAPPING = ColumnMapping(
    algorithm="alg_type",
    environment="env_name",
    score="mean_return",
    hyperparameters=("gae_lambda", "ent_coef", "actor_lr", "critic_lr"),
    normalized_score="percentile_normalized_return",
)


@dataclasses.dataclass(frozen=True)
class ScoreMatrix:
    """One algorithm's results as Γ, shape (environments, configurations), NaN where absent.

    `configs[name][j]` is hyperparameter `name` of configuration (column) j; `config_keys[j]` the
    tuple of all of them in `hyperparameter_names` order.
    """

    algorithm: str
    environments: tuple[str, ...]
    hyperparameter_names: tuple[str, ...]
    configs: dict[str, np.ndarray]
    scores: np.ndarray

    @property
    def config_keys(self) -> tuple[tuple, ...]:
        columns = [self.configs[name].tolist() for name in self.hyperparameter_names]
        return tuple(zip(*columns)) if columns else ((),) * self.scores.shape[1]


@dataclasses.dataclass(frozen=True)
class ExternalTable:
    """A validated long table: one entry per row of the file, in file order."""

    mapping: ColumnMapping
    source: str
    algorithm: np.ndarray
    environment: np.ndarray
    score: np.ndarray
    normalized: np.ndarray
    hyperparameters: dict[str, np.ndarray]
    line: np.ndarray
    #: how `normalized` was obtained, in words
    normalization: str

    def algorithms(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.algorithm.tolist())))

    def environments(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.environment.tolist())))

    def score_matrix(self, algorithm: str, *, normalized: bool = True) -> ScoreMatrix:
        """Γ for `algorithm` (normalised scores, or raw scores with normalized=False).

        Rows are all environments of the table (sorted); columns the algorithm's distinct
        configurations sorted by their hyperparameter values.
        """
        rows = np.flatnonzero(self.algorithm == algorithm)
        if rows.size == 0:
            raise ExternalDataError(
                f"{self.source}: no rows for algorithm {algorithm!r} in column "
                f"{self.mapping.algorithm!r}; algorithms present: {', '.join(self.algorithms())}",
                field="algorithm",
                column=self.mapping.algorithm,
            )
        environments = self.environments()
        missing = sorted(set(environments) - set(self.environment[rows].tolist()))
        if missing:
            raise ExternalDataError(
                f"{self.source}: algorithm {algorithm!r} has no rows for environment(s) "
                f"{', '.join(missing)} (column {self.mapping.environment!r}); every algorithm "
                "needs every environment for cross-environment scores",
                field="environment",
                column=self.mapping.environment,
            )
        names = self.mapping.hyperparameters
        keys = [tuple(self.hyperparameters[n][r].item() for n in names) for r in rows]
        distinct = sorted(set(keys), key=_sortable_key)
        column_of = {key: j for j, key in enumerate(distinct)}
        env_index = {env: i for i, env in enumerate(environments)}
        values = self.normalized if normalized else self.score
        gamma = np.full((len(environments), len(distinct)), np.nan)
        for r, key in zip(rows, keys):
            gamma[env_index[self.environment[r]], column_of[key]] = values[r]
        configs = {
            name: np.asarray([key[i] for key in distinct], dtype=self.hyperparameters[name].dtype)
            for i, name in enumerate(names)
        }
        return ScoreMatrix(algorithm, environments, names, configs, gamma)


def _sortable_key(key: tuple) -> tuple:
    # Mixed numeric/text columns sort numbers first, then text, without comparing across types.
    return tuple((0, v, "") if isinstance(v, float) else (1, 0.0, str(v)) for v in key)


def _open_text(path: Path):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def _parse_number(text: str, *, field: str, column: str, line: int, source: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ExternalDataError(
            f"{source}, line {line}: column {column!r} ({field}) holds {text!r}, not a number",
            field=field, column=column, line=line,
        ) from None
    if not math.isfinite(value):
        raise ExternalDataError(
            f"{source}, line {line}: column {column!r} ({field}) holds {text!r}, not a finite "
            "number",
            field=field, column=column, line=line,
        )
    return value


def read_external_csv(path: str | Path, mapping: ColumnMapping | Mapping) -> ExternalTable:
    """Read and validate a long results CSV (optionally .gz) according to `mapping`.

    Raises ExternalDataError for: a missing file; an empty file; mapped columns absent from the
    header; a header without rows; rows with the wrong number of fields; empty labels or
    hyperparameter values; scores that are not finite numbers; two rows for the same
    (algorithm, environment, configuration); a normalisation that is undefined.
    """
    if not isinstance(mapping, ColumnMapping):
        mapping = ColumnMapping.from_dict(mapping)
    path = Path(path)
    source = str(path)
    try:
        return _read_records(path, mapping, source)
    except FileNotFoundError:
        raise ExternalDataError(f"{source}: file not found") from None
    except UnicodeDecodeError as err:
        raise ExternalDataError(f"{source}: not UTF-8 text ({err})") from None
    except (OSError, EOFError, zlib.error, csv.Error) as err:  # a directory, a damaged .gz, an unreadable file
        raise ExternalDataError(f"{source}: cannot read the table ({_reason(err)})") from None


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _read_records(path: Path, mapping: ColumnMapping, source: str) -> ExternalTable:
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise ExternalDataError(f"{source}: the file is empty; expected a header row", line=1)
        position = _column_positions(header, mapping, source)
        records = []
        for fields in reader:
            line = reader.line_num
            if not fields:
                continue  # a blank line carries no row
            if len(fields) != len(header):
                raise ExternalDataError(
                    f"{source}, line {line}: expected {len(header)} fields as in the header, "
                    f"got {len(fields)}",
                    line=line,
                )
            records.append((line, fields))
    if not records:
        raise ExternalDataError(f"{source}: the table has a header but no data rows", line=1)
    return _build_table(records, position, mapping, source)


def _column_positions(header: list[str], mapping: ColumnMapping, source: str) -> dict[str, int]:
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise ExternalDataError(
            f"{source}, line 1: the header repeats column(s) {', '.join(map(repr, duplicated))}",
            column=duplicated[0], line=1,
        )
    missing = [(field, column) for field, column in mapping.roles() if column not in header]
    if missing:
        described = ", ".join(f"{column!r} (mapping field {field!r})" for field, column in missing)
        raise ExternalDataError(
            f"{source}, line 1: column(s) {described} not in the header; the header has "
            f"{', '.join(map(repr, header))}",
            field=missing[0][0], column=missing[0][1], line=1,
        )
    return {column: header.index(column) for _, column in mapping.roles()}


def _build_table(records, position, mapping: ColumnMapping, source: str) -> ExternalTable:
    def text(fields, field, column, line):
        value = fields[position[column]].strip()
        if not value:
            raise ExternalDataError(
                f"{source}, line {line}: column {column!r} ({field}) is empty",
                field=field, column=column, line=line,
            )
        return value

    algorithms, environments, scores, normalized, lines = [], [], [], [], []
    raw_hparams: dict[str, list[str]] = {name: [] for name in mapping.hyperparameters}
    first_line_of: dict[tuple, int] = {}
    for line, fields in records:
        algorithm = text(fields, "algorithm", mapping.algorithm, line)
        environment = text(fields, "environment", mapping.environment, line)
        scores.append(_parse_number(text(fields, "score", mapping.score, line), field="score",
                                    column=mapping.score, line=line, source=source))
        if mapping.normalized_score is not None:
            column = mapping.normalized_score
            normalized.append(_parse_number(text(fields, "normalized_score", column, line),
                                            field="normalized_score", column=column, line=line,
                                            source=source))
        config = tuple(text(fields, "hyperparameters", n, line) for n in mapping.hyperparameters)
        for name, value in zip(mapping.hyperparameters, config):
            raw_hparams[name].append(value)
        identity = (algorithm, environment, _canonical(config))
        if identity in first_line_of:
            raise ExternalDataError(
                f"{source}, line {line}: repeats the algorithm, environment and hyperparameters "
                f"of line {first_line_of[identity]} ({algorithm!r}, {environment!r}, "
                f"{dict(zip(mapping.hyperparameters, config))}); one row per configuration",
                line=line,
            )
        first_line_of[identity] = line
        algorithms.append(algorithm)
        environments.append(environment)
        lines.append(line)

    environment_array = np.asarray(environments)
    score_array = np.asarray(scores, dtype=np.float64)
    if mapping.normalized_score is not None:
        normalized_array = np.asarray(normalized, dtype=np.float64)
        how = f"column {mapping.normalized_score!r} as given"
    else:
        normalized_array = _percentile_normalize_per_environment(
            score_array, environment_array, mapping, source
        )
        how = (f"p5/p95 percentile normalisation of column {mapping.score!r} over all rows of "
               "each environment")
    return ExternalTable(
        mapping=mapping,
        source=source,
        algorithm=np.asarray(algorithms),
        environment=environment_array,
        score=score_array,
        normalized=normalized_array,
        hyperparameters={name: _typed_column(values) for name, values in raw_hparams.items()},
        line=np.asarray(lines),
        normalization=how,
    )


def _canonical(config: tuple[str, ...]) -> tuple:
    # "0.1" and "1e-1" are the same setting; compare numbers as numbers.
    out = []
    for value in config:
        try:
            out.append(float(value))
        except ValueError:
            out.append(value)
    return tuple(out)


def _typed_column(values: list[str]) -> np.ndarray:
    try:
        return np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return np.asarray(values)


def _percentile_normalize_per_environment(
    score: np.ndarray, environment: np.ndarray, mapping: ColumnMapping, source: str
) -> np.ndarray:
    """(R − p5_e)/(p95_e − p5_e), percentiles over all rows (all algorithms) of environment e,
    as Adkins et al. (2024) normalise (they over individual runs; a seed-averaged table only has
    rows)."""
    out = np.empty_like(score)
    for env in np.unique(environment).tolist():
        rows = environment == env
        try:
            out[rows], _ = percentile_normalize(score[rows], score[rows])
        except ValueError as err:
            raise ExternalDataError(
                f"{source}: environment {env!r}, column {mapping.score!r}: {err}; give a "
                "normalized_score column",
                field="score", column=mapping.score,
            ) from None
    return out


def load_adkins2024() -> ExternalTable:
    """The released data of Adkins, Bowling & White (NeurIPS 2024), shipped as package data
    (see jaxrl_suite/data/README.md for its source)."""
    data = importlib.resources.files("jaxrl_suite") / "data"
    with importlib.resources.as_file(data / "adkins2024.toml") as mapping_path:
        mapping = ColumnMapping.from_toml(mapping_path)
    with importlib.resources.as_file(
        data / "adkins2024_data_expected_over_seeds.csv.gz"
    ) as csv_path:
        return read_external_csv(csv_path, mapping)


@dataclasses.dataclass(frozen=True)
class LinearAnchors:
    """normalized = (score − low) / (high − low) on one environment, fitted by least squares;
    `max_residual` is the largest absolute deviation of a row from that line."""

    low: float
    high: float
    max_residual: float


def linear_normalization_anchors(table: ExternalTable) -> dict[str, LinearAnchors]:
    """Recover, per environment, the anchors of a given normalised column from the score column.

    A per-environment normalisation such as p5/p95 is affine in the score, with the same anchors
    for every algorithm: a tiny `max_residual` on every environment confirms the table's
    normalised column is such a normalisation, and (low, high) are its anchors.
    """
    if table.mapping.normalized_score is None:
        raise ExternalDataError(
            f"{table.source}: no normalized_score column was mapped, so there is nothing to check",
            field="normalized_score",
        )
    anchors = {}
    for env in table.environments():
        rows = table.environment == env
        x, y = table.score[rows], table.normalized[rows]
        if np.ptp(x) == 0.0:
            raise ExternalDataError(
                f"{table.source}: environment {env!r} has a single distinct score, so its "
                "anchors cannot be recovered",
                field="score", column=table.mapping.score,
            )
        slope, intercept = np.polyfit(x, y, 1)
        low = -intercept / slope
        anchors[env] = LinearAnchors(
            low=float(low),
            high=float(low + 1.0 / slope),
            max_residual=float(np.max(np.abs(y - (slope * x + intercept)))),
        )
    return anchors


@dataclasses.dataclass(frozen=True)
class InSampleTuningCurves:
    """Expected score after k configurations drawn uniformly at random, k = `budgets`.

    per_environment_*: random search run separately on each environment (k draws each, among the
    configurations run there), the best kept per environment, averaged over environments; tends to
    the per-environment tuned score. shared_*: k draws of one configuration for all environments
    (among complete ones) scored by its cross-environment mean; tends to the cross-environment
    tuned score. In-sample: the same scores select and report, so these are optimistic.
    """

    budgets: np.ndarray
    per_environment_with_replacement: np.ndarray
    per_environment_without_replacement: np.ndarray
    shared_with_replacement: np.ndarray
    shared_without_replacement: np.ndarray


def in_sample_tuning_curves(gamma, budgets: Sequence[int]) -> InSampleTuningCurves:
    """In-sample expected-max tuning curves of Γ (environments × configurations, NaN = absent)
    for each k in `budgets`, with and without replacement; see InSampleTuningCurves.

    The expected maximum of k draws is Dodge et al.'s (2019) estimator, computed by
    `jaxrl_suite.evaluation.tuning`; without replacement, k ≥ N draws every configuration.
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    budgets = np.asarray(budgets, dtype=int)
    if budgets.ndim != 1 or budgets.size == 0 or (budgets < 1).any():
        raise ValueError(f"budgets must be positive integers, got {budgets.tolist()}")
    per_env_values = [row[~np.isnan(row)] for row in gamma]
    if any(v.size == 0 for v in per_env_values):
        raise ValueError("an environment of Γ holds no score")
    complete = sensitivity.complete_configurations(gamma)
    shared_values = gamma[:, complete].mean(axis=0)
    if shared_values.size == 0:
        raise ValueError("no configuration has a score on every environment")

    def with_replacement(values):
        return tuning.expected_max_with_replacement(values, budgets).mean

    def without_replacement(values):
        # Drawing k ≥ N without replacement draws every configuration: the maximum.
        return tuning.expected_max_without_replacement(values, np.minimum(budgets, values.size))

    return InSampleTuningCurves(
        budgets=budgets,
        per_environment_with_replacement=np.mean(
            [with_replacement(v) for v in per_env_values], axis=0),
        per_environment_without_replacement=np.mean(
            [without_replacement(v) for v in per_env_values], axis=0),
        shared_with_replacement=with_replacement(shared_values),
        shared_without_replacement=without_replacement(shared_values),
    )
