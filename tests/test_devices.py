"""Many devices, many processes and memory-sized chunks give the same results as one device."""

import socket

import numpy as np
import pytest
from study_fixtures import ALGO, ENV, RUNS, assert_same_table, cli_process, finish, write_spec

from jaxrl_suite import results as R
from jaxrl_suite import runner
from jaxrl_suite.cli import main
from jaxrl_suite.runner import RUNS_PER_DEVICE, ChunkLayout, choose_layout, cpu_block
from jaxrl_suite.spec import load_spec
from jaxrl_suite.study import load_final_states, plan


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    return write_spec(tmp_path_factory.mktemp("devices"))


# Blocks of 4 runs instead of 16 keep the padded work of 4 devices x 1 block small; what is
# compared does not depend on the block size, as long as every run uses the same one.
BLOCK = ["--runs-per-device", "4"]


@pytest.fixture(scope="module")
def one_device(spec_file):
    out = spec_file.parent / "one-device"
    assert main(["run", str(spec_file), "--out", str(out), "--quiet", *BLOCK]) == 0
    return out


def test_four_devices_give_the_same_results_as_one(one_device, spec_file, tmp_path):
    out = tmp_path / "four-devices"
    finish(cli_process("run", str(spec_file), "--out", str(out), "--quiet", *BLOCK,
                       env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}))
    assert_same_table(one_device, out)
    manifest = R.read_study(out)[1]
    assert len(manifest["devices"]) == 4
    assert manifest["groups"][0]["chunks"]["padded"] == 4 * 4  # every device: one full block


def test_the_cli_gives_xla_one_cpu_device_per_core(spec_file, tmp_path):
    # Results do not depend on the device count (the four-device test above); this checks the
    # default itself, in a fresh interpreter (XLA reads the flag when JAX starts).
    import os
    import subprocess
    import sys

    code = ("from jaxrl_suite.cli import cpu_device_per_core; assert cpu_device_per_core() is None; "
            "import jax; print(jax.device_count())")
    environment = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAXRL_SUITE_CPU_DEVICES")}
    count = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**environment, "JAX_PLATFORMS": "cpu"}).stdout.split()[-1]
    assert int(count) == len(os.sched_getaffinity(0))
    bad = cli_process("run", str(spec_file), "--out", str(tmp_path / "bad"), env={"JAXRL_SUITE_CPU_DEVICES": "two"})
    _, err = bad.communicate(timeout=120)
    assert bad.returncode == 2 and "JAXRL_SUITE_CPU_DEVICES must be a positive integer" in err
    assert "Traceback" not in err and not (tmp_path / "bad").exists()


def test_final_states_of_a_study_in_blocks_of_4_reproduce_its_evaluation(one_device, monkeypatch):
    batches = []
    evaluator = runner._evaluator

    def watched(*args):
        compiled = evaluator(*args)
        return lambda states, keys: batches.append(keys.shape[0]) or compiled(states, keys)

    monkeypatch.setattr(runner, "_evaluator", watched)
    final = load_final_states(one_device, ALGO, ENV)
    recorded = R.read_study(one_device)[0]["eval_return"].to_numpy().reshape(RUNS, -1)[:, -1]
    np.testing.assert_array_equal(final.evaluate(), recorded)
    # The study's blocks of 4, not the default 16: float rounding depends on the batch size.
    assert final.runs_per_device == 4 and batches == [4, 4]


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_give_the_same_results_as_one(one_device, spec_file, tmp_path):
    out = tmp_path / "two-processes"
    address = f"127.0.0.1:{free_loopback_port()}"
    processes = [
        cli_process("run", str(spec_file), "--out", str(out), "--quiet", *BLOCK, "--coordinator-address", address,
                    "--num-processes", "2", "--process-id", str(i))
        for i in range(2)
    ]
    for process in processes:
        finish(process)
    assert_same_table(one_device, out)
    manifest = R.read_study(out)[1]
    assert manifest["processes"] == 2 and len(manifest["devices"]) == 2


def test_bad_process_flags_exit_2_before_joining_anything(spec_file, capsys):
    for flags in (["--num-processes", "2"],
                  ["--coordinator-address", "127.0.0.1:1", "--num-processes", "2", "--process-id", "2"]):
        assert main(["run", str(spec_file), "--quiet", *flags]) == 2
        assert "error" in capsys.readouterr().err


@pytest.fixture(scope="module")
def spec(spec_file):
    return load_spec(spec_file)


@pytest.fixture(scope="module")
def group(spec):
    (group,), _ = plan(spec)
    return group


def test_layout_gives_every_device_one_fixed_block_and_covers_all_runs():
    for runs, limit, devices in [(8, None, 1), (8, None, 4), (5, 2, 1), (10_000, 2_500, 8), (3, None, 2),
                                 (40, None, 1)]:
        layout = ChunkLayout.for_runs(runs, limit, devices)
        assert layout.fits(devices) and layout.padded == RUNS_PER_DEVICE * devices
        assert layout.runs_per_chunk <= min(layout.padded, limit or layout.padded)
        assert layout.runs_per_chunk * layout.count >= runs > layout.runs_per_chunk * (layout.count - 1)


def test_block_size_is_fixed_unless_memory_forbids_it(spec, group, monkeypatch):
    evaluation, per_run = spec.evaluation, 1_000
    monkeypatch.setattr(runner, "program_bytes_per_device", lambda group, evaluation, per_device: per_device * per_run)
    roomy = choose_layout(group, evaluation, memory_budget=per_run * 1_000)
    assert (roomy.padded, roomy.count) == (RUNS_PER_DEVICE, 1)  # more memory never means bigger blocks
    with pytest.warns(UserWarning, match="round differently"):
        tight = choose_layout(group, evaluation, memory_budget=per_run * 6)
    assert (tight.padded, tight.runs_per_chunk, tight.count) == (6, 6, 2)
    assert choose_layout(group, evaluation, runs_per_device=4).padded == 4  # given explicitly: taken as is
    limited = choose_layout(group, evaluation, max_runs_per_chunk=3, memory_budget=per_run * 1_000)
    assert (limited.padded, limited.runs_per_chunk, limited.count) == (RUNS_PER_DEVICE, 3, -(-RUNS // 3))


def test_cpu_block_shrinks_only_to_give_every_device_a_block(spec, group, monkeypatch):
    # One device: always the full block (a small group is padded, so its runs compute what the
    # same runs compute in a larger study). Several: the full block unless the group is too
    # small to give each device one; then ceil(runs / devices), so no device sits idle.
    assert [cpu_block(runs, 1) for runs in (1, 3, 16, 40)] == [16, 16, 16, 16]
    assert [cpu_block(runs, 2) for runs in (1, 3, 16, 17, 32, 40)] == [1, 2, 8, 9, 16, 16]
    assert [cpu_block(runs, 4) for runs in (16, 64, 65)] == [4, 16, 16]
    monkeypatch.setattr(runner, "program_bytes_per_device", lambda group, evaluation, per_device: per_device)
    monkeypatch.setattr(runner, "runs_mesh", lambda: type("Mesh", (), {"size": 2})())
    layout = choose_layout(group, spec.evaluation, memory_budget=10**9)
    assert (layout.padded, layout.runs_per_chunk, layout.count) == (RUNS, RUNS, 1)  # 2 devices x RUNS / 2
    assert choose_layout(group, spec.evaluation, runs_per_device=16, memory_budget=10**9).padded == 32


def test_memory_budget_is_a_positive_share_of_free_memory():
    assert 0 < runner.memory_budget_per_device() < runner.host_available_bytes()
