"""Checkpoints and resume, final states, determinism and crash safety of a study run."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from study_fixtures import ALGO, DIVERGING, ENV, RUNS, SPEC_TOML, assert_same_table, cli_process, write_spec

from jaxrl_suite import results as R
from jaxrl_suite.checkpoint import MARKER, DirectoryLock, checkpoint_dir
from jaxrl_suite.cli import main
from jaxrl_suite.runner import RUNS_PER_DEVICE, group_programs
from jaxrl_suite.spec import load_spec
from jaxrl_suite.study import load_final_states, plan, run_study


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("reliability")


@pytest.fixture(scope="module")
def spec_file(root):
    return write_spec(root)


@pytest.fixture(scope="module")
def reference(root, spec_file):
    """The uninterrupted run every other run is compared with."""
    assert main(["run", str(spec_file), "--out", str(root / "reference"), "--quiet"]) == 0
    return root / "reference"


class Interrupted(Exception):
    pass


@pytest.fixture(scope="module")
def checkpoint_template(root, spec_file):
    """The checkpoint directory of a run interrupted after its second segment (a pristine copy)."""
    calls = 0

    def interrupt_at_second_segment(label, done, total):
        nonlocal calls
        calls += 1
        if calls == 2:  # after the second segment's checkpoint was saved
            raise Interrupted

    with pytest.raises(Interrupted):
        run_study(load_spec(spec_file), root / "cut", progress=interrupt_at_second_segment)
    assert not R.is_study_dir(root / "cut")  # an unfinished study never looks finished
    template = root / "template.checkpoints"
    shutil.copytree(checkpoint_dir(root / "cut"), template)
    return template


def interrupted_run(tmp_path, template) -> Path:
    """A fresh copy of the interrupted run's checkpoints, for `--out tmp_path/out`."""
    shutil.copytree(template, tmp_path / "out.checkpoints")
    return tmp_path / "out"


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_finished_study_keeps_final_states_and_no_checkpoints(reference):
    table, manifest = R.read_study(reference)
    assert table.num_rows == RUNS * 4
    assert not checkpoint_dir(reference).exists()
    (group,) = manifest["groups"]
    assert group["chunks"] == {"runs_per_chunk": RUNS, "padded": RUNS_PER_DEVICE, "count": 1}
    assert (reference / group["final_states"] / "0").is_dir()
    diverged = table["diverged"].to_numpy().reshape(RUNS, 4)
    assert diverged[DIVERGING].all() and not diverged[:4].any()  # lr 1e30: flagged from the first segment


