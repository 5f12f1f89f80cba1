"""Reproduction tables: our number in the source's metric, a verdict per row, nothing dropped."""

import numpy as np
import pyarrow as pa
import pytest

from jaxrl_suite import reproduce as RP
from jaxrl_suite.cli import main
from jaxrl_suite.spec import REFERENCE_METRICS, SpecError, parse_spec

FINAL = [480.0, 490.0, 500.0, 470.0]  # last-checkpoint training returns of four seeds


def spec(references, **evaluation):
    return parse_spec({
        "name": "r", "envs": ["gymnax/CartPole-v1", "gymnax/Acrobot-v1"], "total_env_steps": 1024, "test_seeds": 4,
        "evaluation": {"every_env_steps": 512, **evaluation},
        "algorithms": [{"algorithm": "ppo", "static": {"num_envs": 4, "num_steps": 128, "num_minibatches": 4}}],
        "references": references,
    })


def table():
    rows = []
    for seed, final in enumerate(FINAL):
        for checkpoint, steps in enumerate((512, 1024)):
            rows.append(dict(algo="ppo", env="gymnax/CartPole-v1", config_id=0, seed=seed, checkpoint=checkpoint,
                             env_steps=steps, train_return=final / (2 - checkpoint), eval_return=final + 5,
                             diverged=False))
    return pa.Table.from_pylist(rows)


def reference(**overrides):
    """A reference entry; an override of None leaves that key out."""
    entry = {"env": "gymnax/CartPole-v1", "algo": "ppo", "metric": "train_return_last100", "value": 490.0,
             "spread": 6.0, "seeds": 3, "steps": 1024, "tolerance": 10.0, "source": "test", **overrides}
    return {key: value for key, value in entry.items() if value is not None}


def test_ours_is_the_final_checkpoint_mean_and_population_std_and_the_tolerance_rule_is_a_second_column():
    (row,) = RP.compare(spec([reference()]), table())
    assert row.ours_mean == pytest.approx(np.mean(FINAL)) and row.ours_std == pytest.approx(np.std(FINAL))
    assert row.ours_seeds == 4 and row.difference == pytest.approx(np.mean(FINAL) - 490.0)
    assert row.ours_values == (470.0, 480.0, 490.0, 500.0)
    assert row.within_tolerance is True  # |485 - 490| <= 10
    lo, point, hi = row.iqm[1], row.iqm[0], row.iqm[2]
    assert lo <= point <= hi
    (far,) = RP.compare(spec([reference(value=400.0)]), table())
    # 3 seeds drawn from ours never average below 470: the published 400 cannot come from us.
    assert far.verdict == "not reproduced" and far.within_tolerance is False
    assert far.p_value < 0.001 and "below ours" in far.reason


def collapsing_table(good=500.0, collapsed=100.0):
    """PQN on CartPole as the issue saw it: 7 of 10 seeds solve the task, 3 collapse late."""
    finals = [good] * 7 + [collapsed] * 3
    return pa.Table.from_pylist([
        dict(algo="ppo", env="gymnax/CartPole-v1", config_id=0, seed=seed, checkpoint=0, env_steps=1024,
             train_return=final, eval_return=final, diverged=False) for seed, final in enumerate(finals)])


def test_the_verdict_accounts_for_the_published_seed_count():
    # Ours: 7 seeds at 500 and 3 at 100, mean 380; published 495 ± 6.89 over 3 seeds, tolerance 25.
    # The old rule compares 380 with 495: outside the tolerance. But 3 seeds drawn from ours are all
    # good with probability 0.7^3 = 0.343, and then their mean is 500. Three draws give means
    # 500 (0.343), 366.7 (3·0.7²·0.3 = 0.441), 233.3 (3·0.7·0.3² = 0.189), 100 (0.3³ = 0.027), at distances
    # 120, 13.3, 146.7, 280 from 380; the published 495 lies 115 away, so
    # p_mean = 0.343 + 0.189 + 0.027 = 0.559. Spread: the std of 3 draws is 0 when all three agree
    # (0.343 + 0.027 = 0.370) and 188.6 otherwise, so P(std <= 6.89) = 0.370, P(std >= 6.89) = 0.630,
    # p_spread = 2·0.370 = 0.740. Combined (Bonferroni): min(1, 2·min(0.559, 0.740)) = 1.
    (row,) = RP.compare(spec([reference(value=495.0, spread=6.89, tolerance=25.0)]), collapsing_table())
    assert row.within_tolerance is False
    assert row.verdict == "reproduced" and row.p_value == 1.0
    assert row.p_mean == pytest.approx(0.559, abs=0.01) and row.p_spread == pytest.approx(0.740, abs=0.01)
    # Collapsed: below the midpoint of CartPole's random-policy return 22.36 and 495, 258.68.
    assert row.collapse_below == pytest.approx(258.68) and row.collapsed == 3
    # One published seed of 150, 230 from our mean: a single draw lies as far only when it is a
    # collapsed seed (100, 280 away; a good one is 120 away), so p = 0.3.
    (one,) = RP.compare(spec([reference(value=150.0, spread=None, seeds=1)]), collapsing_table())
    assert one.p_spread is None and one.p_value == pytest.approx(0.3, abs=0.01)
    # A published spread ours cannot produce rejects even a matching mean: 3 draws from {500, 100}
    # have std 0 or 188.6, never 400 (P(std >= 400) = 0, so p_spread = 2/(1 + 100,000)).
    (spread,) = RP.compare(spec([reference(value=380.0, spread=400.0)]), collapsing_table())
    assert spread.p_mean > 0.5 and spread.verdict == "not reproduced"


