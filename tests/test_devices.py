"""Many devices, many processes and memory-sized chunks give the same results as one device."""

import socket

import pytest
from study_fixtures import RUNS, assert_same_table, cli_process, finish, write_spec

from jaxrl_suite import results as R
from jaxrl_suite import runner
from jaxrl_suite.cli import main
from jaxrl_suite.runner import MIN_CHUNK, ChunkLayout, choose_layout
from jaxrl_suite.spec import load_spec
from jaxrl_suite.study import plan


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    return write_spec(tmp_path_factory.mktemp("devices"))


@pytest.fixture(scope="module")
def one_device(spec_file):
    out = spec_file.parent / "one-device"
    assert main(["run", str(spec_file), "--out", str(out), "--quiet"]) == 0
    return out


def test_four_devices_give_the_same_results_as_one(one_device, spec_file, tmp_path):
    out = tmp_path / "four-devices"
    finish(cli_process("run", str(spec_file), "--out", str(out), "--quiet",
                       env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}))
    assert_same_table(one_device, out)
    manifest = R.read_study(out)[1]
    assert len(manifest["devices"]) == 4
    assert manifest["groups"][0]["chunks"]["padded"] == 4 * MIN_CHUNK  # 8 runs, 4 per device


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_give_the_same_results_as_one(one_device, spec_file, tmp_path):
    out = tmp_path / "two-processes"
    address = f"127.0.0.1:{free_loopback_port()}"
    processes = [
        cli_process("run", str(spec_file), "--out", str(out), "--quiet", "--coordinator-address", address,
                    "--num-processes", "2", "--process-id", str(i))
        for i in range(2)
    ]
    for process in processes:
        finish(process)
    assert_same_table(one_device, out)
    manifest = R.read_study(out)[1]
    assert manifest["processes"] == 2 and len(manifest["devices"]) == 2


def test_bad_process_flags_exit_2_before_joining_anything(spec_file, capsys):
    for flags in (["--num-processes", "2"], ["--coordinator-address", "127.0.0.1:1", "--num-processes", "2", "--process-id", "2"]):
        assert main(["run", str(spec_file), "--quiet", *flags]) == 2
        assert "error" in capsys.readouterr().err


@pytest.fixture(scope="module")
def spec(spec_file):
    return load_spec(spec_file)


@pytest.fixture(scope="module")
def group(spec):
    (group,), _ = plan(spec)
    return group


def test_layout_pads_every_device_to_min_chunk_and_covers_all_runs():
    for runs, limit, devices in [(8, None, 1), (8, None, 4), (5, 2, 1), (10_000, 2_500, 8), (3, None, 2)]:
        layout = ChunkLayout.for_runs(runs, limit, devices)
        assert layout.fits(devices) and layout.runs_per_chunk <= layout.padded
        assert layout.runs_per_chunk * layout.count >= runs > layout.runs_per_chunk * (layout.count - 1)


def test_chunk_size_follows_the_memory_budget(spec, group, monkeypatch):
    evaluation = spec.evaluation
    per_run = runner.carry_bytes_per_run(group, evaluation)
    def analysis(group, evaluation, per_device):  # stands in for XLA's memory analysis
        return per_device * per_run * 20  # 20x the carry: more than the first guess (CARRY_TO_PEAK)

    monkeypatch.setattr(runner, "program_bytes_per_device", analysis)
    roomy = choose_layout(group, evaluation, memory_budget=per_run * 20 * 1_000)
    assert (roomy.padded, roomy.count) == (RUNS, 1)  # everything fits in one chunk
    tight = choose_layout(group, evaluation, memory_budget=per_run * 20 * 6)
    # The estimate from the carry allowed 6 * 20 / 8 = 15 runs (capped at 8); XLA's measurement
    # says 6 fit, so the chunk shrinks to 6 runs (2 chunks).
    assert (tight.runs_per_chunk, tight.count) == (6, 2)
    assert choose_layout(group, evaluation, memory_budget=1).runs_per_chunk == MIN_CHUNK  # never below
    assert choose_layout(group, evaluation, max_runs_per_chunk=3).runs_per_chunk == 3  # the flag decides


def test_memory_budget_is_a_positive_share_of_free_memory():
    assert 0 < runner.memory_budget_per_device() < runner.host_available_bytes()
