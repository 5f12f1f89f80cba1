"""Steady env-steps/s of PPO CartPole (CleanRL settings) through the runner itself (`run_group`:
blocks of runs split over every device, evaluation every 50k steps, records gathered between
segments), for comparing device layouts on one machine.

    JAXRL_SUITE_CPU_DEVICES=1 python benchmarks/speed_runner.py --runs 32   # one CPU device
    python benchmarks/speed_runner.py --runs 32                              # one per core (the CLI's default)

Prints one JSON line: devices, runs, block size (the runner's default policy unless
--runs-per-device is given), steady env-steps/s (segments after the first,
which carries the compile), wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200_000, help="env steps per run")
    parser.add_argument("--runs-per-device", type=int, default=None, help="default: the runner's own policy")
    args = parser.parse_args()
    from jaxrl_suite.cli import cpu_device_per_core

    problem = cpu_device_per_core()  # the same device layout as `jaxrl-suite run`
    if problem:
        sys.exit(problem)
    import jax

    from jaxrl_suite.runner import run_group
    from jaxrl_suite.spec import parse_spec
    from jaxrl_suite.study import plan

    spec = parse_spec({"name": "speed", "envs": ["gymnax/CartPole-v1"], "total_env_steps": args.steps,
                       "test_seeds": args.runs, "evaluation": {"every_env_steps": 50_000, "episodes": 10},
                       "algorithms": [{"algorithm": "ppo", "preset": "cleanrl-cartpole"}]})
    (group,), _ = plan(spec)
    started = time.perf_counter()
    result = run_group(group, spec.evaluation, runs_per_device=args.runs_per_device)
    wall = time.perf_counter() - started
    steady_steps = args.runs * (int(result.env_steps[-1]) - int(result.env_steps[0]))
    print(json.dumps({
        "devices": jax.device_count(), "runs": args.runs, "runs_per_device": result.layout.padded // jax.device_count(),
        "steady_env_steps_per_s": round(steady_steps / (result.wall_clock_s - result.compile_s)),
        "wall_s": round(wall, 1), "first_segment_with_compile_s": round(result.compile_s, 1),
        "load_average": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
