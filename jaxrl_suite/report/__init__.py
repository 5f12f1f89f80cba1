"""Reports: what a study says, with its uncertainty and its tuning cost, as report.md + PNGs.

    jaxrl-suite report RESULTS_DIR [--out DIR] [--reps N] [--seed S]
    jaxrl-suite report --external CSV --mapping MAPPING.toml [--out DIR]

Every statistic comes from :mod:`jaxrl_suite.evaluation`; this package decides which runs feed
which statistic and writes the answers down. Its choices, each restated in the report itself:

* One scalar per run before any bootstrap: the run's value at its last checkpoint, for each of
  the two scores, ``train_return`` (each seed's mean over its last 100 training episodes) and
  ``eval_return`` (mean return of the evaluation episodes of the final policy).
* Scale: min-max normalised with the frozen anchors when every environment has anchors; then
  all environments are analysed together. Otherwise raw returns, and every analysis is made per
  environment (raw returns of different environments do not add up).
* Failures: a run's values from its first diverged checkpoint on, and values never recorded
  (NaN: no finished episode yet), are charged the worst score: the anchor ``lo``, or without
  anchors the minimum value observed on that environment for that score.
* Selection: a configuration's tuning score u is the mean of its final scores over tuning seeds
  (and environments), its test score w the same over test seeds. The incumbent is argmax u; the
  aggregate tables, profiles and learning curves show the incumbent's test-seed runs.

Modules, in the order a report is made: ``study`` (read and check a study directory),
``scores`` (scale, failures charged, panels, incumbents), ``analysis`` (every number, the ranking
included), ``plots`` (figures with their captions), ``markdown`` (report.md, rendering only),
``writing`` (publish the directory whole), and ``external`` (the report of a published table).
Bad input raises :class:`ReportError` before anything is written.
"""

from jaxrl_suite.report.analysis import (
    CONFIDENCE,
    DEFAULT_REPS,
    Ranking,
    ScoreAnalysis,
    StudyReport,
    analyse_study,
)
from jaxrl_suite.report.external import write_external_report
from jaxrl_suite.report.scores import Panel, Scale, Scores, charge_failures, panel_final_scores, panels, study_scale
from jaxrl_suite.report.study import (
    REPORT_FILE,
    SCORES,
    SUMMARY_FILE,
    AlgoRuns,
    ReportError,
    Study,
    Unavailable,
    load_study,
)
from jaxrl_suite.report.text import format_interval, format_number, format_steps
from jaxrl_suite.report.writing import write_report

__all__ = [
    "CONFIDENCE", "DEFAULT_REPS", "REPORT_FILE", "SCORES", "SUMMARY_FILE", "AlgoRuns", "Panel", "Ranking",
    "ReportError", "Scale", "ScoreAnalysis", "Scores", "Study", "StudyReport", "Unavailable", "analyse_study",
    "charge_failures", "format_interval", "format_number", "format_steps", "load_study", "panel_final_scores",
    "panels", "study_scale", "write_external_report", "write_report",
]
