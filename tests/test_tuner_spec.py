"""The [algorithms.tuner] table: mistakes are named by field with exit 2 through the CLI, nothing
written. These only parse (no compile), so they are fast; tests/test_tuner_runs.py runs tuners."""

import pytest
from study_fixtures import assert_run_refuses, toml_text

from jaxrl_suite import tuners
from jaxrl_suite.spec import parse_spec

# PPO with num_envs 4 and num_steps 128: 512 env steps per iteration; segments of 10 iterations.
SEGMENT = 5120
SH = {"method": "successive_halving", "num_configs": 9, "min_env_steps": SEGMENT}  # eta 3: 5,120 .. 46,080
PBT = {"method": "pbt", "population": 4, "ready_env_steps": 2 * SEGMENT, "hyperparameters": ["lr"]}
SPACE = {"lr": {"log_uniform": [1e-4, 1e-2]}, "ent_coef": [0.0, 0.01]}
LISTS = {"lr": [1e-4, 1e-3, 1e-2], "ent_coef": [0.0, 0.01]}  # 6 points


def spec_raw(tuner, space=SPACE, search=None, every=SEGMENT, total=9 * SEGMENT, test_seeds=(100,)):
    return {
        "name": "tuned", "envs": ["gymnax/CartPole-v1"], "total_env_steps": total, "tuning_seeds": 2,
        "test_seeds": list(test_seeds), "evaluation": {"every_env_steps": every, "episodes": 2},
        "algorithms": [{"algorithm": "ppo", "static": {"num_envs": 4}, "search": {"space": space, **(search or {})},
                        "tuner": tuner}],
    }


T = "algorithms[0].tuner"
MISTAKES = [
    # (what is wrong, spec, field named, words in the message)
    ("unknown method", spec_raw({**SH, "method": "bayesian"}), f"{T}.method", "unknown tuner method"),
    ("unknown key", spec_raw({**SH, "etaa": 2}), f"{T}.etaa", "did you mean 'eta'"),
    ("another method's key", spec_raw({**SH, "population": 8}), f"{T}.population", "belongs to pbt"),
    ("eta of 1", spec_raw({**SH, "eta": 1}), f"{T}.eta", "integer in 2.."),
    ("repetitions below 1", spec_raw({**SH, "repetitions": 0}), f"{T}.repetitions", "at least 1"),
    ("minimum budget above the total", spec_raw({**SH, "min_env_steps": 18 * SEGMENT}), f"{T}.min_env_steps",
     "larger than the largest budget"),
    ("minimum budget off the segments", spec_raw({**SH, "min_env_steps": 5000}), f"{T}.min_env_steps",
     "multiple of the segment length"),
    ("maximum budget off the segments", spec_raw({**SH, "max_env_steps": 8 * SEGMENT + 512}), f"{T}.max_env_steps",
     "multiple of the segment length"),
    ("rungs that miss the maximum", spec_raw({**SH, "max_env_steps": 8 * SEGMENT}), f"{T}.max_env_steps",
     "not a power of 3"),
    ("too few configurations for the rungs", spec_raw({**SH, "num_configs": 5}), f"{T}.num_configs", "at least eta^2"),
    ("more configurations than a finite space", spec_raw(SH, space=LISTS), f"{T}.num_configs",
     "the search space (lists only) has 6"),
    ("a grid over a distribution", spec_raw({"method": "grid"}), "algorithms[0].search.space.lr", "lists of values"),
    ("a search method beside the tuner", spec_raw(SH, search={"method": "random"}), "algorithms[0].search.method",
     "only a space"),
    ("iterations straddling segments", spec_raw({"method": "grid"}, space=LISTS, every=5000, total=45_000),
     "evaluation.every_env_steps", "whole number of ppo iterations"),
    ("budget off the segments", spec_raw({"method": "grid"}, space=LISTS, total=9 * SEGMENT + 512), "total_env_steps",
     "multiple of evaluation.every_env_steps"),
    ("exploit quantile above 0.5", spec_raw({**PBT, "exploit_quantile": 0.6}), f"{T}.exploit_quantile", "(0, 0.5]"),
    ("exploit quantile of nobody", spec_raw({**PBT, "exploit_quantile": 0.2}), f"{T}.exploit_quantile",
     "nobody would exploit"),
    ("ready interval off the segments", spec_raw({**PBT, "ready_env_steps": 6000}), f"{T}.ready_env_steps",
     "multiple of the segment length"),
    ("perturbing an unknown hyperparameter", spec_raw({**PBT, "hyperparameters": ["learning_rate"]}),
     f"{T}.hyperparameters[0]", "not a hyperparameter of ppo"),
    ("perturbing a Static setting", spec_raw({**PBT, "hyperparameters": ["num_envs"]}), f"{T}.hyperparameters[0]",
     "PBT changes only traced HParams"),
    ("perturbing a hyperparameter outside the space", spec_raw({**PBT, "hyperparameters": ["gamma"]}),
     f"{T}.hyperparameters[0]", "not in algorithms[0].search.space"),
    ("a shape setting in a tuner's space", spec_raw(SH, space={**SPACE, "num_minibatches": [2, 4]}),
     "algorithms[0].search.space.num_minibatches", "traced hyperparameters only"),
    ("repetitions whose tuning seeds reach the test seeds", spec_raw({**SH, "repetitions": 3}, test_seeds=[2_000_001]),
     f"{T}.repetitions", "reaches the test seeds [2000001]"),
    ("a bad perturb factor", spec_raw({**PBT, "perturb_factors": [0.8, -1.2]}), f"{T}.perturb_factors", "positive"),
]


@pytest.mark.parametrize("what, raw, field, words", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_cli_names_the_tuner_mistake_with_exit_2(tmp_path, capsys, what, raw, field, words):
    spec = tmp_path / "spec.toml"
    spec.write_text(toml_text(raw))
    out = tmp_path / "out"
    assert_run_refuses(spec, out, capsys, field, words)


def test_parsed_settings_carry_the_spec():
    # Hyperband's minimum budget defaults to the smallest max / eta^s that is whole segments: 9 -> 3 -> 1 segment.
    hb = parse_spec(spec_raw({"method": "hyperband", "eta": 3, "repetitions": 2, "seed": 7})).algorithms[0]
    assert hb.method == "tuner" and hb.tuner == tuners.HyperbandSettings(3, SEGMENT, 9 * SEGMENT, hb.dimensions, 2, 7)
    assert [b.rungs[0].configs for b in tuners.plan(hb.tuner).brackets] == [9, 5, 3]  # R = 9: s_max = 2
    pbt = parse_spec(spec_raw(PBT)).algorithms[0].tuner
    assert (pbt.population, pbt.ready_env_steps, pbt.exploit_quantile, pbt.perturb_factors) == (4, 2 * SEGMENT, 0.25,
                                                                                                (0.8, 1.2))
    assert tuners.plan(pbt).decision_points == (2 * SEGMENT, 4 * SEGMENT, 6 * SEGMENT, 8 * SEGMENT, 9 * SEGMENT)
    plain = parse_spec({**spec_raw(SH), "algorithms": [{"algorithm": "ppo", "search": {"space": {"lr": [1e-3]}}}]})
    assert plain.algorithms[0].tuner is None and plain.algorithms[0].method == "grid"  # without the table: as before
