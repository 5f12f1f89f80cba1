"""Proximal Policy Optimisation (Schulman et al. 2017), discrete and continuous actions.

One iteration collects `num_steps` steps from `num_envs` environments, computes GAE
advantages, and takes `update_epochs` passes of `num_minibatches` clipped-surrogate steps.
Defaults are CleanRL's `ppo.py` (identical to PureJaxRL's): see the presets at the bottom.

Every scalar hyperparameter lives in `HParams` and is traced, the optimiser included (it is
built inside the traced update from `hp`), so a batch of configurations is one vmapped program.
The learning-rate schedule is data too: it decays linearly from `lr` to `lr * lr_final_ratio`
over the first `lr_decay_fraction` of the updates (CleanRL's annealing is ratio 0, fraction 1;
a constant rate is ratio 1), moving at every gradient step or, with the Static
`lr_decay_every = "iteration"`, once per iteration as CleanRL and PureJaxRL do. The network's
initialisation is the Static `network_init` (networks.INITIALIZERS); each preset sets its source's.

Truncation is not termination: the target bootstraps from V(final_obs) when an episode was cut
by a time limit and from 0 when it terminated.

The rollout, GAE, the minibatch epochs and the loss around the per-sample objective are the
suite's shared machinery (jaxrl_suite/algos/common.py), which DPO, SPO and Tang & Zhang's variants
use too with their own objective or advantages: PPO's is `common.clipped_surrogate`.
"""

from __future__ import annotations

from jaxrl_suite.algos import common
from jaxrl_suite.algos.base import Algorithm, Preset

# The shapes and hyperparameters of the whole clipped-surrogate family (CleanRL's defaults) live in
# common.py, since DPO and SPO share them; see the fields there.
Static = common.SurrogateStatic
HParams = common.SurrogateHParams


def init(key, hp: HParams, static: Static, env, env_params) -> common.ActorCriticState:
    net, tx = common.actor_critic(env, static), common.annealed_adam(hp, static)
    return common.init_actor_critic(key, static, env, env_params, net, tx)


def update(state: common.ActorCriticState, hp: HParams, static: Static, env, env_params):
    """One iteration: collect a batch, compute GAE, then `update_epochs` x `num_minibatches`
    gradient steps on -clipped surrogate + vf_coef x (clipped) value loss - ent_coef x entropy
    (`common.surrogate_loss`), with Adam at the annealed learning rate."""
    net, tx = common.actor_critic(env, static), common.annealed_adam(hp, static)
    return common.surrogate_update(state, hp, static, env, env_params, net=net, tx=tx,
                                   objective=common.clipped_surrogate, advantages=common.gae_advantages)


CLEANRL = (
    "CleanRL ppo.py defaults (identical to PureJaxRL's ppo.py); published 490.04 +/- 6.12 on CartPole-v1 at 500k "
    "steps, 3 seeds (CleanRL docs/rl-algorithms/ppo.md). As there: orthogonal init (sqrt 2 hidden, 0.01 policy, 1 "
    "value), Adam eps 1e-5, the rate annealed to 0 once per iteration. Differs: a time-limit truncation bootstraps "
    "(CleanRL and PureJaxRL treat it as termination)"
)
# Every CleanRL PPO preset (DPO's and SPO's too): the source's init and its once-per-iteration lr steps.
_CLEANRL_STATIC = dict(common.CLEANRL_SURROGATE_STATIC)

BLINES = (
    "gymnax-blines PPO configuration (agents/<env>/ppo.yaml, utils/ppo.py, utils/models.py). As there: separate "
    "2 x 64 relu actor and critic with flax's lecun-normal weights and U[0, 0.05) biases, Adam eps 1e-5, the rate "
    "moving from lr_begin to lr_end over the first 0.05 x num_train_steps GRADIENT steps (optax counts updates, "
    "not env steps), then constant. Differs: a time-limit truncation bootstraps (gymnax-blines treats it as "
    "termination); each of its iterations collects n_steps + 1 steps and trains on n_steps; its Gaussian policy's "
    "scale is state dependent, softplus(.) + 0.001, where here log std is a free parameter"
)


