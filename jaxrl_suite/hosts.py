"""Joining a multi-process run (`jax.distributed`).

This must happen before anything initialises a JAX backend, and importing parts of the suite
can (a module-level `jnp` constant is enough), so this module imports nothing else of it.
"""

from __future__ import annotations

import jax


def start_processes(coordinator_address: str | None = None, num_processes: int | None = None,
                    process_id: int | None = None) -> int:
    """Join a multi-process run; returns this process's index.

    Without arguments JAX finds the cluster itself (TPU pods, SLURM, Open MPI). Every process
    then runs the same study; the runs axis is split over all processes' devices.
    """
    # CPU processes exchange data over gloo; the option only concerns the CPU backend.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id)
    return jax.process_index()
