"""Running a tuner inside a study: the tuning runs, the decisions between segments, and the output
trained from scratch on the test seeds.

A *tuner job* is one algorithm entry with an `[algorithms.tuner]` table on one environment. Its
tuning runs are every (repetition, member, tuning seed), laid out in that order on one runs axis
(`TunerJob.rows`). They use the compiled programs of an ordinary group of the same (algorithm,
environment, Static) -- `runner.group_programs`, cached on exactly that -- so a tuner compiles no
more than the grid over the same space would.

Between segments the carries of all runs sit on the host (`Pool`, numpy arrays with the runs on
the leading axis). A segment gathers the rows of the runs still active into blocks of the
runner's fixed block size (the last one padded by repeating a run), advances them on the devices
and writes them back. A stopped run is never gathered again, so it costs nothing; survivors are
simply re-blocked. Because a run's numbers depend only on its own seed, hyperparameters and the
block size (see runner.RUNS_PER_DEVICE), a survivor of successive halving computes exactly what
the same configuration computes in a grid.

Decisions use only tuning-seed evaluation returns (`eval_return` at the decision point; the
training return when the study evaluates no episodes). PBT's exploit copies a member's whole
carry -- parameters, optimiser state, environment state -- and every hyperparameter from its
source on the same tuning seed, except its random keys (leaves whose name ends in `key`), which
stay its own so the copy goes on with a different stream; explore then overwrites the traced
HParams PBT may change. No recompile.

Repetition r trains on the tuning seeds s + REPETITION_SEED_STRIDE * r (repetition 0 on the
spec's own), so repetitions are independent tuners, a grid's included. Test seeds never reach a
tuner. After tuning, each repetition's output -- its selected configuration, or for PBT the
selected member's hyperparameter schedule (replayed: values switch at the same env steps) -- is
trained from scratch for the full budget on every test seed; that is what the tuner is judged on.

Progress (phase, segment, tuner states, records, the pool) is saved after every segment, so a run
killed in the middle of tuning resumes to the numbers an uninterrupted run gives.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from jaxrl_suite.devices import Blocks, runs_mesh
from jaxrl_suite.runner import (
    RUNS_PER_DEVICE,
    EvalSettings,
    Group,
    Run,
    Schedule,
    choose_layout,
    empty_records,
    group_programs,
    run_keys,
    stack_hparams,
)
from jaxrl_suite.tuners import configurations, decide, pbt, plan, start
from jaxrl_suite.tuners.base import TunerState

REPETITION_SEED_STRIDE = 1_000_000
HP_RECORD = "hp."  # records of the hyperparameter values a run trained with, per segment
PHASES = ("tune", "test", "done")


@dataclasses.dataclass(frozen=True)
class TunerJob:
    """One tuner on one environment. `group.runs` are its tuning runs, repetition-major, then
    member, then tuning seed."""

    algo_index: int  # the spec's algorithms[] index
    settings: Any  # jaxrl_suite.tuners settings
    group: Group
    base_hparams: Mapping[str, float]  # the algorithm's fixed hyperparameters (preset and `hparams`)
    configurations: tuple[tuple[Mapping[str, float], ...], ...]  # [repetition][member]
    tuning_seeds: tuple[tuple[int, ...], ...]  # [repetition]
    test_seeds: tuple[int, ...]

    @property
    def label(self) -> str:
        return self.group.label

    @property
    def searched(self) -> list[str]:
        """The hyperparameters the tuner sets; their values are recorded per run and segment."""
        return [d.name for d in self.settings.space]

    @property
    def members(self) -> int:
        return len(self.configurations[0])

    @property
    def repetitions(self) -> int:
        return len(self.configurations)

    @property
    def seeds_per_repetition(self) -> int:
        return len(self.tuning_seeds[0])

    def rows(self, repetition: int, members: Sequence[int]) -> np.ndarray:
        """Runs-axis rows of those members of one repetition, member-major, seeds within."""
        members = np.asarray(members, np.int64)
        seeds = self.seeds_per_repetition
        first = (repetition * self.members + members) * seeds
        return (first[:, None] + np.arange(seeds)).reshape(-1)

    def test_runs(self, states: Sequence[TunerState]) -> list[Run]:
        """Each repetition's output on every test seed (PBT: with the schedule's first values)."""
        runs = []
        for state in states:
            values = self.output(state)
            first = values[0][1] if self.settings.method == "pbt" else values
            runs += [Run(state.best, {**self.base_hparams, **first}, seed, "test") for seed in self.test_seeds]
        return runs

    def output(self, state: TunerState) -> Any:
        """What a finished repetition selected: its configuration, or PBT's schedule
        [(from env step, values), ...]."""
        if self.settings.method == "pbt":
            root = self.configurations[state.repetition][pbt.lineage_root(state, state.best)]
            return [(at, {**root, **values}) for at, values in pbt.schedule(state, state.best)]
        return dict(self.configurations[state.repetition][state.best])


def tuner_jobs(spec: Any, make_env: Callable[[str], Any]) -> list[TunerJob]:
    """Every (algorithm with a tuner, environment) of a study spec, in spec order."""
    from jaxrl_suite.spec import SpecError

    jobs = []
    for index, algo in enumerate(spec.algorithms):
        settings = algo.tuner
        if settings is None:
            continue
        seeds = tuple(tuple(s + REPETITION_SEED_STRIDE * r for s in spec.tuning_seeds)
                      for r in range(settings.repetitions))
        clash = sorted(set().union(*map(set, seeds)) & set(spec.test_seeds))
        if clash:
            raise SpecError(f"algorithms[{index}].tuner.repetitions",
                            f"repetition r tunes on seeds s + {REPETITION_SEED_STRIDE:,} x r, which reaches the test "
                            f"seeds {clash[:5]}; use fewer repetitions or other test seeds")
        configs = tuple(tuple({k: float(v) for k, v in c.items()} for c in configurations(settings, r))
                        for r in range(settings.repetitions))
        static = algo.algorithm.Static(**{**algo.static, "total_env_steps": spec.total_env_steps})
        runs = tuple(Run(member, {**algo.hparams, **config}, seed, "tune")
                     for r in range(settings.repetitions) for member, config in enumerate(configs[r])
                     for seed in seeds[r])
        for env_id in spec.envs:
            group = Group(algo.label, algo.algorithm, env_id, make_env(env_id), static, runs)
            jobs.append(TunerJob(index, settings, group, dict(algo.hparams), configs, seeds, tuple(spec.test_seeds)))
    return jobs


# ---------------------------------------------------------------------------------------------
# the pool of carries


@dataclasses.dataclass
class Pool:
    """The carries (runner.Carry) and hyperparameters (algo.HParams) of a set of runs, on the
    host as numpy arrays with the runs on the leading axis."""

    carry: Any
    hparams: Any


def _take(tree: Any, rows: np.ndarray) -> Any:
    return jax.tree.map(lambda x: np.asarray(x)[rows], tree)


def _host_concat(blocks: Sequence[Any]) -> Any:
    return jax.tree.map(lambda *xs: np.concatenate([np.asarray(x) for x in xs]), *jax.device_get(list(blocks)))


def _batches(rows: np.ndarray, size: int):
    """`rows` in batches of `size`, each padded to `size` by repeating its last row."""
    for first in range(0, len(rows), size):
        real = rows[first : first + size]
        yield real, np.concatenate([real, np.repeat(real[-1:], size - len(real))])


def init_pool(group: Group, evaluation: EvalSettings, runs: Sequence[Run], blocks: Blocks) -> Pool:
    init, _ = group_programs(group, evaluation)
    keys, hparams = np.asarray(run_keys(runs)), jax.tree.map(np.asarray, stack_hparams(group.algorithm, runs))
    parts = []
    for real, padded in _batches(np.arange(len(runs)), blocks.padded):
        out = [init(k, h) for k, h in zip(blocks.split(keys[padded]), blocks.split(_take(hparams, padded)))]
        parts.append(_take(_host_concat(out), np.arange(len(real))))
    return Pool(_host_concat(parts), hparams)


def advance_pool(pool: Pool, group: Group, evaluation: EvalSettings, rows: np.ndarray,
                 blocks: Blocks) -> dict[str, np.ndarray]:
    """Advance the runs at `rows` by one segment, in place; their records, in the order of `rows`."""
    _, advance = group_programs(group, evaluation)
    records = []
    for real, padded in _batches(rows, blocks.padded):
        carry, hparams = blocks.split(_take(pool.carry, padded)), blocks.split(_take(pool.hparams, padded))
        out, record = zip(*[advance(c, h) for c, h in zip(carry, hparams)])  # every device at once
        record = blocks.gather(record)
        new = _host_concat(out)
        jax.tree.map(lambda old, fresh, rows=real: old.__setitem__(rows, fresh[: len(rows)]), pool.carry, new)
        records.append({name: values[: len(real)] for name, values in record.items()})
    return {name: np.concatenate([r[name] for r in records]) for name in records[0]}


def _own_key(path) -> bool:
    """A leaf a PBT copy keeps as its own: the random keys (the runner's and the algorithm's)."""
    last = path[-1]
    return str(getattr(last, "name", getattr(last, "key", ""))).endswith("key")


def exploit(pool: Pool, destination: np.ndarray, source: np.ndarray) -> None:
    """Rows `destination` continue from rows `source`'s carries (not their random keys), in place."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(pool.carry)
    copied = [leaf if _own_key(path) else _copy_rows(leaf, destination, source) for path, leaf in flat]
    pool.carry = jax.tree_util.tree_unflatten(treedef, copied)


