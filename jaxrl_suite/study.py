"""Run a whole study: resolve its spec into groups, run each group, write the study directory.

While it runs, a study checkpoints (orbax) beside its output directory, in `<out>.checkpoints/`
(see jaxrl_suite.checkpoint): the position (group, chunk, segment), the metrics recorded so
far, the carry of the chunk in progress and the final carry of every finished chunk. A run
cut short continues with `resume=True`; the checkpoints are deleted once the study directory
is written. The final carries move into the study directory as `policies/<group>/<chunk>/`,
and `load_final_states` reads them back for later evaluation.

Under `jax.distributed` every process runs the same study over the global device mesh; all
keep identical records, and process 0 writes the study directory.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_suite import results as R
from jaxrl_suite.checkpoint import CheckpointError, StudyCheckpoints, checkpoint_dir, restore_tree
from jaxrl_suite.devices import along_runs, runs_mesh
from jaxrl_suite.runner import (
    RUNS_PER_DEVICE,
    Carry,
    ChunkLayout,
    EvalSettings,
    Group,
    GroupProgress,
    GroupResult,
    Schedule,
    block_policy,
    carry_bytes_per_run,
    carry_shapes,
    default_block,
    empty_records,
    evaluate_states,
    run_group,
    stack_hparams,
)
from jaxrl_suite.spec import StudySpec, check_groups, groups, parse_spec
from jaxrl_suite.summary import markdown, summary_rows
from jaxrl_suite.tuners import plan as plan_of_tuner
from jaxrl_suite.tuners.base import TunerState
from jaxrl_suite.tuners.execution import (
    PHASES,
    JobProgress,
    Pool,
    TunerJob,
    empty_job_records,
    run_job,
    tuner_jobs,
)
from jaxrl_suite.tuners.records import TABLE as TUNER_TABLE
from jaxrl_suite.tuners.records import manifest_entries, tuner_table

#: Checkpoint every segment by default: a segment is an evaluation interval of every run, and
#: saving a carry of parameters and optimiser state costs little next to it.
DEFAULT_CHECKPOINT_EVERY = 1
POLICIES = "policies"


@dataclasses.dataclass
class StudyOutcome:
    spec: StudySpec
    out_dir: Path
    group_results: list[GroupResult]
    manifest: dict[str, Any]
    table: Any
    tuners: Any = None  # the tuners' table (tuners.parquet), when the spec has tuners


@functools.cache
def environment(env_id: str):
    """One environment object per id: environments are immutable, and reusing the object lets
    the runner reuse compiled programs across studies in one process."""
    from jaxrl_suite.envs import make

    return make(env_id)


def plan(spec: StudySpec):
    """Groups and configurations, with every shape check done (nothing compiled yet). Tuners
    run apart from the groups (`tuner_jobs`); their checks are done here too."""
    all_groups, all_configs = groups(spec, environment)
    jobs = tuner_jobs(spec, environment)
    check_groups(spec, all_groups + [job.group for job in jobs])
    return all_groups, all_configs


def effective_spec(spec: StudySpec) -> dict[str, Any]:
    """The spec as run: as written, with the budget after any --scale. A checkpoint resumes
    only under the same effective spec."""
    return {**spec.raw, "total_env_steps": spec.total_env_steps}


def run_study(
    spec: StudySpec,
    out_dir: str | Path,
    *,
    max_runs_per_chunk: int | None = None,
    runs_per_device: int | None = None,
    progress: Callable[[str, int, int], Any] | None = None,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    resume: bool = False,
    estimate: StudyEstimate | None = None,
) -> StudyOutcome:
    """Run every group of `spec` and write `out_dir`. `progress(label, done, total)` is optional.

    Checkpoints every `checkpoint_every` segments and at the end of every chunk; with `resume`,
    continues from the last checkpoint of an earlier run of the same spec. A fresh run is refused
    (ResultsError) when its checkpoints would not fit on the disk (`estimate`, computed if not given).
    """
    all_groups, all_configs = plan(spec)
    jobs = tuner_jobs(spec, environment)
    R.git_revision()  # the code this run starts with, whatever is committed while it runs
    out_dir = Path(out_dir)
    directory = checkpoint_dir(out_dir)
    _check_out_dir(out_dir, directory)  # creates nothing
    if resume:
        store = StudyCheckpoints.resume(directory, effective_spec(spec))
    else:
        check_disk_space(directory, estimate or estimate_study(spec, max_runs_per_chunk, runs_per_device))
        store = StudyCheckpoints.start(directory, effective_spec(spec), spec.digest)
    if jax.process_index() == 0:
        R.remove_stale_staging(out_dir)  # what a writer killed during an earlier write left
    try:
        started = _restore(store, spec, all_groups) if resume and store.latest_step() is not None else []
        saver = _StudySaver(store, checkpoint_every, started)
        group_results = [
            run_group(group, spec.evaluation, max_runs_per_chunk=max_runs_per_chunk, runs_per_device=runs_per_device,
                      on_segment=_reporter(group, progress), progress=started[i] if i < len(started) else None,
                      checkpoints=saver.for_group(i))
            for i, group in enumerate(all_groups)
        ]
        tuned = _run_tuners(jobs, spec, store, resume=resume, runs_per_device=runs_per_device, progress=progress)
        table = R.table_from_groups(spec.name, group_results)
        manifest = _manifest(spec, all_configs, group_results, resumed=resume)
        # How every block size below was chosen: given, or the device's default policy.
        manifest["block_policy"] = "given" if runs_per_device else block_policy()
        tables = {}
        if jobs:
            manifest["tuners"] = manifest_entries(jobs, tuned)
            manifest["wall_clock_s"] = round(manifest["wall_clock_s"] + sum(p.wall_clock_s for p in tuned), 3)
            tables[TUNER_TABLE] = tuner_table(spec.name, jobs, tuned, spec.evaluation)
        if jax.process_index() == 0:
            summary = markdown(summary_rows(table), f"{spec.name}: final scores per configuration")
            R.write_study(out_dir, table, manifest, extra_files={"summary.md": summary},
                          extra_dirs={POLICIES: store.directory / "final"}, extra_tables=tables)
    except BaseException:
        store.close()  # the checkpoints stay for --resume
        raise
    store.remove()
    return StudyOutcome(spec, out_dir, group_results, manifest, table, tables.get(TUNER_TABLE))


def _check_out_dir(out_dir: Path, checkpoints: Path) -> None:
    """Refuse an output directory that cannot or must not be written, before anything is created."""
    if "\0" in str(out_dir):
        raise R.ResultsError(f"{out_dir!r} is not a valid path (a NUL byte)")
    if out_dir.exists() and not out_dir.is_dir():
        raise R.ResultsError(f"{out_dir} exists and is not a directory; refusing to overwrite it")
    if out_dir.exists() and not R.is_study_dir(out_dir) and any(out_dir.iterdir()):
        raise R.ResultsError(f"{out_dir} exists and is not a jaxrl_suite study directory; refusing to overwrite it")
    R.check_writable(out_dir)
    R.check_writable(checkpoints)


@dataclasses.dataclass(frozen=True)
class StudyEstimate:
    """What a study will cost, known before anything is compiled."""

    env_steps: int  # over all runs
    runs: int
    programs: int  # one compiled program (init + segment) per (algorithm, environment, Static)
    checkpoint_bytes: int  # on disk at most: every run's final state, plus two steps of a chunk in progress


def estimate_study(spec: StudySpec, max_runs_per_chunk: int | None = None,
                   runs_per_device: int | None = None) -> StudyEstimate:
    """Env steps, programs and checkpoint disk space of a study. The carry's size comes from
    tracing its init (jax.eval_shape: no compile); checkpoints keep every chunk's final carry
    (padded to whole blocks) and, while a chunk runs, its latest step and the one being written."""
    all_groups, _ = plan(spec)
    devices = runs_mesh().size
    env_steps = checkpoint_bytes = 0
    for group in all_groups:
        per_device = runs_per_device or default_block(len(group.runs), devices)
        layout = ChunkLayout.for_runs(len(group.runs), max_runs_per_chunk, devices, per_device)
        env_steps += len(group.runs) * int(Schedule.of(group, spec.evaluation).env_steps()[-1])
        checkpoint_bytes += carry_bytes_per_run(group, spec.evaluation) * layout.padded * (layout.count + 2)
    runs, programs = sum(len(g.runs) for g in all_groups), {(g.algorithm, g.env_id, g.static) for g in all_groups}
    for job in tuner_jobs(spec, environment):
        # The tuning runs (all members, tuning seeds, repetitions) share one pool, kept in two steps.
        env_steps += tuner_budget(job)
        runs += len(job.group.runs) + job.repetitions * len(job.test_seeds)
        programs.add((job.group.algorithm, job.group.env_id, job.group.static))
        checkpoint_bytes += carry_bytes_per_run(job.group, spec.evaluation) * len(job.group.runs) * 2
    return StudyEstimate(env_steps, runs, len(programs), checkpoint_bytes)


def check_disk_space(path: Path, estimate: StudyEstimate) -> None:
    """Refuse to start when the checkpoints of `estimate` cannot fit on the disk holding `path`."""
    free = disk_free(path)
    if free is not None and estimate.checkpoint_bytes > free:
        raise R.ResultsError(
            f"the checkpoints of this study need about {format_size(estimate.checkpoint_bytes)} "
            f"({estimate.runs:,} runs) and only {format_size(free)} is free on the disk of {path}; free some space, "
            "write elsewhere (--out) or run fewer runs"
        )


def disk_free(path: Path) -> int | None:
    """Free bytes on the filesystem that holds (or will hold) `path`; None if unknown."""
    existing = Path(path).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        return shutil.disk_usage(existing).free
    except OSError:
        return None


def format_size(n: float) -> str:
    """Bytes in binary units, e.g. "1.5 GiB"."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _reporter(group: Group, progress: Callable[[str, int, int], Any] | None, label: str | None = None,
              budget: int | None = None) -> Callable[[int], None]:
    """run_group's `on_segment` increments, summed into `progress(label, done, total)` calls."""
    algo = group.algorithm
    budget = budget or algo.num_iterations(group.static) * algo.steps_per_iteration(group.static) * len(group.runs)
    label = label or f"{group.label} on {group.env_id} ({len(group.runs)} runs)"
    done = 0

    def on_segment(steps: int) -> None:
        nonlocal done
        done += steps
        if progress:
            progress(label, done, budget)

    return on_segment


