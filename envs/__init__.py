"""The suite's environments: one functional interface over gymnax, brax and its own probes.

    from jaxrl_suite.envs import make, list_envs, VecEnv, EpisodeStatistics
    env = make("gymnax/CartPole-v1")
    params = env.default_params
    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

`GymnaxEnv` and `BraxEnv` are loaded on first use, so importing this package does not import
gymnax or brax (seconds each).
"""

from jaxrl_suite.envs.core import Box, Discrete, Environment, auto_reset
from jaxrl_suite.envs.probes import PROBES, ProbeEnv
from jaxrl_suite.envs.registry import UnknownEnvironmentError, list_envs, make
from jaxrl_suite.envs.wrappers import (
    ClipAction,
    EpisodeStatistics,
    FlattenObservation,
    NormalizeVecObservation,
    NormalizeVecReward,
    RunningMeanStd,
    ScaleReward,
    TimeLimit,
    VecEnv,
    Wrapper,
    normalize_observation,
    normalize_reward,
    observation_statistics,
    reward_statistics,
)

_LAZY = {
    "GymnaxEnv": "jaxrl_suite.envs.gymnax_envs",
    "BraxEnv": "jaxrl_suite.envs.brax_envs",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Box",
    "BraxEnv",
    "ClipAction",
    "Discrete",
    "Environment",
    "EpisodeStatistics",
    "FlattenObservation",
    "GymnaxEnv",
    "NormalizeVecObservation",
    "NormalizeVecReward",
    "PROBES",
    "ProbeEnv",
    "RunningMeanStd",
    "ScaleReward",
    "TimeLimit",
    "UnknownEnvironmentError",
    "VecEnv",
    "Wrapper",
    "auto_reset",
    "list_envs",
    "make",
    "normalize_observation",
    "normalize_reward",
    "observation_statistics",
    "reward_statistics",
]
