"""Tuners running inside a study (jaxrl_suite/tuners/execution.py): what they compute, what they
compile, what they are charged, and that a kill in the middle of tuning resumes exactly.

Every study here is PPO on CartPole with 4 environments x 64 steps (256 env steps an iteration),
32-unit layers and segments of 2 iterations (512 env steps), so one program compiles in seconds
and a run of 9 segments takes a fraction of a second.
"""

import json
import signal
import time

import jax
import numpy as np
import pyarrow.parquet as pq
import pytest
from study_fixtures import assert_same_table, cli_process, toml_text

from jaxrl_suite import results as R
from jaxrl_suite import tuners
from jaxrl_suite.checkpoint import checkpoint_dir
from jaxrl_suite.cli import main
from jaxrl_suite.runner import group_programs
from jaxrl_suite.spec import parse_spec
from jaxrl_suite.study import environment, run_study
from jaxrl_suite.tuners.execution import Pool, exploit, tuner_jobs
from jaxrl_suite.tuners.records import TABLE

SEGMENT = 512
LRS = [3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2, 5e-2]


def algorithm(label, space, tuner=None):
    entry = {"algorithm": "ppo", "label": label, "preset": "cleanrl",
             "static": {"num_envs": 4, "num_steps": 64, "hidden_sizes": [32, 32]}, "search": {"space": space}}
    return {**entry, "tuner": tuner} if tuner else entry


def study(*algorithms, total=9 * SEGMENT, tuning_seeds=1, test_seeds=(1000, 1001), name="tuned"):
    return {"name": name, "envs": ["gymnax/CartPole-v1"], "total_env_steps": total, "tuning_seeds": tuning_seeds,
            "test_seeds": list(test_seeds), "evaluation": {"every_env_steps": SEGMENT, "episodes": 2, "max_steps": 200},
            "algorithms": list(algorithms)}


def tuner_rows(out):
    return pq.read_table(out / TABLE).to_pandas()


SH = {"method": "successive_halving", "num_configs": 9, "eta": 3, "min_env_steps": SEGMENT}


@pytest.fixture(scope="module")
def sh_beside_grid(tmp_path_factory):
    """Successive halving over 9 learning rates, beside the plain grid over the same 9, one study."""
    out = tmp_path_factory.mktemp("sh") / "study"
    spec = parse_spec(study(algorithm("sh", {"lr": LRS}, SH), algorithm("grid", {"lr": LRS})))
    outcome = run_study(spec, out)
    return out, outcome


def test_successive_halving_survivors_compute_exactly_what_the_grid_computes(sh_beside_grid):
    out, outcome = sh_beside_grid
    rows = tuner_rows(out)
    grid = R.read_study(out)[0].to_pandas()
    grid = grid[grid.algo == "grid"].copy()
    # The tuners' table holds the values the program trained with (float32); the grid's, the spec's.
    grid["hp.lr"] = grid["hp.lr"].astype(np.float32).astype(np.float64)
    tuned = rows[rows.seed_role == "tune"]
    # The plan: 9 members for 1 segment, the top 3 for 3, the best for all 9 (charge 9 + 3*2 + 6 = 21 segments).
    assert sorted(tuned.groupby("config_id").checkpoint.max().value_counts().items()) == [(0, 6), (2, 2), (8, 1)]
    entry = outcome.manifest["tuners"][0]
    assert entry["charged_env_steps"] == [21 * SEGMENT] == [tuners.charge(outcome.spec.algorithms[0].tuner, 1)]
    # Every record the tuner made equals the grid's record of the same learning rate and seed,
    # bit for bit: survivors were re-blocked between rungs, and that changes no number.
    merged = tuned.merge(grid, on=["hp.lr", "seed", "checkpoint"], suffixes=("", "_grid"))
    assert len(merged) == len(tuned)
    for column in ("train_return", "eval_return", "env_steps"):
        np.testing.assert_array_equal(merged[column], merged[column + "_grid"])
    # The decisions follow the tuning-seed evaluation returns: the rung-0 ranking is theirs.
    first = tuned[tuned.checkpoint == 0].set_index("config_id").eval_return
    ranked = entry["history"][0][0]["rungs"][0]["ranked"]
    assert list(first[ranked]) == sorted(first, reverse=True)
    # The output, trained from scratch on the test seeds, is the grid's test-seed run of its setting.
    best_lr = float(np.float32(entry["outputs"][0]["hparams"]["lr"]))
    test = rows[rows.seed_role == "test"].sort_values(["seed", "checkpoint"])
    grid_test = grid[(grid.seed_role == "test") & (grid["hp.lr"] == best_lr)].sort_values(["seed", "checkpoint"])
    assert (test["hp.lr"] == best_lr).all() and len(test) == 2 * 9
    np.testing.assert_array_equal(test.eval_return.to_numpy(), grid_test.eval_return.to_numpy())


