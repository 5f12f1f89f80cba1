"""The hosts a run spans: joining a multi-process run (`jax.distributed`), agreeing on a value
across processes, a host's available memory.

Joining must happen before anything initialises a JAX backend, and importing parts of the suite
can (a module-level `jnp` constant is enough), so this module imports nothing else of it.
"""

from __future__ import annotations

import os

import jax
import numpy as np


def start_processes(coordinator_address: str | None = None, num_processes: int | None = None,
                    process_id: int | None = None) -> int:
    """Join a multi-process run; returns this process's index.

    Without arguments JAX finds the cluster itself (TPU pods, SLURM, Open MPI). Every process
    then runs the same study; the runs axis is split over all processes' devices.
    """
    # CPU processes exchange data over gloo; the option only concerns the CPU backend.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id)
    return jax.process_index()


def same_on_every_process(value: int) -> int:
    """Process 0's `value`, in every process (the value itself in a single-process run)."""
    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    return int(multihost_utils.broadcast_one_to_all(np.int64(value)))


def host_available_bytes() -> int:
    """The host's available memory (Linux's MemAvailable; free pages elsewhere)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
