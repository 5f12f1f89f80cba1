"""benchmarks/device_check.sh, the accelerator checks, in its CPU dry run: the PPO CartPole check
runs at tiny size, the MinAtar and Brax specs are validated, each writes its JSON; and the
summary a study check writes, from a study's manifest."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHECKS = ("ppo_cartpole_2048", "minatar_breakout_64", "brax_hopper", "tang_zhang_smoke")


def test_the_dry_run_writes_every_check(tmp_path):
    # One CPU device: a second one would compile every program twice (the CLI's per-core default)
    environment = {**os.environ, "PYTHON": sys.executable, "JAX_PLATFORMS": "cpu", "JAXRL_SUITE_CPU_DEVICES": "1"}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "device_check.sh"), "--dry-run", "--out", str(tmp_path)],
                          cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = {check: json.loads((tmp_path / f"{check}.json").read_text()) for check in CHECKS}
    assert all(r["dry_run"] is True for r in results.values())
    cartpole = results["ppo_cartpole_2048"]
    assert cartpole["hardware"] == ["cpu:cpu"] and cartpole["runs"] == 4 and cartpole["compile_s"] > 0
    assert results["minatar_breakout_64"]["runs"] == 64 and results["brax_hopper"]["runs"] == 4
    assert results["tang_zhang_smoke"]["validated_groups"] == 15


def test_a_study_check_summarises_the_manifest(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    from device_summary import summary

    group = {"runs": 64, "env_steps_per_run": 1_000_000, "runs_per_device": 64, "first_segment_with_compile_s": 30.0}
    manifest = {"groups": [group], "wall_clock_s": 200.0, "devices": ["gpu:NVIDIA H200"], "host": {"cpu_count": 16},
                "versions": {"jax": "0.10.2"}, "written_at": "2026-12-02T00:00:00+00:00"}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    result = summary("minatar_breakout_64", tmp_path, "jaxrl-suite run ...", dry_run=False)
    assert result["hardware"] == ["gpu:NVIDIA H200"] and result["env_steps"] == 64_000_000
    assert result["env_steps_per_s"] == 320_000 and result["runs_per_device"] == [64]


def test_an_unknown_argument_exits_2(tmp_path):
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "device_check.sh"), "--gpu"], capture_output=True,
                          text=True, cwd=tmp_path)
    assert done.returncode == 2 and "unknown argument '--gpu'" in done.stderr
