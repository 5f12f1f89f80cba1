"""Synchronous advantage actor-critic (A2C: Mnih et al. 2016's A3C without the asynchrony).

One iteration collects `num_steps` steps from each of `num_envs` environments and takes ONE
gradient step on the whole batch, on

    loss = -mean(log pi(a|s) * A) + vf_coef * mean((R - V(s))^2) - ent_coef * mean(entropy)

A and R come from GAE(lambda) (`common.gae`). With the default lambda = 1 they are the classic
n-step estimates: R_t is the discounted sum of the rollout's remaining rewards, bootstrapped from
V at the end of the rollout and where a time limit truncated the episode, cut where it
terminated; A_t = R_t - V(s_t). Advantages are not normalised, as in Stable-Baselines3.

Optimiser: RMSprop over actor and critic together, after clipping the global gradient norm to
`max_grad_norm`. It is the optimiser of the A3C paper and of Stable-Baselines3's A2C, in
PyTorch's form (eps added outside the square root, no bias correction), so SB3's settings
carry over. The learning rate is constant.

Defaults (all traced except the shapes): Stable-Baselines3's A2C defaults with
rl-baselines3-zoo's CartPole-v1 settings (hyperparams/a2c.yml: 8 envs, 500k steps, ent_coef
0) -- lr 7e-4, 5 steps per env per update, gamma 0.99, lambda 1, vf_coef 0.5, max_grad_norm
0.5, RMSprop decay 0.99 and eps 1e-5 -- and SB3's MlpPolicy: separate 2x64 tanh actor and
critic, orthogonal init (gain sqrt 2, 0.01 on the policy head, 1 on the value head), which is
the suite's `ActorCritic`.

The rollout, GAE, network, initialisation and evaluation policy are the actor-critic machinery
of jaxrl_suite/algos/common.py, which PPO uses too; the iteration (`common.policy_gradient_update`)
is shared with REINFORCE, which differs only in its optimisers and in lambda.
"""

from __future__ import annotations

import dataclasses

import optax
from flax import struct

from jaxrl_suite.algos import common
from jaxrl_suite.algos.base import Algorithm, Preset, nonnegative, positive, unit_interval


@dataclasses.dataclass(frozen=True)
class Static:
    total_env_steps: int = 500_000
    num_envs: int = 8
    num_steps: int = 5  # steps per env per gradient step
    network: str = "mlp"  # "mlp" or "cnn" (MinAtar)
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    layer_norm: bool = False
    network_init: str = "orthogonal"  # a scheme of networks.INITIALIZERS
    normalize_obs: bool = False
    normalize_reward: bool = False


@struct.dataclass
class HParams:
    lr: float = positive(7e-4)
    gamma: float = unit_interval(0.99)
    gae_lambda: float = unit_interval(1.0)  # 1: n-step returns over the rollout
    ent_coef: float = nonnegative(0.0)
    vf_coef: float = nonnegative(0.5)
    max_grad_norm: float = nonnegative(0.5)
    rmsprop_decay: float = unit_interval(0.99)
    rmsprop_eps: float = nonnegative(1e-5)


def optimizer(hp: HParams) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(hp.max_grad_norm),
        optax.rmsprop(hp.lr, decay=hp.rmsprop_decay, eps=hp.rmsprop_eps, eps_in_sqrt=False),
    )


def init(key, hp: HParams, static: Static, env, env_params) -> common.ActorCriticState:
    return common.init_actor_critic(key, static, env, env_params, common.actor_critic(env, static), optimizer(hp))


def update(state: common.ActorCriticState, hp: HParams, static: Static, env, env_params):
    """One iteration: collect a rollout, take one RMSprop step on the actor-critic loss."""
    return common.policy_gradient_update(state, hp, static, env, env_params, tx=optimizer(hp),
                                         gae_lambda=hp.gae_lambda, vf_coef=hp.vf_coef)


SB3_ZOO = (
    "Stable-Baselines3 A2C defaults (lr 7e-4 constant, 5 steps, RMSprop alpha 0.99 and eps 1e-5 in PyTorch's form, "
    "vf_coef 0.5, max grad norm 0.5, lambda 1, no advantage normalisation; MlpPolicy with orthogonal init: sqrt 2 "
    "hidden, 0.01 policy, 1 value, zero biases) with rl-baselines3-zoo hyperparams/a2c.yml CartPole-v1 (8 envs, "
    "500k steps, ent_coef 0). Like SB3, a time-limit truncation bootstraps"
)

