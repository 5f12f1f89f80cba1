"""`jaxrl-suite report`: report.md and figures from a synthetic study directory (no training).

The synthetic study has known per-run scores, so every number the report prints can be checked
against a direct call of the evaluation layer on the same data.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from jaxrl_suite import cli, report, results
from jaxrl_suite.evaluation import (
    aggregates,
    bootstrap,
    external,
    normalization,
    sample_complexity,
    sensitivity,
    tuning,
)

ANCHORED_ENVS = ("gymnax/Acrobot-v1", "gymnax/CartPole-v1")  # sorted, as the report orders them
TUNE_SEEDS = (0, 1, 2)
TEST_SEEDS = (100, 101, 102)
CHECKPOINT_STEPS = np.array([1_000, 2_000, 3_000, 4_000])
LRS = {"alpha": (1e-4, 1e-3, 1e-2), "beta": (3e-4, 3e-3)}
#: (algo, config index, seed, env index, first diverged checkpoint)
DIVERGED = ("beta", 1, 100, 1, 2)
REPS = 300
SEED = 7


def _quality(algo: str, config: int, seed: int, env_index: int) -> float:
    """A final normalised score, distinct per run, deterministic."""
    base = {"alpha": (0.3, 0.95, 0.5), "beta": (0.6, 0.8)}[algo][config]
    wiggle = np.sin(1.3 * seed + 2.1 * config + 0.7 * env_index + len(algo))
    return base + 0.15 * wiggle - 0.05 * env_index


def _table_and_manifest(envs, lo_hi):
    rows = {name: [] for name in (*results.COLUMNS, "hp.lr")}
    for algo, lrs in LRS.items():
        for config, lr in enumerate(lrs):
            for seed in TUNE_SEEDS + TEST_SEEDS:
                for env_index, env in enumerate(envs):
                    lo, hi = lo_hi[env]
                    final = _quality(algo, config, seed, env_index)
                    for checkpoint, steps in enumerate(CHECKPOINT_STEPS):
                        diverged = (algo, config, seed, env_index) == DIVERGED[:4] and checkpoint >= DIVERGED[4]
                        g = final * (checkpoint + 1) / len(CHECKPOINT_STEPS)
                        value = np.nan if diverged else lo + (hi - lo) * g
                        for name, cell in (("study", "synthetic"), ("algo", algo), ("algorithm", "ppo"),
                                           ("env", env), ("config_id", config), ("seed", seed),
                                           ("seed_role", "tune" if seed in TUNE_SEEDS else "test"),
                                           ("checkpoint", checkpoint), ("env_steps", int(steps)),
                                           ("train_return", value), ("eval_return", value + 1.0),
                                           ("episodes", 10 * (checkpoint + 1)), ("diverged", diverged),
                                           ("hp.lr", lr)):
                            rows[name].append(cell)
    table = pa.table({name: pa.array(values) for name, values in rows.items()})
    runs_per_group = len(TUNE_SEEDS + TEST_SEEDS)
    manifest = {
        "study": "synthetic",
        "spec": {"description": "synthetic study for tests",
                 "algorithms": [{"algorithm": "ppo", "label": a,
                                 "search": {"method": "grid", "space": {"lr": list(lrs)}}}
                                for a, lrs in LRS.items()]},
        "tuning_seeds": list(TUNE_SEEDS),
        "test_seeds": list(TEST_SEEDS),
        "configs": {a: [{"config_id": i, "static": {}, "hparams": {"lr": lr, "gamma": 0.99}}
                        for i, lr in enumerate(lrs)]
                    for a, lrs in LRS.items()},
        "groups": [{"algo": a, "algorithm": "ppo", "env": env, "runs": len(lrs) * runs_per_group,
                    "env_steps_per_run": int(CHECKPOINT_STEPS[-1]), "wall_clock_s": 1.5}
                   for a, lrs in LRS.items() for env in envs],
        "env_steps_per_config": {a: {str(i): int(CHECKPOINT_STEPS[-1]) * runs_per_group * len(envs)
                                     for i in range(len(lrs))} for a, lrs in LRS.items()},
        "wall_clock_s": 6.0,
        "devices": ["cpu:cpu"],
        "host": {"platform": "test-host", "cpu_count": 2},
        "versions": {"jax": "0.0-test"},
    }
    return table, manifest


def _anchors(envs):
    anchors = normalization.load_anchors()
    return {env: (anchors[env].lo, anchors[env].hi) for env in envs}


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("study") / "synthetic"
    table, manifest = _table_and_manifest(ANCHORED_ENVS, _anchors(ANCHORED_ENVS))
    return results.write_study(path, table, manifest)


@pytest.fixture(scope="module")
def written(study_dir, tmp_path_factory) -> Path:
    return report.write_report(study_dir, tmp_path_factory.mktemp("out") / "report", reps=REPS, seed=SEED)


@pytest.fixture(scope="module")
def markdown(written) -> str:
    return (written / report.REPORT_FILE).read_text()


# --- the same numbers, computed here straight from the synthetic data --------------------------


def _final_normalised(algo: str, score: str = "train_return") -> np.ndarray:
    """(configs, seeds, envs) in TUNE_SEEDS + TEST_SEEDS order; the diverged run charged 0 (anchor lo)."""
    shift = 0.0 if score == "train_return" else 1.0
    out = np.zeros((len(LRS[algo]), len(TUNE_SEEDS + TEST_SEEDS), len(ANCHORED_ENVS)))
    anchors = normalization.load_anchors()
    for c in range(out.shape[0]):
        for s, seed in enumerate(TUNE_SEEDS + TEST_SEEDS):
            for e, env in enumerate(ANCHORED_ENVS):
                if (algo, c, seed, e) == DIVERGED[:4]:
                    continue  # charged the anchor lo: 0 on the normalised scale
                lo, hi = anchors[env].lo, anchors[env].hi
                raw = lo + (hi - lo) * _quality(algo, c, seed, e) + shift
                out[c, s, e] = normalization.min_max(raw, env)
    return out


def _tune_test(algo: str, score: str = "train_return") -> tuple[np.ndarray, np.ndarray]:
    final = _final_normalised(algo, score)
    n_tune = len(TUNE_SEEDS)
    return final[:, :n_tune].mean(axis=(1, 2)), final[:, n_tune:].mean(axis=(1, 2))


def _incumbent_test_runs(algo: str, score: str = "train_return") -> np.ndarray:
    u, _ = _tune_test(algo, score)
    return _final_normalised(algo, score)[int(np.argmax(u)), len(TUNE_SEEDS):]


def _section(markdown: str, score: str) -> str:
    start = markdown.index(f"(`{score}`)\n")
    following = [markdown.index(f"(`{other}`)\n") for other in report.SCORES
                 if markdown.index(f"(`{other}`)\n") > start]
    return markdown[start:min(following + [len(markdown)])]


def _row(section: str, first_cell: str) -> str:
    return next(line for line in section.splitlines() if line.startswith(f"| {first_cell} |"))


# --- report.md -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("score", ["train_return", "eval_return"])
def test_aggregate_rows_match_the_evaluation_layer(markdown, score):
    runs = {algo: _incumbent_test_runs(algo, score) for algo in LRS}
    functions = {"mean": aggregates.aggregate_mean, "median": aggregates.aggregate_median,
                 "IQM": aggregates.aggregate_iqm,
                 "optimality gap": functools.partial(aggregates.aggregate_optimality_gap, gamma=1.0)}
    expected = bootstrap.interval_estimates(runs, functions, reps=REPS, seed=SEED)
    section = _section(markdown, score)
    for algo in LRS:
        cells = [c.strip() for c in _row(section, algo).strip("|").split("|")]
        assert cells[2] == f"{len(TEST_SEEDS)} test seeds × {len(ANCHORED_ENVS)} env"
        assert cells[3:] == [report.format_interval(expected[algo][name], 3) for name in functions]


def test_probability_of_improvement_matches(markdown):
    runs = {algo: _incumbent_test_runs(algo) for algo in LRS}
    expected = bootstrap.pairwise_interval_estimates({"alpha > beta": (runs["alpha"], runs["beta"])},
                                                     reps=REPS, seed=SEED)["alpha > beta"]
    row = _row(_section(markdown, "train_return"), "alpha > beta")
    assert report.format_interval(expected, 3) in row


def test_both_scores_are_reported_and_labelled(markdown):
    assert "## Final training return (`train_return`)" in markdown
    assert "## Final evaluation return (`eval_return`)" in markdown
    assert "last 100 training episodes" in markdown
    assert "min-max normalised with the frozen anchors" in markdown


def test_report_card_tc1_is_the_mean_test_score_of_a_random_config(markdown):
    section = _section(markdown, "train_return")
    for algo in LRS:
        card = section[section.index(f"#### {algo}"):]
        _, w = _tune_test(algo)
        tc1 = _row(card, "TC@1")
        assert tc1.split("|")[2].strip().startswith(report.format_number(w.mean(), 3) + " [")
        assert f"| N (configurations) | {len(LRS[algo])} |" in card
        assert "| m (tuned hyperparameters) | 1 |" in card
        assert "| TC@10 | not available: k = 10 exceeds the N =" in card


def test_tuning_curve_matches_heldout_curve_with_outer_bootstrap(markdown):
    u, w = _tune_test("alpha")
    expected = tuning.tuning_curve_interval(u, w, np.arange(1, 4), reps=REPS, seed=SEED)
    steps = tuning.tuning_cost_steps([1, 2, 3], CHECKPOINT_STEPS[-1] * len(ANCHORED_ENVS), len(TUNE_SEEDS))
    section = _section(markdown, "train_return")
    table = section[section.index("### Tuning cost: alpha"):]
    for i, k in enumerate((1, 2, 3)):
        estimate = bootstrap.IntervalEstimate(expected.point[i], expected.lo[i], expected.hi[i])
        assert f"| {k} | {steps[i]:,} | {report.format_interval(estimate, 3)} |" in table


def _raw_tuning_curves(algo: str, env_index: int) -> np.ndarray:
    """(configs, checkpoints): mean over tuning seeds of the raw training return (no tuning run diverges)."""
    lo, hi = _anchors(ANCHORED_ENVS)[ANCHORED_ENVS[env_index]]
    fraction = np.arange(1, len(CHECKPOINT_STEPS) + 1) / len(CHECKPOINT_STEPS)
    return np.array([[lo + (hi - lo) * _quality(algo, c, seed, env_index) * fraction for seed in TUNE_SEEDS]
                     for c in range(len(LRS[algo]))]).mean(axis=1)


@pytest.mark.parametrize("env_index", [0, 1])
def test_sample_complexity_matches_both_modes(markdown, env_index):
    env = ANCHORED_ENVS[env_index]
    section = _section(markdown, "train_return")
    for algo in LRS:
        curves = _raw_tuning_curves(algo, env_index)
        # `zhang` mode pools the algorithm's own grid, as the authors' scripts do (one algorithm per pool).
        zhang = sample_complexity.effective_sample_complexity(curves, CHECKPOINT_STEPS, mode="zhang")
        censored = sample_complexity.effective_sample_complexity(
            curves, CHECKPOINT_STEPS, threshold=normalization.load_anchors()[env].threshold)
        row = next(line for line in section.splitlines() if line.startswith(f"| {algo} | {env} |"))
        for result in (censored, zhang):
            assert f"| {report.format_steps(result.value)} [" in row
            assert f"{result.censored_fraction:.0%} of configurations censored" in row


def test_diverged_runs_are_charged_as_failures(study_dir, markdown):
    study = report.load_study(study_dir)
    scores = report.charge_failures(study, "train_return", report.study_scale(study.envs))
    algo, config, seed, env_index, first = DIVERGED
    env = ANCHORED_ENVS[env_index]
    seed_index = int(np.flatnonzero(study.algos[algo].seeds == seed)[0])
    charged = scores.scaled[(algo, env)][config, seed_index]
    assert np.all(charged[first:] == 0.0) and np.all(charged[:first] > 0.0)  # anchor lo, normalised
    assert scores.diverged_runs[algo] == {"tune": 0, "test": 1}
    assert "beta: 1 of 24 runs diverged (0 on tuning seeds, 1 on test seeds)" in markdown
    assert "| diverged runs | 1 of 24, charged as failures |" in markdown


def test_without_anchors_failures_get_the_minimum_observed_and_analyses_are_per_env(tmp_path):
    envs = ("custom/EnvA", "custom/EnvB")
    table, manifest = _table_and_manifest(envs, {"custom/EnvA": (0.0, 100.0), "custom/EnvB": (-50.0, 10.0)})
    study_dir = results.write_study(tmp_path / "raw", table, manifest)
    study = report.load_study(study_dir)
    scale = report.study_scale(study.envs)
    assert not scale.normalised
    scores = report.charge_failures(study, "train_return", scale)
    algo, config, seed, env_index, first = DIVERGED
    env = envs[env_index]
    observed = np.concatenate([study.algos[a].values[("train_return", env)].ravel() for a in LRS])
    seed_index = int(np.flatnonzero(study.algos[algo].seeds == seed)[0])
    assert np.all(scores.raw[(algo, env)][config, seed_index, first:] == np.nanmin(observed))

    out = report.write_report(study_dir, reps=50)
    text = (out / report.REPORT_FILE).read_text()
    assert out == study_dir / "report"
    assert "raw returns (not every environment has anchors" in text
    assert "**custom/EnvA** (raw returns)" in text and "**custom/EnvB** (raw returns)" in text
    assert "*optimality gap*: not available — needs a target score" in text
    assert "| SC_eff on custom/EnvA | not available: no anchor threshold τ for custom/EnvA" in text


def test_fixed_budget_scores_are_read_at_exactly_their_share(markdown):
    # alpha has N = 3 configurations and T = 4,000: FB@1T gives each B/n = 1,333 env steps, a third
    # of the way from the 1,000 to the 2,000 logging point. The synthetic curves rise linearly,
    # g(t) = final * t / 4,000, so every configuration reads final / 3 there (the old rule, the last
    # point at or before B/n, read final / 4 at 1,000). Selection by u keeps the incumbent, whose
    # test-seed mean w / 3 is FB@1T.
    section = _section(markdown, "train_return")
    tuning_cost = section[section.index("### Tuning cost: alpha"):]
    row = _row(tuning_cost, "1 T")
    assert "| 1,333 = 100% of B/n, interpolated between 1,000 and 2,000 |" in row
    u, w = _tune_test("alpha")
    assert f"| {report.format_number(w[int(np.argmax(u))] / 3, 3)} [" in row
    # beta (N = 2) reads FB@1T at 2,000, a logging point
    assert "| 2,000 = 100% of B/n, a logging point |" in _row(section[section.index("### Tuning cost: beta"):], "1 T")
    assert "read at exactly B/n env steps, linearly interpolated" in section


def test_ranking_uses_every_environment_with_raw_returns(tmp_path):
    envs = ("custom/EnvA", "custom/EnvB")
    table, manifest = _table_and_manifest(envs, {"custom/EnvA": (0.0, 100.0), "custom/EnvB": (-50.0, 10.0)})
    out = report.write_report(results.write_study(tmp_path / "raw", table, manifest), reps=50)
    section = _section((out / report.REPORT_FILE).read_text(), "train_return")
    ranking = section[section.index("### Ranking"):section.index("### Tuning cost")]
    multiple = re.search(r"\| FB@(\S+)T held-out \|", ranking).group(1)
    for algo in LRS:
        cells = [c.strip() for c in _row(ranking, algo).strip("|").split("|")]
        for env in envs:  # FB@B of every environment's panel, as its own tuning-cost section has it
            budget_row = _row(section[section.index(f"### Tuning cost: {algo} on {env}"):], f"{multiple} T")
            fixed_budget = [c.strip() for c in budget_row.strip("|").split("|")][4]
            assert f"{env}: {fixed_budget}" in cells[4]
            assert f"{env}: " in cells[2] and f"{env}: " in cells[3]
        assert "mean rank" in cells[4] and cells[6].endswith(" of 2")
    assert "FB@B, mean rank over environments)" in ranking


def test_every_section_is_present_or_says_why_not(markdown):
    for heading in ("## Study", "### Aggregate scores", "### Probability of improvement", "### Tuning cost: alpha",
                    "### Tuning cost: beta", "### Effective sample complexity SC_eff",
                    "### Hyperparameter sensitivity Φ across environments", "#### alpha", "#### beta"):
        assert heading in markdown
    assert "| FB@10×T | not available: each of the n = 3 configurations would train B/n = 3.33 T" in markdown
    assert "| wall-clock, hardware | 3.0 s (its groups' recorded wall-clock) on cpu:cpu |" in markdown
    assert "| tuning seeds | 0, 1, 2 — configurations are selected on these |" in markdown


def test_sensitivity_matches_adkins_on_percentile_normalised_finals(markdown):
    pools = {}
    finals = {}
    anchors = normalization.load_anchors()
    for algo in LRS:
        # back to raw returns: the percentile pool is over raw final returns
        lo = np.array([anchors[e].lo for e in ANCHORED_ENVS])
        hi = np.array([anchors[e].hi for e in ANCHORED_ENVS])
        finals[algo] = _final_normalised(algo) * (hi - lo) + lo
    for e, env in enumerate(ANCHORED_ENVS):
        pools[env] = normalization.percentile_pool(np.concatenate([f[..., e].ravel() for f in finals.values()]))
    for algo, final in finals.items():
        gamma = np.stack([pools[env].apply(final[..., e]) for e, env in enumerate(ANCHORED_ENVS)]).mean(axis=2)
        phi = sensitivity.hyperparameter_sensitivity(gamma)
        row = _row(_section(markdown, "train_return")[_section(markdown, "train_return").index("### Hyperparameter"):],
                   algo)
        assert f"| {report.format_number(phi, 3)} [" in row


# --- figures ----------------------------------------------------------------------------------------------


def test_figures_exist_and_are_valid_pngs(written, markdown):
    import matplotlib.image

    names = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    expected = {f"{kind}_{score}.png" for score in report.SCORES for kind in (
        "learning_curves", "performance_profile", "probability_of_improvement", "tuning_curves", "sensitivity_plane")}
    assert set(names) == expected
    assert {p.name for p in written.glob("*.png")} == expected
    for name in names:
        data = (written / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 20_000
        height, width, _ = matplotlib.image.imread(written / name).shape
        assert height >= 300 and width >= 600


# --- writing and bad input -------------------------------------------------------------------------


def test_cli_writes_the_report_into_the_study_directory(study_dir, tmp_path, capsys):
    out = tmp_path / "cli-report"
    assert cli.main(["report", str(study_dir), "--out", str(out), "--reps", "50", "--seed", "1"]) == 0
    assert (out / report.REPORT_FILE).is_file()
    assert f"wrote {out / report.REPORT_FILE}" in capsys.readouterr().out
    # a second run replaces the earlier report in place
    assert cli.main(["report", str(study_dir), "--out", str(out), "--reps", "60"]) == 0
    assert "60 resamples" in (out / report.REPORT_FILE).read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["cli-report"]  # no staging directories left


def _corrupt(tmp_path: Path, study_dir: Path, which: str) -> Path:
    target = tmp_path / which
    target.mkdir()
    for name in (results.TABLE, results.MANIFEST):
        (target / name).write_bytes((study_dir / name).read_bytes())
    if which == "bad-parquet":
        (target / results.TABLE).write_bytes(b"PAR1 this is not parquet")
    elif which == "bad-manifest":
        (target / results.MANIFEST).write_text("{not json")
    elif which == "manifest-lacks-fields":
        manifest = json.loads((target / results.MANIFEST).read_text())
        del manifest["env_steps_per_config"]
        (target / results.MANIFEST).write_text(json.dumps(manifest))
    return target


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("not-a-study", "is not a study directory"),
    ("bad-parquet", "is not a readable Parquet file"),
    ("bad-manifest", "is not valid JSON"),
    ("manifest-lacks-fields", "lacks env_steps_per_config"),
])
def test_bad_results_directory_exits_2_and_writes_nothing(case, message, study_dir, tmp_path, capsys):
    if case == "missing":
        target = tmp_path / "nowhere"
    elif case == "not-a-study":
        target = tmp_path / "plain"
        target.mkdir()
        (target / "notes.txt").write_text("hello")
    else:
        target = _corrupt(tmp_path, study_dir, case)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert cli.main(["report", str(target)]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("argv, message", [
    (["--reps", "0"], "--reps: must be a positive integer"),
    (["--reps", "many"], "--reps: must be a positive integer"),
    (["--seed", "-1"], "--seed must be a non-negative integer, got -1"),
    (["--seed", "x"], "argument --seed: invalid int value"),
    (["--external", "table.csv"], "--external needs --mapping"),
    (["--mapping", "m.toml"], "--mapping only applies with --external"),
])
def test_bad_flags_exit_2_and_write_nothing(argv, message, study_dir, capsys):
    before = sorted(p.name for p in study_dir.iterdir())
    with_dir = argv if argv[0] == "--external" else [str(study_dir), *argv]
    code = _exit_code(["report", *with_dir])
    assert code == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in study_dir.iterdir()) == before


def _exit_code(argv) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exit_:  # argparse rejects a flag by raising
        return int(exit_.code)


def test_refuses_to_overwrite_a_directory_that_is_not_a_report(study_dir, tmp_path, capsys):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("do not touch")
    assert cli.main(["report", str(study_dir), "--out", str(out), "--reps", "20"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]


# --- external tables -------------------------------------------------------------------------------------

ADKINS_CSV = Path(results.__file__).parent / "data" / "adkins2024_data_expected_over_seeds.csv.gz"
ADKINS_MAPPING = Path(__file__).parents[1] / "benchmarks" / "adkins2024_mapping.toml"


def test_external_report_on_the_adkins_table(tmp_path, capsys):
    out = tmp_path / "adkins"
    assert cli.main(["report", "--external", str(ADKINS_CSV), "--mapping", str(ADKINS_MAPPING), "--out", str(out)]) == 0
    text = (out / report.REPORT_FILE).read_text()
    table = external.load_adkins2024()
    for algo in table.algorithms():
        summary = sensitivity.summarize_sensitivity(table.score_matrix(algo).scores)
        row = _row(text, algo)
        assert f"| {summary.per_environment_tuned:.4f} | {summary.cross_environment_tuned:.4f} | " \
               f"{summary.sensitivity:.4f} |" in row
    assert "confidence intervals (no seeds to resample)" in text
    for name in ("sensitivity_plane.png", "partial_tuning.png", "in_sample_tuning_curves.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_external_mapping_missing_a_field_exits_2(tmp_path, capsys):
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('algorithm = "alg_type"\nenvironment = "env_name"\n')
    out = tmp_path / "out"
    assert cli.main(["report", "--external", str(ADKINS_CSV), "--mapping", str(mapping), "--out", str(out)]) == 2
    assert "mapping field 'score' is required" in capsys.readouterr().err
    assert not out.exists()
