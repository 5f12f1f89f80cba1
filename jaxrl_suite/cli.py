"""The `jaxrl-suite` command: argument parsing and printing only.

Exit codes: 0 success, 2 bad input (spec, flag, results directory), 1 anything unexpected.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path

QUICKSTART = "quickstart.toml"
BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own exit code is already 2; keep its wording short
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jaxrl-suite",
        description="JAX-native RL benchmark suite: every (config, seed) run of a study as one compiled program.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    run = sub.add_parser("run", help="run a study spec and write its results directory",
                         description="Run a study spec (TOML). Without SPEC, runs the quickstart: PPO on CartPole-v1, "
                                     "a small learning-rate sweep over several seeds (a few minutes on 2 CPU cores).")
    run.add_argument("spec", nargs="?", metavar="SPEC",
                     help="path to a study spec (.toml); default: the built-in quickstart")
    run.add_argument("--out", metavar="DIR", type=_path,
                     help="results directory (default: runs/<study name>); an existing study "
                     "directory there is replaced atomically, anything else is never overwritten")
    run.add_argument("--quiet", action="store_true", help="no progress bar and no summary table; errors still print")
    _add_study_flags(run, "recorded in the manifest")
    run.add_argument("--checkpoint-every", type=_positive_int, default=1, metavar="N",
                     help="checkpoint every N segments (evaluation intervals) and at the end of every chunk "
                     "(default: 1)")
    hosts = run.add_argument_group("many hosts (jax.distributed; start the same command on every host)")
    hosts.add_argument("--distributed", action="store_true",
                       help="join a multi-process run whose cluster JAX detects itself (TPU pod, SLURM, Open MPI)")
    hosts.add_argument("--coordinator-address", type=_host_port, metavar="HOST:PORT", help="process 0's address")
    hosts.add_argument("--num-processes", type=_positive_int, metavar="N", help="how many processes take part")
    hosts.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0..N-1")

    reproduce = sub.add_parser(
        "reproduce", help="run a spec with published references and write a comparison table",
        description="Run a study whose spec carries [[references]] (published values with their metric "
                    "definition, source and tolerance), then write DIR/<name>.md and .csv comparing "
                    "ours with the published numbers (verdict per row) and a learning-curve figure.")
    reproduce.add_argument("spec", metavar="SPEC", help="path to a study spec (.toml) with [[references]]")
    reproduce.add_argument("--out", "--results-dir", dest="out", type=_path, default="results", metavar="DIR",
                           help="where the table, CSV, figure and the study directory go (default: results); "
                                "--results-dir is the older name")
    reproduce.add_argument("--quiet", action="store_true", help="no progress bar and no table; errors still print")
    reproduce.add_argument("--from-results", action="store_true",
                           help="train nothing: re-make the table, CSV and figure from the complete study directory "
                                "DIR/<name> an earlier `reproduce` of this spec wrote (its references and description "
                                "may have changed since, nothing else)")
    _add_study_flags(reproduce, "rows become 'not comparable'")

    report = sub.add_parser(
        "report", help="write report.md and figures for a results directory (or an external table)",
        description="Analyse a study directory: aggregates with 95% stratified-bootstrap CIs, probability of "
                    "improvement, held-out tuning curves, fixed-budget scores, effective sample complexity, "
                    "sensitivity and a report card per algorithm, as report.md plus PNG figures. With --external, "
                    "the sensitivity and in-sample tuning analyses of a published per-configuration CSV.")
    report.add_argument("results_dir", nargs="?", metavar="RESULTS_DIR",
                        help="a study directory (from `jaxrl-suite run`)")
    report.add_argument("--out", metavar="DIR", type=_path,
                        help="where report.md and the figures go (default: RESULTS_DIR/report, "
                        "or ./report-<CSV name> with --external); an earlier report there is replaced atomically, "
                        "anything else is never overwritten")
    report.add_argument("--reps", type=_positive_int, default=2000, metavar="N",
                        help="bootstrap resamples per confidence interval (default: 2000)")
    report.add_argument("--seed", type=int, default=0, metavar="S",
                        help="seed of the bootstrap resampling, a non-negative integer (default: 0)")
    report.add_argument("--external", metavar="CSV", help="a long per-configuration results table (.csv or .csv.gz) "
                        "instead of RESULTS_DIR")
    report.add_argument("--mapping", metavar="MAPPING.toml", help="which CSV column is which (fields: algorithm, "
                        "environment, score, hyperparameters, normalized_score); required with --external")

    sub.add_parser("list", help="list environments, algorithms and presets",
                   description="List every environment id, algorithm and named preset.")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _path(text: str) -> str:
    if not text or "\0" in text:
        raise argparse.ArgumentTypeError(f"must be a non-empty path without NUL bytes, got {text!r}")
    return text


def _host_port(text: str) -> str:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT, got {text!r}")
    return text


def _add_study_flags(parser: argparse.ArgumentParser, smoke_note: str) -> None:
    """The flags `run` and `reproduce` share: how a study is laid out, shrunk and resumed."""
    parser.add_argument("--max-runs-per-chunk", type=_positive_int, metavar="N",
                        help="put at most N real runs in each chunk (results do not change)")
    parser.add_argument("--runs-per-device", type=_runs_per_device, metavar="auto|N",
                        help="each device runs blocks of N runs; auto (the default): 16 on CPU, fewer only to give "
                             "every CPU device a block (checked against free memory), on a GPU or TPU the largest "
                             "block that fits its memory, up to the group's runs. "
                             "A run's numbers are bit-identical for the same N whatever the chunking or device count, "
                             "but N itself changes float rounding (recorded in the manifest)")
    parser.add_argument("--scale", type=_scale, default=1.0, metavar="F",
                        help=f"multiply the spec's total_env_steps by F in (0, 1] for a quick smoke run ({smoke_note})")
    parser.add_argument("--smoke", action="store_true",
                        help="run only the first configuration and one seed of each program: a quick check that every "
                             "program of a large spec compiles and runs, in blocks of one run unless --runs-per-device "
                             f"says otherwise (combine with --scale to shorten the budget; {smoke_note})")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run of the same spec from its last checkpoint "
                        "(in DIR.checkpoints/)")
    parser.add_argument("--no-compile-cache", action="store_true",
                        help="compile every program afresh instead of using JAX's persistent compilation cache "
                             "(default: on, in $JAXRL_SUITE_COMPILE_CACHE or ~/.cache/jaxrl_suite/jax)")


def _runs_per_device(text: str) -> int | None:
    """--runs-per-device: "auto" (None: the device's default policy) or a positive integer."""
    return None if text == "auto" else _positive_int(text)


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}")
    return value


