"""The Tang & Zhang Brax spec: its grids planned in full, each algorithm smoke-run on Brax.

A module of its own so that it and test_accelerator_specs.py, both slow, can run on different
test workers.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
from study_fixtures import BENCHMARKS, BRAX_ENVS, shrunk

from jaxrl_suite import results as R
from jaxrl_suite.cli import main
from jaxrl_suite.spec import load_spec, smoke_spec
from jaxrl_suite.study import plan


def test_tang_zhang_spec_plans_its_grids_and_each_algorithm_runs_on_brax(tmp_path):
    spec = load_spec(BENCHMARKS / "tang_zhang_brax.toml")
    full, configs = plan(spec)
    assert {label: len(c) for label, c in configs.items()} == {"ppo_grpo": 9, "ppo_vanilla": 27, "ppo_gae": 81}
    assert len(full) == 15 and sum(len(g.runs) for g in full) == (9 + 27 + 81) * 10 * 5

    groups, _ = plan(smoke_spec(spec))
    assert len(groups) == 15 and all(len(g.runs) == 1 and g.runs[0].seed_role == "tune" for g in groups)
    # All 15 Brax programs would cost many minutes of compilation on 2 cores (one hopper program
    # alone takes about a minute), so here each algorithm of the spec, with its preset, runs once
    # on the cheapest Brax environment; hopper itself is smoke-run with PPO above.
    spec_file = shrunk("tang_zhang_brax", tmp_path, {
        '"brax/hopper", "brax/ant", "brax/halfcheetah", "brax/swimmer", "brax/walker2d"': '"brax/inverted_pendulum"',
        'preset = "brax"': f'preset = "brax"\nstatic = {{ num_envs = {BRAX_ENVS} }}',
    })
    assert main(["run", str(spec_file), "--scale", "0.0002", "--smoke", "--out", str(tmp_path / "tz"), "--quiet"]) == 0
    table, _ = R.read_study(tmp_path / "tz")
    final = table.filter(pa.compute.equal(table["env_steps"], pa.compute.max(table["env_steps"])))
    assert sorted(final["algo"].to_pylist()) == ["ppo_gae", "ppo_grpo", "ppo_vanilla"]
    assert np.isfinite(final["eval_return"].to_numpy()).all()
