"""Ingesting an external long results table (e.g. Adkins et al. 2024) and its validation."""

import gzip
import hashlib
import importlib.resources
import itertools
import re

import numpy as np
import pytest

from jaxrl_suite.evaluation import external as ext
from jaxrl_suite.evaluation.external import ColumnMapping, ExternalDataError

MAPPING = {
    "algorithm": "algo",
    "environment": "env",
    "score": "ret",
    "hyperparameters": ["lr", "opt"],
}

GOOD_ROWS = [
    "algo,env,lr,opt,ret",
    "ppo,cartpole,0.1,adam,10",
    "ppo,cartpole,1e-2,adam,20",
    "ppo,acrobot,0.1,adam,-5",
    "ppo,acrobot,0.01,sgd,-1",
    "dqn,cartpole,0.1,adam,7",
    "dqn,acrobot,0.1,adam,-3",
]


def write(tmp_path, lines, name="table.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


# --- a good table ------------------------------------------------------------------------------


def test_score_matrix_has_nan_where_a_configuration_was_not_run(tmp_path):
    table = ext.read_external_csv(write(tmp_path, GOOD_ROWS), MAPPING)
    assert table.algorithms() == ("dqn", "ppo")
    matrix = table.score_matrix("ppo", normalized=False)
    assert matrix.environments == ("acrobot", "cartpole")
    # Configurations sorted by value: (0.01, adam), (0.01, sgd), (0.1, adam); "1e-2" is 0.01.
    assert matrix.config_keys == ((0.01, "adam"), (0.01, "sgd"), (0.1, "adam"))
    np.testing.assert_array_equal(
        matrix.scores, [[np.nan, -1.0, -5.0], [20.0, np.nan, 10.0]]
    )
    assert matrix.configs["lr"].dtype == np.float64 and matrix.configs["opt"].dtype.kind == "U"


def test_without_a_normalised_column_scores_are_p5_p95_normalised_per_environment(tmp_path):
    table = ext.read_external_csv(write(tmp_path, GOOD_ROWS), MAPPING)
    cartpole = np.array([10.0, 20.0, 7.0])  # every algorithm's rows on cartpole
    lo, hi = np.percentile(cartpole, 5), np.percentile(cartpole, 95)
    matrix = table.score_matrix("ppo")
    np.testing.assert_allclose(matrix.scores[1, [0, 2]], (np.array([20.0, 10.0]) - lo) / (hi - lo))
    assert "p5/p95" in table.normalization


def test_a_given_normalised_column_is_used_as_is(tmp_path):
    rows = ["algo,env,lr,opt,ret,norm"] + [r + f",{i / 10}" for i, r in enumerate(GOOD_ROWS[1:])]
    table = ext.read_external_csv(write(tmp_path, rows), {**MAPPING, "normalized_score": "norm"})
    np.testing.assert_allclose(table.normalized, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])


def test_gzip_and_toml_mapping(tmp_path):
    path = tmp_path / "table.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(GOOD_ROWS) + "\n").encode()))
    spec = tmp_path / "mapping.toml"
    spec.write_text('algorithm = "algo"\nenvironment = "env"\nscore = "ret"\n'
                    'hyperparameters = ["lr", "opt"]\n')
    table = ext.read_external_csv(path, ColumnMapping.from_toml(spec))
    assert table.score.tolist() == [10, 20, -5, -1, 7, -3]


# --- table errors: each names what is wrong and where --------------------------------------------


def test_missing_column_is_named_with_its_mapping_field(tmp_path):
    path = write(tmp_path, [row.rsplit(",", 1)[0] for row in GOOD_ROWS])  # drop "ret"
    expected = r"line 1: column\(s\) 'ret' \(mapping field 'score'\)"
    with pytest.raises(ExternalDataError, match=expected) as err:
        ext.read_external_csv(path, MAPPING)
    assert (err.value.field, err.value.column, err.value.line) == ("score", "ret", 1)


def test_missing_hyperparameter_column_is_named(tmp_path):
    with pytest.raises(ExternalDataError, match=r"'seed' \(mapping field 'hyperparameters'\)"):
        ext.read_external_csv(
            write(tmp_path, GOOD_ROWS), {**MAPPING, "hyperparameters": ["lr", "seed"]}
        )


def test_non_numeric_score_names_column_and_line(tmp_path):
    rows = GOOD_ROWS.copy()
    rows[2] = "ppo,cartpole,1e-2,adam,twenty"
    expected = r"line 3: column 'ret' \(score\) holds 'twenty', not a number"
    with pytest.raises(ExternalDataError, match=expected) as err:
        ext.read_external_csv(write(tmp_path, rows), MAPPING)
    assert (err.value.column, err.value.line) == ("ret", 3)


def test_non_finite_score_is_rejected(tmp_path):
    rows = GOOD_ROWS.copy()
    rows[4] = "ppo,acrobot,0.01,sgd,nan"
    expected = r"line 5: column 'ret' \(score\) holds 'nan', not a finite number"
    with pytest.raises(ExternalDataError, match=expected):
        ext.read_external_csv(write(tmp_path, rows), MAPPING)


