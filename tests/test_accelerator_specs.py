"""The accelerator-sized specs: planned in full, then smoke-run on CPU with --scale and --smoke.

A GPU runs them as written; here every spec must at least validate to its documented size and
run each of its programs for one iteration, so a broken spec is found before anyone rents a GPU.
"""

import csv

import numpy as np
import pytest
from study_fixtures import BENCHMARKS, BRAX_ENVS, shrunk

from jaxrl_suite import results as R
from jaxrl_suite.cli import main
from jaxrl_suite.spec import SMOKE_NOTE, load_spec
from jaxrl_suite.study import plan

# spec, its full size (groups, runs), the --scale of its CPU smoke run (one iteration), changes
REPRODUCTIONS = [
    ("reproduce_blines_ppo_minatar", 4, 16, "0.001", {}),
    ("reproduce_purejaxrl_ppo_spaceinvaders", 1, 4, "0.001", {}),
    # on the cheapest Brax task: compiling hopper's physics alone takes about a minute on 2 cores
    ("reproduce_purejaxrl_ppo_hopper", 1, 4, "0.00001",
     {"num_envs = 2048": f"num_envs = {BRAX_ENVS}", '"brax/hopper"': '"brax/inverted_pendulum"'}),
]


@pytest.mark.parametrize("name, groups, runs, scale, changes", REPRODUCTIONS)
def test_reproduction_spec_plans_in_full_and_smoke_runs_every_program(name, groups, runs, scale, changes, tmp_path):
    full, _ = plan(load_spec(BENCHMARKS / f"{name}.toml"))
    assert (len(full), sum(len(g.runs) for g in full)) == (groups, runs)

    spec_file = shrunk(name, tmp_path, changes)
    assert main(["reproduce", str(spec_file), "--scale", scale, "--smoke", "--results-dir", str(tmp_path),
                 "--quiet"]) == 0
    table, manifest = R.read_study(tmp_path / name)
    assert manifest["spec"]["description"].startswith(SMOKE_NOTE)
    runs = set(zip(*(table[c].to_pylist() for c in ("algo", "env", "config_id", "seed"))))
    assert len(runs) == groups  # one run of every program
    assert np.isfinite(table["eval_return"].to_numpy()).all() and not table["diverged"].to_numpy().any()
    with open(tmp_path / f"{name}.csv") as f:
        verdicts = {row["verdict"] for row in csv.DictReader(f)}
    assert verdicts == {"not comparable"}  # a smoke run is never counted as a reproduction
