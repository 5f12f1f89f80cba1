"""Sensitivity Φ, the c_k curve and effective dimensionality d (Adkins, Bowling & White 2024)."""

import csv
import gzip
import importlib.resources
import importlib.util
import itertools
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrl_suite.evaluation import sensitivity as sens
from jaxrl_suite.evaluation.external import load_adkins2024

HPARAMS = ("gae_lambda", "ent_coef", "actor_lr", "critic_lr")


# --- oracle 11 ----------------------------------------------------------------------------------

ORACLE_GAMMA = [[0.9, 0.2, 0.5], [0.1, 0.8, 0.5]]


def test_oracle_11_per_environment_cross_environment_and_phi():
    assert sens.per_environment_tuned_score(ORACLE_GAMMA) == pytest.approx(0.85, abs=1e-6)
    assert sens.cross_environment_tuned_score(ORACLE_GAMMA) == pytest.approx(0.5, abs=1e-6)
    assert sens.hyperparameter_sensitivity(ORACLE_GAMMA) == pytest.approx(0.35, abs=1e-6)
    summary = sens.summarize_sensitivity(ORACLE_GAMMA)
    assert summary.sensitivity == pytest.approx(0.35, abs=1e-6)
    # All three configurations average 0.5 across environments: ties go to the lowest index.
    assert sens.best_shared_configuration(ORACLE_GAMMA) == 0


# --- a hand-worked case where the eligibility choice changes d ----------------------------------

# Two environments, hyperparameters a, b ∈ {0, 1}. Configuration (1, 1) was only run on env 0.
TOY_CONFIGS = {"a": np.array([0, 0, 1, 1]), "b": np.array([0, 1, 0, 1])}
TOY_GAMMA = np.array([
    # (0,0) (0,1) (1,0) (1,1)
    [0.50, 0.30, 0.35, 1.00],
    [0.50, 0.60, 0.60, np.nan],
])


def test_toy_scores_worked_by_hand():
    # P = (1.0 + 0.6)/2; shared means over complete configs: 0.5, 0.45, 0.475 → X = 0.5 at (0,0).
    assert sens.per_environment_tuned_score(TOY_GAMMA) == pytest.approx(0.8)
    assert sens.cross_environment_tuned_score(TOY_GAMMA) == pytest.approx(0.5)
    assert sens.best_shared_configuration(TOY_GAMMA) == 0
    np.testing.assert_array_equal(sens.complete_configurations(TOY_GAMMA), [1, 1, 1, 0])


def test_toy_partial_tuning_complete_never_reaches_target():
    curve = sens.partial_tuning_curve(TOY_GAMMA, TOY_CONFIGS, eligibility="complete")
    # Tuning a (b held at 0): env0 max(.5,.35), env1 max(.5,.6) → .55; tuning both: same .55.
    np.testing.assert_allclose(curve.scores, [0.5, 0.55, 0.55])
    assert curve.tuned == ((), ("a",), ("a", "b"))
    assert sens.effective_dimensionality(curve, 0.8) is None  # target 0.76


def test_toy_partial_tuning_all_rows_reaches_target_with_both():
    curve = sens.partial_tuning_curve(TOY_GAMMA, TOY_CONFIGS, eligibility="all")
    np.testing.assert_allclose(curve.scores, [0.5, 0.55, 0.8])
    assert sens.effective_dimensionality(curve, 0.8) == 2
    # Lower bars are met earlier: 0.55 ≥ 0.65 · 0.8 = 0.52 and 0.5 ≥ 0.6 · 0.8 = 0.48.
    assert sens.effective_dimensionality(curve, 0.8, fraction=0.65) == 1
    assert sens.effective_dimensionality(curve, 0.8, fraction=0.6) == 0


# --- the Adkins data, checked against a plain loop over the CSV rows -----------------------------


def _rows_by_algorithm():
    """{algorithm: {environment: {config tuple: Γ}}} straight from the packaged CSV."""
    data = importlib.resources.files("jaxrl_suite") / "data"
    path = data / "adkins2024_data_expected_over_seeds.csv.gz"
    table = {}
    with gzip.open(path, "rt", newline="") as f:
        for row in csv.DictReader(f):
            config = tuple(float(row[h]) for h in HPARAMS)
            envs = table.setdefault(row["alg_type"], {})
            score = float(row["percentile_normalized_return"])
            envs.setdefault(row["env_name"], {})[config] = score
    return table


ADKINS_ROWS = _rows_by_algorithm()