# ---------------------------------------------------------------------------------------------
# tuners


def _run_tuners(jobs: list[TunerJob], spec: StudySpec, store: StudyCheckpoints, *, resume: bool,
                runs_per_device: int | None, progress) -> list[JobProgress]:
    """Run every tuner job after the groups, saving into the `tuners` part of the checkpoints
    after every segment; on resume, continue from the last save."""
    if not jobs:
        return []
    part = store.part("tuners")
    try:
        done = _restore_jobs(part, jobs, spec.evaluation) if resume and part.latest_step() is not None else []

        def save(index: int, job_progress: JobProgress) -> None:
            started = [*done[:index], job_progress]
            pool = job_progress.pool
            carry = None if pool is None else {"carry": pool.carry, "hparams": dataclasses.asdict(pool.hparams)}
            part.save({"jobs": [p.position() for p in started]}, {str(i): p.records for i, p in enumerate(started)},
                      carry)

        for i, job in enumerate(jobs):
            label = f"{job.label} tuner ({job.settings.method}) on {job.group.env_id}"
            reporter = _reporter(job.group, progress, label, tuner_budget(job))
            resumed = done[i] if i < len(done) else None
            if resumed is not None and resumed.phase == "done":
                continue
            result = run_job(job, spec.evaluation, runs_per_device=runs_per_device, progress=resumed,
                             save=lambda p, i=i: save(i, p), on_segment=reporter)
            done[i:] = [result]
        return done
    finally:
        part.close()


