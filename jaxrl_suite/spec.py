"""Study specs (TOML): parsing, validation and resolution into runner groups.

Everything is checked before anything is compiled. A mistake raises `SpecError`, whose message
names the offending field (e.g. `algorithms[0].search.space.lr`); the CLI turns it into exit 2.

A spec looks like this (see benchmarks/*.toml for real ones):

    name = "ppo-cartpole-lr"
    envs = ["gymnax/CartPole-v1"]
    total_env_steps = 200_000
    tuning_seeds = 2            # a count (seeds 0..n-1) or an explicit list
    test_seeds = [100, 101]     # disjoint from the tuning seeds

    [evaluation]
    every_env_steps = 50_000
    episodes = 10
    deterministic = true

    [[algorithms]]
    algorithm = "ppo"
    label = "ppo"               # optional, defaults to the algorithm name
    preset = "cleanrl"          # optional
    static = { num_envs = 4 }   # shape and loop settings (one program per distinct value)
    hparams = { ent_coef = 0.01 }
    [algorithms.search]
    method = "grid"             # "grid" (lists only) or "random" (num_configs draws)
    space = { lr = [1e-4, 3e-4, 1e-3] }   # list | {uniform=[lo,hi]} | {log_uniform=[lo,hi]}
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxrl_suite.algos import ALGORITHMS
from jaxrl_suite.algos.base import Algorithm, hparam_range
from jaxrl_suite.runner import EvalSettings, Group, Run, Schedule
from jaxrl_suite.tuners.spec import parse_tuner

TOP_KEYS = {"name", "description", "envs", "total_env_steps", "tuning_seeds", "test_seeds",
            "evaluation", "algorithms", "references"}
ALGO_KEYS = {"algorithm", "label", "preset", "static", "hparams", "search", "tuner"}
SEARCH_KEYS = {"method", "space", "num_configs", "seed"}
EVAL_KEYS = {f.name for f in dataclasses.fields(EvalSettings)}
REFERENCE_KEYS = {"env", "algo", "metric", "value", "spread", "seeds", "source", "tolerance", "steps", "note"}
#: how a published number was measured (defined in jaxrl_suite/reproduce.py)
REFERENCE_METRICS = ("train_return_last100", "eval_stochastic_164", "last_episode_return")
DEFAULT_TEST_SEED_START = 1000

# Bounds that keep a spec runnable. A seed becomes a 32-bit JAX PRNG key (larger seeds would
# collide with smaller ones); programs count iterations, steps and shapes in int32; the host
# keeps every run's record of every evaluation.
MAX_SEED = 2**32 - 1
MAX_INT32 = 2**31 - 1
MAX_RUNS = 1_000_000  # (configuration, seed, environment) runs in one study
MAX_EVALUATIONS = 100_000  # per run
MAX_NAME_LENGTH = 128
#: hyperparameters are traced as float32: a value must stay finite (and in range) there
FLOAT32_MAX = float(np.finfo(np.float32).max)


class SpecError(ValueError):
    """A spec mistake, with the dotted path of the field at fault."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"spec field '{field}': {message}")


@dataclasses.dataclass(frozen=True)
class Dimension:
    name: str
    kind: str  # "values", "uniform" or "log_uniform"
    values: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    static: bool = False  # a shape-setting key: each value makes its own group


@dataclasses.dataclass(frozen=True)
class AlgoSpec:
    label: str
    algorithm: Algorithm
    preset: str | None
    static: Mapping[str, Any]
    hparams: Mapping[str, float]
    method: str
    dimensions: tuple[Dimension, ...]
    num_configs: int
    search_seed: int
    tuner: Any = None  # jaxrl_suite.tuners settings when the algorithm has a [tuner] table (method "tuner")


@dataclasses.dataclass(frozen=True)
class Config:
    label: str
    config_id: int
    static: Mapping[str, Any]
    hparams: Mapping[str, float]


