"""Simple Policy Optimization (Xie et al., arXiv:2401.16025): PPO with a ratio penalty, no clip.

SPO maximises, per sample,

    r A - |A| / (2 eps) * (r - 1)^2,   r = pi(a|s) / pi_old(a|s),  A the advantage,

in place of PPO's min(r A, clip(r, 1 - eps, 1 + eps) A). For a fixed A the objective is a
concave parabola in r whose maximum lies at r = 1 + eps sign(A): exactly the edge of PPO's
trust region. Where PPO's gradient vanishes once a ratio leaves [1 - eps, 1 + eps], and the
ratio may keep drifting through the other samples' updates, SPO's gradient pulls it back towards
the edge, so ratios stay bounded over many epochs.

eps is `clip_eps` (0.2, as in PPO and the paper). Everything else is PPO's (`ppo.PPO` with
this objective): rollout, GAE, value loss, advantage normalisation, minibatching, and CleanRL's
defaults.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from jaxrl_suite.algos import ppo
from jaxrl_suite.algos.base import Preset


def objective(log_ratio: jax.Array, advantages: jax.Array, hp: ppo.HParams) -> jax.Array:
    """SPO's per-sample objective, to be maximised: r A - |A| / (2 eps) (r - 1)^2."""
    ratio = jnp.exp(log_ratio)
    return ratio * advantages - jnp.abs(advantages) / (2.0 * hp.clip_eps) * (ratio - 1.0) ** 2


SOURCE = (
    "eps 0.2 from Xie et al. (Simple Policy Optimization); everything else CleanRL's PPO CartPole-v1 settings "
    "(its init and once-per-iteration lr annealing included; the suite's choice)"
)

SPO = dataclasses.replace(
    ppo.PPO,
    name="spo",
    update=functools.partial(ppo.update, objective=objective),
    description="SPO: PPO with Xie et al.'s quadratic ratio penalty in place of clipping",
    presets={
        "cleanrl-cartpole": Preset(
            static=dict(ppo.PRESETS["cleanrl-cartpole"].static), hparams={}, source=SOURCE, env_id="gymnax/CartPole-v1"
        )
    },
)