def cpu_device_per_core() -> str | None:
    """Give XLA one CPU device per core (JAXRL_SUITE_CPU_DEVICES=N for another count), unless JAX
    is already loaded or XLA_FLAGS already sets the count.

    The runner runs one block of runs per device, and blocks on different devices run side by
    side, each on its own thread: measured on the 2-core CPU machine, 32 PPO CartPole runs go 2.2x
    faster as two devices of 16 than as one device running two blocks in turn. A run's numbers
    depend on the block size only, never on the device count; the device count only decides the
    default block of a group too small to give every device 16 runs (`runner.cpu_block`). (Only
    the CPU platform reads the flag; a GPU or TPU run is unaffected.)"""
    flags = os.environ.get("XLA_FLAGS", "")
    if "jax" in sys.modules or "xla_force_host_platform_device_count" in flags:
        return None
    count = os.environ.get("JAXRL_SUITE_CPU_DEVICES") or str(len(os.sched_getaffinity(0)))
    if not count.isdigit() or int(count) < 1:
        return f"JAXRL_SUITE_CPU_DEVICES must be a positive integer (CPU devices), got {count!r}"
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("run", "reproduce") and not getattr(args, "distributed", False) \
            and not getattr(args, "coordinator_address", None):
        problem = cpu_device_per_core()
        if problem:
            print(f"jaxrl-suite: error: {problem}", file=sys.stderr)
            return BAD_INPUT
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "report":
            return _report(args)
        if args.command == "list":
            return _list()
    except KeyboardInterrupt:
        print("interrupted; results of this run were not written", file=sys.stderr)
        return 130
    return 1