def _loop_scores(by_env):
    """P, X, c_k for both eligibilities and d, by nested loops (no shared code with the library)."""
    envs = sorted(by_env)
    per_env = sum(max(by_env[e].values()) for e in envs) / len(envs)
    complete = [c for c in by_env[envs[0]] if all(c in by_env[e] for e in envs)]
    best_shared, cross = None, -np.inf
    for c in sorted(complete):
        mean = sum(by_env[e][c] for e in envs) / len(envs)
        if mean > cross:
            best_shared, cross = c, mean
    curves = {}
    for eligibility in ("complete", "all"):
        curve = []
        for k in range(len(HPARAMS) + 1):
            best = -np.inf
            for tuned in itertools.combinations(range(len(HPARAMS)), k):
                total = 0.0
                for e in envs:
                    best_here = -np.inf
                    for c, score in by_env[e].items():
                        if eligibility == "complete" and c not in complete:
                            continue
                        held = [j for j in range(len(HPARAMS)) if j not in tuned]
                        if any(c[j] != best_shared[j] for j in held):
                            continue
                        best_here = max(best_here, score)
                    total += best_here
                best = max(best, total / len(envs))
            curve.append(best)
        curves[eligibility] = curve
    d = {
        eligibility: next((k for k, c in enumerate(curve) if c >= 0.95 * per_env), None)
        for eligibility, curve in curves.items()
    }
    return per_env, cross, curves, d


@pytest.fixture(scope="module")
def adkins_table():
    return load_adkins2024()


@pytest.mark.parametrize("algorithm", sorted(ADKINS_ROWS))
def test_adkins_scores_match_plain_loops(adkins_table, algorithm):
    per_env, cross, curves, d = _loop_scores(ADKINS_ROWS[algorithm])
    matrix = adkins_table.score_matrix(algorithm)
    summary = sens.summarize_sensitivity(matrix.scores)
    assert summary.per_environment_tuned == pytest.approx(per_env, abs=1e-9)
    assert summary.cross_environment_tuned == pytest.approx(cross, abs=1e-9)
    assert summary.sensitivity == pytest.approx(per_env - cross, abs=1e-9)
    for eligibility in ("complete", "all"):
        curve = sens.partial_tuning_curve(matrix.scores, matrix.configs, eligibility)
        np.testing.assert_allclose(curve.scores, curves[eligibility], atol=1e-9)
        assert sens.effective_dimensionality(curve, per_env) == d[eligibility]


def test_adkins_eligibility_choice_changes_d_for_some_variants():
    changed = [a for a, rows in ADKINS_ROWS.items() if len(set(_loop_scores(rows)[3].values())) > 1]
    assert changed, "the reference notes say d depends on the eligibility choice for some variants"
    assert len(changed) < len(ADKINS_ROWS)


# --- properties on random score matrices ------------------------------------------------------


@st.composite
def score_matrices(draw):
    """Γ over a full grid of 2–3 hyperparameters with 2 values each, some cells missing, at least
    one configuration complete."""
    num_hparams = draw(st.integers(2, 3))
    num_envs = draw(st.integers(1, 4))
    grid = list(itertools.product([0.0, 1.0], repeat=num_hparams))
    # Positive scores: d is defined relative to a positive per-environment tuned score.
    values = draw(st.lists(st.floats(0.125, 2, width=32),
                           min_size=num_envs * len(grid), max_size=num_envs * len(grid)))
    missing = draw(st.lists(st.booleans(), min_size=num_envs * len(grid),
                            max_size=num_envs * len(grid)))
    gamma = np.array(values, dtype=np.float64).reshape(num_envs, len(grid))
    gamma[np.array(missing).reshape(gamma.shape)] = np.nan
    gamma[:, draw(st.integers(0, len(grid) - 1))] = draw(st.floats(0.125, 2, width=32))
    configs = {f"h{j}": np.array([g[j] for g in grid]) for j in range(num_hparams)}
    return gamma, configs


@settings(max_examples=60, deadline=None)
@given(score_matrices())
def test_partial_tuning_curve_properties(case):
    gamma, configs = case
    per_env = sens.per_environment_tuned_score(gamma)
    cross = sens.cross_environment_tuned_score(gamma)
    complete = sens.partial_tuning_curve(gamma, configs, "complete")
    every_row = sens.partial_tuning_curve(gamma, configs, "all")
    assert per_env >= cross - 1e-12
    for curve in (complete, every_row):
        assert curve.scores[0] == pytest.approx(cross)
        assert np.all(np.diff(curve.scores) >= -1e-12)  # tuning more never hurts
    assert every_row.scores[-1] == pytest.approx(per_env)
    assert complete.scores[-1] <= per_env + 1e-12
    assert np.all(every_row.scores >= complete.scores - 1e-12)
    d_complete = sens.effective_dimensionality(complete, per_env)
    d_all = sens.effective_dimensionality(every_row, per_env)
    assert d_all is not None and d_all <= len(configs)
    assert d_complete is None or d_all <= d_complete