def tuner_budget(job: TunerJob) -> int:
    """Env steps a tuner job takes in all: its charge, then its outputs on the test seeds."""
    algo, static = job.group.algorithm, job.group.static
    per_run = algo.num_iterations(static) * algo.steps_per_iteration(static)
    charge = plan_of_tuner(job.settings).charge(job.seeds_per_repetition, job.repetitions)
    return charge + per_run * len(job.test_seeds) * job.repetitions


def _restore_jobs(part: StudyCheckpoints, jobs: list[TunerJob], evaluation: EvalSettings) -> list[JobProgress]:
    """The progress of every tuner job the checkpoint had started, records and pool included."""
    try:
        entries = part.position()["jobs"]
        positions = [(str(e["phase"]), int(e["segment"]), [TunerState.from_json(s) for s in e["states"]],
                      float(e["wall_clock_s"]), float(e["compile_s"]), int(e["runs_per_device"])) for e in entries]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CheckpointError(f"{part.directory}: the tuners' position is malformed ({error!r})") from None
    if not 1 <= len(positions) <= len(jobs) or any(p[0] not in PHASES for p in positions):
        raise CheckpointError(f"{part.directory}: the tuners' position does not match the spec's "
                              f"{len(jobs)} tuner jobs; delete the checkpoints to start over")
    targets = {}
    for i, (phase, *_rest) in enumerate(positions):
        job = jobs[i]
        targets[str(i)] = {"tune": empty_job_records(job, evaluation, len(job.group.runs))}
        if phase != "tune" and job.test_seeds:
            targets[str(i)]["test"] = empty_job_records(job, evaluation, job.repetitions * len(job.test_seeds))
    last_phase, last_segment, last_states = positions[-1][:3]
    pool_target = None
    if last_phase != "done" and (last_phase == "tune" or last_segment > 0):
        job = jobs[len(positions) - 1]
        runs = job.group.runs if last_phase == "tune" else job.test_runs(last_states)
        pool_target = _pool_target(job, evaluation, runs)
    records, pool = part.restore(targets, pool_target)
    out = [JobProgress(phase, segment, states, records[str(i)], None, wall, compile_s, block)
           for i, (phase, segment, states, wall, compile_s, block) in enumerate(positions)]
    if pool is not None:
        out[-1].pool = Pool(pool["carry"], jobs[len(positions) - 1].group.algorithm.HParams(**pool["hparams"]))
    return out


