"""Property-based bad input: malformed specs and random command lines never crash the CLI.

Every input either validates or is refused with a clean message and exit code 2; nothing
trains here (the study runner is replaced by a stub that only records that validation passed).
"""

import copy
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxrl_suite.hosts
import jaxrl_suite.study
from jaxrl_suite.cli import main
from jaxrl_suite.spec import SpecError, parse_spec
from jaxrl_suite.study import plan

VALID = {
    "name": "ok",
    "envs": ["gymnax/CartPole-v1"],
    "total_env_steps": 8192,
    "tuning_seeds": 2,
    "test_seeds": [100],
    "evaluation": {"every_env_steps": 2048, "episodes": 2, "max_steps": 200},
    "algorithms": [{
        "algorithm": "ppo",
        "preset": "cleanrl",
        "static": {"num_envs": 4, "num_steps": 64, "hidden_sizes": [32, 32]},
        "hparams": {"ent_coef": 0.01},
        "search": {"method": "grid", "space": {"lr": [1e-4, 1e-3]}},
    }],
}

# Keys a mutation may hit: the spec's own, a few algorithm fields, and anything at all.
KNOWN_KEYS = ["name", "envs", "total_env_steps", "tuning_seeds", "test_seeds", "evaluation", "algorithms",
              "references", "description", "algorithm", "label", "preset", "static", "hparams", "search", "method",
              "space", "num_configs", "seed", "lr", "gamma", "num_envs", "num_steps", "hidden_sizes", "activation",
              "num_minibatches", "every_env_steps", "episodes", "max_steps", "deterministic", "uniform", "log_uniform"]
ENV_IDS = ["gymnax/CartPole-v1", "gymnax/Pendulum-v1", "probe/constant-reward", "gymnax/Cartpole-v1"]
ALGORITHM_NAMES = ["ppo", "dqn", "pqn", "sac", "a2c", "reinforce", "ppo2"]

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), text)
scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, 2, 3, 4, 64, 2048, 8192, -1, 2**31, 2**32]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e-3, 0.5, 1.5, -1.0, 1e30]),
    text,
    st.sampled_from(ENV_IDS + ALGORITHM_NAMES + ["grid", "random", "none", "cleanrl", "tanh", "cnn"]),
)
toml_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(keys, inner, max_size=4)), max_leaves=12)


@pytest.fixture(autouse=True)
def no_training_and_no_network(monkeypatch):
    """Validation only: a spec that passes every check stops where training would begin."""
    def reached_training(*args, **kwargs):
        raise ValidInput

    monkeypatch.setattr(jaxrl_suite.study, "run_study", reached_training)
    monkeypatch.setattr(jaxrl_suite.hosts, "start_processes", lambda *args: 0)


class ValidInput(Exception):
    pass


def validate(raw) -> None:
    """parse_spec then plan: a valid spec, or a SpecError, and nothing else."""
    try:
        plan(parse_spec(raw))
    except SpecError:
        pass


def mutate(raw, data) -> dict:
    """Replace, delete or add one key somewhere in the spec (tables and arrays of tables)."""
    raw = copy.deepcopy(raw)
    tables = [raw]
    for table in tables:
        for value in table.values():
            if isinstance(value, dict):
                tables.append(value)
            elif isinstance(value, list):
                tables.extend(v for v in value if isinstance(v, dict))
    table = data.draw(st.sampled_from(tables))
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action != "add" and table:
        key = data.draw(st.sampled_from(sorted(table)))
        if action == "delete":
            del table[key]
        else:
            table[key] = data.draw(toml_values)
    else:
        table[data.draw(keys)] = data.draw(toml_values)
    return raw


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, toml_values, max_size=8))
def test_any_toml_table_is_a_valid_spec_or_a_spec_error(raw):
    validate(raw)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_valid_specs_are_valid_or_a_spec_error(data):
    raw = VALID
    for _ in range(data.draw(st.integers(1, 3))):
        raw = mutate(raw, data)
    validate(raw)


NASTY = [True, -1, 0, 2**31, 2**32, 2**63 - 1, -(2**63), 1e308, float("nan"), float("-inf"), "", "\x00",
         "[/bold]", "x" * 300, [], [0, "a"], {}, {"uniform": [1, 0]}]


