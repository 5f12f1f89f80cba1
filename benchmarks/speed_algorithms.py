"""Training speed of each algorithm's preset through the runner, at 1 and 64 runs per program.

One row of TABLE per (algorithm, preset, environment). For each row and each runs-axis size the
group is compiled once, then timed segment by segment: compile seconds (first segment minus a
steady one) and aggregate env-steps/s over the steady segments (all runs together, evaluation
included as the runner does it, four segments per budget). The machine is printed first:
these figures mean nothing without it.

    python benchmarks/speed_algorithms.py                       # every row, 1 and 64 runs
    python benchmarks/speed_algorithms.py --only dqn --runs 1 8 --steps 20000

On a 2-vCPU VM with jax 0.10.2, the 64-run DQN and PQN programs stopped making progress (every
XLA CPU worker thread waiting, no CPU time spent) unless the process was pinned to one core:
`taskset -c 0 python benchmarks/speed_algorithms.py`. 8 and 32 runs were not affected. On the
idle 2-core machine (2026-12-02) every row ran unpinned, one algorithm per process (`--only`).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

#: (algorithm, preset, environment); add a row per algorithm
TABLE = [
    ("ppo", "cleanrl-cartpole", "gymnax/CartPole-v1"),  # the reference per-env-step cost
    ("dqn", "cleanrl-cartpole", "gymnax/CartPole-v1"),
    ("pqn", "cleanrl-cartpole", "gymnax/CartPole-v1"),
    ("a2c", "sb3-zoo-cartpole", "gymnax/CartPole-v1"),
    ("reinforce", "cartpole", "gymnax/CartPole-v1"),
    ("ppo_gae", "cleanrl", "gymnax/CartPole-v1"),
    ("ppo_vanilla", "cleanrl", "gymnax/CartPole-v1"),
    ("ppo_grpo", "cleanrl", "gymnax/CartPole-v1"),
    ("ppo_advn", "cleanrl", "gymnax/CartPole-v1"),
    ("dpo", "cleanrl-cartpole", "gymnax/CartPole-v1"),
    ("spo", "cleanrl-cartpole", "gymnax/CartPole-v1"),
    ("sac", "pendulum", "gymnax/Pendulum-v1"),
]

SEGMENTS = 4


def measure(algorithm: str, preset: str, env_id: str, runs: int, steps: int) -> dict:
    import jax

    from jaxrl_suite.runner import programs, run_keys, segment_iterations, stack_hparams
    from jaxrl_suite.spec import parse_spec
    from jaxrl_suite.study import plan

    spec = parse_spec({
        "name": "speed", "envs": [env_id], "total_env_steps": steps, "test_seeds": runs,
        "evaluation": {"every_env_steps": max(1, steps // SEGMENTS), "episodes": 10},
        "algorithms": [{"algorithm": algorithm, "preset": preset}],
    })
    (group,), _ = plan(spec)
    algo, static = group.algorithm, group.static
    iterations = segment_iterations(algo, static, spec.evaluation)
    segments = -(-algo.num_iterations(static) // iterations)
    init, advance = programs(algo, group.env, static, spec.evaluation, iterations)
    hp = stack_hparams(algo, group.runs)
    carry = init(run_keys(group.runs), hp)
    times = []
    for _ in range(segments):
        start = time.perf_counter()
        carry, record = advance(carry, hp)
        jax.block_until_ready(record)
        times.append(time.perf_counter() - start)
    steady = times[1:-1] or times[1:]  # the last segment may be partly masked
    steady_s = sum(steady) / len(steady) if steady else float("nan")
    return {
        "compile_s": times[0] - (steady_s if steady else 0.0),
        "env_steps_per_s": iterations * algo.steps_per_iteration(static) * runs / steady_s,
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="*", default=[1, 64])
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per run")
    parser.add_argument("--only", nargs="*", help="algorithm names to time (default: every row)")
    args = parser.parse_args()

    import jax

    device = jax.devices()[0]
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {cpu_model()}, {usable} of {os.cpu_count()} cores usable, {platform.platform()}, "
          f"load average {os.getloadavg()[0]:.1f}; device {device.platform}:{device.device_kind}; "
          f"jax {jax.__version__}")
    print(f"{'algorithm':<12} {'preset':<18} {'env':<22} {'runs':>5} {'steps/run':>10} {'compile s':>10} "
          f"{'env-steps/s':>12}")
    for algorithm, preset, env_id in TABLE:
        if args.only and algorithm not in args.only:
            continue
        for runs in args.runs:
            m = measure(algorithm, preset, env_id, runs, args.steps)
            print(f"{algorithm:<12} {preset:<18} {env_id:<22} {runs:>5} {args.steps:>10,} "
                  f"{m['compile_s']:>10.1f} {m['env_steps_per_s']:>12,.0f}", flush=True)


if __name__ == "__main__":
    main()
