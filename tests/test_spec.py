"""Spec validation: every mistake is caught before compiling, named by field, exit 2, nothing written."""

import copy

import pytest
from study_fixtures import assert_run_refuses, toml_text

from jaxrl_suite.cli import main
from jaxrl_suite.spec import SpecError, configs, parse_spec

VALID = {
    "name": "ok",
    "envs": ["gymnax/CartPole-v1"],
    "total_env_steps": 10_000,
    "tuning_seeds": 2,
    "test_seeds": [100, 101],
    "evaluation": {"every_env_steps": 5_000, "episodes": 2},
    "algorithms": [{
        "algorithm": "ppo",
        "preset": "cleanrl",
        "static": {"num_envs": 4},
        "hparams": {"ent_coef": 0.01},
        "search": {"method": "grid", "space": {"lr": [1e-4, 1e-3]}},
    }],
}


def mutate(path, new_value):
    raw = copy.deepcopy(VALID)
    *parents, last = path
    target = raw
    for key in parents:
        target = target[key]
    if new_value is DELETE:
        del target[last]
    else:
        target[last] = new_value
    return raw


DELETE = object()
A = ("algorithms", 0)

MISTAKES = [
    # (what is wrong, mutation path, new value, field named in the message, words in the message)
    ("unknown top-level key", ("total_steps",), 5, "total_steps", "did you mean 'total_env_steps'"),
    ("missing required key", ("name",), DELETE, "name", "missing"),
    ("unknown algorithm", (*A, "algorithm"), "ppo2", "algorithms[0].algorithm", "unknown algorithm"),
    ("unknown environment", ("envs",), ["gymnax/Cartpole-v1"], "envs[0]", "gymnax/CartPole-v1"),
    ("wrong type", (*A, "hparams"), {"ent_coef": "high"}, "algorithms[0].hparams.ent_coef", "must be float"),
    ("bad range", (*A, "hparams"), {"gamma": 1.5}, "algorithms[0].hparams.gamma", "<= 1.0"),
    ("negative learning rate in a grid", (*A, "search"), {"space": {"lr": [1e-3, -1e-3]}},
     "algorithms[0].search.space.lr[1]", "> 0"),
    ("overlapping seeds", ("test_seeds",), [1, 2], "test_seeds", "disjoint"),
    ("impossible shape", (*A, "static"), {"num_envs": 3, "num_minibatches": 4, "num_steps": 5},
     "algorithms[0].static.num_minibatches", "not divisible"),
    ("hyperparameter under static", (*A, "static"), {"lr": 0.1}, "algorithms[0].static.lr", "traced hyperparameter"),
    ("unknown network initialiser", (*A, "static"), {"network_init": "xavier"}, "algorithms[0].static.network_init",
     "'lecun_normal', 'torch_default'"),
    ("shape key under hparams", (*A, "hparams"), {"num_envs": 8}, "algorithms[0].hparams.num_envs",
     "put it under static"),
    ("distribution over a shape key", (*A, "search"),
     {"method": "random", "num_configs": 2, "space": {"num_steps": {"uniform": [1, 8]}}},
     "algorithms[0].search.space.num_steps", "only take a list"),
    ("grid with a distribution", (*A, "search"), {"space": {"lr": {"log_uniform": [1e-4, 1e-2]}}},
     "algorithms[0].search.space.lr", "method = 'random'"),
    ("random search without num_configs", (*A, "search"),
     {"method": "random", "space": {"lr": {"log_uniform": [1e-4, 1e-2]}}},
     "algorithms[0].search.num_configs", "missing"),
    ("log-uniform below zero", (*A, "search"),
     {"method": "random", "num_configs": 2, "space": {"vf_coef": {"log_uniform": [0.0, 1.0]}}},
     "algorithms[0].search.space.vf_coef.log_uniform", "low > 0"),
    ("budget below one iteration", ("total_env_steps",), 100, "total_env_steps", "less than one iteration"),
    ("unknown preset", (*A, "preset"), "cleanrl-atari", "algorithms[0].preset", "unknown preset"),
    ("bad evaluation setting", ("evaluation",), {"episodes": -1}, "evaluation.episodes", ">= 0"),
    ("fixed and searched at once", (*A, "hparams"), {"lr": 1e-3}, "algorithms[0].search.space.lr",
     "both fixed and searched"),
    ("discrete algorithm, continuous env", ("envs",), ["gymnax/Pendulum-v1"], None, None),  # ppo handles both: valid
]


