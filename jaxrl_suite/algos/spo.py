"""Simple Policy Optimization (Xie et al., arXiv:2401.16025): PPO with a ratio penalty, no clip.

SPO maximises, per sample,

    r A - |A| / (2 eps) * (r - 1)^2,   r = pi(a|s) / pi_old(a|s),  A the advantage,

in place of PPO's min(r A, clip(r, 1 - eps, 1 + eps) A). For a fixed A the objective is a
concave parabola in r whose maximum lies at r = 1 + eps sign(A): exactly the edge of PPO's
trust region. Where PPO's gradient vanishes once a ratio leaves [1 - eps, 1 + eps], and the
ratio may keep drifting through the other samples' updates, SPO's gradient pulls it back towards
the edge, so ratios stay bounded over many epochs.

eps is `clip_eps` (0.2, as in PPO and the paper; it divides, so it must be > 0). Everything else
is PPO's, from the shared machinery (jaxrl_suite/algos/common.py) with this objective: rollout,
GAE, value loss, advantage normalisation, minibatching, and CleanRL's defaults.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_suite.algos import common
from jaxrl_suite.algos.base import Algorithm, Preset, positive

Static = common.SurrogateStatic  # PPO's


@struct.dataclass
class HParams(common.SurrogateHParams):  # PPO's, but eps divides here
    clip_eps: float = positive(0.2)


def objective(log_ratio: jax.Array, advantages: jax.Array, hp: HParams) -> jax.Array:
    """SPO's per-sample objective, to be maximised: r A - |A| / (2 eps) (r - 1)^2."""
    ratio = jnp.exp(log_ratio)
    return ratio * advantages - jnp.abs(advantages) / (2.0 * hp.clip_eps) * (ratio - 1.0) ** 2


def init(key, hp: HParams, static: Static, env, env_params) -> common.ActorCriticState:
    net, tx = common.actor_critic(env, static), common.annealed_adam(hp, static)
    return common.init_actor_critic(key, static, env, env_params, net, tx)


def update(state: common.ActorCriticState, hp: HParams, static: Static, env, env_params):
    """PPO's iteration (GAE, epochs of minibatches, annealed Adam) with SPO's objective."""
    net, tx = common.actor_critic(env, static), common.annealed_adam(hp, static)
    return common.surrogate_update(state, hp, static, env, env_params, net=net, tx=tx, objective=objective,
                                   advantages=common.gae_advantages)


SOURCE = (
    "eps 0.2 from Xie et al. (Simple Policy Optimization); everything else CleanRL's PPO CartPole-v1 settings "
    "(its init and once-per-iteration lr annealing included; the suite's choice)"
)

SPO = Algorithm(
    name="spo",
    Static=Static,
    HParams=HParams,
    init=init,
    update=update,
    act=common.act_actor_critic,
    steps_per_iteration=common.rollout_steps,
    action_kinds="both",
    description="SPO: PPO with Xie et al.'s quadratic ratio penalty in place of clipping",
    presets={
        "cleanrl-cartpole": Preset(
            static=dict(common.CLEANRL_SURROGATE_STATIC, total_env_steps=500_000), hparams={}, source=SOURCE,
            env_id="gymnax/CartPole-v1",
        )
    },
    check_static=common.check_surrogate_static,
)
