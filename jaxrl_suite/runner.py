"""Runs a group of (config, seed) runs as one compiled program.

A group shares (algorithm, environment, Static). Its runs form a flat runs axis; one
`jit(vmap(...))` advances every run by `segment_iterations` iterations (a segment) and then
evaluates each run's policy, all inside the compiled program. Between segments the host
records metrics, shows progress and saves checkpoints. The runs axis is cut into equal chunks
(the last one padded by repeating its final run) so a group larger than memory runs with the
same program; the chunk size comes from XLA's memory analysis of that program, unless given.

A chunk's runs axis is split evenly over every device of every process (a 1-D mesh named
"runs"). Each device runs the group's single-device executable (compiled once, shared by all
devices) on its own block of runs, so a run gives bit-identical numbers on one device or many:
XLA's automatic (SPMD) partitioning of the whole batch would fuse, and so round, differently.
The blocks form one global array sharded along "runs" (`jax.sharding`) whenever they are
checkpointed, and records from other processes arrive by an all-gather, so the same code runs
on one CPU, on 8 GPUs, or on a TPU pod under `jax.distributed`, with identical bookkeeping in
every process.

A run's result depends only on its own seed and hyperparameters: its PRNG key is derived from
its seed, and nothing in the program mixes runs. A run whose loss or parameters become
non-finite is frozen at its last finite state and flagged as diverged; the others go on.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl_suite.algos.base import REQUIRED_METRICS, Algorithm
from jaxrl_suite.devices import Blocks, runs_mesh
from jaxrl_suite.envs.core import Discrete
from jaxrl_suite.envs.wrappers import ClipAction
from jaxrl_suite.hosts import host_available_bytes, same_on_every_process

#: Every device runs its runs in blocks of exactly this many (the last block padded by repeating
#: a run). XLA picks dot kernels by problem size, so the float rounding of a vmapped program
#: depends on its batch size: measured on CPU with a 64x64 PPO network, batches of 12, 16 and 64
#: all round differently, while a run padded into a batch of 16 reproduces itself bit for bit at
#: any position. A fixed block size therefore makes a run's numbers independent of how many other
#: runs the study has, how they are chunked and how many devices share them; they depend on the
#: block size alone, which the manifest records (`--runs-per-device` changes it, e.g. on a GPU).
RUNS_PER_DEVICE = 16

#: The share of a device's free memory one chunk may use. Conservative: on CPU the "device" is
#: the host's memory, shared with Python, the OS and anything else running.
MEMORY_FRACTION = 0.25


@dataclasses.dataclass(frozen=True)
class Run:
    config_id: int
    hparams: Mapping[str, float]
    seed: int
    seed_role: str  # "tune" or "test"


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """Periodic policy evaluation inside the compiled program."""

    every_env_steps: int = 50_000
    episodes: int = 10
    deterministic: bool = True
    max_steps: int = 2_000  # an evaluation episode is cut (and counted as it stands) after this


@dataclasses.dataclass(frozen=True)
class Group:
    label: str
    algorithm: Algorithm
    env_id: str
    env: Any
    static: Any
    runs: tuple[Run, ...]


@dataclasses.dataclass
class GroupResult:
    """Per-run metrics at each checkpoint (end of a segment): arrays of shape [runs, checkpoints]."""

    group: Group
    env_steps: np.ndarray  # [checkpoints]
    metrics: dict[str, np.ndarray]
    wall_clock_s: float
    compile_s: float
    layout: ChunkLayout | None = None


def segment_iterations(algo: Algorithm, static, evaluation: EvalSettings) -> int:
    """Iterations per segment: about the evaluation interval, splitting the budget evenly.

    The last segment may overrun the budget by less than one iteration per segment; overrun
    iterations are masked (they change nothing), so evenly sized segments waste almost nothing.
    """
    total = algo.num_iterations(static)
    target = max(1, min(evaluation.every_env_steps // algo.steps_per_iteration(static), total))
    return math.ceil(total / math.ceil(total / target))


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A group's budget in segments."""

    iterations: int  # per segment
    segments: int
    total: int  # iterations in the budget
    steps_per_iteration: int  # env steps, per run

    @classmethod
    def of(cls, group: Group, evaluation: EvalSettings) -> Schedule:
        algo, static = group.algorithm, group.static
        iterations = segment_iterations(algo, static, evaluation)
        total = algo.num_iterations(static)
        return cls(iterations, math.ceil(total / iterations), total, algo.steps_per_iteration(static))

    def env_steps(self) -> np.ndarray:
        """Env steps per run at the end of each segment."""
        ends = np.minimum(np.arange(1, self.segments + 1) * self.iterations, self.total)
        return (ends * self.steps_per_iteration).astype(np.int64)

    def steps_in(self, segment: int) -> int:
        """Env steps one run takes in `segment` (the last one may be short)."""
        done = min((segment + 1) * self.iterations, self.total) - min(segment * self.iterations, self.total)
        return done * self.steps_per_iteration


