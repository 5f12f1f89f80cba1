"""Synchronous advantage actor-critic (A2C: Mnih et al. 2016's A3C without the asynchrony).

One iteration collects `num_steps` steps from each of `num_envs` environments and takes ONE
gradient step on the whole batch, on

    loss = -mean(log pi(a|s) * A) + vf_coef * mean((R - V(s))^2) - ent_coef * mean(entropy)

A and R come from GAE(lambda) (`ppo.gae`). With the default lambda = 1 they are the classic
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

The rollout, GAE, network, initialisation and evaluation policy are PPO's (`ppo.collect`,
`ppo.gae`, `ppo.network`, `ppo.init_state`, `ppo.act`); `policy_gradient_step` is shared with
REINFORCE, which differs only in its optimisers and in lambda.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite import distributions as D
from jaxrl_suite.algos import ppo
from jaxrl_suite.algos.base import Algorithm, Preset


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
    lr: float = 7e-4
    gamma: float = 0.99
    gae_lambda: float = 1.0  # 1: n-step returns over the rollout
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    rmsprop_decay: float = 0.99
    rmsprop_eps: float = 1e-5


def optimizer(hp: HParams) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(hp.max_grad_norm),
        optax.rmsprop(hp.lr, decay=hp.rmsprop_decay, eps=hp.rmsprop_eps, eps_in_sqrt=False),
    )


def init(key, hp: HParams, static: Static, env, env_params) -> ppo.TrainState:
    return ppo.init_state(key, static, env, env_params, ppo.network(env, static), optimizer(hp))


def update(state: ppo.TrainState, hp: HParams, static: Static, env, env_params):
    """One iteration: collect a rollout, take one RMSprop step on it."""
    return policy_gradient_step(state, hp, static, env, env_params, optimizer(hp), hp.gae_lambda, hp.vf_coef)


def policy_gradient_step(state: ppo.TrainState, hp, static, env, env_params, tx, gae_lambda, vf_coef):
    """Collect one rollout and take one gradient step of `tx` on the actor-critic loss.

    `hp` needs `gamma` and `ent_coef`. Returns the new state and the iteration's metrics.
    """
    net = ppo.network(env, static)
    state, traj = ppo.collect(state, static, env, env_params, hp.gamma, net)
    next_value = net.apply(state.params, traj.final_obs, method=net.value)
    advantages, returns = ppo.gae(traj, next_value, hp.gamma, gae_lambda)

    def loss_fn(params):
        dist, value = net.apply(params, traj.obs)
        dist = D.mask_logits(dist, traj.action_mask)  # the policy that acted, masks and all
        # The advantages were computed outside, so they are constants here and the policy's
        # gradient is the score-function estimator E[grad log pi(a|s) A].
        policy_loss = -jnp.mean(D.log_prob(dist, traj.action, net.discrete) * advantages)
        value_loss = jnp.mean((returns - value) ** 2)
        entropy = jnp.mean(D.entropy(dist, net.discrete))
        return policy_loss + vf_coef * value_loss - hp.ent_coef * entropy, (policy_loss, value_loss, entropy)

    (loss, (policy_loss, value_loss, entropy)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    stats = dict(policy_loss=policy_loss, value_loss=value_loss, entropy=entropy)
    return ppo.finish_iteration(state, traj, params, opt_state, loss, **stats)


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
    act=ppo.act,
    steps_per_iteration=ppo.steps_per_iteration,
    action_kinds="both",
    description="A2C: n-step/GAE advantages, one RMSprop step per rollout (Stable-Baselines3 defaults)",
    presets=PRESETS,
    check_static=ppo.check_rollout_and_network,
)
