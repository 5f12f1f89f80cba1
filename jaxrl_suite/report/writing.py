"""Writing a study report: report.md, its figures and the study's summary.md, published whole.

The report is written into a temporary sibling directory and swapped into place, so a reader
sees the previous report or the new one, never a half-written mix; bad input raises
:class:`ReportError` before anything is written.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from jaxrl_suite import results
from jaxrl_suite.report import tuners
from jaxrl_suite.report.analysis import DEFAULT_REPS, analyse_study, check_settings
from jaxrl_suite.report.markdown import render_markdown
from jaxrl_suite.report.plots import Figure, study_figures
from jaxrl_suite.report.study import REPORT_FILE, SUMMARY_FILE, ReportError, Unavailable, load_study


def check_destination(out: Path) -> None:
    """Refuse to replace anything but an earlier report (a directory holding report.md)."""
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / REPORT_FILE).is_file():
        raise ReportError(f"{out} exists, is not empty and holds no {REPORT_FILE}; refusing to overwrite it")


def publish(out: Path, write: Callable[[Path], None]) -> Path:
    """Run `write(directory)` into a fresh temporary sibling of `out`, then swap it into place
    (results.py's atomic directory swap), after checking that `out` may be replaced."""
    check_destination(out)
    return results.publish_directory(out, write)


def write_report(results_dir: str | Path, out: str | Path | None = None, *, reps: int = DEFAULT_REPS,
                 seed: int = 0) -> Path:
    """Analyse a study directory and write report.md and its figures into `out` (default
    RESULTS_DIR/report). Raises ReportError, with nothing written, for bad input."""
    check_settings(reps, seed)
    study = load_study(results_dir)
    out = Path(out) if out is not None else Path(results_dir) / "report"
    check_destination(out)
    report = analyse_study(study, reps, seed)

    command = f"jaxrl-suite report {study.path} --out {out} --reps {reps} --seed {seed}"

    def write(directory: Path) -> None:
        made = {score: study_figures(report, analysis, directory)
                for score, analysis in report.analyses.items() if not isinstance(analysis, Unavailable)}
        if report.tuners is not None:
            made["tuners"] = [Figure(tuners.plot(report.tuners, directory), tuners.FIGURE)]
        (directory / REPORT_FILE).write_text(render_markdown(report, made, command), encoding="utf-8")
        if (study.path / SUMMARY_FILE).is_file():  # the per-configuration table, next to the report citing it
            shutil.copyfile(study.path / SUMMARY_FILE, directory / SUMMARY_FILE)

    return publish(out, write)