@dataclasses.dataclass(frozen=True)
class StudySpec:
    name: str
    description: str
    envs: tuple[str, ...]
    total_env_steps: int
    tuning_seeds: tuple[int, ...]
    test_seeds: tuple[int, ...]
    evaluation: EvalSettings
    algorithms: tuple[AlgoSpec, ...]
    references: tuple[Mapping[str, Any], ...]
    raw: Mapping[str, Any]

    @property
    def digest(self) -> str:
        """A hash of the spec's content, to tell whether results belong to this spec."""
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_spec(path: str | Path) -> StudySpec:
    path = Path(path)
    if not path.is_file():
        raise SpecError("SPEC", f"no such file: {path}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise SpecError("SPEC", f"{path} is not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise SpecError("SPEC", f"{path} is not a UTF-8 text file") from None
    return parse_spec(raw)


def parse_spec(raw: Mapping[str, Any], *, scale: float = 1.0) -> StudySpec:
    """Validate a parsed TOML document. `scale` multiplies the budget (CPU smoke runs)."""
    if not isinstance(raw, Mapping):
        raise SpecError("SPEC", "a spec is a TOML table")
    _unknown(raw, TOP_KEYS, "")
    name = _required(raw, "name", str, "")
    if (not name or any(c in name for c in "/\\") or name.startswith(".") or not name.isprintable()
            or len(name) > MAX_NAME_LENGTH):
        raise SpecError("name", f"must be a printable name of 1-{MAX_NAME_LENGTH} characters without slashes, "
                                f"not starting with '.', got {name!r}")
    envs = tuple(_list_of(raw, "envs", str))
    if not envs:
        raise SpecError("envs", "list at least one environment id")
    _check_envs(envs)
    repeated = sorted({env_id for env_id in envs if envs.count(env_id) > 1})
    if repeated:
        raise SpecError("envs", f"{', '.join(repeated)} listed more than once: each environment once, please")
    total = _required(raw, "total_env_steps", int, "")
    if total <= 0:
        raise SpecError("total_env_steps", f"must be positive, got {total}")
    if not (0 < scale <= 1.0):
        raise SpecError("--scale", f"must be in (0, 1], got {scale}")
    total = max(1, int(total * scale))
    tuning = _seeds(raw, "tuning_seeds", 0)
    test = _seeds(raw, "test_seeds", DEFAULT_TEST_SEED_START)
    if not tuning and not test:
        raise SpecError("test_seeds", "a study needs at least one seed")
    overlap = sorted(set(tuning) & set(test))
    if overlap:
        raise SpecError("test_seeds", f"tuning and test seeds must be disjoint; both contain {overlap}")
    evaluation = _evaluation(raw.get("evaluation", {}))
    algos = raw.get("algorithms")
    if algos is None:
        raise SpecError("algorithms", "missing: add at least one [[algorithms]] table")
    if not isinstance(algos, list) or not algos or not all(isinstance(a, Mapping) for a in algos):
        raise SpecError("algorithms", "must be a non-empty array of tables ([[algorithms]])")
    parsed = tuple(_algorithm(a, f"algorithms[{i}]", envs, total, evaluation) for i, a in enumerate(algos))
    labels = [a.label for a in parsed]
    if len(set(labels)) != len(labels):
        raise SpecError("algorithms", f"labels must be unique, got {labels}; set `label` to tell them apart")
    if any(a.method != "none" for a in parsed) and not tuning:
        raise SpecError("tuning_seeds", "a search needs tuning seeds to select configurations on")
    runs = sum(_count_configs(a) for a in parsed) * (len(tuning) + len(test)) * len(envs)
    if runs > MAX_RUNS:
        raise SpecError("algorithms",
                        f"{runs:,} runs (configurations x seeds x environments); at most {MAX_RUNS:,} per study")
    references = raw.get("references", [])
    if not isinstance(references, list):
        raise SpecError("references", "must be an array of tables ([[references]])")
    references = tuple(_reference(r, f"references[{i}]", envs, labels) for i, r in enumerate(references))
    return StudySpec(name=name, description=str(raw.get("description", "")), envs=envs, total_env_steps=total,
                     tuning_seeds=tuple(tuning), test_seeds=tuple(test), evaluation=evaluation,
                     algorithms=parsed, references=references, raw=dict(raw))


SMOKE_NOTE = "SMOKE RUN (--smoke: first configuration and one seed per program, short evaluation)"
SMOKE_EPISODES, SMOKE_MAX_STEPS = 2, 100


def smoke_spec(spec: StudySpec) -> StudySpec:
    """`spec` cut to one configuration and one seed per program, its budget unchanged (`--smoke`),
    evaluating at most SMOKE_EPISODES episodes of at most SMOKE_MAX_STEPS steps.

    For checking on a small machine that every program of an accelerator-sized spec compiles and
    runs (with `--scale` to shorten it) before renting the accelerator. Each search keeps the first
    value of every hyperparameter, but every value of a shape-setting key, since each of those is a
    program of its own. The cut spec is an ordinary spec: its own digest, its own manifest entry.
    """
    raw = json.loads(json.dumps(dict(spec.raw), default=str))  # a deep copy of plain TOML data
    raw["total_env_steps"] = spec.total_env_steps  # after any --scale
    searched = any(algo.method != "none" for algo in spec.algorithms)
    first_seed = (spec.tuning_seeds if searched else spec.test_seeds or spec.tuning_seeds)[:1]
    raw["tuning_seeds"], raw["test_seeds"] = (list(first_seed), []) if searched else ([], list(first_seed))
    for table, algo in zip(raw["algorithms"], spec.algorithms):
        if algo.method == "grid":
            shape_keys = {d.name for d in algo.dimensions if d.static}
            space = table["search"]["space"]
            table["search"]["space"] = {k: v if k in shape_keys else v[:1] for k, v in space.items()}
        elif algo.method == "random":
            table["search"]["num_configs"] = 1
    # Untrained policies can play the longest episodes there are (Freeway: 2,500 steps), so the
    # evaluation is cut short too; its program is the same, only its loop ends sooner.
    evaluation = spec.evaluation
    raw["evaluation"] = {**raw.get("evaluation", {}), "episodes": min(evaluation.episodes, SMOKE_EPISODES),
                         "max_steps": min(evaluation.max_steps, SMOKE_MAX_STEPS)}
    raw["description"] = f"{SMOKE_NOTE}: {spec.description}" if spec.description else SMOKE_NOTE
    return parse_spec(raw)


# ---------------------------------------------------------------------------------------------
# resolution: configurations and groups


def configs(algo: AlgoSpec) -> list[Config]:
    """The configurations of one algorithm: fixed settings plus one point of the search space."""
    points: list[dict[str, Any]]
    if algo.method == "none":
        points = [{}]
    elif algo.method == "grid":
        names = [d.name for d in algo.dimensions]
        points = [dict(zip(names, combo)) for combo in itertools.product(*(d.values for d in algo.dimensions))]
    else:
        rng = np.random.default_rng(algo.search_seed)
        points = [{d.name: _draw(rng, d) for d in algo.dimensions} for _ in range(algo.num_configs)]
    static_names = {d.name for d in algo.dimensions if d.static}
    out = []
    for i, point in enumerate(points):
        static = {**algo.static, **{k: v for k, v in point.items() if k in static_names}}
        hparams = {**algo.hparams, **{k: float(v) for k, v in point.items() if k not in static_names}}
        out.append(Config(algo.label, i, static, hparams))
    return out


def groups(spec: StudySpec, make_env) -> tuple[list[Group], dict[str, list[Config]]]:
    """One group per (algorithm label, environment, Static); runs = configs x seeds."""
    seeds = [(s, "tune") for s in spec.tuning_seeds] + [(s, "test") for s in spec.test_seeds]
    all_groups: list[Group] = []
    all_configs: dict[str, list[Config]] = {}
    for algo in (a for a in spec.algorithms if a.tuner is None):  # tuners: jaxrl_suite.tuners.execution
        algo_configs = configs(algo)
        all_configs[algo.label] = algo_configs
        by_static: dict[Any, list[Config]] = {}
        for config in algo_configs:
            static = algo.algorithm.Static(**{**config.static, "total_env_steps": spec.total_env_steps})
            by_static.setdefault(static, []).append(config)
        for env_id in spec.envs:
            env = make_env(env_id)
            for static, members in by_static.items():
                runs = tuple(Run(c.config_id, c.hparams, seed, role) for c in members for seed, role in seeds)
                all_groups.append(Group(algo.label, algo.algorithm, env_id, env, static, runs))
    return all_groups, all_configs


def check_groups(spec: StudySpec, groups_: Sequence[Group]) -> None:
    """Shape checks that need the environment (e.g. minibatches dividing the batch)."""
    index = {algo.label: i for i, algo in enumerate(spec.algorithms)}
    for group in groups_:
        algo, where = group.algorithm, f"algorithms[{index[group.label]}]"
        iterations = algo.num_iterations(group.static)
        if iterations > MAX_INT32:
            raise SpecError("total_env_steps", f"{iterations:,} iterations of {algo.name}; at most {MAX_INT32:,}")
        if iterations and Schedule.of(group, spec.evaluation).segments > MAX_EVALUATIONS:
            raise SpecError("evaluation.every_env_steps", f"{Schedule.of(group, spec.evaluation).segments:,} "
                            f"evaluations per run; at most {MAX_EVALUATIONS:,}: evaluate less often")
        if not algo.supports(group.env, group.env.default_params):
            kind = "discrete" if algo.action_kinds == "discrete" else "continuous"
            raise SpecError(f"{where}.algorithm",
                            f"{algo.name} needs {kind} actions; {group.env_id} does not have them")
        for field, message in algo.check_static(group.static, group.env):
            raise SpecError("total_env_steps" if field == "total_env_steps" else f"{where}.static.{field}", message)


# ---------------------------------------------------------------------------------------------
# field checks


def _unknown(table: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; allowed: {', '.join(sorted(allowed))}"
            raise SpecError(prefix + key, "unknown key" + hint)


def _required(table: Mapping[str, Any], key: str, kind: type, prefix: str) -> Any:
    if key not in table:
        raise SpecError(prefix + key, "missing (required)")
    return _typed(table[key], kind, prefix + key)


def _typed(value: Any, kind: type, field: str) -> Any:
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise SpecError(field, f"must be {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def _list_of(table: Mapping[str, Any], key: str, kind: type) -> list[Any]:
    value = table.get(key)
    if value is None:
        raise SpecError(key, "missing (required)")
    if isinstance(value, kind):
        value = [value]
    if not isinstance(value, list):
        raise SpecError(key, f"must be a list of {kind.__name__}, got {value!r}")
    return [_typed(v, kind, f"{key}[{i}]") for i, v in enumerate(value)]


def _seeds(table: Mapping[str, Any], key: str, start: int) -> list[int]:
    value = table.get(key, [])
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= MAX_RUNS:
            raise SpecError(key, f"a seed count must be in 0..{MAX_RUNS:,}, got {value}")
        return list(range(start, start + value))
    if not isinstance(value, list):
        raise SpecError(key, f"must be a count or a list of integers, got {value!r}")
    seeds = [_typed(v, int, f"{key}[{i}]") for i, v in enumerate(value)]
    if any(not 0 <= s <= MAX_SEED for s in seeds):
        raise SpecError(key, f"seeds must be in 0..2**32 - 1 (32-bit PRNG keys), got {seeds}")
    if len(set(seeds)) != len(seeds):
        raise SpecError(key, f"repeated seeds in {seeds}")
    return seeds


def _check_envs(envs: Sequence[str]) -> None:
    from jaxrl_suite.envs import list_envs

    known = set(list_envs())
    for i, env_id in enumerate(envs):
        if env_id not in known:
            close = difflib.get_close_matches(env_id, sorted(known), n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "; see `jaxrl-suite list`"
            raise SpecError(f"envs[{i}]", f"unknown environment {env_id!r}{hint}")


def _evaluation(table: Any) -> EvalSettings:
    if not isinstance(table, Mapping):
        raise SpecError("evaluation", "must be a table")
    _unknown(table, EVAL_KEYS, "evaluation.")
    defaults = EvalSettings()
    values = {}
    for field in dataclasses.fields(EvalSettings):
        if field.name in table:
            values[field.name] = _typed(table[field.name], type(getattr(defaults, field.name)),
                                        f"evaluation.{field.name}")
    settings = EvalSettings(**values)
    if settings.every_env_steps <= 0:
        raise SpecError("evaluation.every_env_steps", f"must be positive, got {settings.every_env_steps}")
    if settings.episodes < 0:
        raise SpecError("evaluation.episodes", f"must be >= 0, got {settings.episodes}")
    for field in ("episodes", "max_steps"):
        if getattr(settings, field) > MAX_INT32:
            raise SpecError(f"evaluation.{field}", f"must be at most {MAX_INT32}, got {getattr(settings, field)}")
    if settings.max_steps <= 0:
        raise SpecError("evaluation.max_steps", f"must be positive, got {settings.max_steps}")
    return settings


def _algorithm(table: Mapping[str, Any], where: str, envs: Sequence[str], total: int,
               evaluation: EvalSettings) -> AlgoSpec:
    _unknown(table, ALGO_KEYS, where + ".")
    name = _required(table, "algorithm", str, where + ".")
    if name not in ALGORITHMS:
        close = difflib.get_close_matches(name, sorted(ALGORITHMS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(sorted(ALGORITHMS))}"
        raise SpecError(where + ".algorithm", f"unknown algorithm {name!r}{hint}")
    algo = ALGORITHMS[name]
    label = _typed(table.get("label", name), str, where + ".label")
    static_defaults = algo.Static()
    hp_defaults = algo.HParams()
    static_names = {f.name for f in dataclasses.fields(algo.Static)}
    hp_names = {f.name for f in dataclasses.fields(algo.HParams)}

    static: dict[str, Any] = {}
    hparams: dict[str, float] = {}
    preset = table.get("preset")
    if preset is not None:
        preset = _typed(preset, str, where + ".preset")
        if preset not in algo.presets:
            raise SpecError(where + ".preset",
                            f"unknown preset {preset!r} for {name}; known: {', '.join(sorted(algo.presets))}")
        static.update(algo.presets[preset].static)
        hparams.update(algo.presets[preset].hparams)
        static.pop("total_env_steps", None)  # the study's budget wins over the preset's

    user_static = table.get("static", {})
    if not isinstance(user_static, Mapping):
        raise SpecError(where + ".static", "must be a table")
    for key, value in user_static.items():
        field = f"{where}.static.{key}"
        if key == "total_env_steps":
            raise SpecError(field, "set the budget once, at the top level (total_env_steps)")
        if key in hp_names:
            raise SpecError(field, f"{key!r} is a traced hyperparameter: put it under hparams")
        if key not in static_names:
            _unknown({key: None}, static_names - {"total_env_steps"}, where + ".static.")
        static[key] = _static_value(value, getattr(static_defaults, key), field)

    user_hp = table.get("hparams", {})
    if not isinstance(user_hp, Mapping):
        raise SpecError(where + ".hparams", "must be a table")
    for key, value in user_hp.items():
        field = f"{where}.hparams.{key}"
        if key in static_names:
            raise SpecError(field, f"{key!r} sets a shape or loop length: put it under static")
        if key not in hp_names:
            _unknown({key: None}, hp_names, where + ".hparams.")
        hparams[key] = _hparam_value(value, algo.HParams, key, field)

    search = table.get("search", {})
    if not isinstance(search, Mapping):
        raise SpecError(where + ".search", "must be a table")
    _unknown(search, SEARCH_KEYS, where + ".search.")
    space = search.get("space", {})
    if not isinstance(space, Mapping):
        raise SpecError(where + ".search.space", "must be a table")
    method = search.get("method", "grid" if space else "none")
    method = _typed(method, str, where + ".search.method")
    if method not in ("grid", "random", "none"):
        raise SpecError(where + ".search.method", f"must be 'grid' or 'random', got {method!r}")
    if method != "none" and not space:
        raise SpecError(where + ".search.space", f"method {method!r} needs a non-empty search space")
    if "tuner" in table:  # the tuner draws configurations from the space itself (jaxrl_suite/tuners/spec.py)
        for key in ("method", "num_configs", "seed"):
            if key in search:
                raise SpecError(f"{where}.search.{key}", "with [algorithms.tuner] the tuner decides the configurations "
                                                         "and has its own seed; give [algorithms.search] only a space")
        method = "tuner"
    dimensions = []
    for key, value in space.items():
        field = f"{where}.search.space.{key}"
        if key in user_hp or key in user_static:
            raise SpecError(field, f"{key!r} is both fixed and searched; remove one")
        if key == "total_env_steps":
            raise SpecError(field, "the budget cannot be searched; use separate studies")
        if key not in hp_names and key not in static_names:
            _unknown({key: None}, hp_names | static_names, where + ".search.space.")
        dimensions.append(_dimension(key, value, field, key in static_names, static_defaults, algo.HParams))
    if method == "grid":
        for d in dimensions:
            if d.kind != "values":
                raise SpecError(f"{where}.search.space.{d.name}",
                                "a grid search takes lists of values; use method = 'random' for distributions")
    num_configs = 1
    if method == "random":
        num_configs = _required(search, "num_configs", int, where + ".search.")
        if not 1 <= num_configs <= MAX_RUNS:
            raise SpecError(where + ".search.num_configs", f"must be in 1..{MAX_RUNS:,}, got {num_configs}")
    elif "num_configs" in search:
        raise SpecError(where + ".search.num_configs", "only a random search takes num_configs")
    search_seed = _typed(search.get("seed", 0), int, where + ".search.seed")
    if search_seed < 0:
        raise SpecError(where + ".search.seed", f"must be >= 0, got {search_seed}")
    if method == "grid" and math.prod(len(d.values) for d in dimensions) > MAX_RUNS:
        raise SpecError(where + ".search.space", f"a grid of {math.prod(len(d.values) for d in dimensions):,} "
                                                 f"configurations; at most {MAX_RUNS:,}")

    tuner = None if method != "tuner" else parse_tuner(table["tuner"], where + ".tuner", algo, dimensions, static,
                                                         total, evaluation.every_env_steps)
    # Instantiate a Static per distinct shape now, so a bad combination fails here.
    spec = AlgoSpec(label, algo, preset, static, hparams, method, tuple(dimensions), num_configs, search_seed, tuner)
    for config in configs(spec)[: 1 if not any(d.static for d in dimensions) else None]:
        try:
            algo.Static(**{**config.static, "total_env_steps": total})
        except (TypeError, ValueError) as error:
            raise SpecError(where + ".static", str(error)) from None
    _check_hparams_together(spec, where, total, hp_defaults)
    return spec


def _check_hparams_together(spec: AlgoSpec, where: str, total: int, defaults: Any) -> None:
    """The algorithm's checks of hyperparameters against each other and the Static, per configuration."""
    if spec.algorithm.check_hparams is None:
        return
    searched = {d.name for d in spec.dimensions}
    for config in configs(spec):
        static = spec.algorithm.Static(**{**config.static, "total_env_steps": total})
        values = {f.name: config.hparams.get(f.name, getattr(defaults, f.name)) for f in dataclasses.fields(defaults)}
        for name, message in spec.algorithm.check_hparams(values, static):
            field = f"{where}.search.space.{name}" if name in searched else f"{where}.hparams.{name}"
            raise SpecError(field, message)


def _static_value(value: Any, default: Any, field: str) -> Any:
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                  and 0 < v <= MAX_INT32 for v in value):
            raise SpecError(field, f"must be a list of positive integers, got {value!r}")
        return tuple(value)
    value = _typed(value, type(default), field)
    if isinstance(default, int) and not isinstance(default, bool) and not 0 < value <= MAX_INT32:
        raise SpecError(field, f"must be a positive integer of at most {MAX_INT32}, got {value}")
    return value


def _hparam_value(value: Any, hparams_class: type, name: str, field: str) -> float:
    """A hyperparameter's value, checked against the range its HParams field declares, as the
    float32 the program will compute with (1e39 would be inf there, 1e-50 would be 0)."""
    value = _typed(value, float, field)
    if not math.isfinite(value):
        raise SpecError(field, f"must be finite, got {value}")
    if abs(value) > FLOAT32_MAX:
        raise SpecError(field, f"{value} overflows float32 (runs compute in float32; at most {FLOAT32_MAX:.4g})")
    traced = float(np.float32(value))
    problem = hparam_range(hparams_class, name).problem(traced)
    if problem is not None:
        if traced != value:
            problem += f" (as float32: {traced})"
        raise SpecError(field, problem)
    return value


def _dimension(name: str, value: Any, field: str, static: bool, static_defaults: Any, hparams_class: type) -> Dimension:
    if isinstance(value, list):
        if not value:
            raise SpecError(field, "an empty list of values")
        if static:
            values = tuple(_static_value(v, getattr(static_defaults, name), f"{field}[{i}]")
                           for i, v in enumerate(value))
        else:
            values = tuple(_hparam_value(v, hparams_class, name, f"{field}[{i}]") for i, v in enumerate(value))
        if len(set(values)) != len(values):
            raise SpecError(field, f"repeated values in {list(values)}")
        return Dimension(name, "values", values=values, static=static)
    if isinstance(value, Mapping):
        if static:
            raise SpecError(field, f"{name!r} sets a shape, so it can only take a list of values, not a distribution")
        if len(value) != 1 or next(iter(value)) not in ("uniform", "log_uniform"):
            raise SpecError(field, "a distribution is {uniform = [low, high]} or {log_uniform = [low, high]}")
        kind, bounds = next(iter(value.items()))
        if not (isinstance(bounds, list) and len(bounds) == 2):
            raise SpecError(f"{field}.{kind}", "must be [low, high]")
        low, high = (_hparam_value(b, hparams_class, name, f"{field}.{kind}[{i}]") for i, b in enumerate(bounds))
        if not low < high:
            raise SpecError(f"{field}.{kind}", f"low must be below high, got [{low}, {high}]")
        if kind == "log_uniform" and low <= 0:
            raise SpecError(f"{field}.{kind}", f"log_uniform needs low > 0, got {low}")
        return Dimension(name, kind, low=low, high=high)
    raise SpecError(field, f"must be a list of values or a distribution table, got {value!r}")


def _count_configs(algo: AlgoSpec) -> int:
    if algo.method == "grid":
        return math.prod(len(d.values) for d in algo.dimensions)
    return algo.num_configs if algo.method == "random" else 1


def _draw(rng: np.random.Generator, d: Dimension) -> Any:
    if d.kind == "values":
        return d.values[rng.integers(len(d.values))]
    if d.kind == "uniform":
        return float(rng.uniform(d.low, d.high))
    return float(np.exp(rng.uniform(np.log(d.low), np.log(d.high))))


def _reference(table: Any, where: str, envs: Sequence[str], labels: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(table, Mapping):
        raise SpecError(where, "must be a table")
    _unknown(table, REFERENCE_KEYS, where + ".")
    for key in ("env", "algo", "metric", "source"):
        _required(table, key, str, where + ".")
    _required(table, "value", float, where + ".")
    if table["env"] not in envs:
        raise SpecError(where + ".env", f"{table['env']!r} is not among the study's envs {list(envs)}")
    if table["algo"] not in labels:
        raise SpecError(where + ".algo", f"{table['algo']!r} is not an algorithm label of this study {list(labels)}")
    if table["metric"] not in REFERENCE_METRICS:
        raise SpecError(where + ".metric", f"unknown metric {table['metric']!r}; known: {', '.join(REFERENCE_METRICS)}")
    for key in ("spread", "tolerance"):
        if key in table and _typed(table[key], float, f"{where}.{key}") < 0:
            raise SpecError(f"{where}.{key}", f"must be >= 0, got {table[key]}")
    for key in ("seeds", "steps"):
        if key in table and _typed(table[key], int, f"{where}.{key}") <= 0:
            raise SpecError(f"{where}.{key}", f"must be positive, got {table[key]}")
    return dict(table)
