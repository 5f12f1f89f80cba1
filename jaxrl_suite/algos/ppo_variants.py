"""The PPO variants of Tang & Zhang (2026): one clipped surrogate, four advantage estimators.

Tang & Zhang compare PPO variants that differ only in how they estimate the advantage, and
therefore in how many hyperparameters must be tuned (their grids: actor lr {1e-5, 3e-5, 1e-4},
entropy coefficient tau {1e-3, 1e-2, 1e-1}, critic lr {1e-4, 3e-4, 1e-3}, GAE lambda
{0.5, 0.7, 0.9}):

===========  ===========================================================  =====================
name         advantage A_t                                                tuned (grid size M)
===========  ===========================================================  =====================
ppo_grpo     (R_t - mean R) / std R over the iteration's batch; no critic  actor lr, tau (9)
ppo_vanilla  R_t - V(s_t)                                                 + critic lr (27)
ppo_gae      GAE(lambda)                                                  + lambda (81)
ppo_advn     GAE(lambda), standardised per minibatch                      + lambda (81)
===========  ===========================================================  =====================

R_t is the discounted return from step t: rewards summed to the episode's end when it
terminates inside the rollout; where the rollout cuts the episode (its last step, or a time
limit) the critic's value of the state reached stands in for the rest. R_t - V(s_t) is thus GAE
with lambda = 1. GRPO has no critic to stand in, so its R_t stops at the cut. ADVN is "advantage
normalisation" as Adkins et al. (2024) name it: PPO+GAE with each minibatch's advantages
standardised to mean 0 and std 1 (the `normalize_advantages` Static flag, on for ppo_advn only).

The iteration is PPO's (`common.surrogate_update`) -- rollout, truncation bootstrapping, clipped
surrogate, `update_epochs` passes of shuffled minibatches -- given each variant's network,
optimiser and advantage estimator. What differs from `ppo`:

* actor and critic each have their own Adam and learning rate (`common.actor_critic_adam`),
  so the critic's loss needs no weight of its own (vf_coef is fixed at 1: its step is critic_lr);
* learning rates are constant, not annealed, so a run's learning curve up to step t does not
  depend on its total budget: the fixed-budget and effective-AUC protocols cut curves at B/n;
* by default no value-loss clipping and no advantage normalisation (ADVN turns on the latter);
* GRPO's network has no critic at all (`PolicyOnly`).

Defaults: CleanRL's PPO settings (4 envs x 128 steps, 4 epochs x 4 minibatches, gamma 0.99,
clip 0.2, max grad norm 0.5, Adam eps 1e-5, lambda 0.95, entropy 0.01, 2x64 tanh networks) with
its learning rate 2.5e-4 for actor and critic alike. The `brax` preset is PureJaxRL's Brax
setup with the middle value of each of Tang & Zhang's grids (their own rollout settings are not
in the reference tables).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl_suite.algos import common
from jaxrl_suite.algos.base import Algorithm, Preset, nonnegative, positive, unit_interval
from jaxrl_suite.networks import ActorCritic


@dataclasses.dataclass(frozen=True)
class Static(common.SurrogateStatic):  # PPO's, without its two normalisations of the loss
    clip_value_loss: bool = False
    normalize_advantages: bool = False


@dataclasses.dataclass(frozen=True)
class AdvnStatic(Static):
    normalize_advantages: bool = True  # per minibatch: what makes ADVN


@struct.dataclass
class GRPOHParams:
    actor_lr: float = positive(2.5e-4)
    ent_coef: float = nonnegative(0.01)  # Tang & Zhang's tau
    gamma: float = unit_interval(0.99)
    clip_eps: float = nonnegative(0.2)
    max_grad_norm: float = nonnegative(0.5)
    adam_eps: float = nonnegative(1e-5)
    # A class attribute, not a field, so neither traced nor tunable: `common.surrogate_loss` weighs
    # the value loss by it, and with the critic's own optimiser the weight is critic_lr's job.
    vf_coef = 1.0


@struct.dataclass
class VanillaHParams(GRPOHParams):
    critic_lr: float = positive(2.5e-4)


@struct.dataclass
class GAEHParams(VanillaHParams):
    gae_lambda: float = unit_interval(0.95)


class PolicyOnly(ActorCritic):
    """GRPO's network: `ActorCritic`'s policy without a critic.

    Its value is the constant 0, so PPO's rollout and loss code serve it unchanged (the value
    loss is 0 and has no gradient). Flax creates parameters only for submodules that are
    called, so the critic declared by `ActorCritic.setup` never gets any.
    """

    def value(self, obs):
        batch_dims = obs.ndim - (3 if self.network == "cnn" else 1)
        return jnp.zeros(obs.shape[:batch_dims], jnp.float32)


def policy_only_network(env, static) -> PolicyOnly:
    net = common.actor_critic(env, static)
    fields = ("action_dim", "discrete", "network", "hidden_sizes", "activation", "layer_norm", "init_scheme")
    return PolicyOnly(**{name: getattr(net, name) for name in fields})


def monte_carlo_advantages(traj: common.Rollout, next_value: jax.Array, hp) -> tuple[jax.Array, jax.Array]:
    """Vanilla PPO: A_t = R_t - V(s_t), value target R_t (GAE with lambda = 1)."""
    return common.gae(traj, traj.extras.value, next_value, hp.gamma, 1.0)


def group_advantages(traj: common.Rollout, next_value: jax.Array, hp) -> tuple[jax.Array, jax.Array]:
    """GRPO: A_t = (R_t - mean R) / std R over the whole batch (all envs and steps).

    With no critic, the values in `traj` and `next_value` are 0, and GAE with lambda = 1 is the
    discounted sum of the rewards to the episode's end or the rollout's end. No value targets.
    """
    returns, _ = common.gae(traj, traj.extras.value, next_value, hp.gamma, 1.0)
    return common.standardize(returns), jnp.zeros_like(returns)


def _variant(name, HParams, static_cls, advantages, critic: bool, description: str, presets) -> Algorithm:
    """A variant: PPO's iteration (`common.surrogate_update`) with the clipped surrogate, this
    variant's advantage estimator, and with (`critic`) or without a critic."""

    def network(env, static):
        return common.actor_critic(env, static) if critic else policy_only_network(env, static)

    def optimizer(hp):
        return common.actor_critic_adam(hp) if critic else common.clipped_adam(hp.actor_lr, hp)

    def init(key, hp, static, env, env_params):
        return common.init_actor_critic(key, static, env, env_params, network(env, static), optimizer(hp))

    def update(state, hp, static, env, env_params):
        return common.surrogate_update(state, hp, static, env, env_params, net=network(env, static), tx=optimizer(hp),
                                       objective=common.clipped_surrogate, advantages=advantages)

    def check_static(static, env):
        errors = common.check_surrogate_static(static, env)
        if not critic and static.clip_value_loss:
            errors.append(("clip_value_loss", f"{name} has no critic, so there is no value loss to clip"))
        return errors

    return Algorithm(
        name=name,
        Static=static_cls,
        HParams=HParams,
        init=init,
        update=update,
        act=common.act_actor_critic,  # applies only the actor, so GRPO's critic-less parameters serve
        steps_per_iteration=common.rollout_steps,
        action_kinds="both",
        description=description,
        presets=presets,
        check_static=check_static,
    )