def _pool_target(job: TunerJob, evaluation: EvalSettings, runs) -> dict[str, Any]:
    shapes = carry_shapes(job.group, evaluation, len(runs), jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))
    hparams = jax.tree.map(np.asarray, stack_hparams(job.group.algorithm, runs))
    return {"carry": jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes),
            "hparams": {k: np.zeros_like(v) for k, v in dataclasses.asdict(hparams).items()}}


# ---------------------------------------------------------------------------------------------
# checkpoints


class _StudySaver:
    """Saves the whole study (every started group) whenever the runner of one group asks."""

    def __init__(self, store: StudyCheckpoints, every: int, started: list[GroupProgress]):
        if every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {every}")
        self.store, self.every, self.started = store, every, list(started)

    def for_group(self, index: int) -> _GroupSaver:
        return _GroupSaver(self, index, self.every)

    def save(self, index: int, progress: GroupProgress) -> None:
        self.started[index:] = [progress]  # the groups before it are finished
        position = {"devices": runs_mesh().size, "groups": [_progress_json(p) for p in self.started]}
        records = {str(i): p.records for i, p in enumerate(self.started)}
        self.store.save(position, records, progress.carry)


@dataclasses.dataclass
class _GroupSaver:
    """One group's view of the study saver (runner.Checkpoints)."""

    study: _StudySaver
    index: int
    every: int

    def save(self, progress: GroupProgress) -> None:
        self.study.save(self.index, progress)

    def save_final(self, chunk: int, carry: Carry) -> None:
        self.study.store.save_final(self.index, chunk, carry)


def _progress_json(progress: GroupProgress) -> dict[str, Any]:
    return {"layout": dataclasses.asdict(progress.layout), "chunk": progress.chunk, "segment": progress.segment,
            "wall_clock_s": progress.wall_clock_s, "compile_s": progress.compile_s}


