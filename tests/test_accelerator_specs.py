"""The accelerator-sized specs: planned in full, then smoke-run on CPU with --scale and --smoke.

A GPU runs them as written; here every spec must at least validate to its documented size and
run each of its programs for one iteration, so a broken spec is found before anyone rents a GPU.
"""

import csv

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pytest

from jaxrl_suite import results as R
from jaxrl_suite.cli import main
from jaxrl_suite.spec import SMOKE_NOTE, load_spec, smoke_spec
from jaxrl_suite.study import plan
from study_fixtures import REPO

BENCHMARKS = REPO / "benchmarks"

# Brax at the specs' 2048 environments per run needs minutes per iteration on 2 CPU cores, so
# the Brax smoke runs here use 32 environments (every other setting as written); `--smoke` with
# the full shape is the command to run on the target machine.
BRAX_ENVS = 32


def shrunk(name: str, tmp_path, replacements: dict[str, str]):
    """A copy of benchmarks/<name>.toml with `replacements` made (each must apply)."""
    text = (BENCHMARKS / f"{name}.toml").read_text()
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in {name}.toml"
        text = text.replace(old, new)
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


# spec, its full size (groups, runs), the --scale of its CPU smoke run (one iteration), changes
REPRODUCTIONS = [
    ("reproduce_blines_ppo_minatar", 4, 16, "0.001", {}),
    ("reproduce_purejaxrl_ppo_spaceinvaders", 1, 4, "0.001", {}),
    ("reproduce_purejaxrl_ppo_hopper", 1, 4, "0.00001", {"num_envs = 2048": f"num_envs = {BRAX_ENVS}"}),
]


@pytest.mark.parametrize("name, groups, runs, scale, changes", REPRODUCTIONS)
def test_reproduction_spec_plans_in_full_and_smoke_runs_every_program(name, groups, runs, scale, changes, tmp_path):
    full, _ = plan(load_spec(BENCHMARKS / f"{name}.toml"))
    assert (len(full), sum(len(g.runs) for g in full)) == (groups, runs)

    spec_file = shrunk(name, tmp_path, changes)
    assert main(["reproduce", str(spec_file), "--scale", scale, "--smoke", "--results-dir", str(tmp_path), "--quiet"]) == 0
    table, manifest = R.read_study(tmp_path / name)
    assert manifest["spec"]["description"].startswith(SMOKE_NOTE)
    runs = set(zip(*(table[c].to_pylist() for c in ("algo", "env", "config_id", "seed"))))
    assert len(runs) == groups  # one run of every program
    assert np.isfinite(table["eval_return"].to_numpy()).all() and not table["diverged"].to_numpy().any()
    with open(tmp_path / f"{name}.csv") as f:
        verdicts = {row["verdict"] for row in csv.DictReader(f)}
    assert verdicts == {"not comparable"}  # a smoke run is never counted as a reproduction


def test_tang_zhang_spec_plans_its_grids_and_each_algorithm_runs_on_brax(tmp_path):
    spec = load_spec(BENCHMARKS / "tang_zhang_brax.toml")
    full, configs = plan(spec)
    assert {label: len(c) for label, c in configs.items()} == {"ppo_grpo": 9, "ppo_vanilla": 27, "ppo_gae": 81}
    assert len(full) == 15 and sum(len(g.runs) for g in full) == (9 + 27 + 81) * 10 * 5

    groups, _ = plan(smoke_spec(spec))
    assert len(groups) == 15 and all(len(g.runs) == 1 and g.runs[0].seed_role == "tune" for g in groups)
    # All 15 Brax programs would cost minutes of compilation; here each algorithm runs once on
    # the spec's first environment, through the same CLI path.
    spec_file = shrunk("tang_zhang_brax", tmp_path, {
        '"brax/hopper", "brax/ant", "brax/halfcheetah", "brax/swimmer", "brax/walker2d"': '"brax/hopper"',
        'preset = "brax"': f'preset = "brax"\nstatic = {{ num_envs = {BRAX_ENVS} }}',
    })
    assert main(["run", str(spec_file), "--scale", "0.0002", "--smoke", "--out", str(tmp_path / "tz"), "--quiet"]) == 0
    table, _ = R.read_study(tmp_path / "tz")
    final = table.filter(pa.compute.equal(table["env_steps"], pa.compute.max(table["env_steps"])))
    assert sorted(final["algo"].to_pylist()) == ["ppo_gae", "ppo_grpo", "ppo_vanilla"]
    assert np.isfinite(final["eval_return"].to_numpy()).all()
