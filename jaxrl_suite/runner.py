"""Runs a group of (config, seed) runs as one compiled program.

A group shares (algorithm, environment, Static). Its runs form a flat runs axis; one
`jit(vmap(...))` advances every run by `segment_iterations` iterations (a segment) and then
evaluates each run's policy, all inside the compiled program. Between segments the host
records metrics and shows progress. The runs axis is cut into equal chunks (the last one
padded by repeating its final run) so a group larger than memory runs with the same program.

A run's result depends only on its own seed and hyperparameters: its PRNG key is derived from
its seed, and nothing in the program mixes runs. A run whose loss or parameters become
non-finite is frozen at its last finite state and flagged as diverged; the others go on.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl_suite.algos.base import Algorithm
from jaxrl_suite.envs.core import Discrete
from jaxrl_suite.envs.wrappers import ClipAction


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


def segment_iterations(algo: Algorithm, static, evaluation: EvalSettings) -> int:
    """Iterations per segment: about the evaluation interval, splitting the budget evenly.

    The last segment may overrun the budget by less than one iteration per segment; overrun
    iterations are masked (they change nothing), so evenly sized segments waste almost nothing.
    """
    total = algo.num_iterations(static)
    target = max(1, min(evaluation.every_env_steps // algo.steps_per_iteration(static), total))
    return math.ceil(total / math.ceil(total / target))


def stack_hparams(algo: Algorithm, runs: Sequence[Run]):
    """One HParams whose leaves are float32 arrays over the runs axis."""
    names = [f.name for f in dataclasses.fields(algo.HParams)]
    defaults = algo.HParams()
    columns = {
        name: np.asarray([run.hparams.get(name, getattr(defaults, name)) for run in runs], np.float32)
        for name in names
    }
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


@functools.lru_cache(maxsize=64)
def programs(algo: Algorithm, env, static, evaluation: EvalSettings, iterations: int):
    """The two compiled programs of a group: init, and advance-one-segment-then-evaluate.

    Cached on everything that shapes them, so every chunk and every repeated call of the same
    group reuses the same executables.
    """
    env_params = env.default_params
    total = algo.num_iterations(static)
    eval_env = env if isinstance(env.action_space(env_params), Discrete) else ClipAction(env)

    def init_one(key, hp):
        init_key, eval_key = jax.random.split(key)
        state = algo.init(init_key, hp, static, env, env_params)
        return Carry(state=state, iteration=jnp.zeros((), jnp.int32), diverged=jnp.array(False), eval_key=eval_key)

    def advance_one(carry: "Carry", hp):
        def iteration(carry: Carry, _):
            new_state, metrics = algo.update(carry.state, hp, static, env, env_params)
            active = carry.iteration < total  # the last segment may overrun the budget
            bad = carry.diverged | metrics["diverged"]
            keep_old = bad | ~active
            state = jax.tree.map(lambda new, old: jnp.where(keep_old, old, new), new_state, carry.state)
            carry = Carry(
                state=state,
                iteration=carry.iteration + active.astype(jnp.int32),
                diverged=bad,
                eval_key=carry.eval_key,
            )
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
            carry = carry.replace(eval_key=eval_key)
        return carry, record

    init = jax.jit(jax.vmap(init_one))
    advance = jax.jit(jax.vmap(advance_one), donate_argnums=0)
    return init, advance


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
        action = algo.act(state, obs, act_key, static, env, env_params, evaluation.deterministic)
        obs, env_state, reward, terminated, truncated, _ = step(
            jax.random.split(step_key, n), env_state, action, env_params
        )
        returns = returns + jnp.where(done, 0.0, reward)
        return t + 1, obs, env_state, returns, done | terminated | truncated, key

    init = (0, obs, env_state, jnp.zeros(n), jnp.zeros(n, bool), key)
    _, _, _, returns, _, _ = jax.lax.while_loop(running, body, init)
    return returns.mean()


#: Every chunk is padded to at least this many runs. XLA's CPU backend lowers a vmapped dot
#: over 1-3 runs with other kernels than over 4 or more, which changes float rounding, so a run
#: alone would not reproduce the same run inside a batch (tests/test_runner.py checks this).
MIN_CHUNK = 4


def _chunks(n: int, max_per_chunk: int | None) -> tuple[int, int, int]:
    """(runs per chunk, padded chunk size, number of chunks): one program serves every chunk."""
    size = n if not max_per_chunk else min(n, max_per_chunk)
    return size, max(size, MIN_CHUNK), math.ceil(n / size)


def run_group(
    group: Group,
    evaluation: EvalSettings,
    *,
    max_runs_per_chunk: int | None = None,
    on_segment: Callable[[int], None] | None = None,
) -> GroupResult:
    """Train every run of a group; `on_segment(env_steps_done_in_this_call)` reports progress."""
    algo, static, env = group.algorithm, group.static, group.env
    iterations = segment_iterations(algo, static, evaluation)
    total = algo.num_iterations(static)
    segments = math.ceil(total / iterations)
    per_iteration = algo.steps_per_iteration(static)
    init, advance = programs(algo, env, static, evaluation, iterations)

    size, padded, count = _chunks(len(group.runs), max_runs_per_chunk)
    records: list[dict[str, np.ndarray]] = []
    compile_s = 0.0
    start = time.perf_counter()
    for chunk in range(count):
        runs = list(group.runs[chunk * size : (chunk + 1) * size])
        real = len(runs)
        runs += [runs[-1]] * (padded - real)  # padding: same shapes for every chunk
        hp = stack_hparams(algo, runs)
        t0 = time.perf_counter()
        carry = init(run_keys(runs), hp)
        per_segment: list[dict[str, np.ndarray]] = []
        for segment in range(segments):
            carry, record = advance(carry, hp)
            record = jax.device_get(record)  # the host sync between segments
            if chunk == 0 and segment == 0:
                compile_s = time.perf_counter() - t0
            per_segment.append({k: np.asarray(v)[:real] for k, v in record.items()})
            if on_segment:
                done = min((segment + 1) * iterations, total) - min(segment * iterations, total)
                on_segment(done * per_iteration * real)
        records.append({k: np.stack([r[k] for r in per_segment], axis=1) for k in per_segment[0]})
    metrics = {k: np.concatenate([r[k] for r in records], axis=0) for k in records[0]}
    env_steps = np.minimum((np.arange(1, segments + 1) * iterations), total) * per_iteration
    return GroupResult(group, env_steps.astype(np.int64), metrics, time.perf_counter() - start, compile_s)


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
        step = lambda state, _: algo.update(state, hp, static, env, env_params)
        return jax.lax.scan(step, state, None, algo.num_iterations(static))

    state, metrics = run(jax.random.PRNGKey(seed), hparams)
    return state, jax.device_get(metrics)