def _processes_problem(args) -> str | None:
    explicit = (args.coordinator_address, args.num_processes, args.process_id)
    if any(v is not None for v in explicit) and any(v is None for v in explicit):
        return "--coordinator-address, --num-processes and --process-id go together"
    if args.process_id is not None and not 0 <= args.process_id < args.num_processes:
        return (f"--process-id must be in 0..{args.num_processes - 1} (--num-processes {args.num_processes}), "
                f"got {args.process_id}")
    if args.distributed and args.coordinator_address:
        return "give either --distributed (cluster detected) or --coordinator-address and friends, not both"
    return None


def _run(args) -> int:
    problem = _processes_problem(args)
    if problem:
        print(f"jaxrl-suite: error: {problem}", file=sys.stderr)
        return BAD_INPUT
    if args.distributed or args.coordinator_address:
        from jaxrl_suite.hosts import start_processes

        try:  # before anything touches JAX (so before the rest of the suite is imported)
            process = start_processes(args.coordinator_address, args.num_processes, args.process_id)
        except (ValueError, RuntimeError) as error:  # no cluster detected, or the coordinator is unreachable
            print(f"jaxrl-suite: error: cannot join the multi-process run: {error}", file=sys.stderr)
            return BAD_INPUT
        args.quiet = args.quiet or process != 0  # only process 0 prints

    import tomllib

    from jaxrl_suite.checkpoint import CheckpointError
    from jaxrl_suite.results import ResultsError
    from jaxrl_suite.spec import SpecError, load_spec, parse_spec
    from jaxrl_suite.study import plan, run_study

    try:
        if args.spec is None:
            raw = tomllib.loads(resources.files("jaxrl_suite.studies").joinpath(QUICKSTART).read_text())
            spec = _as_requested(parse_spec(raw), args)
        else:
            spec = _as_requested(load_spec(args.spec), args)
        out = Path(args.out) if args.out else Path("runs") / spec.name
        plan(spec)  # every check before any compile
    except (SpecError, ResultsError) as error:
        print(f"jaxrl-suite: error: {error}", file=sys.stderr)
        return BAD_INPUT

    from jaxrl_suite import console

    estimate = _estimate(spec, out, args)
    try:
        with console.progress(quiet=args.quiet) as report:
            outcome = run_study(spec, out, max_runs_per_chunk=args.max_runs_per_chunk,
                                runs_per_device=args.runs_per_device, progress=report,
                                checkpoint_every=args.checkpoint_every, resume=args.resume, estimate=estimate)
    except (ResultsError, CheckpointError) as error:
        print(f"jaxrl-suite: error: {error}", file=sys.stderr)
        return BAD_INPUT
    if not args.quiet:
        console.print_summary(outcome)
    return 0


def _estimate(spec, out: Path, args):
    """What the study will cost (env steps, programs, checkpoint disk space), printed unless --quiet."""
    from jaxrl_suite import console
    from jaxrl_suite.checkpoint import checkpoint_dir
    from jaxrl_suite.study import disk_free, estimate_study

    estimate = estimate_study(spec, args.max_runs_per_chunk, args.runs_per_device)
    if not args.quiet:
        console.print_plan(spec, args.scale, estimate, disk_free(checkpoint_dir(out)))
    return estimate


def _as_requested(spec, args):
    """`spec` with --scale and --smoke applied (raises SpecError like parsing does); the
    compilation cache set up as asked (before anything compiles)."""
    from jaxrl_suite import compile_cache
    from jaxrl_suite.spec import parse_spec, smoke_spec

    if not args.no_compile_cache:
        compile_cache.enable()

    if args.scale != 1.0:
        spec = parse_spec({**spec.raw}, scale=args.scale)
    if args.smoke:
        spec = smoke_spec(spec)
        # Blocks of one run: padding one run to a block of 16 would do 16 times the work.
        args.runs_per_device = args.runs_per_device or 1
    return spec