def _copy_rows(leaf: np.ndarray, destination: np.ndarray, source: np.ndarray) -> np.ndarray:
    leaf = np.array(leaf)
    leaf[destination] = leaf[source]
    return leaf


def set_hparams(pool: Pool, rows: np.ndarray, values: Mapping[str, float]) -> None:
    pool.hparams = pool.hparams.replace(**{
        name: _with_rows(getattr(pool.hparams, name), rows, value) for name, value in values.items()})


def _with_rows(column: np.ndarray, rows: np.ndarray, value: float) -> np.ndarray:
    column = np.array(column)
    column[rows] = value
    return column


# ---------------------------------------------------------------------------------------------
# a job from start to finish


@dataclasses.dataclass
class JobProgress:
    """How far a tuner job has got: what a checkpoint saves and a resumed job starts from."""

    phase: str  # "tune", "test" or "done"
    segment: int  # segments finished in the phase
    states: list[TunerState]  # one per repetition
    records: dict[str, dict[str, np.ndarray]]  # phase -> metric -> [rows, segments], NaN where not run
    pool: Pool | None = None
    wall_clock_s: float = 0.0
    compile_s: float = 0.0
    runs_per_device: int | None = None  # the block size, fixed at the start (a resume keeps it)

    def position(self) -> dict[str, Any]:
        return {"phase": self.phase, "segment": self.segment, "states": [s.to_json() for s in self.states],
                "wall_clock_s": self.wall_clock_s, "compile_s": self.compile_s,
                "runs_per_device": self.runs_per_device}