def test_empty_cells_are_named(tmp_path):
    rows = GOOD_ROWS.copy()
    rows[3] = ",acrobot,0.1,adam,-5"
    with pytest.raises(ExternalDataError, match=r"line 4: column 'algo' \(algorithm\) is empty"):
        ext.read_external_csv(write(tmp_path, rows), MAPPING)
    rows[3] = "ppo,acrobot,,adam,-5"
    expected = r"line 4: column 'lr' \(hyperparameters\) is empty"
    with pytest.raises(ExternalDataError, match=expected):
        ext.read_external_csv(write(tmp_path, rows), MAPPING)


def test_empty_file_and_header_only_table(tmp_path):
    with pytest.raises(ExternalDataError, match="the file is empty"):
        ext.read_external_csv(write(tmp_path, [""], "empty.csv"), MAPPING)
    with pytest.raises(ExternalDataError, match="header but no data rows"):
        ext.read_external_csv(write(tmp_path, GOOD_ROWS[:1]), MAPPING)


def test_ragged_row_and_repeated_configuration(tmp_path):
    expected = "line 3: expected 5 fields as in the header, got 4"
    with pytest.raises(ExternalDataError, match=expected):
        ext.read_external_csv(write(tmp_path, GOOD_ROWS[:2] + ["ppo,cartpole,0.3,1"]), MAPPING)
    # 0.10 is the same learning rate as 0.1 on line 2.
    with pytest.raises(ExternalDataError, match="line 8: repeats .* of line 2"):
        ext.read_external_csv(write(tmp_path, GOOD_ROWS + ["ppo,cartpole,0.10,adam,11"]), MAPPING)


def test_missing_file():
    with pytest.raises(ExternalDataError, match="file not found"):
        ext.read_external_csv("/nonexistent/table.csv", MAPPING)


def _truncated_gzip(text: str) -> bytes:
    whole = gzip.compress(text.encode())
    return whole[: len(whole) // 2]


UNREADABLE = {  # a file name and how to make it unreadable as a table
    "a directory": ("table.csv", lambda path: path.mkdir()),
    "not UTF-8": ("table.csv", lambda path: path.write_bytes(b"algo,env\n\xff\xfe,\x80\n")),
    "not gzip": ("table.csv.gz", lambda path: path.write_bytes(b"algo,env,lr,opt,ret\n")),
    "a truncated gzip": ("table.csv.gz", lambda path: path.write_bytes(_truncated_gzip("\n".join(GOOD_ROWS * 50)))),
}


@pytest.mark.parametrize("kind", UNREADABLE)
def test_unreadable_table_or_mapping_is_an_error_naming_the_file(tmp_path, kind):
    name, make = UNREADABLE[kind]
    path = tmp_path / name
    make(path)
    with pytest.raises(ExternalDataError, match=f"^{re.escape(str(path))}: "):
        ext.read_external_csv(path, MAPPING)
    if not name.endswith(".gz"):  # the same file given as the column mapping
        with pytest.raises(ExternalDataError, match=f"^{re.escape(str(path))}: "):
            ColumnMapping.from_toml(path)


def test_cli_report_on_an_unreadable_table_exits_2_without_a_traceback(tmp_path, capsys):
    from jaxrl_suite.cli import main

    mapping = tmp_path / "mapping.toml"
    mapping.write_text('algorithm = "algo"\nenvironment = "env"\nscore = "ret"\n')
    (tmp_path / "table.csv").mkdir()
    out = tmp_path / "report"
    table = str(tmp_path / "table.csv")
    assert main(["report", "--external", table, "--mapping", str(mapping), "--out", str(out)]) == 2
    assert "table.csv: cannot read the table" in capsys.readouterr().err and not out.exists()


def test_algorithm_without_an_environment_and_unknown_algorithm(tmp_path):
    table = ext.read_external_csv(write(tmp_path, GOOD_ROWS + ["sac,cartpole,0.1,adam,3"]), MAPPING)
    with pytest.raises(ExternalDataError, match="'sac' has no rows for environment\\(s\\) acrobot"):
        table.score_matrix("sac")
    with pytest.raises(ExternalDataError, match="no rows for algorithm 'a2c' in column 'algo'"):
        table.score_matrix("a2c")


def test_constant_environment_cannot_be_percentile_normalised(tmp_path):
    rows = ["algo,env,lr,opt,ret", "ppo,flat,0.1,adam,1", "ppo,flat,0.2,adam,1"]
    expected = "environment 'flat', column 'ret': percentile normalisation: p95 .* equals p5"
    with pytest.raises(ExternalDataError, match=expected):
        ext.read_external_csv(write(tmp_path, rows), MAPPING)


# --- mapping errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, message, field",
    [
        ({**MAPPING, "seed": "s"}, "unknown mapping field 'seed'", "seed"),
        ({k: v for k, v in MAPPING.items() if k != "score"},
         "mapping field 'score' is required", "score"),
        ({**MAPPING, "hyperparameters": "lr"},
         "'hyperparameters' must be a list of column names, got str", "hyperparameters"),
        ({**MAPPING, "environment": 3},
         "mapping field 'environment' must name a column", "environment"),
        ({**MAPPING, "hyperparameters": ["lr", "ret"]},
         "column 'ret' is named by mapping fields 'score' and 'hyperparameters'",
         "hyperparameters"),
    ],
)
def test_mapping_errors_name_the_field(spec, message, field):
    with pytest.raises(ExternalDataError, match=message) as err:
        ColumnMapping.from_dict(spec)
    assert err.value.field == field