def stack_hparams(algo: Algorithm, runs: Sequence[Run]):
    """One HParams whose leaves are float32 arrays over the runs axis."""
    names = [f.name for f in dataclasses.fields(algo.HParams)]
    defaults = algo.HParams()
    columns = {name: np.asarray([run.hparams.get(name, getattr(defaults, name)) for run in runs], np.float32)
               for name in names}
    return algo.HParams(**columns)


def run_keys(runs: Sequence[Run]) -> jax.Array:
    return jnp.stack([jax.random.PRNGKey(run.seed) for run in runs])


@struct.dataclass
class Carry:
    """Per-run state between segments: the algorithm's state plus the runner's bookkeeping."""

    state: Any
    iteration: jax.Array
    diverged: jax.Array
    eval_key: jax.Array
    # The key of the latest evaluation, so a saved final state can reproduce its recorded
    # eval_return (eval_key has moved on by then).
    last_eval_key: jax.Array


# ---------------------------------------------------------------------------------------------
# the compiled programs


def group_programs(group: Group, evaluation: EvalSettings):
    iterations = segment_iterations(group.algorithm, group.static, evaluation)
    return programs(group.algorithm, group.env, group.static, evaluation, iterations)


@functools.lru_cache(maxsize=64)
def programs(algo: Algorithm, env, static, evaluation: EvalSettings, iterations: int):
    """The two compiled programs of a group: init, and advance-one-segment-then-evaluate.

    Cached on everything that shapes them, so every chunk, every device and every repeated
    call of the same group reuses the same executables.
    """
    init_one, advance_one = _one_run(algo, env, static, evaluation, iterations)
    # Runs are initialised one after another (lax.map), not vmapped: orthogonal weight init does
    # a QR decomposition, and jaxlib 0.10.2's batched LAPACK QR on CPU can deadlock its thread
    # pool (seen here: both pool threads waiting in lapack_sgeqrf_ffi's ParallelBatchMap).
    # Init runs once per chunk, so doing it sequentially costs nothing measurable.
    init = jax.jit(lambda keys, hps: jax.lax.map(lambda args: init_one(*args), (keys, hps)))
    return init, jax.jit(jax.vmap(advance_one), donate_argnums=0)


