"""The study directory: Parquet + manifest, atomic replacement, clear errors, exports; the CLI end to end."""

import json
import os
import socket
import subprocess
import sys
from types import SimpleNamespace

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
    args = ["run", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "o"), "--quiet", "--max-runs-per-chunk", "3"]
    assert main(args) == 0
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


REFERENCES = """
[[references]]
env = "gymnax/CartPole-v1"
algo = "ppo"
metric = "train_return_last100"
value = 500.0
source = "test"
"""


@pytest.mark.parametrize("command, out", [("run", "/proc/x"), ("run", "/sys/x/y"), ("reproduce", "/proc/x"),
                                          ("report", "/sys/x/y")])
def test_an_unwritable_out_exits_2_naming_it(tmp_path, capsys, command, out):
    (tmp_path / "spec.toml").write_text(SPEC + REFERENCES)
    argv = {"run": ["run", str(tmp_path / "spec.toml"), "--quiet"],
            "reproduce": ["reproduce", str(tmp_path / "spec.toml"), "--quiet"],
            "report": ["report", str(tmp_path)]}[command]
    assert main([*argv, "--out", out]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {out}" in err and "Traceback" not in err, err


def test_reproduce_takes_out_like_run_and_report_and_still_results_dir():
    from jaxrl_suite.cli import build_parser

    for flag in ("--out", "--results-dir"):
        assert build_parser().parse_args(["reproduce", "s.toml", flag, "elsewhere"]).out == "elsewhere"


def test_refuses_to_start_when_the_checkpoints_cannot_fit_on_the_disk(tmp_path, capsys, monkeypatch):
    from jaxrl_suite import study

    (tmp_path / "spec.toml").write_text(SPEC)
    free = 10_000
    monkeypatch.setattr(study.shutil, "disk_usage", lambda path: SimpleNamespace(total=10**9, used=0, free=free))
    assert main(["run", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "out")]) == 2
    printed = capsys.readouterr()
    # The estimate comes first: 8 runs of 4,096 steps, one program, the carries' bytes on disk.
    assert "estimate: 8 runs, 32,768 env steps in all; 1 program to compile; checkpoints up to" in printed.out
    assert "the checkpoints of this study need about" in printed.err and str(tmp_path / "out") in printed.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]  # nothing written


def write_tiny_study(out, study="s"):
    return R.write_study(out, pa.table({c: [0] for c in R.COLUMNS}), {"study": study})


def test_a_write_removes_what_killed_writers_left_and_nothing_else(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    host = socket.gethostname()
    left = [tmp_path / f".s.writing-{host}-{dead_pid}-abcd", tmp_path / f".s.old-{host}-{dead_pid}-ef01"]
    kept = [tmp_path / f".s.writing-{host}-{os.getppid()}-abcd",  # a live writer
            tmp_path / f".s.writing-another-host-{dead_pid}-abcd",  # another host's writer
            tmp_path / f".t.writing-{host}-{dead_pid}-abcd"]  # another study's
    for path in left + kept:
        path.mkdir()
        (path / R.TABLE).write_text("half-written")
    write_tiny_study(tmp_path / "s")
    assert sorted(tmp_path.iterdir()) == sorted([tmp_path / "s", *kept])


def test_a_symlinked_out_stays_a_link_to_the_replaced_study(tmp_path):
    target = write_tiny_study(tmp_path / "real", "old")
    link = tmp_path / "link"
    link.symlink_to(target)
    write_tiny_study(link, "new")
    assert link.is_symlink() and R.read_study(target)[1]["study"] == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


@pytest.mark.parametrize("umask", [0o022, 0o002], ids=["umask 022", "umask 002"])
def test_study_directories_follow_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        out = write_tiny_study(tmp_path / "s")
        written = R.write_text_files(tmp_path / "tables", {"t.md": "x"})
    finally:
        os.umask(previous)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask
    assert written[0].stat().st_mode & 0o777 == 0o666 & ~umask


def test_the_summary_is_printed_whole_into_a_pipe_or_a_file(capsys, monkeypatch):
    from jaxrl_suite import console

    setting = "lr=0.000123, gae_lambda=0.987, clip_eps=0.234, ent_coef=0.0123, vf_coef=0.567, max_grad_norm=0.789"
    rows = [dict(algo="ppo-with-a-long-label", env="gymnax/MountainCarContinuous-v0", config=12, setting=setting,
                 env_steps=1_000_000, tune_train=(-123.4, 5.6), test_train=(-120.1, 4.3), test_eval=-118.7, diverged=0)]
    monkeypatch.setattr("jaxrl_suite.summary.summary_rows", lambda table: rows)
    outcome = SimpleNamespace(spec=SimpleNamespace(name="a-study-with-a-long-name"), table=None, out_dir="runs/x",
                              manifest={"wall_clock_s": 1.0, "devices": ["cpu:cpu"]})
    console.print_summary(outcome)  # capsys: stdout is not a terminal, as with `jaxrl-suite run > log.txt`
    text = capsys.readouterr().out
    assert setting in text and "ppo-with-a-long-label" in text and "-123.4 ± 5.6" in text and "…" not in text
