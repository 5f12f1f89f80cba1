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

PRESETS = {
    "sb3-zoo-cartpole": Preset(
        static=dict(total_env_steps=500_000, network_init="orthogonal"), hparams={}, source=SB3_ZOO,
        env_id="gymnax/CartPole-v1",
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