CLEANRL = (
    "CleanRL ppo.py settings, its orthogonal init and Adam eps 1e-5 included, with its lr 2.5e-4 for actor and "
    "critic, constant (the suite's choice for the variants' defaults)"
)
BRAX = (
    "PureJaxRL Brax PPO setup (ppo_continuous_action.py: 2048 envs x 10 steps, 32 minibatches, 4 epochs, 2x256 "
    "tanh, orthogonal init, Adam eps 1e-5, constant lr, obs + reward normalisation) with the middle of each Tang & "
    "Zhang 2026 grid (actor lr 3e-5, entropy 1e-2, critic lr 3e-4, lambda 0.7); Tang & Zhang's own rollout "
    "settings are not in the reference tables. Differs: a time-limit truncation bootstraps (PureJaxRL treats "
    "Brax's done as termination)"
)
_BRAX_STATIC = dict(
    num_envs=2048, num_steps=10, num_minibatches=32, update_epochs=4, hidden_sizes=(256, 256),
    normalize_obs=True, normalize_reward=True, total_env_steps=3_000_000, network_init="orthogonal",
)
_BRAX_HPARAMS = dict(actor_lr=3e-5, ent_coef=1e-2, critic_lr=3e-4, gae_lambda=0.7)


def _presets(HParams) -> dict[str, Preset]:
    names = {field.name for field in dataclasses.fields(HParams)}
    brax_hparams = {k: v for k, v in _BRAX_HPARAMS.items() if k in names}
    return {
        "cleanrl": Preset(static=dict(network_init="orthogonal"), hparams={}, source=CLEANRL),
        "brax": Preset(static=_BRAX_STATIC, hparams=brax_hparams, source=BRAX),
    }


PPO_GAE = _variant(
    "ppo_gae", GAEHParams, Static, common.gae_advantages, critic=True,
    description="PPO+GAE with separate actor and critic learning rates (Tang & Zhang 2026)",
    presets=_presets(GAEHParams),
)
PPO_ADVN = _variant(
    "ppo_advn", GAEHParams, AdvnStatic, common.gae_advantages, critic=True,
    description="PPO+GAE with advantages standardised per minibatch (Adkins et al. 2024's ADVN)",
    presets=_presets(GAEHParams),
)
PPO_VANILLA = _variant(
    "ppo_vanilla", VanillaHParams, Static, monte_carlo_advantages, critic=True,
    description="vanilla PPO: advantage R_t - V(s_t) from bootstrapped Monte-Carlo returns (Tang & Zhang 2026)",
    presets=_presets(VanillaHParams),
)
PPO_GRPO = _variant(
    "ppo_grpo", GRPOHParams, Static, group_advantages, critic=False,
    description="GRPO-style PPO: batch-standardised returns as advantages, no critic (Tang & Zhang 2026)",
    presets=_presets(GRPOHParams),
)
