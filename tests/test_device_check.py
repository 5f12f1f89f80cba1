"""benchmarks/device_check.sh, the accelerator checks, in its CPU dry run: every check runs (or,
for Brax, is validated) at tiny sizes and writes its JSON naming the hardware."""

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
    cartpole, breakout = results["ppo_cartpole_2048"], results["minatar_breakout_64"]
    assert cartpole["hardware"] == ["cpu:cpu"] and cartpole["runs"] == 4 and cartpole["compile_s"] > 0
    assert breakout["hardware"] == ["cpu:cpu"] and breakout["runs"] == 2 and breakout["env_steps"] > 0
    assert results["tang_zhang_smoke"]["validated_groups"] == 15 and results["brax_hopper"]["runs"] == 4


def test_an_unknown_argument_exits_2(tmp_path):
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "device_check.sh"), "--gpu"], capture_output=True,
                          text=True, cwd=tmp_path)
    assert done.returncode == 2 and "unknown argument '--gpu'" in done.stderr
