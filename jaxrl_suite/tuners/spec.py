"""The `[algorithms.tuner]` table of a study spec: parsing and validation into tuner settings.

    [algorithms.search]
    space = { lr = { log_uniform = [1e-4, 1e-2] }, ent_coef = [0.0, 0.01] }
    [algorithms.tuner]
    method = "successive_halving"   # or "grid", "random", "hyperband", "pbt"
    num_configs = 27                # n (successive_halving, random)
    eta = 3                         # reduction factor (successive_halving, hyperband), default 3
    min_env_steps = 50_000          # the first rung's budget (successive_halving; hyperband: default
                                    # the smallest max_env_steps / eta^s that is whole segments)
    max_env_steps = 450_000         # the last rung's (default total_env_steps), min * eta^s
    repetitions = 1                 # independent tuner seeds, default 1
    seed = 0                        # the tuner's random streams, default 0

PBT takes `population`, `ready_env_steps`, `hyperparameters` (which traced HParams explore may
change; each must be a search-space dimension), `exploit_quantile` (default 0.25, in (0, 0.5]),
`perturb_factors` (default [0.8, 1.2]) and `resample_probability` (default 0.25).

With a tuner, `[algorithms.search]` gives only the space the tuner draws configurations from
(no `method` or `num_configs` there). A tuner acts only at segment ends, so the evaluation
interval must be a whole number of the algorithm's iterations and divide the budget, every rung
budget and PBT's ready interval. Mistakes raise jaxrl_suite.spec.SpecError (imported when raised:
spec.py imports this module) naming the field, which the CLI turns into exit 2.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from jaxrl_suite.tuners.base import METHODS, space_size
from jaxrl_suite.tuners.hyperband import HyperbandSettings
from jaxrl_suite.tuners.pbt import PBTSettings
from jaxrl_suite.tuners.search import GridSettings, RandomSettings
from jaxrl_suite.tuners.successive_halving import SuccessiveHalvingSettings, power_of

COMMON_KEYS = {"method", "repetitions", "seed"}
METHOD_KEYS = {
    "grid": set(),
    "random": {"num_configs"},
    "successive_halving": {"num_configs", "eta", "min_env_steps", "max_env_steps"},
    "hyperband": {"eta", "min_env_steps", "max_env_steps"},
    "pbt": {"population", "ready_env_steps", "exploit_quantile", "perturb_factors", "resample_probability",
            "hyperparameters"},
}
MAX_MEMBERS = 1_000_000  # configurations x repetitions, like the spec's bound on runs
MAX_ETA = 1_000


def _fail(field: str, message: str):
    from jaxrl_suite.spec import SpecError

    raise SpecError(field, message)


def parse_tuner(table: Any, where: str, algorithm: Any, space: Sequence[Any], static: Mapping[str, Any],
                total_env_steps: int, every_env_steps: int):
    """Settings for one algorithm's tuner. `where` is the table's field (e.g. algorithms[0].tuner);
    `space` the parsed search dimensions (jaxrl_suite.spec.Dimension); `static` the algorithm's
    fixed Static settings (for the iteration length)."""
    if not isinstance(table, Mapping):
        _fail(where, "must be a table")
    search = where.rsplit(".", 1)[0] + ".search"
    method = _get(table, "method", str, where, required=True)
    if method not in METHODS:
        close = difflib.get_close_matches(method, METHODS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        _fail(f"{where}.method", f"unknown tuner method {method!r}; {hint}known: {', '.join(METHODS)}")
    allowed = COMMON_KEYS | METHOD_KEYS[method]
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            elsewhere = [m for m, keys in METHOD_KEYS.items() if key in keys]
            hint = (f"; did you mean '{close[0]}'?" if close
                    else f"; it belongs to {' and '.join(elsewhere)}" if elsewhere else "")
            _fail(f"{where}.{key}", f"unknown key for method {method!r}{hint}; its keys: {', '.join(sorted(allowed))}")
    repetitions = _get(table, "repetitions", int, where, default=1)
    if repetitions < 1:
        _fail(f"{where}.repetitions", f"must be at least 1 (independent tuner seeds), got {repetitions}")
    seed = _get(table, "seed", int, where, default=0)
    if seed < 0:
        _fail(f"{where}.seed", f"must be >= 0, got {seed}")
    if not space:
        _fail(f"{search}.space", "a tuner draws its configurations from the search space; "
                                 "give it at least one dimension")
    common = dict(space=tuple(space), repetitions=repetitions, seed=seed)
    for d in space:
        if d.static:
            _fail(f"{search}.space.{d.name}", f"{d.name!r} sets a shape or loop length (Static): a tuner's members "
                                              "share one compiled program (and PBT copies weights between them), so "
                                              "its space takes traced hyperparameters only; fix it under static")

    if method == "grid":
        for d in space:
            if d.kind != "values":
                _fail(f"{search}.space.{d.name}",
                      "a grid tuner takes lists of values; use method = 'random' for distributions")
        settings = GridSettings(total_env_steps, **common)
        members = space_size(space)
    elif method == "random":
        members = _positive(table, "num_configs", where)
        settings = RandomSettings(members, total_env_steps, **common)
    elif method == "pbt":
        settings = _pbt(table, where, search, algorithm, space, total_env_steps, every_env_steps, common)
        members = settings.population
    else:
        settings = _rungs(table, where, method, total_env_steps, every_env_steps, common)
        from jaxrl_suite.tuners import plan

        members = plan(settings).members
    _check_space_size(space, members, method, where, search)
    if members * repetitions > MAX_MEMBERS:
        _fail(f"{where}.repetitions",
              f"{members:,} configurations x {repetitions} repetitions; at most {MAX_MEMBERS:,}")
    _check_segments(algorithm, static, space, total_env_steps, every_env_steps)
    return settings


def _rungs(table, where, method, total, every, common):
    eta = _get(table, "eta", int, where, default=3)
    if not 2 <= eta <= MAX_ETA:
        _fail(f"{where}.eta", f"the reduction factor must be an integer in 2..{MAX_ETA}, got {eta}")
    high = _get(table, "max_env_steps", int, where, default=total)
    if not 0 < high <= total:
        _fail(f"{where}.max_env_steps", f"must be in 1..total_env_steps ({total:,}), got {high:,}")
    if high % every:
        _fail(f"{where}.max_env_steps" if "max_env_steps" in table else "total_env_steps",
              f"with a tuner it must be a multiple of the segment length (evaluation.every_env_steps = {every:,}); "
              f"got {high:,}")
    if method == "hyperband" and "min_env_steps" not in table:
        low = _smallest_rung(high, eta, every)
    else:
        low = _positive(table, "min_env_steps", where)
    if low > high:
        _fail(f"{where}.min_env_steps", f"{low:,} is larger than the largest budget per run ({high:,})")
    if low % every:
        _fail(f"{where}.min_env_steps", f"must be a multiple of the segment length (evaluation.every_env_steps = "
                                        f"{every:,}): a tuner can only stop runs at segment ends; got {low:,}")
    s = power_of(high // low, eta) if high % low == 0 else None
    if s is None:
        nearest = low * eta ** _floor_log(high // low, eta)
        _fail(f"{where}.max_env_steps", f"the rungs need max_env_steps = min_env_steps x eta^s; {high:,} / {low:,} "
                                        f"is not a power of {eta} (e.g. max_env_steps = {nearest:,})")
    if method == "hyperband":
        return HyperbandSettings(eta, low, high, **common)
    n = _positive(table, "num_configs", where)
    if n < eta**s:
        _fail(f"{where}.num_configs", f"{s + 1} rungs with eta = {eta} need at least eta^{s} = {eta**s:,} "
                                      f"configurations so that one reaches the last rung; got {n}")
    return SuccessiveHalvingSettings(n, eta, low, high, **common)


def _smallest_rung(high: int, eta: int, every: int) -> int:
    """Hyperband's default minimum budget: the smallest high / eta^s that is still a whole number of
    segments (so as many brackets as the segment length allows; one when high / every is not
    divisible by eta)."""
    low = high
    while low % (eta * every) == 0:
        low //= eta
    return low


def _floor_log(ratio: int, eta: int) -> int:
    s = 0
    while eta ** (s + 1) <= ratio:
        s += 1
    return s


def _pbt(table, where, search, algorithm, space, total, every, common):
    population = _get(table, "population", int, where, required=True)
    if not 2 <= population <= MAX_MEMBERS:
        _fail(f"{where}.population", f"must be in 2..{MAX_MEMBERS:,}, got {population}")
    ready = _positive(table, "ready_env_steps", where)
    if ready % every:
        _fail(f"{where}.ready_env_steps", f"must be a multiple of the segment length (evaluation.every_env_steps = "
                                          f"{every:,}): members are copied only at segment ends; got {ready:,}")
    if ready >= total:
        _fail(f"{where}.ready_env_steps", f"must be below total_env_steps ({total:,}) so that PBT acts at least once")
    quantile = _get(table, "exploit_quantile", float, where, default=0.25)
    if not 0 < quantile <= 0.5:
        _fail(f"{where}.exploit_quantile",
              f"must be in (0, 0.5] (the bottom fraction copies the top one), got {quantile}")
    if int(quantile * population) < 1:
        _fail(f"{where}.exploit_quantile", f"{quantile} of a population of {population} is no member: nobody would "
                                           f"exploit; raise it to at least {1 / population:.3g}")
    factors = _get(table, "perturb_factors", list, where, default=[0.8, 1.2])
    if not factors or not all(isinstance(f, int | float) and not isinstance(f, bool) and f > 0 for f in factors):
        _fail(f"{where}.perturb_factors", f"must be a non-empty list of positive numbers, got {factors!r}")
    probability = _get(table, "resample_probability", float, where, default=0.25)
    if not 0 <= probability <= 1:
        _fail(f"{where}.resample_probability", f"must be in [0, 1], got {probability}")
    names = _get(table, "hyperparameters", list, where, required=True)
    if not names:
        _fail(f"{where}.hyperparameters", "list at least one hyperparameter that PBT may change")
    hp_names = {f.name for f in dataclasses.fields(algorithm.HParams)}
    static_names = {f.name for f in dataclasses.fields(algorithm.Static)}
    searched = {d.name for d in space}
    for i, name in enumerate(names):
        field = f"{where}.hyperparameters[{i}]"
        if not isinstance(name, str):
            _fail(field, f"must be a hyperparameter name, got {name!r}")
        if name in static_names:
            _fail(field, f"{name!r} sets a shape or loop length (Static); PBT changes only traced HParams")
        if name not in hp_names:
            close = difflib.get_close_matches(name, sorted(hp_names), n=1)
            known = ", ".join(sorted(hp_names))
            hint = f"; did you mean '{close[0]}'?" if close else f"; {algorithm.name}'s HParams: {known}"
            _fail(field, f"{name!r} is not a hyperparameter of {algorithm.name}{hint}")
        if name not in searched:
            _fail(field, f"{name!r} is not in {search}.space: PBT draws its initial values and resamples from there")
    if len(set(names)) != len(names):
        _fail(f"{where}.hyperparameters", f"repeated names in {names}")
    return PBTSettings(population, ready, total, tuple(names), quantile, tuple(float(f) for f in factors), probability,
                       **common)


def _check_space_size(space, members, method, where, search):
    size = space_size(space)
    if method != "grid" and size is not None and members > size:
        field = {"random": "num_configs", "successive_halving": "num_configs", "pbt": "population"}.get(method)
        _fail(f"{where}.{field}" if field else f"{search}.space",
              f"{method} needs {members:,} distinct configurations; the search space (lists only) has {size:,}")


def _check_segments(algorithm, static, space, total, every):
    """Segments must end exactly on multiples of the evaluation interval (runner.segment_iterations
    then gives every segment every_env_steps env steps), so rungs and ready points are segment ends."""
    shape_dims = [d for d in space if d.static]
    for point in itertools.product(*(d.values for d in shape_dims)):
        try:
            shape = {d.name: value for d, value in zip(shape_dims, point, strict=True)}
            instance = algorithm.Static(**{**static, **shape, "total_env_steps": total})
        except (TypeError, ValueError):
            continue  # spec.py reports a bad Static with its own field
        per_iteration = algorithm.steps_per_iteration(instance)
        if every % per_iteration:
            _fail("evaluation.every_env_steps",
                  f"with a tuner it must be a whole number of {algorithm.name} iterations ({per_iteration:,} env "
                  f"steps each), so decisions fall on segment ends; got {every:,}")
    if total % every:
        _fail("total_env_steps", f"with a tuner it must be a multiple of evaluation.every_env_steps ({every:,}); "
                                 f"got {total:,}")


def _get(table, key, kind, where, *, default=None, required=False):
    if key not in table:
        if required:
            _fail(f"{where}.{key}", "missing (required)")
        return default
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        _fail(f"{where}.{key}", f"must be {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def _positive(table, key, where):
    value = _get(table, key, int, where, required=True)
    if value < 1:
        _fail(f"{where}.{key}", f"must be a positive integer, got {value}")
    return value
