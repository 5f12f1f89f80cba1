"""The study directory: Parquet + manifest, atomic replacement, clear errors, exports; the CLI end to end."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jaxrl_suite import results as R
from jaxrl_suite.cli import main

SPEC = """
name = "tiny"
envs = ["gymnax/CartPole-v1"]
total_env_steps = 4096
tuning_seeds = 2
test_seeds = 2
[evaluation]
every_env_steps = 2048
episodes = 2
[[algorithms]]
algorithm = "ppo"
preset = "cleanrl"
static = { num_steps = 64, hidden_sizes = [32, 32] }
[algorithms.search]
space = { lr = [3e-4, 1e-3] }
"""


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    (root / "spec.toml").write_text(SPEC)
    assert main(["run", str(root / "spec.toml"), "--out", str(root / "out"), "--quiet"]) == 0
    return root / "out"


def test_cli_run_writes_a_complete_study_directory(study_dir):
    table, manifest = R.read_study(study_dir)
    assert set(R.COLUMNS) <= set(table.column_names) and "hp.lr" in table.column_names
    # 2 configs x 4 seeds x 2 checkpoints
    assert table.num_rows == 16
    data = table.to_pydict()
    assert sorted(set(data["seed_role"])) == ["test", "tune"]
    assert sorted(set(data["env_steps"])) == [2048, 4096]
    assert manifest["spec_digest"] and manifest["versions"]["jax"] and manifest["devices"]
    assert manifest["env_steps_per_config"]["ppo"] == {"0": 4 * 4096, "1": 4 * 4096}
    assert (study_dir / "summary.md").read_text().count("| ppo |") == 2


def test_results_do_not_depend_on_chunking_through_the_cli(study_dir, tmp_path):
    (tmp_path / "spec.toml").write_text(SPEC)
    assert main(["run", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "o"), "--quiet", "--max-runs-per-chunk", "3"]) == 0
    a, _ = R.read_study(study_dir)
    b, _ = R.read_study(tmp_path / "o")
    np.testing.assert_allclose(a["train_return"].to_numpy(), b["train_return"].to_numpy(), rtol=1e-6)


def test_rerun_replaces_a_study_but_never_a_foreign_directory(study_dir, tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    (tmp_path / "spec.toml").write_text(SPEC)
    assert main(["run", str(tmp_path / "spec.toml"), "--out", str(foreign), "--quiet"]) == 2
    assert "not a jaxrl_suite study directory" in capsys.readouterr().err
    assert (foreign / "precious.txt").read_text() == "keep me"


def test_atomic_write_leaves_previous_results_when_writing_fails(tmp_path):
    table = pa.table({c: [0] for c in R.COLUMNS})
    out = R.write_study(tmp_path / "s", table, {"study": "s"})
    before = (out / R.MANIFEST).read_text()

    class Unserialisable:
        def __repr__(self):
            raise RuntimeError("disk full")  # stands in for any failure while writing

    with pytest.raises(RuntimeError):
        R.write_study(out, table, {"study": "s", "bad": Unserialisable()})
    assert (out / R.MANIFEST).read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no staging directory left behind


@pytest.mark.parametrize("damage", ["no manifest", "bad json", "foreign json", "bad parquet", "missing column"])
def test_reading_a_damaged_study_is_a_clear_error(tmp_path, damage):
    table = pa.table({c: [0] for c in R.COLUMNS})
    out = R.write_study(tmp_path / "s", table, {"study": "s"})
    if damage == "no manifest":
        (out / R.MANIFEST).unlink()
    elif damage == "bad json":
        (out / R.MANIFEST).write_text("{")
    elif damage == "foreign json":
        (out / R.MANIFEST).write_text(json.dumps({"hello": 1}))
    elif damage == "bad parquet":
        (out / R.TABLE).write_bytes(b"not parquet")
    else:
        pq.write_table(table.drop(["seed"]), out / R.TABLE)
    with pytest.raises(R.ResultsError):
        R.read_study(out)


def test_csv_export_and_score_dict(study_dir, tmp_path):
    csv = R.export_csv(study_dir, tmp_path / "r.csv")
    lines = csv.read_text().splitlines()
    assert len(lines) == 17 and "train_return" in lines[0]
    scores = R.final_scores(R.read_study(study_dir)[0], "train_return", seed_role="test")
    assert set(scores) == {"ppo"} and scores["ppo"].shape == (4, 1)  # 2 configs x 2 test seeds, 1 task


def test_list_prints_environments_algorithms_and_presets(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    # environments grouped by family, each with its action and observation spaces
    grouped = ("  gymnax\n", "  brax\n", "  probe\n", "  craftax\n", "  xminigrid\n", "jumanji (action masks)")
    spaces = ("gymnax/CartPole-v1: Discrete(2) → float32[4]", "jumanji/Snake-v1: Discrete(4) → float32[12,12,5]")
    for needle in (*grouped, *spaces, "ppo:", "ppo/cleanrl-cartpole"):
        assert needle in text


def test_summary_flags_diverged_configurations():
    from jaxrl_suite.summary import markdown, summary_rows

    rows = {name: [] for name in (*R.COLUMNS, "hp.lr")}
    # config 0 trains normally; config 1 diverges on tuning seed 1 (its returns frozen at 7.0)
    for config, seed, role, diverged, value in ((0, 0, "tune", False, 100.0), (0, 1, "tune", False, 120.0),
                                                (0, 9, "test", False, 110.0), (1, 0, "tune", False, 90.0),
                                                (1, 1, "tune", True, 7.0), (1, 9, "test", False, 95.0)):
        for name, cell in (("study", "s"), ("algo", "ppo"), ("algorithm", "ppo"), ("env", "e"), ("config_id", config),
                           ("seed", seed), ("seed_role", role), ("checkpoint", 0), ("env_steps", 1000),
                           ("train_return", value), ("eval_return", value), ("episodes", 5), ("diverged", diverged),
                           ("hp.lr", [1e-3, 1e-2][config])):
            rows[name].append(cell)
    text = markdown(summary_rows(pa.table(rows)), "t")
    healthy, diverging = (next(line for line in text.splitlines() if line.startswith(f"| ppo | e | {c} |"))
                          for c in (0, 1))
    assert "⚠" not in healthy and healthy.endswith("| 0 |")
    tune_cell, test_cell = diverging.split(" | ")[5:7]
    assert tune_cell == "48.50 ± 41.50 (n=2) ⚠ diverged 1/2"  # (90 + 7) / 2, flagged: 7.0 is a frozen return
    assert "⚠" not in test_cell and diverging.endswith("| ⚠ 1/3 seeds |")
    assert "⚠ diverged k/n" in text  # the legend says what the flag means