def _reproduce(args) -> int:
    from jaxrl_suite import reproduce as RP
    from jaxrl_suite.checkpoint import CheckpointError
    from jaxrl_suite.results import ResultsError, git_revision, write_text_files
    from jaxrl_suite.spec import SpecError, load_spec
    from jaxrl_suite.study import plan, run_study

    if args.from_results and args.resume:
        print("jaxrl-suite: error: --from-results trains nothing, so --resume does not apply", file=sys.stderr)
        return BAD_INPUT
    try:
        spec = _as_requested(load_spec(args.spec), args)
        if not spec.references:
            raise SpecError("references", "a reproduction needs at least one [[references]] table")
        plan(spec)
    except (SpecError, ResultsError) as error:
        print(f"jaxrl-suite: error: {error}", file=sys.stderr)
        return BAD_INPUT

    from jaxrl_suite import console

    results_dir = Path(args.out)
    out_dir = results_dir / spec.name
    try:
        if args.from_results:
            table, manifest = RP.finished_study(spec, out_dir)
            manifest = {**manifest, "table_git_revision": git_revision() or "unknown"}
        else:
            estimate = _estimate(spec, out_dir, args)
            with console.progress(quiet=args.quiet) as report:
                outcome = run_study(spec, out_dir, max_runs_per_chunk=args.max_runs_per_chunk,
                                    runs_per_device=args.runs_per_device, progress=report, resume=args.resume,
                                    estimate=estimate)
            table, manifest = outcome.table, outcome.manifest
    except (ResultsError, CheckpointError) as error:
        print(f"jaxrl-suite: error: {error}", file=sys.stderr)
        return BAD_INPUT
    rows = RP.compare(spec, table, args.scale, smoke=args.smoke)
    figure = RP.learning_curves(out_dir / "learning_curves.png", spec, table, rows)
    manifest = {**manifest, "spec_path": args.spec}
    try:
        written = write_text_files(results_dir, {
            f"{spec.name}.md": RP.markdown(spec, rows, manifest, f"{spec.name}/{figure.name}"),
            f"{spec.name}.csv": RP.csv_text(rows),
        })
    except OSError as error:
        print(f"jaxrl-suite: error: cannot write the comparison table into {results_dir}: {error.strerror or error}",
              file=sys.stderr)
        return BAD_INPUT
    if not args.quiet:
        console.print_reproduction(rows)
        console.print_line("wrote " + ", ".join(str(p) for p in written) + f" and {out_dir}/")
    return 0


def _report(args) -> int:
    from jaxrl_suite.report import REPORT_FILE, ReportError, write_external_report, write_report

    problem = _report_arguments_problem(args)
    if problem:
        print(f"jaxrl-suite report: error: {problem}", file=sys.stderr)
        return BAD_INPUT
    from jaxrl_suite.results import ResultsError, check_writable

    try:
        if args.out:
            check_writable(args.out)  # before any analysis
        if args.external:
            out = write_external_report(args.external, args.mapping, args.out)
        else:
            out = write_report(args.results_dir, args.out, reps=args.reps, seed=args.seed)
    except (ReportError, ResultsError) as error:
        print(f"jaxrl-suite report: error: {error}", file=sys.stderr)
        return BAD_INPUT
    except OSError as error:  # the default destination (beside the results) cannot be written
        print(f"jaxrl-suite report: error: cannot write {error.filename or 'the report'}: {error.strerror or error}",
              file=sys.stderr)
        return BAD_INPUT
    figures = sorted(p.name for p in out.glob("*.png"))
    print(f"wrote {out / REPORT_FILE} and {len(figures)} figures: {', '.join(figures)}")
    return 0


def _report_arguments_problem(args) -> str | None:
    if args.external and args.results_dir:
        return "give either RESULTS_DIR or --external CSV, not both"
    if not args.external and not args.results_dir:
        return "give a RESULTS_DIR (a study directory) or --external CSV --mapping MAPPING.toml"
    if args.external and not args.mapping:
        return "--external needs --mapping MAPPING.toml (which column is which)"
    if args.mapping and not args.external:
        return "--mapping only applies with --external CSV"
    return None


def _list() -> int:
    from jaxrl_suite import console

    console.print_catalogue()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
