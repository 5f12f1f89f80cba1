"""One tiny PPO CartPole study shared by the reliability, device and host tests.

8 runs (2 learning rates x 4 seeds), 4 segments of 2048 env steps: one compile per process.
lr = 1e30 overflows the parameters in the first segment, so half the runs are diverged (flagged
and frozen) from then on: every comparison below also checks that the flag survives.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from jaxrl_suite import results as R

SPEC_TOML = """
name = "tiny-scale"
envs = ["gymnax/CartPole-v1"]
total_env_steps = 8192
tuning_seeds = 4
test_seeds = []
[evaluation]
every_env_steps = 2048
episodes = 4
max_steps = 200
[[algorithms]]
algorithm = "ppo"
preset = "cleanrl"
static = { num_envs = 4, num_steps = 64, hidden_sizes = [32, 32] }
[algorithms.search]
space = { lr = [1e-3, 1e30] }
"""
RUNS = 8
DIVERGING = slice(4, 8)  # the lr = 1e30 runs, in plan order
ALGO, ENV = "ppo", "gymnax/CartPole-v1"
REPO = Path(__file__).resolve().parent.parent


def write_spec(directory: Path, text: str = SPEC_TOML) -> Path:
    path = directory / "spec.toml"
    path.write_text(text)
    return path


def cli_process(*args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """`python -m jaxrl_suite.cli ARGS` in a fresh process (XLA flags must be set before JAX loads)."""
    environment = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    # One CPU device, like the test process itself (the CLI's default is one per core), unless asked.
    environment.update({"JAX_PLATFORMS": "cpu", "JAXRL_SUITE_CPU_DEVICES": "1", **(env or {})})
    return subprocess.Popen([sys.executable, "-m", "jaxrl_suite.cli", *args], cwd=REPO, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finish(process: subprocess.Popen, timeout: float = 600) -> str:
    """Wait for a CLI process; its stderr, after checking it succeeded."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"exit {process.returncode}\n{out}\n{err}"
    return err


def assert_same_table(a: Path, b: Path) -> None:
    """Two study directories hold the same results, bit for bit (NaN equal to NaN)."""
    table_a, _ = R.read_study(a)
    table_b, _ = R.read_study(b)
    assert table_a.column_names == table_b.column_names
    for name in table_a.column_names:
        x, y = table_a[name].to_numpy(zero_copy_only=False), table_b[name].to_numpy(zero_copy_only=False)
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), name
        else:
            assert (x == y).all(), name


# The accelerator-sized specs' CPU smoke tests (test_accelerator_*.py).
BENCHMARKS = REPO / "benchmarks"

# Brax at the specs' 2048 environments per run needs minutes per iteration on 2 CPU cores, so
# the Brax smoke runs here use 32 environments (every other setting as written); `--smoke` with
# the full shape is the command to run on the target machine.
BRAX_ENVS = 32


def shrunk(name: str, tmp_path, replacements: dict[str, str]):
    """A copy of benchmarks/<name>.toml with `replacements` made (each must apply)."""
    text = (BENCHMARKS / f"{name}.toml").read_text()
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in {name}.toml"
        text = text.replace(old, new)
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def assert_run_refuses(spec: Path, out: Path, capsys, field: str, words: str) -> None:
    """`jaxrl-suite run SPEC --out OUT` refuses the spec: exit 2, the field and the reason named,
    no traceback, nothing written."""
    from jaxrl_suite.cli import main

    code = main(["run", str(spec), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"'{field}'" in err, err
    assert words in err, err
    assert "Traceback" not in err
    assert not out.exists()


def toml_text(raw) -> str:
    """A tiny TOML writer for test specs: top-level keys, then one [[algorithms]] table each, with
    nested tables written inline (tables, arrays, strings, booleans, numbers)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in raw.items() if k != "algorithms"]
    for algo in raw.get("algorithms", []):
        lines.append("[[algorithms]]")
        lines += [f"{k} = {value(v)}" for k, v in algo.items()]
    return "\n".join(lines) + "\n"
