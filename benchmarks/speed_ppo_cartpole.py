"""Speed of the suite's runner on CleanRL's PPO CartPole-v1 configuration at 1, 16 and 256 runs.

For each runs-axis size, in a fresh process (so peak memory is that size's own): compile
seconds (first segment minus a steady segment), aggregate env-steps/s over the steady segments,
and peak resident memory. Evaluation is included as the runner does it (every 50k steps).

    python benchmarks/speed_ppo_cartpole.py                 # 1, 16, 256 runs
    python benchmarks/speed_ppo_cartpole.py --runs 16 --steps 500000

Compare with benchmarks/plain_ppo_cartpole.py (the same configuration without the suite's
machinery) on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time


def measure(runs: int, steps: int) -> dict:
    import jax

    from jaxrl_suite.runner import programs, run_keys, segment_iterations, stack_hparams
    from jaxrl_suite.spec import parse_spec
    from jaxrl_suite.study import plan

    spec = parse_spec({
        "name": "speed", "envs": ["gymnax/CartPole-v1"], "total_env_steps": steps, "test_seeds": runs,
        "evaluation": {"every_env_steps": 50_000, "episodes": 10},
        "algorithms": [{"algorithm": "ppo", "preset": "cleanrl-cartpole"}],
    })
    (group,), _ = plan(spec)
    algo, static = group.algorithm, group.static
    iterations = segment_iterations(algo, static, spec.evaluation)
    segments = -(-algo.num_iterations(static) // iterations)
    init, advance = programs(algo, group.env, static, spec.evaluation, iterations)
    hp = stack_hparams(algo, group.runs)
    start = time.perf_counter()
    carry = init(run_keys(group.runs), hp)
    times = []
    for _ in range(segments):
        t = time.perf_counter()
        carry, record = advance(carry, hp)
        jax.block_until_ready(record)
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    steady = times[1:-1] or times[1:]  # the last segment may be partly masked
    per_segment_steps = iterations * algo.steps_per_iteration(static) * runs
    steady_rate = per_segment_steps * len(steady) / sum(steady) if steady else float("nan")
    return {
        "runs": runs,
        "env_steps_per_run": algo.num_iterations(static) * algo.steps_per_iteration(static),
        "compile_s": times[0] - (sum(steady) / len(steady) if steady else 0.0),
        "steady_env_steps_per_s": steady_rate,
        "wall_s_incl_compile": total,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device": f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="*", default=[1, 16, 256])
    parser.add_argument("--steps", type=int, default=500_000, help="env steps per run")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child process mode
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.runs[0], args.steps)))
        return
    print(f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}")
    print(f"{'runs':>5} {'steps/run':>10} {'compile s':>10} {'env-steps/s':>14} {'wall s':>8} {'peak MB':>8}  device")
    for runs in args.runs:
        child = subprocess.run(
            [sys.executable, __file__, "--one", "--runs", str(runs), "--steps", str(args.steps)],
            capture_output=True, text=True, check=True,
        )
        r = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"{r['runs']:>5} {r['env_steps_per_run']:>10,} {r['compile_s']:>10.1f} "
              f"{r['steady_env_steps_per_s']:>14,.0f} "
              f"{r['wall_s_incl_compile']:>8.1f} {r['peak_rss_mb']:>8.0f}  {r['device']}", flush=True)


if __name__ == "__main__":
    main()