def start_job(job: TunerJob, evaluation: EvalSettings) -> JobProgress:
    states = [start(job.settings, r)[0] for r in range(job.repetitions)]
    return JobProgress("tune", 0, states, {"tune": empty_job_records(job, evaluation, len(job.group.runs))})


def empty_job_records(job: TunerJob, evaluation: EvalSettings, rows: int) -> dict[str, np.ndarray]:
    """NaN-filled float64 [rows, segments] arrays, one per recorded metric (a restore target too)."""
    layout = _block_layout(RUNS_PER_DEVICE)
    names = empty_records(job.group, evaluation, layout)
    names = [*names, *(HP_RECORD + name for name in job.searched)]
    segments = Schedule.of(job.group, evaluation).segments
    return {name: np.full((rows, segments), np.nan) for name in names}


def _record(records: dict[str, np.ndarray], rows: np.ndarray, segment: int, record: Mapping[str, np.ndarray],
            pool: Pool, job: TunerJob) -> None:
    """A segment's metrics of `rows`, and the hyperparameters they trained with in it."""
    for name, values in record.items():
        records[name][rows, segment] = values
    for name in job.searched:
        records[HP_RECORD + name][rows, segment] = getattr(pool.hparams, name)[rows]


def _block_layout(per_device: int):
    from jaxrl_suite.runner import ChunkLayout

    return ChunkLayout.for_runs(1, None, runs_mesh().size, per_device)


def decision_score(records: Mapping[str, np.ndarray]) -> str:
    return "eval_return" if "eval_return" in records else "train_return"