def _one_run(algo: Algorithm, env, static, evaluation: EvalSettings, iterations: int):
    """init and advance for a single run; the programs vmap them over the runs axis."""
    env_params = env.default_params
    total = algo.num_iterations(static)
    eval_env = evaluation_env(env)

    def init_one(key, hp):
        init_key, eval_key = jax.random.split(key)
        state = algo.init(init_key, hp, static, env, env_params)
        return _strongly_typed(Carry(state=state, iteration=jnp.zeros((), jnp.int32), diverged=jnp.array(False),
                                     eval_key=eval_key, last_eval_key=eval_key))

    def advance_one(carry: Carry, hp):
        def iteration(carry: Carry, _):
            new_state, metrics = checked_update(algo, carry.state, hp, static, env, env_params)
            active = carry.iteration < total  # the last segment may overrun the budget
            bad = carry.diverged | metrics["diverged"]
            keep_old = bad | ~active
            state = jax.tree.map(lambda new, old: jnp.where(keep_old, old, new), new_state, carry.state)
            carry = carry.replace(state=state, iteration=carry.iteration + active.astype(jnp.int32), diverged=bad)
            return carry, metrics

        start = carry.iteration
        carry, metrics = jax.lax.scan(iteration, carry, None, iterations)
        # The record of a segment is its last real iteration's metrics (the final segment
        # may run past the budget; those iterations change nothing and are not recorded).
        last = jnp.maximum(carry.iteration - start - 1, 0)
        record = {name: value[last] for name, value in metrics.items()}
        record["diverged"] = carry.diverged
        if evaluation.episodes > 0:
            eval_key, key = jax.random.split(carry.eval_key)
            record["eval_return"] = evaluate(algo, carry.state, key, static, eval_env, env_params, evaluation)
            carry = carry.replace(eval_key=eval_key, last_eval_key=key)
        return _strongly_typed(carry), record

    return init_one, advance_one


def checked_update(algo: Algorithm, state, hp, static, env, env_params):
    """`algo.update`, refused at trace time when its metrics lack a key of REQUIRED_METRICS."""
    state, metrics = algo.update(state, hp, static, env, env_params)
    missing = [name for name in REQUIRED_METRICS if name not in metrics]
    if missing:
        raise TypeError(f"algorithm {algo.name!r}: its update's metrics lack the required keys {missing} "
                        f"(every algorithm reports {list(REQUIRED_METRICS)}; see jaxrl_suite/algos/base.py)")
    return state, metrics


def _strongly_typed(tree: Any) -> Any:
    """The pytree without weakly typed leaves (same dtypes, same values). Arrays restored from
    a checkpoint are never weakly typed; a carry that was would make the program compile again
    after a resume."""
    return jax.tree.map(lambda x: jax.lax.convert_element_type(x, jnp.result_type(x)), tree)


def evaluation_env(env):
    """Continuous actions are clipped to the action space in evaluation, as in training."""
    return env if isinstance(env.action_space(env.default_params), Discrete) else ClipAction(env)


def evaluate(algo: Algorithm, state, key, static, env, env_params, evaluation: EvalSettings) -> jax.Array:
    """Mean undiscounted return of `episodes` fresh episodes under the current policy."""
    n = evaluation.episodes
    key, reset_key = jax.random.split(key)
    obs, env_state = jax.vmap(env.reset, (0, None))(jax.random.split(reset_key, n), env_params)
    step = jax.vmap(env.step, (0, 0, 0, None))

    def running(c):
        t, _, _, _, done, _ = c
        return (t < evaluation.max_steps) & ~jnp.all(done)

    def body(c):
        t, obs, env_state, returns, done, key = c
        key, act_key, step_key = jax.random.split(key, 3)
        action = algo.act(state, obs, act_key, static, env, env_params, evaluation.deterministic,
                          **algo.act_masks(env, env_state, env_params))
        step_keys = jax.random.split(step_key, n)
        obs, env_state, reward, terminated, truncated, _ = step(step_keys, env_state, action, env_params)
        returns = returns + jnp.where(done, 0.0, reward)
        return t + 1, obs, env_state, returns, done | terminated | truncated, key

    init = (0, obs, env_state, jnp.zeros(n), jnp.zeros(n, bool), key)
    _, _, _, returns, _, _ = jax.lax.while_loop(running, body, init)
    return returns.mean()


def _abstract_inputs(group: Group, batch: int, sharding):
    """Shapes of (keys, hparams) for `batch` runs, without making any array."""
    hp = stack_hparams(group.algorithm, group.runs[:1])
    keys = jax.ShapeDtypeStruct((batch, 2), jnp.uint32, sharding=sharding)
    return keys, jax.tree.map(lambda x: jax.ShapeDtypeStruct((batch,), x.dtype, sharding=sharding), hp)


