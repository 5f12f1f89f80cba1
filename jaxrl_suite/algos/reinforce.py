"""REINFORCE with a learned baseline (Williams 1992), discrete and continuous actions.

The policy follows the score-function gradient of the return, with a learned state-value
baseline b(s) subtracted to cut its variance (the baseline does not bias it):

    actor:     -mean(log pi(a_t|s_t) * (G_t - b(s_t))) - ent_coef * mean(entropy)
    baseline:  mean((G_t - b(s_t))^2)

Actor and baseline each have their own Adam with their own learning rate (`actor_lr`,
`critic_lr`) and gradient-norm clip; one gradient step per rollout of `num_steps` steps in each
of `num_envs` environments.

The return G_t is the Monte-Carlo return over the rollout: the discounted sum of the rewards
from t to the end of the episode when the episode ends (terminates) inside the rollout. Where
the rollout cuts the episode instead -- at its last step, or where a time limit truncated it --
the unseen rest is replaced by the baseline's value of the state reached there, as in
G_t = r_t + gamma r_{t+1} + ... + gamma^k b(s_{t+k}). Why not complete episodes only: the
compiled program has fixed shapes, so it cannot wait for an episode to end, and keeping only the
episodes that end inside the rollout would throw away the steps of every episode it cuts -- the
long ones, so the gradient would favour what short episodes do, the opposite of what CartPole
rewards. Bootstrapping at the cut keeps every step, is what truncation needs anyway (a time
limit is not a terminal state), and touches few steps when `num_steps` is long compared with an
episode. (G_t - b(s_t) is then GAE with lambda = 1, computed by `common.gae`.)

Defaults are the suite's own -- REINFORCE has no canonical deep-RL configuration: 4 envs x 256
steps per update, actor lr 1e-3, critic lr 1e-2, gamma 0.99, no entropy bonus, max grad norm
0.5 per network, Adam eps 1e-5, separate 2x64 tanh actor and critic. They were picked on
CartPole-v1 at 500k steps from a grid of actor lr {3e-4, 1e-3, 3e-3} x critic lr {1e-3, 1e-2} x
rollouts {4 x 256, 8 x 64} on two tuning seeds (0, 1), where every 4 x 256 configuration with
critic lr 1e-2 reached 494-500; benchmarks/reinforce_cartpole.toml reports them on held-out
seeds. The iteration is A2C's (`common.policy_gradient_update`) with these optimisers and lambda = 1.
"""

from __future__ import annotations

import dataclasses

from flax import struct

from jaxrl_suite.algos import common
from jaxrl_suite.algos.base import Algorithm, Preset, nonnegative, positive, unit_interval


@dataclasses.dataclass(frozen=True)
class Static:
    total_env_steps: int = 500_000
    num_envs: int = 4
    num_steps: int = 256  # long rollouts: most returns are then true Monte-Carlo returns
    network: str = "mlp"  # "mlp" or "cnn" (MinAtar)
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    layer_norm: bool = False
    network_init: str = "orthogonal"  # a scheme of networks.INITIALIZERS
    normalize_obs: bool = False
    normalize_reward: bool = False


@struct.dataclass
class HParams:
    actor_lr: float = positive(1e-3)
    critic_lr: float = positive(1e-2)
    gamma: float = unit_interval(0.99)
    ent_coef: float = nonnegative(0.0)
    max_grad_norm: float = nonnegative(0.5)
    adam_eps: float = nonnegative(1e-5)


def init(key, hp: HParams, static: Static, env, env_params) -> common.ActorCriticState:
    net, tx = common.actor_critic(env, static), common.actor_critic_adam(hp)
    return common.init_actor_critic(key, static, env, env_params, net, tx)


def update(state: common.ActorCriticState, hp: HParams, static: Static, env, env_params):
    """One iteration: collect a rollout, take one step of each optimiser (`common.actor_critic_adam`) on it."""
    # vf_coef 0.5 makes the baseline's gradient (b - G) grad b, least squares' own; with its own
    # Adam the weight hardly matters (Adam is invariant to the gradient's scale).
    return common.policy_gradient_update(state, hp, static, env, env_params, tx=common.actor_critic_adam(hp),
                                         gae_lambda=1.0, vf_coef=0.5)


SUITE = (
    "the suite's own defaults, picked on CartPole-v1 from a 12-configuration grid on tuning seeds 0 and 1 "
    "(module docstring), with the suite's orthogonal init; REINFORCE has no canonical deep-RL configuration"
)

PRESETS = {
    "cartpole": Preset(
        static=dict(total_env_steps=500_000, network_init="orthogonal"), hparams={}, source=SUITE,
        env_id="gymnax/CartPole-v1",
    ),
}

REINFORCE = Algorithm(
    name="reinforce",
    Static=Static,
    HParams=HParams,
    init=init,
    update=update,
    act=common.act_actor_critic,
    steps_per_iteration=common.rollout_steps,
    action_kinds="both",
    description="REINFORCE with a learned baseline: Monte-Carlo returns over the rollout, separate actor/critic Adam",
    presets=PRESETS,
    check_static=common.check_rollout_static,
)
