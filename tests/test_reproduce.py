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
    return {"env": "gymnax/CartPole-v1", "algo": "ppo", "metric": "train_return_last100", "value": 490.0,
            "spread": 6.0, "seeds": 3, "steps": 1024, "tolerance": 10.0, "source": "test", **overrides}


def test_ours_is_the_final_checkpoint_mean_and_population_std_and_the_verdict_follows_tolerance():
    (row,) = RP.compare(spec([reference()]), table())
    assert row.ours_mean == pytest.approx(np.mean(FINAL)) and row.ours_std == pytest.approx(np.std(FINAL))
    assert row.ours_seeds == 4 and row.difference == pytest.approx(np.mean(FINAL) - 490.0)
    assert row.verdict == "reproduced"  # |485 - 490| <= 10
    lo, point, hi = row.iqm[1], row.iqm[0], row.iqm[2]
    assert lo <= point <= hi
    (far,) = RP.compare(spec([reference(value=400.0)]), table())
    assert far.verdict == "not reproduced" and "0 of 4 seeds" in far.reason
    (one_seed_hits,) = RP.compare(spec([reference(value=470.0, tolerance=5.0)]), table())  # mean 485 misses
    assert one_seed_hits.verdict == "not reproduced"
    assert "1 of 4 seeds" in one_seed_hits.reason and "470.00 to 500.00" in one_seed_hits.reason


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


def test_markdown_and_csv_carry_every_row():
    s = spec([reference(), reference(metric="last_episode_return")])
    rows = RP.compare(s, table())
    text = RP.markdown(s, rows, {"devices": ["cpu"], "wall_clock_s": 1.0}, None)
    assert text.count("| gymnax/CartPole-v1 |") == 2 and "**reproduced**" in text and "**not comparable**" in text
    assert len(RP.csv_text(rows).strip().splitlines()) == 3
    assert set(RP.METRICS) == set(REFERENCE_METRICS)


def test_bad_references_are_spec_errors():
    for bad, field in [({"metric": "median"}, "references[0].metric"), ({"algo": "dqn"}, "references[0].algo"),
                       ({"env": "gymnax/Pendulum-v1"}, "references[0].env"), ({"tolerance": -1.0}, "references[0].tolerance")]:
        with pytest.raises(SpecError) as error:
            spec([reference(**bad)])
        assert error.value.field == field


def test_reproduce_refuses_a_spec_without_references(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\nenvs = ["gymnax/CartPole-v1"]\ntotal_env_steps = 1024\ntest_seeds = 1\n'
                    '[[algorithms]]\nalgorithm = "ppo"\n')
    assert main(["reproduce", str(path), "--results-dir", str(tmp_path / "out"), "--quiet"]) == 2
    assert "'references'" in capsys.readouterr().err and not (tmp_path / "out").exists()