def paths(value, prefix=()):
    """Every key path in a spec, tables and arrays included."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


@pytest.mark.parametrize("path", list(paths(VALID)), ids=lambda p: ".".join(map(str, p)))
def test_every_field_set_to_every_extreme_value(path):
    for value in NASTY:
        raw = copy.deepcopy(VALID)
        target = raw
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        validate(raw)


def toml(value: dict) -> str:
    """A TOML document for a dict (inline tables throughout: any structure tomllib reads back)."""
    def literal(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
        if isinstance(v, str):
            return json.dumps(v)  # a JSON string is a TOML basic string (surrogates excluded above)
        if isinstance(v, list):
            return "[" + ", ".join(literal(x) for x in v) + "]"
        return "{" + ", ".join(f"{json.dumps(k)} = {literal(x)}" for k, x in v.items()) + "}"

    return "".join(f"{json.dumps(k)} = {literal(v)}\n" for k, v in value.items())


def run_cli(argv, capsys) -> int:
    """main(argv) with its exit code, checking it failed cleanly if it failed."""
    try:
        code = main(argv)
    except ValidInput:
        code = 0
    except SystemExit as exit_:  # argparse: --help (0) or a bad flag (2)
        code = exit_.code
    err = capsys.readouterr().err
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert "error" in err
    return code


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_spec_files_through_the_cli_exit_0_or_2(data, tmp_path_factory, capsys):
    raw = mutate(VALID, data) if data.draw(st.booleans()) else data.draw(st.dictionaries(keys, toml_values, max_size=6))
    directory = tmp_path_factory.mktemp("spec")
    spec = directory / "spec.toml"
    spec.write_text(toml(raw))
    out = directory / "out"
    quiet = ["--quiet"] if data.draw(st.booleans()) else []  # not quiet: the plan is printed
    if run_cli(["run", str(spec), "--out", str(out), *quiet], capsys) == 2:
        assert not out.exists()


FLAGS = ["--out", "--quiet", "--resume", "--checkpoint-every", "--max-runs-per-chunk", "--scale", "--distributed",
         "--coordinator-address", "--num-processes", "--process-id", "--help", "-h", "--bogus"]
WORDS = ["0", "1", "2", "-1", "3", "0.5", "1e-300", "nan", "inf", "x", "", "127.0.0.1:1234", "localhost", ":80",
         "127.0.0.1:0", "no/such/spec.toml"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.lists(st.one_of(st.sampled_from(FLAGS), st.sampled_from(WORDS), text), max_size=8),
       command=st.sampled_from(["run", "list", "lst", "--version", "-q"]))
def test_random_command_lines_exit_0_or_2(argv, command, tmp_path_factory, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))  # the quickstart would write runs/quickstart here
    run_cli([command, *argv], capsys)


def test_markup_in_names_is_printed_as_text(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text(toml({**VALID, "name": "[bold]x", "algorithms": [{**VALID["algorithms"][0], "label": "[/x]"}]}))
    with pytest.raises(ValidInput):  # printed the plan, then reached training
        main(["run", str(spec), "--out", str(tmp_path / "out")])
    assert "[/x]" in capsys.readouterr().out


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_hyperparameter_value_is_refused_or_in_range_as_float32(data):
    # Validation reads each field's declared range: what passes is finite and in range as the
    # float32 the program computes with; everything else is a SpecError naming the field.
    import dataclasses

    import numpy as np

    from jaxrl_suite.algos import ALGORITHMS
    from jaxrl_suite.algos.base import hparam_range

    name = data.draw(st.sampled_from(sorted(ALGORITHMS)))
    algo = ALGORITHMS[name]
    key = data.draw(st.sampled_from([f.name for f in dataclasses.fields(algo.HParams)]))
    value = data.draw(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                st.sampled_from([0.0, -0.0, 1e39, 1e-50, 1.0])))
    raw = copy.deepcopy(VALID)
    raw["algorithms"] = [{"algorithm": name, "hparams": {key: value}}]
    try:
        spec = parse_spec(raw)
    except SpecError as error:
        assert error.field == f"algorithms[0].hparams.{key}"
        return
    traced = np.float32(spec.algorithms[0].hparams[key])
    assert np.isfinite(traced)
    assert hparam_range(algo.HParams, key).problem(float(traced)) is None
