"""The runs axis over devices: one mesh of every device of every process, the sharding along it,
and a chunk of runs cut into one equal block per device.

Every device runs blocks of the same size, so a run's numbers never depend on which device (or
how many devices) ran it; see the runner for why the block size is fixed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

RUNS_AXIS = "runs"


def runs_mesh() -> Mesh:
    """Every device of every process on one axis: the runs axis is split over all of them."""
    return Mesh(np.array(jax.devices()), (RUNS_AXIS,))


def along_runs(mesh: Mesh | None = None) -> NamedSharding:
    return NamedSharding(mesh or runs_mesh(), PartitionSpec(RUNS_AXIS))


@dataclasses.dataclass(frozen=True)
class Blocks:
    """A chunk of `padded` runs cut into one equal block per device of `mesh`, in mesh order;
    this process holds the blocks of its own devices."""

    mesh: Mesh
    padded: int

    @property
    def size(self) -> int:
        return self.padded // self.mesh.size

    @property
    def local(self) -> list[tuple[int, Any]]:
        """(block index, device) for this process's devices."""
        return [(b, d) for b, d in enumerate(self.mesh.devices.flat) if d.process_index == jax.process_index()]

    def split(self, tree: Any) -> list[Any]:
        """Host arrays over the chunk's runs as one pytree per local block, on its device."""
        tree = jax.tree.map(np.asarray, tree)
        return [jax.device_put(jax.tree.map(lambda x, b=b: x[b * self.size : (b + 1) * self.size], tree), d)
                for b, d in self.local]

    def to_global(self, blocks: Sequence[Any]) -> Any:
        """The local blocks as one pytree of global arrays sharded along "runs" (no copy)."""
        sharding = along_runs(self.mesh)
        return jax.tree.map(
            lambda *leaves: jax.make_array_from_single_device_arrays(
                (self.padded, *leaves[0].shape[1:]), sharding, list(leaves)),
            *blocks,
        )

    def of_global(self, tree: Any) -> list[Any]:
        """The local blocks of a pytree of global arrays sharded along "runs"."""
        def block_on(device):
            return jax.tree.map(lambda x: next(s.data for s in x.addressable_shards if s.device == device), tree)

        return [block_on(d) for _, d in self.local]

    def gather(self, blocks: Sequence[Mapping[str, jax.Array]]) -> dict[str, np.ndarray]:
        """Every block's record (all processes'), as host arrays over the chunk's runs."""
        if jax.process_count() == 1:
            return {name: np.concatenate([np.asarray(r) for r in values]) for name, values in
                    jax.device_get({name: [b[name] for b in blocks] for name in blocks[0]}).items()}
        from jax.experimental import multihost_utils

        return {name: np.asarray(values) for name, values in
                multihost_utils.process_allgather(self.to_global(blocks), tiled=True).items()}
