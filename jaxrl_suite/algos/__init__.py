"""The algorithm registry: name -> Algorithm (see base.py for the contract)."""

from jaxrl_suite.algos.base import Algorithm, Preset
from jaxrl_suite.algos.ppo import PPO

ALGORITHMS: dict[str, Algorithm] = {algo.name: algo for algo in (PPO,)}

__all__ = ["ALGORITHMS", "Algorithm", "Preset"]