def test_invalid_toml_mapping(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text("algorithm = \n")
    with pytest.raises(ExternalDataError, match="not valid TOML"):
        ColumnMapping.from_toml(spec)


# --- the packaged Adkins data --------------------------------------------------------------------


def test_packaged_copy_is_the_documented_file():
    data = importlib.resources.files("jaxrl_suite") / "data"
    path = data / "adkins2024_data_expected_over_seeds.csv.gz"
    content = gzip.decompress(path.read_bytes())
    # The sha256 is recorded in jaxrl_suite/data/README.md.
    assert hashlib.sha256(content).hexdigest() == (
        "8fb69b62c502528e8f33a1e3f29376bb07070030d60d7bfeb1d14aeb445152c5"
    )
    table = ext.load_adkins2024()
    assert len(table.score) == 12205
    assert len(table.algorithms()) == 7
    assert table.environments() == ("ant", "halfcheetah", "hopper", "swimmer", "walker2d")


def test_adkins_normalised_column_is_exactly_linear_in_mean_return_per_environment():
    table = ext.load_adkins2024()
    anchors = ext.linear_normalization_anchors(table)
    for env, fit in anchors.items():
        assert fit.max_residual < 1e-9, env
        rows = table.environment == env
        rebuilt = (table.score[rows] - fit.low) / (fit.high - fit.low)
        np.testing.assert_allclose(rebuilt, table.normalized[rows], atol=1e-9)
        # One affine map per environment, shared by every algorithm: fitting each algorithm's
        # rows alone gives the same line.
        for algorithm in table.algorithms():
            mine = rows & (table.algorithm == algorithm)
            slope, intercept = np.polyfit(table.score[mine], table.normalized[mine], 1)
            assert slope == pytest.approx(1 / (fit.high - fit.low), rel=1e-9)
            assert -intercept / slope == pytest.approx(fit.low, rel=1e-9, abs=1e-9)


def test_linearity_check_needs_a_normalised_column(tmp_path):
    table = ext.read_external_csv(write(tmp_path, GOOD_ROWS), MAPPING)
    with pytest.raises(ExternalDataError, match="no normalized_score column"):
        ext.linear_normalization_anchors(table)


# --- in-sample tuning curves ---------------------------------------------------------------------


def test_in_sample_curves_reproduce_oracle_8():
    curves = ext.in_sample_tuning_curves([[0.1, 0.5, 0.3, 0.9, 0.7]], range(1, 6))
    np.testing.assert_allclose(
        curves.per_environment_with_replacement, [0.5, 0.66, 0.74, 0.78672, 0.8168], atol=1e-6
    )
    np.testing.assert_allclose(
        curves.per_environment_without_replacement, [0.5, 0.7, 0.8, 0.86, 0.9], atol=1e-6
    )
    # One environment: choosing per environment and choosing one shared setting coincide.
    np.testing.assert_allclose(
        curves.shared_with_replacement, curves.per_environment_with_replacement
    )


def _brute_force_expected_max(values, k, replace):
    draws = (itertools.product(values, repeat=k) if replace
             else itertools.combinations(values, k))
    maxima = [max(d) for d in draws]
    return sum(maxima) / len(maxima)


def test_in_sample_curves_match_enumeration_of_all_draws():
    gamma = np.array([[0.2, 0.9, 0.4, np.nan], [0.6, 0.1, 0.3, 0.8]])
    curves = ext.in_sample_tuning_curves(gamma, [1, 2, 3])
    shared = [(0.2 + 0.6) / 2, (0.9 + 0.1) / 2, (0.4 + 0.3) / 2]  # complete configurations only
    for j, k in enumerate([1, 2, 3]):
        per_env = [np.mean([_brute_force_expected_max([0.2, 0.9, 0.4], k, replace),
                            _brute_force_expected_max([0.6, 0.1, 0.3, 0.8], k, replace)])
                   for replace in (True, False)]
        assert curves.per_environment_with_replacement[j] == pytest.approx(per_env[0])
        assert curves.per_environment_without_replacement[j] == pytest.approx(per_env[1])
        assert curves.shared_with_replacement[j] == pytest.approx(
            _brute_force_expected_max(shared, k, True))
        assert curves.shared_without_replacement[j] == pytest.approx(
            _brute_force_expected_max(shared, k, False))
    # Drawing every configuration gives the per-environment and cross-environment tuned scores.
    full = ext.in_sample_tuning_curves(gamma, [4])
    assert full.per_environment_without_replacement[0] == pytest.approx((0.9 + 0.8) / 2)
    assert full.shared_without_replacement[0] == pytest.approx(0.5)