def test_same_spec_and_seeds_give_identical_results(reference, spec_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative --out, as users type it: orbax itself wants absolute paths
    assert main(["run", str(spec_file), "--out", "again", "--quiet", "--checkpoint-every", "1"]) == 0
    assert_same_table(reference, tmp_path / "again")


def test_resumed_run_matches_an_uninterrupted_one(reference, spec_file, checkpoint_template, tmp_path):
    out = interrupted_run(tmp_path, checkpoint_template)
    assert main(["run", str(spec_file), "--out", str(out), "--resume", "--quiet"]) == 0
    # Diverged runs stayed frozen and flagged across the resume, so they match too.
    assert_same_table(reference, out)
    (group,), _ = plan(load_spec(spec_file))
    init, advance = group_programs(group, load_spec(spec_file).evaluation)
    assert advance._cache_size() == init._cache_size() == 1  # the restored carry needed no new program
    assert R.read_study(out)[1]["resumed_from_checkpoint"] is True
    assert not checkpoint_dir(out).exists()


def test_final_states_reproduce_the_recorded_evaluation(reference):
    final = load_final_states(reference, ALGO, ENV)
    table, _ = R.read_study(reference)
    recorded = table["eval_return"].to_numpy().reshape(RUNS, 4)[:, -1]
    assert [run.seed for run in final.group.runs] == [0, 1, 2, 3] * 2
    np.testing.assert_array_equal(final.evaluate(), recorded)
    assert np.asarray(final.carry.diverged)[DIVERGING].all()


@pytest.mark.parametrize("change, field", [
    (("lr = [1e-3, 1e30]", "lr = [3e-4, 1e30]"), "algorithms[0].search.space.lr"),
    (("total_env_steps = 8192", "total_env_steps = 6144"), "total_env_steps"),
    (("episodes = 4", "episodes = 5"), "evaluation.episodes"),
])
def test_resume_refuses_a_changed_spec_and_names_the_change(checkpoint_template, tmp_path, capsys, change, field):
    out = interrupted_run(tmp_path, checkpoint_template)
    before = snapshot(checkpoint_dir(out))
    changed = write_spec(tmp_path, SPEC_TOML.replace(*change))
    assert main(["run", str(changed), "--out", str(out), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "different spec" in err and field in err and "Traceback" not in err
    assert snapshot(checkpoint_dir(out)) == before and not out.exists()


def test_resume_refuses_another_budget_scale(checkpoint_template, spec_file, tmp_path, capsys):
    out = interrupted_run(tmp_path, checkpoint_template)
    assert main(["run", str(spec_file), "--out", str(out), "--resume", "--quiet", "--scale", "0.5"]) == 2
    assert "total_env_steps" in capsys.readouterr().err


def test_resume_on_another_device_count_is_refused(checkpoint_template, spec_file, tmp_path):
    out = interrupted_run(tmp_path, checkpoint_template)
    process = cli_process("run", str(spec_file), "--out", str(out), "--resume", "--quiet",
                          env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    _, err = process.communicate(timeout=600)
    assert process.returncode == 2 and "written with 1 JAX devices" in err and "Traceback" not in err, err


def damage(kind: str, directory: Path) -> None:
    if kind == "foreign":
        (directory / MARKER).unlink()
    elif kind == "corrupted marker":
        (directory / MARKER).write_text("{ not json")
    elif kind == "corrupted arrays":
        for path in (directory / "steps").rglob("*"):
            if path.is_file() and path.parent.name != "position":
                path.write_bytes(b"\0garbage" * 8)
    elif kind == "malformed position":
        for path in (directory / "steps").rglob("*"):
            if path.is_file() and path.parent.name == "position" and path.suffix != ".txt":
                path.write_text(json.dumps({"format_version": 1, "groups": [{"chunk": "x"}]}))
    elif kind == "segment out of range":
        for path in (directory / "steps").rglob("*"):
            if path.is_file() and path.parent.name == "position" and path.suffix != ".txt":
                position = json.loads(path.read_text())
                position["groups"][0]["segment"] = 99
                path.write_text(json.dumps(position))


@pytest.mark.parametrize("kind, words", [
    ("foreign", "not a jaxrl_suite checkpoint directory"),
    ("corrupted marker", "corrupted"),
    ("corrupted arrays", "cannot be read"),
    ("malformed position", "malformed"),
    ("segment out of range", "does not match the spec's group 0"),
])
def test_damaged_checkpoint_is_a_clear_error_and_nothing_is_overwritten(checkpoint_template, spec_file, tmp_path,
                                                                         capsys, kind, words):
    out = interrupted_run(tmp_path, checkpoint_template)
    damage(kind, checkpoint_dir(out))
    before = snapshot(checkpoint_dir(out))
    assert main(["run", str(spec_file), "--out", str(out), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err, err
    assert snapshot(checkpoint_dir(out)) == before and not out.exists()


def test_a_checkpoint_without_a_complete_step_exits_2_without_any_traceback(checkpoint_template, spec_file, tmp_path):
    out = interrupted_run(tmp_path, checkpoint_template)
    for step in (checkpoint_dir(out) / "steps").iterdir():
        shutil.rmtree(step)
    process = cli_process("run", str(spec_file), "--out", str(out), "--resume", "--quiet")
    _, err = process.communicate(timeout=600)
    # Not even from orbax's background clean-up thread, cut short by the interpreter's exit.
    assert process.returncode == 2 and "no complete checkpoint" in err and "Traceback" not in err, err


def test_a_checkpoint_directory_in_use_by_another_run_is_refused_with_its_process_id(checkpoint_template, spec_file,
                                                                                       tmp_path, capsys):
    out = interrupted_run(tmp_path, checkpoint_template)
    before = snapshot(checkpoint_dir(out))
    other_run = DirectoryLock.acquire(checkpoint_dir(out))  # what a running study holds
    try:
        for flags in (["--resume"], []):
            assert main(["run", str(spec_file), "--out", str(out), "--quiet", *flags]) == 2
            err = capsys.readouterr().err
            assert f"in use by process {os.getpid()}" in err and "Traceback" not in err, err
    finally:
        other_run.release()
    assert snapshot(checkpoint_dir(out)) == before and not out.exists()


def test_a_failed_resume_creates_no_folders(spec_file, tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "out"
    assert main(["run", str(spec_file), "--out", str(out), "--resume", "--quiet"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_checkpoints_are_never_silently_discarded_or_invented(checkpoint_template, spec_file, tmp_path, capsys):
    out = interrupted_run(tmp_path, checkpoint_template)
    before = snapshot(checkpoint_dir(out))
    assert main(["run", str(spec_file), "--out", str(out), "--quiet"]) == 2  # forgot --resume
    assert "--resume" in capsys.readouterr().err
    assert snapshot(checkpoint_dir(out)) == before
    assert main(["run", str(spec_file), "--out", str(tmp_path / "new"), "--resume", "--quiet"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_sigkill_after_the_first_checkpoint_then_resume_matches(reference, spec_file, tmp_path):
    out = tmp_path / "killed"
    steps = checkpoint_dir(out) / "steps"
    # The compilation cache on, in a folder of this test's own, storing every program (the
    # threshold lowered from 1 s): the killed process must have left its compiled programs there.
    cache = tmp_path / "compile-cache"
    process = cli_process("run", str(spec_file), "--out", str(out), "--checkpoint-every", "1", "--quiet",
                          env={"JAXRL_SUITE_COMPILE_CACHE": str(cache),
                               "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"})
    try:
        # A finished orbax step is renamed into place under its number.
        while not (steps.is_dir() and any(p.name.isdigit() for p in steps.iterdir())):
            assert process.poll() is None, process.communicate()
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert [p for p in cache.iterdir() if not p.name.startswith(".")], "no compiled program was cached"
    assert not R.is_study_dir(out)  # killed before the end: nothing that looks like results
    assert main(["run", str(spec_file), "--out", str(out), "--resume", "--quiet"]) == 0
    assert_same_table(reference, out)


# A writer that stops at a chosen point and waits to be killed there.
SLOW_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import pyarrow as pa
    import pyarrow.parquet as pq
    from jaxrl_suite import results as R

    out, ready, stop_at = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    def pause(original):
        def paused(*args, **kwargs):
            original(*args, **kwargs)
            ready.touch()
            time.sleep(600)
        return paused
    if stop_at == "while writing":  # the new table is half-way into the staging directory
        pq.write_table = pause(pq.write_table)
    else:  # the new study has been swapped in; the old one is not yet deleted
        R.shutil.rmtree = pause(R.shutil.rmtree)
    R.write_study(out, pa.table({c: [1] for c in R.COLUMNS}), {"study": "new"})
""")


@pytest.mark.parametrize("stop_at, survivor", [("while writing", "old"), ("after the swap", "new")])
def test_kill_while_writing_results_leaves_a_whole_readable_study(tmp_path, stop_at, survivor):
    out = R.write_study(tmp_path / "study", pa.table({c: [0] for c in R.COLUMNS}), {"study": "old"})
    ready = tmp_path / "ready"
    writer = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(out), str(ready), stop_at])
    try:
        while not ready.exists():
            assert writer.poll() is None
            time.sleep(0.02)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()
    table, manifest = R.read_study(out)
    assert manifest["study"] == survivor
    assert table["seed"].to_pylist() == [0 if survivor == "old" else 1]