@pytest.mark.parametrize("overrides, evaluation, reason", [
    ({"metric": "last_episode_return"}, {}, "last training episode"),
    ({"metric": "eval_stochastic_164"}, {}, "164 episodes"),
    ({"steps": 500_000}, {}, "budget differs"),
    ({"env": "gymnax/Acrobot-v1"}, {}, "no runs"),
])
def test_rows_that_measure_something_else_are_not_comparable_with_a_reason(overrides, evaluation, reason):
    (row,) = RP.compare(spec([reference(**overrides)], **evaluation), table())
    assert row.verdict == "not comparable" and reason in row.reason


def test_stochastic_evaluation_metric_uses_eval_return_when_the_spec_evaluates_that_way():
    (row,) = RP.compare(spec([reference(metric="eval_stochastic_164")], episodes=164, deterministic=False), table())
    assert row.verdict != "not comparable" and row.ours_mean == pytest.approx(np.mean(FINAL) + 5)


def test_markdown_and_csv_carry_every_row_and_the_method():
    s = spec([reference(), reference(metric="last_episode_return")])
    rows = RP.compare(s, table())
    text = RP.markdown(s, rows, {"devices": ["cpu"], "wall_clock_s": 1.0}, None)
    assert text.count("| gymnax/CartPole-v1 |") == 2 and "**reproduced**" in text and "**not comparable**" in text
    assert "470, 480, 490, 500" in text and "within ±10" in text and RP.VERDICT_METHOD in text
    assert "did not bootstrap" not in text and "gym-era" not in text  # each source's truncation is a row note
    assert len(RP.csv_text(rows).strip().splitlines()) == 3
    assert set(RP.METRICS) == set(REFERENCE_METRICS)


def test_bad_references_are_spec_errors():
    for bad, field in [({"metric": "median"}, "references[0].metric"), ({"algo": "dqn"}, "references[0].algo"),
                       ({"env": "gymnax/Pendulum-v1"}, "references[0].env"),
                       ({"tolerance": -1.0}, "references[0].tolerance")]:
        with pytest.raises(SpecError) as error:
            spec([reference(**bad)])
        assert error.value.field == field


def test_reproduce_refuses_a_spec_without_references(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\nenvs = ["gymnax/CartPole-v1"]\ntotal_env_steps = 1024\ntest_seeds = 1\n'
                    '[[algorithms]]\nalgorithm = "ppo"\n')
    assert main(["reproduce", str(path), "--results-dir", str(tmp_path / "out"), "--quiet"]) == 2
    assert "'references'" in capsys.readouterr().err and not (tmp_path / "out").exists()


SPEC_TOML = """name = "r"
envs = ["gymnax/CartPole-v1"]
total_env_steps = 1024
test_seeds = 4
[evaluation]
every_env_steps = 512
[[algorithms]]
algorithm = "ppo"
static = {num_envs = 4, num_steps = 128, num_minibatches = 4}
[[references]]
env = "gymnax/CartPole-v1"
algo = "ppo"
metric = "train_return_last100"
value = 490.0
seeds = 3
steps = 1024
tolerance = TOLERANCE
source = "test"
"""


def finished_study(tmp_path):
    """A spec file and the complete study directory an earlier `reproduce` of it left (no training)."""
    from jaxrl_suite import results as R
    from jaxrl_suite.spec import load_spec

    path = tmp_path / "r.toml"
    path.write_text(SPEC_TOML.replace("TOLERANCE", "10.0"))
    trained = load_spec(path)
    rows = table().to_pylist()
    full = pa.Table.from_pylist([{**r, "study": "r", "algorithm": "ppo", "seed_role": "test", "episodes": 1}
                                 for r in rows])
    R.write_study(tmp_path / "out" / "r", full, {"spec": trained.raw, "total_env_steps": trained.total_env_steps,
                                                 "devices": ["cpu:cpu"], "wall_clock_s": 1.0, "git_revision": "abc"})
    return path


def test_from_results_remakes_the_table_without_training_and_takes_new_references(tmp_path, capsys):
    path = finished_study(tmp_path)
    path.write_text(SPEC_TOML.replace("TOLERANCE", "2.0"))  # references may change after training
    argv = ["reproduce", str(path), "--results-dir", str(tmp_path / "out"), "--from-results", "--quiet"]
    assert main(argv) == 0
    text = (tmp_path / "out" / "r.md").read_text()
    assert "--from-results` at git" in text and "outside ±2" in text and "470, 480, 490, 500" in text
    assert (tmp_path / "out" / "r.csv").is_file() and (tmp_path / "out" / "r" / "learning_curves.png").is_file()
    # Anything that changes training is refused, with the field named and nothing written.
    (tmp_path / "out" / "r.md").unlink()
    path.write_text(SPEC_TOML.replace("TOLERANCE", "2.0").replace("test_seeds = 4", "test_seeds = 5"))
    assert main(argv) == 2
    assert "test_seeds" in capsys.readouterr().err and not (tmp_path / "out" / "r.md").exists()
    assert main([*argv[:3], str(tmp_path / "elsewhere"), *argv[4:]]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 2