JUMANJI = (
    "Jumanji's A2C, the agent of its paper's baselines (Bonnet et al., ICLR 2024): jumanji 1.1.2 "
    "jumanji/training/configs/env/{game}.yaml, agents/a2c/a2c_agent.py, setup_train.py. As there: the rollout of "
    "n_steps per env over total_batch_size envs, one gradient step per rollout, lambda-returns (bootstrapping_factor "
    "0.95), loss = policy + 1.0 x mean((G - V)^2) - 0.01 x entropy (l_pg 1, l_td 1, l_en 0.01), advantages not "
    "normalised, a constant learning rate, no gradient clipping (max_grad_norm 1e9 here never binds), the budget "
    "num_epochs x num_learner_steps_per_epoch x n_steps x total_batch_size env steps, illegal actions masked out. "
    "Differs: RMSprop (decay 0.99, eps 1e-5, the suite's A2C optimiser) in place of Adam (optax defaults); "
    "haiku's truncated-normal weights approximated by flax's lecun_normal; one hidden_sizes for both nets where "
    "Jumanji's policy and value MLPs differ in width (the policy's kept); each game's torso as below; a time-limit "
    "truncation bootstraps (Jumanji's Snake time limit ends the episode with discount 0)"
)
JUMANJI_SNAKE = JUMANJI.replace("{game}", "snake") + (
    ". Snake: the suite's MinAtar CNN (one 3x3 conv, 16 channels) then 64 x 64 relu where Jumanji has two 2x2 convs "
    "of 32 channels then policy 64 x 64 / value 128 x 128 relu MLPs"
)
JUMANJI_2048 = JUMANJI.replace("{game}", "game_2048") + (
    ". Game2048: a 128 x 128 relu MLP on the flattened 4x4 board of exponents where Jumanji has three 2x2 convs of "
    "32 channels then policy 128 x 128 / value 256 x 256 relu MLPs"
)
JUMANJI_MINESWEEPER = JUMANJI.replace("{game}", "minesweeper") + (
    ". Minesweeper: a 32 x 32 relu MLP on the flattened 10x10 board where Jumanji embeds each cell (4-d), applies "
    "three 3x3 convs of 8 channels and adds an embedding of the mine count, then 32 x 32 relu layers"
)
_JUMANJI_HPARAMS = dict(gae_lambda=0.95, ent_coef=0.01, vf_coef=1.0, max_grad_norm=1e9)

PRESETS = {
    "sb3-zoo-cartpole": Preset(
        static=dict(total_env_steps=500_000, network_init="orthogonal"), hparams={}, source=SB3_ZOO,
        env_id="gymnax/CartPole-v1",
    ),
    "jumanji-snake": Preset(  # 200 epochs x 500 learner steps x 20 steps x 128 envs
        static=dict(num_envs=128, num_steps=20, total_env_steps=256_000_000, network="cnn", hidden_sizes=(64, 64),
                    activation="relu", network_init="lecun_normal"),
        hparams=dict(_JUMANJI_HPARAMS, lr=3e-4, gamma=0.997), source=JUMANJI_SNAKE, env_id="jumanji/Snake-v1",
    ),
    "jumanji-game2048": Preset(  # 100 x 600 x 50 x 32
        static=dict(num_envs=32, num_steps=50, total_env_steps=96_000_000, hidden_sizes=(128, 128),
                    activation="relu", network_init="lecun_normal"),
        hparams=dict(_JUMANJI_HPARAMS, lr=2e-4, gamma=0.99), source=JUMANJI_2048, env_id="jumanji/Game2048-v1",
    ),
    "jumanji-minesweeper": Preset(  # 100 x 200 x 10 x 128
        static=dict(num_envs=128, num_steps=10, total_env_steps=25_600_000, hidden_sizes=(32, 32),
                    activation="relu", network_init="lecun_normal"),
        hparams=dict(_JUMANJI_HPARAMS, lr=3e-4, gamma=0.99), source=JUMANJI_MINESWEEPER,
        env_id="jumanji/Minesweeper-v0",
    ),
}

A2C = Algorithm(
    name="a2c",
    Static=Static,
    HParams=HParams,
    init=init,
    update=update,
    act=common.act_actor_critic,
    steps_per_iteration=common.rollout_steps,
    action_kinds="both",
    description="A2C: n-step/GAE advantages, one RMSprop step per rollout (Stable-Baselines3 defaults)",
    presets=PRESETS,
    check_static=common.check_rollout_static,
)