def _restore(store: StudyCheckpoints, spec: StudySpec, all_groups: list[Group]) -> list[GroupProgress]:
    """The progress of every group the checkpoint had started, records and carry included."""
    entries = _checked_position(store, all_groups, spec.evaluation)
    records_target = {str(i): empty_records(all_groups[i], spec.evaluation, e["layout"]) for i, e in enumerate(entries)}
    last = len(entries) - 1
    mid_chunk = entries[last]["segment"] > 0
    carry_target = (carry_shapes(all_groups[last], spec.evaluation, entries[last]["layout"].padded, along_runs())
                    if mid_chunk else None)
    records, carry = store.restore(records_target, carry_target)
    return [
        GroupProgress(e["layout"], records[str(i)], e["chunk"], e["segment"], carry if i == last else None,
                      e["wall_clock_s"], e["compile_s"])
        for i, e in enumerate(entries)
    ]


def _checked_position(store: StudyCheckpoints, all_groups: list[Group],
                      evaluation: EvalSettings) -> list[dict[str, Any]]:
    """The saved position, checked against the plan and the devices before anything is restored."""
    position = store.position()
    try:
        written_on = int(position["devices"])
        entries = [
            {"layout": ChunkLayout(**{k: int(v) for k, v in e["layout"].items()}), "chunk": int(e["chunk"]),
             "segment": int(e["segment"]), "wall_clock_s": float(e["wall_clock_s"]), "compile_s": float(e["compile_s"])}
            for e in position["groups"]
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CheckpointError(f"{store.directory}: the checkpoint's position is malformed ({error!r})") from None
    if not 1 <= len(entries) <= len(all_groups):
        raise CheckpointError(f"{store.directory}: the checkpoint has {len(entries)} groups; "
                              f"the spec has {len(all_groups)}")
    for i, (entry, group) in enumerate(zip(entries, all_groups)):
        layout, chunk, segment = entry["layout"], entry["chunk"], entry["segment"]
        finished = chunk == layout.count and segment == 0
        if (layout.runs_per_chunk < 1 or -(-len(group.runs) // layout.runs_per_chunk) != layout.count
                or layout.padded < layout.runs_per_chunk or layout.padded % runs_mesh().size
                or not 0 <= chunk <= layout.count or not 0 <= segment < Schedule.of(group, evaluation).segments
                or (chunk == layout.count and not finished) or (i < len(entries) - 1 and not finished)):
            raise CheckpointError(f"{store.directory}: the checkpoint's position does not match the spec's group {i} "
                                  f"(chunk {chunk} of {layout.count}, segment {segment}); it is damaged or was written "
                                  "by another version; delete it to start over")
    if written_on != runs_mesh().size:
        # Another device count would give every device another block size, so other rounding.
        raise CheckpointError(
            f"{store.directory} was written with {written_on} JAX devices and this process sees {runs_mesh().size}; "
            f"resume with {written_on} for the numbers an uninterrupted run gives"
        )
    return entries


# ---------------------------------------------------------------------------------------------
# the manifest


def _manifest(spec: StudySpec, all_configs, group_results: list[GroupResult], *, resumed: bool) -> dict[str, Any]:
    return {
        "study": spec.name,
        "spec": spec.raw,
        "spec_digest": spec.digest,
        "total_env_steps_requested": spec.raw.get("total_env_steps"),
        "total_env_steps": spec.total_env_steps,
        "tuning_seeds": list(spec.tuning_seeds),
        "test_seeds": list(spec.test_seeds),
        "evaluation": dataclasses.asdict(spec.evaluation),
        "configs": {
            label: [{"config_id": c.config_id, "static": dict(c.static), "hparams": dict(c.hparams)} for c in configs]
            for label, configs in all_configs.items()
        },
        "groups": [
            {
                "algo": r.group.label,
                "algorithm": r.group.algorithm.name,
                "env": r.group.env_id,
                "static": dataclasses.asdict(r.group.static),
                "runs": len(r.group.runs),
                "env_steps_per_run": int(r.env_steps[-1]),
                "wall_clock_s": round(r.wall_clock_s, 3),
                "first_segment_with_compile_s": round(r.compile_s, 3),
                "diverged_runs": int(np.sum(r.metrics["diverged"][:, -1])),
                "chunks": dataclasses.asdict(r.layout),
                "runs_per_device": r.layout.padded // runs_mesh().size,
                "final_states": f"{POLICIES}/{i}",
            }
            for i, r in enumerate(group_results)
        ],
        "env_steps_per_config": _steps_per_config(group_results),
        # Training time summed over groups (and over the runs of a resumed study).
        "wall_clock_s": round(sum(r.wall_clock_s for r in group_results), 3),
        "resumed_from_checkpoint": resumed,
        "processes": jax.process_count(),
        **R.environment_record(),
    }


def _steps_per_config(group_results) -> dict[str, dict[str, int]]:
    """Env steps each configuration consumed, summed over its seeds and environments."""
    spent: dict[str, dict[str, int]] = {}
    for r in group_results:
        per_run = int(r.env_steps[-1])
        for run in r.group.runs:
            by_config = spent.setdefault(r.group.label, {})
            by_config[str(run.config_id)] = by_config.get(str(run.config_id), 0) + per_run
    return spent


# ---------------------------------------------------------------------------------------------
# final states


@dataclasses.dataclass
class FinalStates:
    """The final carry of every run of one group, read back from a study directory."""

    group: Group
    evaluation: EvalSettings
    carry: Carry  # leading axis: group.runs, in order; carry.state is the algorithm's state
    runs_per_device: int = RUNS_PER_DEVICE  # the study's block size: evaluated in the same blocks

    def evaluate(self, keys: jax.Array | None = None) -> np.ndarray:
        """Each run's evaluation return; by default with the keys of its last recorded evaluation."""
        return evaluate_states(self.group, self.evaluation, self.carry, keys, runs_per_device=self.runs_per_device)


def load_final_states(out_dir: str | Path, algo: str, env: str, *, group: int | None = None) -> FinalStates:
    """The final states of the runs of algorithm label `algo` on environment `env` in a study
    directory. `group` (the manifest's group index) picks one when a search over a shape
    setting made several groups for the pair."""
    out_dir = Path(out_dir)
    _, manifest = R.read_study(out_dir)
    spec = parse_spec({**manifest["spec"], "total_env_steps": manifest["total_env_steps"]})
    all_groups, _ = plan(spec)
    matches = [i for i, g in enumerate(all_groups) if g.label == algo and g.env_id == env and group in (None, i)]
    if len(matches) != 1:
        known = ", ".join(f"{i}: {g.label} on {g.env_id}" for i, g in enumerate(all_groups))
        raise R.ResultsError(f"{len(matches)} groups of {out_dir} match algo={algo!r}, env={env!r}, group={group}; "
                             f"groups: {known}")
    index = matches[0]
    chosen = all_groups[index]
    layout = ChunkLayout(**manifest["groups"][index]["chunks"])
    target = carry_shapes(chosen, spec.evaluation, layout.padded,
                          jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))
    chunks = [restore_tree(out_dir / POLICIES / str(index) / str(c), target) for c in range(layout.count)]
    real = [min(layout.runs_per_chunk, len(chosen.runs) - c * layout.runs_per_chunk) for c in range(layout.count)]
    carry = jax.tree.map(lambda *xs: jnp.concatenate([x[:n] for x, n in zip(xs, real)]), *chunks)
    return FinalStates(chosen, spec.evaluation, carry, _block_size(manifest, index, layout))


def _block_size(manifest: dict[str, Any], index: int, layout: ChunkLayout) -> int:
    """Runs per device of a group: recorded in the manifest, or (older studies) the chunk's
    padded batch over the devices that ran it."""
    recorded = manifest["groups"][index].get("runs_per_device")
    return int(recorded) if recorded else max(1, layout.padded // max(1, len(manifest.get("devices") or [None])))