def test_the_tuner_table_and_manifest_carry_the_charge(sh_beside_grid):
    out, outcome = sh_beside_grid
    rows = tuner_rows(out)
    entry = outcome.manifest["tuners"][0]
    assert set(rows.charged_env_steps) == {21 * SEGMENT}
    assert entry["configurations_tried"] == [9] and entry["test_env_steps"] == 2 * 9 * SEGMENT
    assert "9 x 512, 3 x 1,536, 1 x 4,608" in entry["plan"]
    # The charge is what the rows show the tuning runs doing: every segment a run advanced.
    assert len(rows[rows.seed_role == "tune"]) * SEGMENT == entry["charged_env_steps_total"]
    assert json.loads((out / R.MANIFEST).read_text())["tuners"][0]["outputs"] == entry["outputs"]


def count_backend_compiles(run):
    """How many XLA programs `run()` compiles, from a cold start."""
    from jaxrl_suite import runner

    compiled = []
    listener = lambda event, duration, **_: compiled.append(event) if event.endswith("backend_compile_duration") \
        else None
    runner.programs.cache_clear()
    jax.clear_caches()
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        run()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return len(compiled)


def test_successive_halving_over_81_configurations_compiles_no_more_than_the_grid(tmp_path):
    lrs = [float(x) for x in np.geomspace(1e-4, 1e-1, 81)]
    sh = {"method": "successive_halving", "num_configs": 81, "eta": 3, "min_env_steps": SEGMENT,
          "max_env_steps": 3 * SEGMENT}
    grid_spec = parse_spec(study(algorithm("grid", {"lr": lrs}), total=3 * SEGMENT, test_seeds=(), name="g"))
    sh_spec = parse_spec(study(algorithm("sh", {"lr": lrs}, sh), total=3 * SEGMENT, test_seeds=(), name="s"))
    grid = count_backend_compiles(lambda: run_study(grid_spec, tmp_path / "grid"))
    halving = count_backend_compiles(lambda: run_study(sh_spec, tmp_path / "sh"))
    assert 2 <= halving <= grid  # init and one segment, at least
    # 81 members re-blocked into 27 survivors: still the group's one training program.
    (job,) = tuner_jobs(sh_spec, environment)
    init, advance = group_programs(job.group, sh_spec.evaluation)
    assert advance._cache_size() == 1 and init._cache_size() == 1


PBT = {"method": "pbt", "population": 4, "ready_env_steps": 2 * SEGMENT, "hyperparameters": ["lr"],
       "exploit_quantile": 0.25, "resample_probability": 0.0, "perturb_factors": [0.5, 2.0]}


@pytest.fixture(scope="module")
def pbt_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("pbt") / "study"
    spec = parse_spec(study(algorithm("pbt", {"lr": {"log_uniform": [1e-4, 1e-1]}, "ent_coef": [0.0, 0.01]}, PBT),
                            total=8 * SEGMENT, tuning_seeds=2))
    return out, run_study(spec, out)


def test_pbt_copies_the_bottom_member_from_the_top_and_replays_the_schedule(pbt_study):
    out, outcome = pbt_study
    entry = outcome.manifest["tuners"][0]
    history = entry["history"][0]
    rows = tuner_rows(out)
    tuned = rows[rows.seed_role == "tune"]
    for record in history[1:-1]:  # the exploit/explore steps at 2, 4 and 6 segments
        ranked, source = record["ranked"], record["source"]
        moved = [m for m in range(4) if source[m] != m]
        assert moved == [ranked[-1]] and source[ranked[-1]] == ranked[0]  # the worst copies the best
        segment = record["env_steps"] // SEGMENT  # the first segment trained with the new values
        after = tuned[(tuned.config_id == moved[0]) & (tuned.checkpoint == segment)]
        before = history[history.index(record) - 1]["hparams"][ranked[0]]["lr"]
        # lr was perturbed by x0.5 or x2 from the source's, and the member trained with it
        assert min(abs(after["hp.lr"].iloc[0] / (before * f) - 1) for f in (0.5, 2.0)) < 1e-6
        # ent_coef is not explored: the copy takes the source's along with its weights
        source_ent = tuned[(tuned.config_id == ranked[0]) & (tuned.checkpoint == segment)]["hp.ent_coef"].iloc[0]
        assert after["hp.ent_coef"].iloc[0] == source_ent
    # The output is the best member's schedule, replayed from scratch on the test seeds.
    schedule = entry["outputs"][0]["schedule"]
    test = rows[rows.seed_role == "test"]
    for piece, following in zip(schedule, schedule[1:] + [{"from_env_steps": 8 * SEGMENT}]):
        first, last = piece["from_env_steps"] // SEGMENT, following["from_env_steps"] // SEGMENT
        during = test[(test.checkpoint >= first) & (test.checkpoint < last)]
        assert len(during) == 2 * (last - first)
        assert (during["hp.lr"] == np.float32(piece["hparams"]["lr"])).all()
    assert entry["charged_env_steps"] == [4 * 8 * SEGMENT * 2]