def _blines(num_envs, num_steps, epochs, lr, max_grad_norm, total, env_id, ent_coef=0.01, lr_end=None):
    hparams = dict(lr=lr, ent_coef=ent_coef, max_grad_norm=max_grad_norm, lr_final_ratio=1.0)
    if lr_end is not None:
        # gymnax-blines' optax schedule reaches lr_end after int(0.05 x num_train_steps) gradient steps.
        updates = (total // (num_envs * num_steps)) * epochs * 4
        hparams.update(lr_final_ratio=lr_end / lr, lr_decay_fraction=min(int(0.05 * total) / updates, 1.0))
    return Preset(
        static=dict(
            num_envs=num_envs, num_steps=num_steps, num_minibatches=4, update_epochs=epochs, total_env_steps=total,
            activation="relu", network_init="gymnax_blines",
        ),
        hparams=hparams,
        source=BLINES,
        env_id=env_id,
    )


CRAFTAX = (
    "Craftax baselines' ppo.py defaults (MichaelTMatthews/Craftax_Baselines, ppo.py argparse defaults and "
    "models/actor_critic.py ActorCritic), the PPO of the Craftax paper (Matthews et al., ICML 2024) on symbolic "
    "observations, 1e9 env steps. As there: separate 3 x 512 tanh actor and critic, orthogonal init (sqrt 2 hidden, "
    "0.01 policy, 1 value), Adam eps 1e-5, the rate annealed to 0 once per iteration. Differs: a time-limit "
    "truncation bootstraps (there it is termination), and every env resets itself (there 'optimistic resets' share "
    "one reset among 16 envs)"
)

XMINIGRID = (
    "XLand-MiniGrid's single-task PPO (corl-team/xland-minigrid, training/train_single_task.py TrainConfig defaults "
    "at commit 65d6a594, with configs/single.yaml, 'params used in the paper for single-RL experiments': 16,384 envs "
    "x 256 steps, 1 epoch of 16 minibatches, 1e9 env steps; Nikulin et al. 2024). As there: lr 1e-3 annealed to 0 "
    "once per iteration, Adam eps 1e-8, gamma 0.99, lambda 0.95, clip 0.2 (policy and value), vf 0.5, entropy 0.01, "
    "max grad norm 0.5, per-minibatch advantage normalisation. Differs: their agent is RECURRENT PPO -- a 2x2 conv "
    "encoder (16/32/64 channels, relu) of the symbolic view (in the newest version of 16-d tile and colour embeddings, "
    "with the facing direction added), a "
    "1,024-unit GRU fed the previous action (16-d embedding) and reward, and actor/critic heads of one 256 tanh layer "
    "(orthogonal, gain 2) on the shared GRU state, trained on whole 256-step sequences; here separate feed-forward "
    "actor and critic, 1024 x 256 tanh MLPs on the flattened view (the GRU's width, then the heads'), orthogonal init "
    "(sqrt 2 hidden, 0.01 policy, 1 value), no memory, previous action or reward. Their paper runs used "
    "XLand-MiniGrid-R4-13x13 with the downloaded trivial-1m ruleset 0, which the suite does not register (offline, "
    "xminigrid_envs.py); a time-limit truncation bootstraps here (there it ends the episode like a goal)"
)

PRESETS = {
    "xminigrid": Preset(
        static=dict(
            _CLEANRL_STATIC, num_envs=16_384, num_steps=256, num_minibatches=16, update_epochs=1,
            hidden_sizes=(1024, 256), activation="tanh", total_env_steps=1_000_000_000,
        ),
        hparams=dict(lr=1e-3, adam_eps=1e-8),
        source=XMINIGRID,
    ),
    "craftax": Preset(
        static=dict(
            _CLEANRL_STATIC, num_envs=1024, num_steps=64, num_minibatches=8, update_epochs=4,
            hidden_sizes=(512, 512, 512), activation="tanh", total_env_steps=1_000_000_000,
        ),
        hparams=dict(lr=2e-4, gae_lambda=0.8, max_grad_norm=1.0),
        source=CRAFTAX,
        env_id="craftax/Craftax-Classic-Symbolic-v1",
    ),
    "cleanrl": Preset(static=_CLEANRL_STATIC, hparams={}, source=CLEANRL),
    "cleanrl-cartpole": Preset(
        static=dict(_CLEANRL_STATIC, total_env_steps=500_000), hparams={}, source=CLEANRL, env_id="gymnax/CartPole-v1"
    ),
    "blines-cartpole": _blines(8, 32, 4, 5e-4, 0.5, total=150_000, env_id="gymnax/CartPole-v1"),
    "blines-acrobot": _blines(16, 32, 4, 5e-4, 1.0, total=500_000, env_id="gymnax/Acrobot-v1"),
    "blines-mountaincar": _blines(
        16, 32, 64, 5e-3, 1.0, total=250_000, env_id="gymnax/MountainCar-v0", ent_coef=0.003, lr_end=5e-4
    ),
    "blines-pendulum": _blines(32, 16, 4, 5e-4, 1.0, total=1_000_000, env_id="gymnax/Pendulum-v1"),
    "blines-catch": _blines(16, 32, 4, 5e-4, 1.0, total=100_000, env_id="gymnax/Catch-bsuite"),
}

PPO = Algorithm(
    name="ppo",
    Static=Static,
    HParams=HParams,
    init=init,
    update=update,
    act=common.act_actor_critic,
    steps_per_iteration=common.rollout_steps,
    action_kinds="both",
    description="PPO with GAE, clipped surrogate and value loss (CleanRL/PureJaxRL defaults)",
    presets=PRESETS,
    check_static=common.check_surrogate_static,
)
