"""Presets for the Craftax, XLand-MiniGrid and Jumanji families: each builds a Static and HParams in
range and passes its algorithm's Static checks on the environments it is meant for.

Construction only: no training, nothing compiled. Craftax ids are left out of the environment
check (tracing a Craftax reset for its observation shape takes seconds); their presets still build.
"""

import pytest

from jaxrl_suite.algos import ALGORITHMS
from jaxrl_suite.algos.base import hparam_range
from jaxrl_suite.envs import list_envs, make

#: (algorithm, preset) -> the environment ids it is checked against (its own env_id, or the family
#: it was written for where the source's environment is not registered)
FAMILY_PRESETS = {
    ("ppo", "xminigrid"): list_envs("xminigrid"),
    ("a2c", "jumanji-snake"): ["jumanji/Snake-v1"],
    ("a2c", "jumanji-game2048"): ["jumanji/Game2048-v1"],
    ("a2c", "jumanji-minesweeper"): ["jumanji/Minesweeper-v0"],
}


@pytest.mark.parametrize(("algorithm", "preset_name"), sorted(FAMILY_PRESETS))
def test_family_preset_builds_and_passes_its_static_checks(algorithm, preset_name):
    algo = ALGORITHMS[algorithm]
    preset = algo.presets[preset_name]
    static, hparams = algo.Static(**preset.static), algo.HParams(**preset.hparams)
    assert isinstance(hparams, algo.HParams)
    for name, value in preset.hparams.items():
        assert hparam_range(algo.HParams, name).problem(float(value)) is None, (name, value)
    env_ids = FAMILY_PRESETS[algorithm, preset_name]
    assert preset.env_id is None or env_ids == [preset.env_id]
    for env_id in env_ids:
        env = make(env_id)
        assert algo.check_static(static, env) == [], env_id
        assert algo.supports(env, env.default_params), env_id
    # Every preset names its source and says where it departs from it.
    assert "Differs:" in preset.source


def test_every_new_family_preset_is_checked_here():
    families = ("craftax", "xminigrid", "jumanji")
    named = {(algo.name, name) for algo in ALGORITHMS.values() for name, preset in algo.presets.items()
             if name.startswith(families) or (preset.env_id or "").startswith(families)}
    # PPO's craftax preset builds in test_algorithm_contract.py; its env is Craftax (see above)
    assert named == set(FAMILY_PRESETS) | {("ppo", "craftax")}