def test_exploit_copies_rows_but_not_random_keys():
    from flax import struct

    @struct.dataclass
    class State:
        params: np.ndarray
        key: np.ndarray

    pool = Pool(State(params=np.arange(8.0).reshape(4, 2), key=np.arange(4 * 2).reshape(4, 2)), None)
    exploit(pool, np.array([3, 0]), np.array([1, 2]))
    np.testing.assert_array_equal(pool.carry.params, [[4, 5], [2, 3], [4, 5], [2, 3]])
    np.testing.assert_array_equal(pool.carry.key, np.arange(8).reshape(4, 2))  # every member keeps its own


def test_sigkill_during_tuning_then_resume_gives_the_uninterrupted_results(tmp_path):
    # PBT then random search: two jobs, the kill lands in the first (PBT's random stream, copied
    # carries and changed hyperparameters must all come back), the second starts after the resume.
    raw = study(algorithm("pbt", {"lr": {"log_uniform": [1e-4, 1e-1]}}, PBT),
                algorithm("random", {"lr": LRS}, {"method": "random", "num_configs": 3}), total=6 * SEGMENT,
                tuning_seeds=2)
    raw["algorithms"][0]["tuner"] = {**PBT, "ready_env_steps": SEGMENT, "resample_probability": 0.5}
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(toml_text(raw))
    reference = tmp_path / "reference"
    assert main(["run", str(spec_file), "--out", str(reference), "--quiet"]) == 0

    out = tmp_path / "killed"
    steps = checkpoint_dir(out) / "tuners" / "steps"
    process = cli_process("run", str(spec_file), "--out", str(out), "--quiet")
    try:
        while not (steps.is_dir() and any(p.name.isdigit() and int(p.name) >= 2 for p in steps.iterdir())):
            assert process.poll() is None, process.communicate()
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL and not R.is_study_dir(out)
    assert main(["run", str(spec_file), "--out", str(out), "--resume", "--quiet"]) == 0
    assert_same_table(reference, out)
    a, b = tuner_rows(reference), tuner_rows(out)
    assert a.columns.tolist() == b.columns.tolist() and a.equals(b)
    manifests = [json.loads((d / R.MANIFEST).read_text())["tuners"] for d in (reference, out)]
    for x, y in zip(*manifests):
        assert (x["history"], x["outputs"], x["charged_env_steps"]) == (y["history"], y["outputs"],
                                                                         y["charged_env_steps"])



def test_the_report_has_a_tuners_section_with_the_grid_beside(sh_beside_grid, tmp_path):
    from jaxrl_suite.report import analyse_study, load_study, write_report
    from jaxrl_suite.report.tuners import OUTSIDE_BLACK_BOX

    out, outcome = sh_beside_grid
    report = analyse_study(load_study(out), reps=200)
    (row,) = report.tuners.rows["gymnax/CartPole-v1"]
    rows = tuner_rows(out)
    final = rows[(rows.seed_role == "test") & (rows.checkpoint == 8)].eval_return.to_numpy()
    assert float(row.score.point) == pytest.approx(report.scale.apply(final, "gymnax/CartPole-v1").mean())
    assert row.scores.shape == (1, 2) and row.grid == "grid"
    # 21 segments on one tuning seed = 2.33 runs of T: the grid's TC@2 and FB@B at B = 21 segments
    assert row.grid_tc[0] == 2 and row.grid_fb[0] == 21 * SEGMENT
    assert row.budget_in_runs == pytest.approx(21 / 9)
    written = write_report(out, tmp_path / "report", reps=200)
    text = (written / "report.md").read_text()
    assert "## Tuners" in text and "| sh | successive_halving | 10,752 | 2.33 | 9 | 1 x 2 |" in text
    assert "TC@2 = " in text and "FB@10,752 = " in text and (written / "tuners.png").is_file()
    assert OUTSIDE_BLACK_BOX not in text  # no PBT here


def test_the_report_marks_pbt_outside_the_black_box_class(pbt_study, tmp_path):
    from jaxrl_suite.report import write_report
    from jaxrl_suite.report.tuners import OUTSIDE_BLACK_BOX

    out, _ = pbt_study
    text = (write_report(out, tmp_path / "report", reps=100) / "report.md").read_text()
    assert "| pbt † | pbt |" in text and f"† {OUTSIDE_BLACK_BOX}." in text