@pytest.mark.parametrize("what, path, value, field, words", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_cli_rejects_mistake_with_field_exit_2_and_writes_nothing(tmp_path, capsys, what, path, value, field, words):
    spec = tmp_path / "spec.toml"
    spec.write_text(toml_text(mutate(path, value)))
    out = tmp_path / "out"
    if field is None:  # a control: the same mutation machinery yields a spec that passes validation
        parse_spec(mutate(path, value))
        return
    assert_run_refuses(spec, out, capsys, field, words)


def test_invalid_toml_is_a_clean_error(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text("name = \n")
    assert main(["run", str(spec), "--quiet"]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_missing_spec_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml"), "--quiet"]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--max-runs-per-chunk", "0"], ["--scale", "2"], ["--scale", "x"], ["--bogus"],
                                  ["--runs-per-device", "0"], ["--runs-per-device", "fill"]])
def test_bad_flags_exit_2(flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", *flag])
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_runs_per_device_takes_auto_or_a_count():
    from jaxrl_suite.cli import build_parser

    parse = lambda *flag: build_parser().parse_args(["run", *flag]).runs_per_device
    assert (parse(), parse("--runs-per-device", "auto"), parse("--runs-per-device", "64")) == (None, None, 64)


def test_grid_is_a_cartesian_product_and_random_search_is_reproducible():
    raw = copy.deepcopy(VALID)
    raw["algorithms"][0]["search"] = {"space": {"lr": [1e-4, 1e-3], "clip_eps": [0.1, 0.2, 0.3]}}
    (algo,) = parse_spec(raw).algorithms
    grid = configs(algo)
    assert len(grid) == 6 and len({tuple(sorted(c.hparams.items())) for c in grid}) == 6

    raw["algorithms"][0]["search"] = {"method": "random", "num_configs": 5, "seed": 3,
                                      "space": {"lr": {"log_uniform": [1e-5, 1e-2]}, "gae_lambda": [0.9, 0.95]}}
    first, second = (configs(parse_spec(raw).algorithms[0]) for _ in range(2))
    assert [c.hparams for c in first] == [c.hparams for c in second]
    assert all(1e-5 <= c.hparams["lr"] <= 1e-2 and c.hparams["gae_lambda"] in (0.9, 0.95) for c in first)


def test_shape_key_in_search_space_makes_separate_groups():
    from jaxrl_suite.study import plan

    raw = copy.deepcopy(VALID)
    raw["algorithms"][0]["search"] = {"space": {"lr": [1e-4, 1e-3], "num_minibatches": [2, 4]}}
    groups, _ = plan(parse_spec(raw))
    assert sorted(g.static.num_minibatches for g in groups) == [2, 4]
    assert all(len(g.runs) == 2 * 4 for g in groups)  # 2 lrs x (2 tuning + 2 test seeds) each


def test_scale_shrinks_the_budget_and_validates_range():
    assert parse_spec(VALID, scale=0.5).total_env_steps == 5_000
    with pytest.raises(SpecError):
        parse_spec(VALID, scale=0.0)


def test_smoke_spec_keeps_one_configuration_and_one_seed_per_program():
    from jaxrl_suite.spec import SMOKE_NOTE, smoke_spec

    raw = copy.deepcopy(VALID)
    raw["algorithms"] = [
        {"algorithm": "ppo", "label": "grid", "static": {"num_envs": 4},
         # num_steps sets shapes: each value is its own program and must survive the cut
         "search": {"space": {"lr": [1e-4, 1e-3, 1e-2], "num_steps": [32, 64]}}},
        {"algorithm": "ppo", "label": "random", "static": {"num_envs": 4},
         "search": {"method": "random", "num_configs": 5, "space": {"lr": {"log_uniform": [1e-5, 1e-2]}}}},
    ]
    spec = parse_spec(raw, scale=0.5)
    smoke = smoke_spec(spec)
    assert smoke.total_env_steps == spec.total_env_steps == VALID["total_env_steps"] // 2
    assert (smoke.tuning_seeds, smoke.test_seeds) == (spec.tuning_seeds[:1], ())
    grid, random = (configs(a) for a in smoke.algorithms)
    assert [(c.hparams["lr"], c.static["num_steps"]) for c in grid] == [(1e-4, 32), (1e-4, 64)]
    assert len(random) == 1 and random[0].hparams == configs(spec.algorithms[1])[0].hparams
    assert smoke.description.startswith(SMOKE_NOTE) and smoke.digest != spec.digest

    no_search = parse_spec({k: v for k, v in VALID.items() if k != "algorithms"}
                           | {"algorithms": [{"algorithm": "ppo"}]})
    assert (smoke_spec(no_search).tuning_seeds, smoke_spec(no_search).test_seeds) == ((), (100,))


def spec_with(algorithm: dict, envs=("gymnax/CartPole-v1",)) -> dict:
    raw = copy.deepcopy(VALID)
    raw["envs"] = list(envs)
    raw["algorithms"] = [algorithm]
    return raw


PENDULUM = ("gymnax/Pendulum-v1",)
ONLY_NAN = [
    # (what can only end in NaN or inf, spec, field named in the message, words in the message)
    ("SAC autotuned from alpha 0 (log 0)", spec_with({"algorithm": "sac", "hparams": {"alpha": 0.0}}, PENDULUM),
     "algorithms[0].hparams.alpha", "log alpha"),
    ("SAC autotuned from a searched alpha 0",
     spec_with({"algorithm": "sac", "search": {"space": {"alpha": [0.1, 0.0]}}}, PENDULUM),
     "algorithms[0].search.space.alpha", "must start > 0"),
    ("DPO alpha 0 (divides)", spec_with({"algorithm": "dpo", "hparams": {"alpha": 0.0}}), "algorithms[0].hparams.alpha",
     "> 0.0"),
    ("DPO beta 0 (divides)", spec_with({"algorithm": "dpo", "hparams": {"beta": 0.0}}), "algorithms[0].hparams.beta",
     "> 0.0"),
    ("SPO eps 0 (divides)", spec_with({"algorithm": "spo", "hparams": {"clip_eps": 0.0}}),
     "algorithms[0].hparams.clip_eps", "> 0.0"),
    ("learning rate overflowing float32", spec_with({"algorithm": "ppo", "hparams": {"lr": 1e39}}),
     "algorithms[0].hparams.lr", "overflows float32"),
    ("learning rate overflowing float32 in a grid",
     spec_with({"algorithm": "a2c", "search": {"space": {"lr": [1e-3, 1e39]}}}),
     "algorithms[0].search.space.lr[1]", "overflows float32"),
    ("learning rate underflowing float32 to 0", spec_with({"algorithm": "ppo", "hparams": {"lr": 1e-50}}),
     "algorithms[0].hparams.lr", "as float32: 0.0"),
    ("the same environment twice", spec_with({"algorithm": "ppo"}, ("gymnax/CartPole-v1", "gymnax/CartPole-v1")),
     "envs", "gymnax/CartPole-v1 listed more than once"),
]


@pytest.mark.parametrize("what, raw, field, words", ONLY_NAN, ids=[m[0] for m in ONLY_NAN])
def test_settings_that_can_only_fail_are_refused_before_running(tmp_path, capsys, what, raw, field, words):
    spec = tmp_path / "spec.toml"
    spec.write_text(toml_text(raw))
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"'{field}'" in err and words in err, err
    assert "Traceback" not in err and not out.exists()


def test_their_valid_neighbours_pass():
    # A fixed temperature may be 0 (no entropy bonus); a small but float32-representable rate is fine.
    parse_spec(spec_with({"algorithm": "sac", "static": {"autotune": False}, "hparams": {"alpha": 0.0}}, PENDULUM))
    parse_spec(spec_with({"algorithm": "dpo", "hparams": {"alpha": 1e-3, "beta": 5.0}}))
    parse_spec(spec_with({"algorithm": "ppo", "hparams": {"lr": 1e-30, "clip_eps": 0.0}}))
    parse_spec(spec_with({"algorithm": "ppo"}, ("gymnax/CartPole-v1", "gymnax/Acrobot-v1")))
