"""Speed of the stratified bootstrap: IQM CI for 5 algorithms x 20 tasks x 10 runs, 50,000
resamples (target: under 1 s on 2 CPU cores).

Run:  python benchmarks/bootstrap_speed.py [--reps 50000] [--repeats 3]
Prints the machine, the problem size and the best and median wall-clock of the repeats.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from jaxrl_suite.evaluation import aggregate_iqm, interval_estimates


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--reps", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    data_rng = np.random.default_rng(0)
    scores = {
        f"algo{i}": data_rng.normal(loc=i, size=(args.runs, args.tasks))
        for i in range(args.algorithms)
    }
    timings = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        estimates = interval_estimates(scores, {"IQM": aggregate_iqm}, reps=args.reps, seed=0)
        timings.append(time.perf_counter() - start)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # The load average says how much of those cores other processes were using meanwhile.
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.platform()}, {cpu_name()}, "
          f"{cores} usable cores, 1-min load average {load:.1f}, numpy {np.__version__}, "
          f"Python {platform.python_version()}")
    print(f"problem: {args.algorithms} algorithms x {args.tasks} tasks x {args.runs} runs, "
          f"IQM, {args.reps:,} resamples, 95% percentile CI")
    print(f"seconds: best {min(timings):.3f}, median {statistics.median(timings):.3f} "
          f"over {args.repeats} repeats")
    first = estimates["algo0"]["IQM"]
    print(f"algo0 IQM {float(first.point):.4f} CI [{float(first.lo):.4f}, {float(first.hi):.4f}]")


if __name__ == "__main__":
    main()
