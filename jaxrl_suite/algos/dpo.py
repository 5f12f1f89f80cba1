"""Discovered Policy Optimisation (Lu et al. 2022, NeurIPS): PPO with a discovered drift.

Lu et al. meta-learned the drift function of a Mirror Learning algorithm (Kuba et al. 2022),
then read a closed form off what had been learnt. DPO maximises, per sample,

    r A - f(r, A),   r = pi(a|s) / pi_old(a|s),  A the advantage,

    f(r, A) = ReLU( (r - 1) A  -  alpha tanh((r - 1) A / alpha) )   if A >= 0
    f(r, A) = ReLU( log(r) A   -  beta  tanh(log(r) A / beta)  )    if A <  0

with alpha = 2 and beta = 0.6 (`alpha`, `beta` below: traced, so they can be swept like any
other hyperparameter). As a Mirror Learning drift must be, f is >= 0 and vanishes with zero
slope at r = 1 (x - c tanh(x / c) ~ x^3 / (3 c^2) near 0), so near the old policy the update is
the plain policy gradient. f is positive only once the ratio has moved in the advantage's
direction (r > 1 for A > 0, r < 1 for A < 0), and grows smoothly, unlike PPO's hard clip. For
negative advantages it measures the move in log r, which is unbounded as r -> 0 where r - 1
could not pass -1: pushing an action's probability to zero is penalised without limit.

Everything else is PPO's, from the shared machinery (jaxrl_suite/algos/common.py) with this
objective in place of the clipped surrogate: rollout, GAE, the clipped value loss (clip_eps now
serves only there), advantage normalisation, epochs of minibatches, and CleanRL's defaults.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_suite.algos import common
from jaxrl_suite.algos.base import Algorithm, Preset, positive

Static = common.SurrogateStatic  # PPO's


@struct.dataclass
class HParams(common.SurrogateHParams):  # PPO's, and the drift's two scales
    alpha: float = positive(2.0)  # drift scale for positive advantages (Lu et al.)
    beta: float = positive(0.6)  # drift scale for negative advantages (Lu et al.)


def drift(log_ratio: jax.Array, advantages: jax.Array, hp: HParams) -> jax.Array:
    """DPO's drift f(r, A) >= 0, from log r (exact where r itself would underflow)."""
    move = (jnp.exp(log_ratio) - 1.0) * advantages
    log_move = log_ratio * advantages
    positive = jax.nn.relu(move - hp.alpha * jnp.tanh(move / hp.alpha))
    negative = jax.nn.relu(log_move - hp.beta * jnp.tanh(log_move / hp.beta))
    return jnp.where(advantages >= 0, positive, negative)


def objective(log_ratio: jax.Array, advantages: jax.Array, hp: HParams) -> jax.Array:
    """DPO's per-sample objective, to be maximised: r A - f(r, A)."""
    return jnp.exp(log_ratio) * advantages - drift(log_ratio, advantages, hp)


def init(key, hp: HParams, static: Static, env, env_params) -> common.ActorCriticState:
    net, tx = common.actor_critic(env, static), common.annealed_adam(hp, static)
    return common.init_actor_critic(key, static, env, env_params, net, tx)


def update(state: common.ActorCriticState, hp: HParams, static: Static, env, env_params):
    """PPO's iteration (GAE, epochs of minibatches, annealed Adam) with DPO's objective."""
    net, tx = common.actor_critic(env, static), common.annealed_adam(hp, static)
    return common.surrogate_update(state, hp, static, env, env_params, net=net, tx=tx, objective=objective,
                                   advantages=common.gae_advantages)


SOURCE = (
    "alpha 2, beta 0.6 from Lu et al. 2022 (Discovered Policy Optimisation, NeurIPS); everything else CleanRL's "
    "PPO CartPole-v1 settings, its init and once-per-iteration lr annealing included (the suite's choice: the "
    "paper tuned on Brax and MinAtar)"
)

DPO = Algorithm(
    name="dpo",
    Static=Static,
    HParams=HParams,
    init=init,
    update=update,
    act=common.act_actor_critic,
    steps_per_iteration=common.rollout_steps,
    action_kinds="both",
    description="DPO: PPO with Lu et al.'s discovered drift in place of the clipped surrogate",
    presets={
        "cleanrl-cartpole": Preset(
            static=dict(common.CLEANRL_SURROGATE_STATIC, total_env_steps=500_000), hparams={}, source=SOURCE,
            env_id="gymnax/CartPole-v1",
        )
    },
    check_static=common.check_surrogate_static,
)