def carry_shapes(group: Group, evaluation: EvalSettings, batch: int, sharding) -> Carry:
    """The carry of `batch` runs as ShapeDtypeStructs placed by `sharding` (a restore target)."""
    init, _ = group_programs(group, evaluation)
    keys, hp = _abstract_inputs(group, batch, sharding)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
                        jax.eval_shape(init, keys, hp))


# ---------------------------------------------------------------------------------------------
# chunks and memory


@dataclasses.dataclass(frozen=True)
class ChunkLayout:
    """How a group's runs are cut into chunks of one fixed program batch."""

    runs_per_chunk: int  # real runs in each chunk (the last chunk may have fewer)
    padded: int  # the program's batch: runs per device x devices
    count: int

    @classmethod
    def for_runs(cls, n_runs: int, max_per_chunk: int | None, devices: int,
                 per_device: int = RUNS_PER_DEVICE) -> ChunkLayout:
        padded = per_device * devices
        size = min(n_runs, padded, max_per_chunk or padded)
        return cls(size, padded, math.ceil(n_runs / size))

    def runs_of(self, runs: Sequence[Run], chunk: int) -> tuple[list[Run], int]:
        """A chunk's runs padded to the program's batch by repeating its last run, and how many are real."""
        part = list(runs[chunk * self.runs_per_chunk : (chunk + 1) * self.runs_per_chunk])
        return part + [part[-1]] * (self.padded - len(part)), len(part)

    def fits(self, devices: int) -> bool:
        """Whether this layout's chunks split evenly over `devices`."""
        return self.padded % devices == 0


def block_policy() -> str:
    """How the default block is chosen: "cpu" (RUNS_PER_DEVICE) on CPU devices, "accelerator"
    (the largest block that fits, up to the group's runs) on GPUs and TPUs."""
    return "cpu" if jax.devices()[0].platform == "cpu" else "accelerator"