def run_job(job: TunerJob, evaluation: EvalSettings, *, runs_per_device: int | None = None,
            progress: JobProgress | None = None, save: Callable[[JobProgress], None] | None = None,
            on_segment: Callable[[int], None] | None = None) -> JobProgress:
    """Tune, then train the output on the test seeds; from the start or from `progress`.
    `save(progress)` is called after every segment and between the phases."""
    if jax.process_count() > 1:
        raise NotImplementedError("tuners run in a single process (their pool of carries lives on one host)")
    progress = progress or start_job(job, evaluation)
    if progress.runs_per_device is None:  # the runner's choice for a group of all the tuning runs
        layout = choose_layout(job.group, evaluation, runs_per_device=runs_per_device)
        progress.runs_per_device = layout.padded // runs_mesh().size
    blocks = Blocks(runs_mesh(), progress.runs_per_device * runs_mesh().size)
    schedule = Schedule.of(job.group, evaluation)
    if progress.phase == "tune":
        _tune(job, evaluation, schedule, blocks, progress, save, on_segment)
    if progress.phase == "test":
        _test(job, evaluation, schedule, blocks, progress, save, on_segment)
    return progress


def _timed_segment(progress: JobProgress, clock: float) -> float:
    now = time.perf_counter()
    if progress.wall_clock_s == 0.0:  # the first segment of the job includes its compile
        progress.compile_s = now - clock
    progress.wall_clock_s += now - clock
    return now


def _tune(job, evaluation, schedule, blocks, progress, save, on_segment) -> None:
    the_plan = plan(job.settings)
    clock = time.perf_counter()
    if progress.pool is None:
        progress.pool = init_pool(job.group, evaluation, job.group.runs, blocks)
    records = progress.records["tune"]
    score = decision_score(records)
    steps = schedule.env_steps()
    while not all(s.finished for s in progress.states):
        rows = np.concatenate([job.rows(s.repetition, s.active) for s in progress.states])
        record = advance_pool(progress.pool, job.group, evaluation, rows, blocks)
        segment = progress.segment
        _record(records, rows, segment, record, progress.pool, job)
        progress.segment = segment + 1
        for r, state in enumerate(progress.states):
            if steps[segment] not in the_plan.decision_points or state.finished:
                continue
            scores = records[score][job.rows(r, range(job.members)), segment].reshape(job.members, -1)
            progress.states[r], actions = decide(job.settings, state, int(steps[segment]), scores)
            if actions.source is not None:
                _apply_pbt(job, progress.pool, r, actions)
        clock = _timed_segment(progress, clock)
        if on_segment:
            on_segment(schedule.steps_in(segment) * len(rows))
        if all(s.finished for s in progress.states):
            # No test seeds (a smoke run): nothing to judge the outputs on.
            progress.phase, progress.segment, progress.pool = "test" if job.test_seeds else "done", 0, None
            if job.test_seeds:
                progress.records["test"] = empty_job_records(job, evaluation, job.repetitions * len(job.test_seeds))
        if save:
            save(progress)


def _apply_pbt(job: TunerJob, pool: Pool, repetition: int, actions) -> None:
    members = np.arange(job.members)
    moved = members[np.asarray(actions.source) != members]
    if len(moved):
        destination, source = job.rows(repetition, moved), job.rows(repetition, np.asarray(actions.source)[moved])
        exploit(pool, destination, source)
        pool.hparams = jax.tree.map(lambda column: _copy_rows(column, destination, source), pool.hparams)
    for member, values in enumerate(actions.hparams):
        set_hparams(pool, job.rows(repetition, [member]), values)


def _test(job, evaluation, schedule, blocks, progress, save, on_segment) -> None:
    runs = job.test_runs(progress.states)
    clock = time.perf_counter()
    if progress.pool is None:
        progress.pool = init_pool(job.group, evaluation, runs, blocks)
    records, steps, rows = progress.records["test"], schedule.env_steps(), np.arange(len(runs))
    per_repetition = len(job.test_seeds)
    for segment in range(progress.segment, schedule.segments):
        if job.settings.method == "pbt":  # the schedule's values from the start of this segment on
            done = int(steps[segment - 1]) if segment else 0
            for r, state in enumerate(progress.states):
                values = [v for start_at, v in job.output(state) if start_at <= done][-1]
                set_hparams(progress.pool, rows[r * per_repetition : (r + 1) * per_repetition], values)
        record = advance_pool(progress.pool, job.group, evaluation, rows, blocks)
        _record(records, rows, segment, record, progress.pool, job)
        progress.segment = segment + 1
        clock = _timed_segment(progress, clock)
        if on_segment:
            on_segment(schedule.steps_in(segment) * len(rows))
        if progress.segment == schedule.segments:
            progress.phase, progress.pool = "done", None
        if save:
            save(progress)
