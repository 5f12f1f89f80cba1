"""Peak memory and wall-clock of a 10,000-run study in one process.

PPO with CleanRL's CartPole-v1 settings (4 envs x 128 steps, 64x64 tanh MLPs), 10,000 runs
(one configuration x 10,000 test seeds), 2 iterations (1,024 env steps) each, through the same
`run_study` as `jaxrl-suite run`: checkpoints, final states and the study directory included.
The runner runs fixed blocks of 16 runs per device and checks them against XLA's memory analysis
of the compiled program; nothing here sets them. Prints the machine, the chunks, the peak resident memory and the
wall-clock.

    python benchmarks/memory_10k.py [--runs 10000] [--iterations 2]

Measured on `vm`: x86_64, 2 CPUs, 23.5 GiB RAM, JAX 0.10.2 on CPU, shared with other jobs
(load average about 5), the runner's default 16 runs per device:

    10,000 runs x 1,024 env steps; chunks: {'runs_per_chunk': 16, 'padded': 16, 'count': 625}
    compile + first segment 47.6 s; training 255.2 s
    peak resident memory 0.95 GiB; wall-clock 558.1 s (checkpoints and study directory included)

(The rest of the wall-clock is a checkpoint and a final-state save per chunk, about 0.4 s each
here: 625 chunks of 2 iterations are an extreme case.)
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

GIB = 2**30


def spec(runs: int, iterations: int):
    from jaxrl_suite.spec import parse_spec

    steps = iterations * 4 * 128
    return parse_spec({
        "name": f"memory-{runs}", "envs": ["gymnax/CartPole-v1"], "total_env_steps": steps, "test_seeds": runs,
        "evaluation": {"every_env_steps": steps, "episodes": 10},
        "algorithms": [{"algorithm": "ppo", "preset": "cleanrl-cartpole"}],
    })


def machine() -> str:
    import jax

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    devices = ", ".join(sorted({f"{d.platform}:{d.device_kind}" for d in jax.devices()}))
    return (f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"{memory:.1f} GiB RAM; JAX devices: {devices}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--iterations", type=int, default=2)
    args = parser.parse_args()

    from jaxrl_suite import runner
    from jaxrl_suite.study import run_study

    study = spec(args.runs, args.iterations)
    print(machine())
    print(f"memory budget per device: {runner.memory_budget_per_device() / GIB:.2f} GiB "
          f"({runner.MEMORY_FRACTION:.0%} of available {runner.host_available_bytes() / GIB:.1f} GiB)")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        outcome = run_study(study, Path(tmp) / "study")
    wall = time.perf_counter() - start
    (group,) = outcome.manifest["groups"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB  # ru_maxrss is in KiB on Linux
    print(f"{args.runs:,} runs x {group['env_steps_per_run']:,} env steps; chunks: {group['chunks']}")
    print(f"compile + first segment {group['first_segment_with_compile_s']:.1f} s; "
          f"training {group['wall_clock_s']:.1f} s")
    print(f"peak resident memory {peak:.2f} GiB; wall-clock {wall:.1f} s (checkpoints and study directory included)")


if __name__ == "__main__":
    main()