def choose_layout(group: Group, evaluation: EvalSettings, *, max_runs_per_chunk: int | None = None,
                  runs_per_device: int | None = None, memory_budget: int | None = None) -> ChunkLayout:
    """Blocks of `runs_per_device` runs on every device; by default as `block_policy()` says.

    `max_runs_per_chunk` only limits how many real runs share a chunk, so it never changes a
    result. On CPU the default block is `cpu_block` (RUNS_PER_DEVICE unless the group is too
    small to give every device a block of that size), checked against `memory_budget` bytes
    per device (default: MEMORY_FRACTION of a device's free memory) with XLA's memory analysis of
    the program; if it does not fit, the block shrinks in proportion and a warning says that the
    numbers will then round differently from the default block. On an accelerator a block of 16
    small runs leaves the device nearly idle, so the default is the largest block that fits the
    budget, up to the group's runs per device (`filling_block`). An explicit `runs_per_device`
    is taken as given. Whatever the block, the manifest records it.
    """
    devices = runs_mesh().size
    per_device = runs_per_device or default_block(len(group.runs), devices)
    if runs_per_device is None and block_policy() == "accelerator":
        budget = same_on_every_process(memory_budget or memory_budget_per_device())
        per_device = filling_block(group, evaluation, per_device, budget)
        return ChunkLayout.for_runs(len(group.runs), max_runs_per_chunk, devices, per_device)
    if runs_per_device is None:
        # Every process must cut the same chunks: they all use process 0's budget.
        budget = same_on_every_process(memory_budget or memory_budget_per_device())
        measured = program_bytes_per_device(group, evaluation, per_device)
        if measured > budget:
            shrunk = max(1, per_device * budget // measured)
            warnings.warn(
                f"{group.label} on {group.env_id}: {per_device} runs per device need {measured / 2**20:.0f} MiB, "
                f"more than the {budget / 2**20:.0f} MiB budget; running {shrunk} per device, so the numbers will "
                f"round differently from the default block size (recorded in the manifest)",
                stacklevel=2,
            )
            per_device = shrunk
    return ChunkLayout.for_runs(len(group.runs), max_runs_per_chunk, devices, per_device)


def default_block(n_runs: int, devices: int) -> int:
    """The default block before the memory check: `cpu_block`, or on an accelerator the group's
    runs per device (the most `filling_block` picks, so what a cost estimate assumes)."""
    if block_policy() == "accelerator":
        return math.ceil(n_runs / devices)
    return cpu_block(n_runs, devices)


def cpu_block(n_runs: int, devices: int) -> int:
    """The CPU default block: RUNS_PER_DEVICE, or fewer when that would leave a device idle.

    One CPU device per core runs its blocks on its own thread, so a 16-run group on two devices,
    run as two blocks of 8 side by side, takes about half the time of one block of 16 (measured
    on the 2-core machine: one device's PPO CartPole throughput is flat from 4 to 32 runs per
    block). Larger groups keep the full block, which latency-bound algorithms (DQN, SAC) need to
    amortise each gradient step. With one device nothing is gained by shrinking, and padding a small group to
    the full block keeps its numbers equal to the same runs in a larger study."""
    if devices == 1:
        return RUNS_PER_DEVICE
    return max(1, min(RUNS_PER_DEVICE, math.ceil(n_runs / devices)))


def filling_block(group: Group, evaluation: EvalSettings, wanted: int, budget: int) -> int:
    """The largest block of at most `wanted` runs whose program fits `budget` bytes per device.

    The bytes of a block of min(wanted, RUNS_PER_DEVICE) runs, divided by its runs, overstate a
    run's share (the program's fixed buffers are counted in it), so the first guess fits or
    nearly; it then shrinks by a quarter until XLA's memory analysis agrees. Each size tried is
    one compile of the program the group then runs."""
    probe = max(1, min(wanted, RUNS_PER_DEVICE))
    per_run = max(1, program_bytes_per_device(group, evaluation, probe)) / probe
    block = max(1, min(wanted, int(budget // per_run)))
    while block > 1 and program_bytes_per_device(group, evaluation, block) > budget:
        block = max(1, block * 3 // 4)
    return block


def carry_bytes_per_run(group: Group, evaluation: EvalSettings) -> int:
    """Bytes of one run's carry (what a checkpoint keeps per run), from its traced shapes."""
    carry = carry_shapes(group, evaluation, RUNS_PER_DEVICE, _first_device())
    total = sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(carry))
    return math.ceil(total / RUNS_PER_DEVICE)


def program_bytes_per_device(group: Group, evaluation: EvalSettings, per_device: int) -> int:
    """Peak bytes on one device of a segment over `per_device` runs, from XLA's memory analysis."""
    _, advance = group_programs(group, evaluation)
    device = _first_device()
    _, hp = _abstract_inputs(group, per_device, device)
    # jit shares this compiled executable with the later calls on real arrays of these shapes.
    memory = advance.lower(carry_shapes(group, evaluation, per_device, device), hp).compile().memory_analysis()
    if memory is None:  # a backend without the analysis: trust the estimate from the carry
        return 0
    return (memory.argument_size_in_bytes + memory.output_size_in_bytes - memory.alias_size_in_bytes
            + memory.temp_size_in_bytes)


def _first_device() -> jax.sharding.SingleDeviceSharding:
    return jax.sharding.SingleDeviceSharding(jax.local_devices()[0])


def memory_budget_per_device() -> int:
    """MEMORY_FRACTION of the free memory of one local device (the host's memory on CPU)."""
    device = jax.local_devices()[0]
    stats = None if device.platform == "cpu" else device.memory_stats()
    if stats and "bytes_limit" in stats:
        free = stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    else:  # CPU devices share the host's memory
        free = host_available_bytes() // jax.local_device_count()
    return int(free * MEMORY_FRACTION)


# ---------------------------------------------------------------------------------------------
# running a group


@dataclasses.dataclass
class GroupProgress:
    """How far a group has got: what a checkpoint saves and a resumed run starts from."""

    layout: ChunkLayout
    records: dict[str, np.ndarray]  # [runs, segments]; filled for finished chunks and segments
    chunk: int = 0  # the chunk in progress (== layout.count once the group is done)
    segment: int = 0  # segments finished in that chunk
    carry: Carry | None = None  # that chunk's carry (global arrays along "runs") once it has advanced
    wall_clock_s: float = 0.0
    compile_s: float = 0.0

    @property
    def done(self) -> bool:
        return self.chunk >= self.layout.count

    def env_steps_done(self, schedule: Schedule, n_runs: int) -> int:
        """Env steps all runs of the group have taken so far."""
        finished_runs = min(self.chunk * self.layout.runs_per_chunk, n_runs)
        steps = finished_runs * int(schedule.env_steps()[-1])
        if not self.done and self.segment:
            running = min(self.layout.runs_per_chunk, n_runs - finished_runs)
            steps += running * int(schedule.env_steps()[self.segment - 1])
        return steps


class Checkpoints(Protocol):
    """Where run_group saves: every `every` segments, and at the end of each chunk."""

    every: int

    def save(self, progress: GroupProgress) -> None: ...

    def save_final(self, chunk: int, carry: Carry) -> None: ...


def start_group(group: Group, evaluation: EvalSettings, *, max_runs_per_chunk: int | None = None,
                runs_per_device: int | None = None, memory_budget: int | None = None) -> GroupProgress:
    """A group's progress before its first segment: its chunk layout and empty records."""
    layout = choose_layout(group, evaluation, max_runs_per_chunk=max_runs_per_chunk, runs_per_device=runs_per_device,
                           memory_budget=memory_budget)
    return GroupProgress(layout, empty_records(group, evaluation, layout))


def empty_records(group: Group, evaluation: EvalSettings, layout: ChunkLayout) -> dict[str, np.ndarray]:
    """Zeroed [runs, segments] arrays, one per recorded metric (also a restore target)."""
    _, advance = group_programs(group, evaluation)
    device, block = _first_device(), layout.padded // runs_mesh().size
    _, hp = _abstract_inputs(group, block, device)
    _, record = jax.eval_shape(advance, carry_shapes(group, evaluation, block, device), hp)
    segments = Schedule.of(group, evaluation).segments
    return {name: np.zeros((len(group.runs), segments), shape.dtype) for name, shape in record.items()}


def run_group(group: Group, evaluation: EvalSettings, *, max_runs_per_chunk: int | None = None,
              runs_per_device: int | None = None, on_segment: Callable[[int], None] | None = None,
              progress: GroupProgress | None = None, checkpoints: Checkpoints | None = None) -> GroupResult:
    """Train every run of a group, from the start or from `progress` (a resumed checkpoint).

    `on_segment(env_steps)` reports progress increments (a resumed group first reports what it
    had already done); `checkpoints`, when given, is told every `checkpoints.every` segments
    and at the end of each chunk, whose final carry it receives too.
    """
    if progress is None:
        started = time.perf_counter()
        progress = start_group(group, evaluation, max_runs_per_chunk=max_runs_per_chunk,
                               runs_per_device=runs_per_device)
        # Choosing the chunk size may compile the program: count it as compile time.
        progress.compile_s = progress.wall_clock_s = time.perf_counter() - started
    schedule = Schedule.of(group, evaluation)
    if on_segment and (progress.chunk or progress.segment):
        on_segment(progress.env_steps_done(schedule, len(group.runs)))
    while not progress.done:
        _run_chunk(group, evaluation, schedule, progress, on_segment, checkpoints)
    return GroupResult(group, schedule.env_steps(), progress.records, progress.wall_clock_s, progress.compile_s,
                       progress.layout)


def _run_chunk(group: Group, evaluation: EvalSettings, schedule: Schedule, progress: GroupProgress,
               on_segment: Callable[[int], None] | None, checkpoints: Checkpoints | None) -> None:
    """Advance the chunk in progress to the end of the budget, recording and saving on the way."""
    init, advance = group_programs(group, evaluation)
    runs, real = progress.layout.runs_of(group.runs, progress.chunk)
    first = progress.chunk * progress.layout.runs_per_chunk
    rows = slice(first, first + real)
    blocks = Blocks(runs_mesh(), progress.layout.padded)
    hp = blocks.split(stack_hparams(group.algorithm, runs))
    clock = time.perf_counter()
    if progress.carry is not None:
        carry = blocks.of_global(progress.carry)
    else:
        carry = [init(k, h) for k, h in zip(blocks.split(run_keys(runs)), hp)]
    for segment in range(progress.segment, schedule.segments):
        carry, record = zip(*[advance(c, h) for c, h in zip(carry, hp)])  # every device at once
        record = blocks.gather(record)  # the host sync between segments
        for name, values in record.items():
            progress.records[name][rows, segment] = values[:real]
        now = time.perf_counter()
        if progress.chunk == 0 and segment == 0:
            progress.compile_s += now - clock
        progress.wall_clock_s += now - clock
        clock = now
        progress.segment, progress.carry = segment + 1, blocks.to_global(carry)
        if checkpoints and progress.segment < schedule.segments and progress.segment % checkpoints.every == 0:
            checkpoints.save(progress)
        if on_segment:
            on_segment(schedule.steps_in(segment) * real)
    if checkpoints:
        checkpoints.save_final(progress.chunk, progress.carry)
    progress.chunk, progress.segment, progress.carry = progress.chunk + 1, 0, None
    if checkpoints:
        checkpoints.save(progress)


# ---------------------------------------------------------------------------------------------
# final states


def evaluate_states(group: Group, evaluation: EvalSettings, carry: Carry, keys: jax.Array | None = None,
                    runs_per_device: int = RUNS_PER_DEVICE) -> np.ndarray:
    """Each run's evaluation return under the policy in `carry` (leading axis: runs), with the
    runner's own evaluation. `keys` default to each run's latest evaluation key, which
    reproduces the eval_return recorded at the run's last checkpoint."""
    keys = carry.last_eval_key if keys is None else keys
    n = keys.shape[0]
    evaluator = _evaluator(group.algorithm, group.env, group.static, evaluation)
    # In blocks of the runner's block size, for the same float rounding as the recorded evaluation.
    returns = []
    for start in range(0, n, runs_per_device):
        rows = np.minimum(np.arange(start, start + runs_per_device), n - 1)  # padded by repeating the last run
        block = evaluator(jax.tree.map(operator.itemgetter(rows), carry.state), keys[rows])
        returns.append(np.asarray(block)[: n - start])
    return np.concatenate(returns)


@functools.lru_cache(maxsize=16)
def _evaluator(algo: Algorithm, env, static, evaluation: EvalSettings):
    eval_env = evaluation_env(env)
    return jax.jit(jax.vmap(
        lambda state, key: evaluate(algo, state, key, static, eval_env, env.default_params, evaluation)))


# ---------------------------------------------------------------------------------------------
# a single run


def train(algo: Algorithm, env, static, hparams: Mapping[str, float] | Any = None, seed: int = 0):
    """Train one run to the end of its budget: `(final state, per-iteration metrics)`.

    The plain, unbatched entry point (for notebooks and tests); studies go through `run_group`.
    `hparams` is a mapping of overrides or an `algo.HParams`.
    """
    if not isinstance(hparams, algo.HParams):
        hparams = algo.HParams(**(hparams or {}))
    env_params = env.default_params

    @jax.jit
    def run(key, hp):
        state = algo.init(key, hp, static, env, env_params)
        step = lambda state, _: checked_update(algo, state, hp, static, env, env_params)
        return jax.lax.scan(step, state, None, algo.num_iterations(static))

    state, metrics = run(jax.random.PRNGKey(seed), hparams)
    return state, jax.device_get(metrics)
