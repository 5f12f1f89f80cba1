"""What the CLI prints: the plan, a progress bar with env-steps/s, the summary, the catalogue."""

from __future__ import annotations

import contextlib
import time

from rich.console import Console
from rich.markup import escape  # spec names and labels are printed as text, never read as markup
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

out = Console()

#: Into a pipe or a file, lines are never cut or wrapped at a terminal width (rich's default of
#: 80 columns would put ellipses in a long setting): `jaxrl-suite run > log.txt` keeps every value.
UNLIMITED_WIDTH = 100_000


def _printer() -> Console:
    """`out` on a terminal; elsewhere a console on the same stream that prints every value whole."""
    return out if out.is_terminal else Console(file=out.file, width=UNLIMITED_WIDTH)


class StepsPerSecond(ProgressColumn):
    """Aggregate env steps per second over all runs of the current group."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} env-steps/s" if speed else "compiling…", style="cyan")


@contextlib.contextmanager
def progress(quiet: bool):
    """Yields `report(label, done, total)` for the study runner."""
    if quiet:
        yield lambda label, done, total: None
        return
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,.0f}/{task.total:,.0f} steps"),
        StepsPerSecond(), TimeElapsedColumn(), console=_printer(),
    )
    tasks: dict[str, int] = {}
    started: dict[str, float] = {}

    def report(label: str, done: int, total: int) -> None:
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=total)
            started[label] = time.perf_counter()
        bar.update(tasks[label], completed=done)

    with bar:
        yield report


def print_plan(spec, scale: float, estimate=None, free_bytes: int | None = None) -> None:
    """The study about to run; with `estimate` (study.StudyEstimate), what it will cost."""
    printer = _printer()
    seeds = f"{len(spec.tuning_seeds)} tuning + {len(spec.test_seeds)} test seeds"
    scaled = f" (scaled by {scale})" if scale != 1.0 else ""
    printer.print(f"[bold]{escape(spec.name)}[/bold]: {', '.join(spec.envs)}; "
                  f"{spec.total_env_steps:,} env steps per run{scaled}; {seeds}")
    from jaxrl_suite.spec import configs

    for algo in spec.algorithms:
        if algo.tuner is not None:
            from jaxrl_suite.tuners import describe

            tuner = describe(algo.tuner, len(spec.tuning_seeds)).replace("\n", "\n    ")
            printer.print(f"  {escape(algo.label)}: {algo.algorithm.name}, tuned by {escape(tuner)}")
            continue
        n = len(configs(algo))
        search = f" ({algo.method} search over {', '.join(d.name for d in algo.dimensions)})" if algo.dimensions else ""
        printer.print(f"  {escape(algo.label)}: {algo.algorithm.name}, {n} config{'s' * (n != 1)}{search}")
    if estimate is not None:
        from jaxrl_suite.study import format_size

        free = f" ({format_size(free_bytes)} free)" if free_bytes is not None else ""
        programs = f"{estimate.programs} program{'s' * (estimate.programs != 1)}"
        disk = f"checkpoints up to {format_size(estimate.checkpoint_bytes)} on disk{free}"
        printer.print(f"  estimate: {estimate.runs:,} runs, {estimate.env_steps:,} env steps in all; "
                      f"{programs} to compile; {disk}")


def print_summary(outcome) -> None:
    from jaxrl_suite.summary import summary_rows

    table = Table(title=f"{escape(outcome.spec.name)}: final training return "
                        "(each seed's last 100 episodes; mean ± std over seeds)")
    columns = ("algo", "env", "config", "setting", "env steps", "tuning seeds", "test seeds", "eval (test)", "diverged")
    for column in columns:
        table.add_column(column, justify="left" if column in ("algo", "env", "setting") else "right")
    cell = lambda v: "—" if v is None else f"{v[0]:.1f} ± {v[1]:.1f}"
    for row in summary_rows(outcome.table):
        table.add_row(
            escape(row["algo"]), row["env"], str(row["config"]), row["setting"] or "—", f"{row['env_steps']:,}",
            cell(row["tune_train"]), cell(row["test_train"]),
            "—" if row["test_eval"] is None else f"{row['test_eval']:.1f}", str(row["diverged"]),
        )
    printer = _printer()
    if table.row_count:  # a study of tuners only has no per-configuration rows
        printer.print(table)
    if getattr(outcome, "tuners", None) is not None:
        printer.print(_tuner_table(outcome))
    manifest = outcome.manifest
    printer.print(f"wall-clock {manifest['wall_clock_s']:.1f} s on {', '.join(manifest['devices'])}; "
                  f"results in {escape(str(outcome.out_dir))}/")


def _tuner_table(outcome) -> Table:
    import numpy as np

    table = Table(title=f"{escape(outcome.spec.name)}: tuners (output trained from scratch on the test seeds; final "
                        "evaluation return, mean ± std over repetitions x test seeds)")
    for column in ("algo", "env", "tuner", "env steps charged per repetition", "configurations tried", "test eval"):
        table.add_column(column, justify="left" if column in ("algo", "env", "tuner") else "right")
    rows = outcome.tuners.to_pandas()
    for entry in outcome.manifest["tuners"]:
        mine = rows[(rows.algo == entry["algo"]) & (rows.env == entry["env"]) & (rows.seed_role == "test")]
        final = mine[mine.checkpoint == mine.checkpoint.max()].eval_return.to_numpy() if len(mine) else np.array([])
        score = f"{final.mean():.1f} ± {final.std():.1f}" if len(final) else "— (no test seeds)"
        charged = f"{np.mean(entry['charged_env_steps']):,.0f}"
        table.add_row(escape(entry["algo"]), entry["env"], entry["method"], charged,
                      f"{np.mean(entry['configurations_tried']):g}", score)
    return table


def print_line(text: str) -> None:
    """One line of plain text (never read as markup), whole when stdout is not a terminal."""
    _printer().print(text, markup=False, highlight=False)


def print_reproduction(rows) -> None:
    table = Table(title="reproduction: ours vs published (same metric definition)")
    for column in ("env", "algo", "ours (mean ± std)", "published", "diff", "verdict"):
        table.add_column(column)
    style = {"reproduced": "green", "not reproduced": "red", "not comparable": "yellow"}
    for r in rows:
        ours = "—" if r.ours_mean is None else f"{r.ours_mean:.1f} ± {r.ours_std:.1f} (n={r.ours_seeds})"
        diff = "—" if r.difference is None else f"{r.difference:+.1f}"
        verdict = f"[{style[r.verdict]}]{r.verdict}[/]: {r.reason}"
        table.add_row(r.env, r.algo, ours, f"{r.published:.1f}", diff, verdict)
    _printer().print(table)


def _spaces_label(env_id: str) -> str:
    from jaxrl_suite.envs.registry import spaces

    try:
        action, observation = spaces(env_id)
    except Exception:  # an id that cannot be built here (MNISTBandit downloads MNIST when built)
        return "(spaces unknown: cannot be built here)"
    return f"{action} → {observation}"


def print_catalogue() -> None:
    from jaxrl_suite.algos import ALGORITHMS
    from jaxrl_suite.envs import list_envs
    from jaxrl_suite.envs.registry import MASKED_FAMILIES

    printer = _printer()
    envs = list_envs()
    by_family: dict[str, list[str]] = {}
    for env_id in envs:
        by_family.setdefault(env_id.split("/")[0], []).append(env_id)
    printer.print(f"[bold]Environments[/bold] ({len(envs)}; actions → observations)")
    for family, ids in by_family.items():
        masked = " (action masks)" if family in MASKED_FAMILIES else ""
        printer.print(f"  [bold]{family}[/bold]{masked}")
        for env_id in ids:
            printer.print(f"    {env_id}: {_spaces_label(env_id)}")
    printer.print("\n[bold]Algorithms[/bold]")
    for name, algo in sorted(ALGORITHMS.items()):
        printer.print(f"  {name}: {algo.description} [{algo.action_kinds} actions]")
    printer.print("\n[bold]Presets[/bold] (algorithm/preset: source)")
    for name, algo in sorted(ALGORITHMS.items()):
        for preset_name, preset in sorted(algo.presets.items()):
            env = f" [{preset.env_id}]" if preset.env_id else ""
            printer.print(f"  {name}/{preset_name}{env}: {preset.source}")