# --- input checks -------------------------------------------------------------------------------


def test_rejects_environment_without_scores():
    with pytest.raises(ValueError, match=r"environment rows \[1\]"):
        sens.per_environment_tuned_score([[0.1, 0.2], [np.nan, np.nan]])


def test_rejects_when_no_configuration_is_complete():
    with pytest.raises(ValueError, match="no configuration has a score on every environment"):
        sens.cross_environment_tuned_score([[0.1, np.nan], [np.nan, 0.2]])


def test_effective_dimensionality_needs_a_positive_target():
    curve = sens.partial_tuning_curve(TOY_GAMMA, TOY_CONFIGS, eligibility="all")
    with pytest.raises(ValueError, match="positive per-environment tuned score"):
        sens.effective_dimensionality(curve, -0.2)


def test_rejects_unknown_eligibility_and_repeated_configurations():
    with pytest.raises(ValueError, match="eligibility"):
        sens.partial_tuning_curve(TOY_GAMMA, TOY_CONFIGS, eligibility="some")
    with pytest.raises(ValueError, match="identical hyperparameter values"):
        sens.partial_tuning_curve(TOY_GAMMA, {"a": np.array([0, 0, 1, 1])})
    with pytest.raises(ValueError, match="one per configuration"):
        sens.partial_tuning_curve(TOY_GAMMA, {"a": np.array([0, 1])})


# --- figures ------------------------------------------------------------------------------------


def test_performance_sensitivity_plane_is_labelled():
    summaries = {
        "base": sens.SensitivitySummary(per_environment_tuned=1.2, cross_environment_tuned=1.1),
        "variant": sens.SensitivitySummary(per_environment_tuned=1.3, cross_environment_tuned=1.05),
    }
    fig = sens.plot_performance_sensitivity_plane(
        summaries, reference="base", labels={"base": "PPO"}
    )
    ax = fig.axes[0]
    assert "Φ" in ax.get_xlabel() and "per-environment tuned" in ax.get_ylabel()
    assert ax.get_title()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "PPO" in legend and "variant" in legend
    points = sorted((line.get_xdata()[0], line.get_ydata()[0]) for line in ax.lines
                    if line.get_linestyle() == "None")
    assert points == [pytest.approx((0.1, 1.2)), pytest.approx((0.25, 1.3))]
    with pytest.raises(ValueError, match="reference"):
        sens.plot_performance_sensitivity_plane(summaries, reference="missing")


def test_partial_tuning_figure_marks_d_per_curve():
    curves = {"toy": [sens.partial_tuning_curve(TOY_GAMMA, TOY_CONFIGS, eligibility)
                      for eligibility in ("complete", "all")]}
    fig = sens.plot_partial_tuning_curves(curves, {"toy": 0.8})
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "d = 2 (all)" in legend
    assert not any("(complete)" in text and text.startswith("d =") for text in legend)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title() == "toy"


# --- the benchmark script end to end ------------------------------------------------------------


def test_adkins_benchmark_writes_table_and_figures(tmp_path):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "adkins2024_sensitivity.py"
    spec = importlib.util.spec_from_file_location("adkins2024_sensitivity", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    assert module.main(["--out-dir", str(tmp_path)]) == 0
    report = (tmp_path / "adkins2024_sensitivity.md").read_text()
    for name in ADKINS_ROWS:
        per_env, cross, _, d = _loop_scores(ADKINS_ROWS[name])
        # The summary table is the one whose rows have eight cells.
        rows = [[c.strip() for c in line.strip("|").split("|")] for line in report.splitlines()
                if line.startswith("| ")]
        cells = next(r for r in rows if len(r) == 8 and r[1] == f"`{name}`")
        assert cells[3:] == [f"{per_env:.4f}", f"{cross:.4f}", f"{per_env - cross:.4f}",
                             str(d["complete"]), str(d["all"])]
    assert "python benchmarks/adkins2024_sensitivity.py --out-dir" in report
    for figure in ("adkins2024_performance_sensitivity.png", "adkins2024_partial_tuning.png",
                   "adkins2024_tuning_curves.png"):
        assert (tmp_path / figure).stat().st_size > 10_000
        assert f"]({figure})" in report
