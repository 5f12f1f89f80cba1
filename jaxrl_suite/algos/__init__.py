"""The algorithm registry: name -> Algorithm (see base.py for the contract)."""

from jaxrl_suite.algos.a2c import A2C
from jaxrl_suite.algos.base import Algorithm, Preset
from jaxrl_suite.algos.dpo import DPO
from jaxrl_suite.algos.dqn import DQN
from jaxrl_suite.algos.ppo import PPO
from jaxrl_suite.algos.ppo_variants import PPO_ADVN, PPO_GAE, PPO_GRPO, PPO_VANILLA
from jaxrl_suite.algos.pqn import PQN
from jaxrl_suite.algos.reinforce import REINFORCE
from jaxrl_suite.algos.sac import SAC
from jaxrl_suite.algos.spo import SPO

ALGORITHMS: dict[str, Algorithm] = {algo.name: algo for algo in (PPO, SAC, DQN, PQN, A2C, REINFORCE, PPO_GAE, PPO_VANILLA, PPO_GRPO, PPO_ADVN, DPO, SPO)}

__all__ = ["ALGORITHMS", "Algorithm", "Preset"]
