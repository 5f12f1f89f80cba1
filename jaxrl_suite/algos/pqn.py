"""Parallelised Q-Network, PQN (Gallici et al. 2024, "Simplifying Deep Temporal Difference Learning").

Q-learning without a replay buffer or a target network: many parallel environments decorrelate
the data, and LayerNorm in the Q-network keeps TD learning stable. One iteration collects
`num_steps` ε-greedy steps from `num_envs` environments, computes Peng's Q(λ) returns over the
rollout with the network that collected it, and regresses Q(s, a) on them for `update_epochs`
passes of `num_minibatches` minibatches (RAdam, global-norm clipping).

The Q(λ) return mixes the one-step bootstrap with the next return of the rollout:

    G_t = r_t + γ (1 − terminated_t) [max_a Q(s'_t, a) + λ (1 − done_t) (G_{t+1} − max_a Q(s'_t, a))]

where s'_t is the true next state (`info["final_obs"]`, not a reset observation), so a
truncated episode bootstraps from the state it was cut at while a terminated one does not, and
the λ-trace never crosses an episode end. The last step of the rollout bootstraps fully.

Every scalar hyperparameter lives in `HParams` and is traced, the optimiser included: the
learning rate decays linearly from `lr` to `lr * lr_final_ratio` over the first
`lr_decay_fraction` of the gradient steps (CleanRL's annealing is ratio 0, fraction 1), and ε
moves linearly from `epsilon_start` to `epsilon_end` over the first `exploration_fraction` of
the env steps.

Defaults are CleanRL's `pqn.py` for CartPole-v1 (CleanRL docs/rl-algorithms/pqn.md: 4 envs x 128
steps, 4 minibatches, 4 epochs, RAdam lr 2.5e-4 annealed to 0, γ 0.99, ε 1 → 0.05 over 50% of
the steps, max grad norm 10, λ 0.65, MLP 120-84 with LayerNorm before each relu, orthogonal
init with gain √2 on every layer, MSE loss; published 495.13 ± 6.89 at 500k steps, 3 seeds),
except that the rate moves at every gradient step unless `lr_decay_every = "iteration"` (as the
presets set: CleanRL holds it for a whole iteration). One departure, a correction: CleanRL
treats truncation as termination. Its Q(λ) recursion cuts the trace at episode ends as ours
does (since CleanRL PR #494, the version benchmarked). purejaxql, the authors' code, starts
from flax's default init instead (`network_init = "lecun_normal"`) and decays the rate at every
gradient step.

The ε-greedy rollout, the Q-network and `act` are DQN's too (`common.collect_epsilon_greedy`,
`common.q_network`, `common.act_q`): the two algorithms differ only in how they turn a rollout
into gradient steps.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl_suite.algos import common
from jaxrl_suite.algos.base import (
    Algorithm,
    EpisodeTracker,
    Preset,
    episode_metrics,
    nonnegative,
    positive,
    unit_interval,
)


@dataclasses.dataclass(frozen=True)
class Static:
    total_env_steps: int = 500_000
    num_envs: int = 4
    num_steps: int = 128
    num_minibatches: int = 4
    update_epochs: int = 4
    network: str = "mlp"  # "mlp" or "cnn" (MinAtar)
    hidden_sizes: tuple[int, ...] = (120, 84)
    activation: str = "relu"
    layer_norm: bool = True
    network_init: str = "orthogonal"  # a scheme of networks.INITIALIZERS (orthogonal: gain sqrt 2 on every layer)
    lr_decay_every: str = "update"  # "update" (every gradient step) or "iteration" (CleanRL's pqn.py)


@struct.dataclass
class HParams:
    lr: float = positive(2.5e-4)
    lr_final_ratio: float = nonnegative(0.0)
    lr_decay_fraction: float = unit_interval(1.0)
    gamma: float = unit_interval(0.99)
    q_lambda: float = unit_interval(0.65)
    epsilon_start: float = unit_interval(1.0)
    epsilon_end: float = unit_interval(0.05)
    exploration_fraction: float = nonnegative(0.5)
    max_grad_norm: float = nonnegative(10.0)
    adam_eps: float = nonnegative(1e-8)


@struct.dataclass
class TrainState:
    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array
    key: jax.Array
    tracker: EpisodeTracker
    env_steps: jax.Array  # int32, env steps collected so far (all envs)
    epsilon: jax.Array  # the exploration rate of the latest step; `act` samples with it


def network(env, static: Static):
    """Q(s, ·) as in DQN, initialised with gain √2 on the output layer too, as CleanRL's PQN is."""
    return common.q_network(env, static, init_gain=float(np.sqrt(2)))


def optimizer(hp: HParams, static: Static) -> optax.GradientTransformation:
    lr = common.annealed_lr(hp, static)
    return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.radam(lr, eps=hp.adam_eps))


def init(key, hp: HParams, static: Static, env, env_params) -> TrainState:
    key, net_key, env_key = jax.random.split(key, 3)
    obs, env_state = common.vec_env(env, static).reset(env_key, env_params)
    params = network(env, static).init(net_key, obs)
    return TrainState(
        params=params,
        opt_state=optimizer(hp, static).init(params),
        env_state=env_state,
        obs=obs,
        key=key,
        tracker=EpisodeTracker.create(),
        env_steps=jnp.zeros((), jnp.int32),
        epsilon=common.epsilon(hp, static, 0),
    )


def q_lambda_returns(traj: common.Rollout, next_q: jax.Array, gamma, q_lambda) -> jax.Array:
    """Peng's Q(λ) returns, time-major; `next_q[t]` is max_a Q(final_obs[t], a)."""
    not_terminated = 1.0 - traj.terminated.astype(jnp.float32)
    continues = 1.0 - traj.done.astype(jnp.float32)

    def backward(next_return, inputs):
        reward, not_terminated_t, continues_t, next_q_t = inputs
        mixed = next_q_t + q_lambda * continues_t * (next_return - next_q_t)
        g = reward + gamma * not_terminated_t * mixed
        return g, g

    # Seeding the recursion with next_q[-1] makes the rollout's last step a plain one-step target.
    _, returns = jax.lax.scan(
        backward, next_q[-1], (traj.reward, not_terminated, continues, next_q), reverse=True
    )
    return returns


def loss_fn(params, net, batch):
    obs, action, target = batch
    q_values = net.apply(params, obs)
    q_taken = jnp.take_along_axis(q_values, action[:, None].astype(jnp.int32), axis=-1)[:, 0]
    return jnp.mean((q_taken - target) ** 2), q_taken.mean()


def update(state: TrainState, hp: HParams, static: Static, env, env_params):
    """One iteration: collect a rollout, then `update_epochs` x `num_minibatches` gradient steps."""
    net = network(env, static)
    tx = optimizer(hp, static)
    state, traj = common.collect_epsilon_greedy(state, net, hp, static, env, env_params, static.num_steps)

    next_q = jnp.max(net.apply(state.params, traj.final_obs), axis=-1)
    targets = q_lambda_returns(traj, next_q, hp.gamma, hp.q_lambda)

    key, epoch_key = jax.random.split(state.key)
    batch = common.flatten_steps((traj.obs, traj.action, targets))
    (params, opt_state), (loss, q_mean) = common.minibatch_epochs(
        epoch_key, state.params, state.opt_state, batch, lambda params, minibatch: loss_fn(params, net, minibatch), tx,
        static.update_epochs, static.num_minibatches,
    )
    tracker = state.tracker.record(traj.returned_episode, traj.episode_return)
    state = state.replace(params=params, opt_state=opt_state, key=key, tracker=tracker)
    metrics = episode_metrics(tracker, loss.mean(), params)
    metrics.update(q_value=q_mean.mean(), epsilon=state.epsilon)
    return state, metrics


def check_static(static: Static, env) -> list[tuple[str, str]]:
    batch = common.rollout_steps(static)
    errors = common.check_network(static, env) + common.check_minibatches(static, batch)
    return errors + common.check_budget(static, batch) + common.check_lr_decay_every(static)


CLEANRL = (
    "CleanRL pqn.py defaults (Gallici et al. 2024); published 495.13 +/- 6.89 on CartPole-v1 at 500k steps, "
    "3 seeds (CleanRL docs/rl-algorithms/pqn.md). As there: orthogonal init with gain sqrt 2 on every layer and zero "
    "biases, RAdam eps 1e-8, the rate annealed to 0 once per iteration. Differs: a time-limit truncation bootstraps "
    "(CleanRL treats it as termination); epsilon is read before a step's env-step count is advanced (CleanRL: "
    "after, one vector step later)"
)
_CLEANRL_STATIC = dict(network_init="orthogonal", lr_decay_every="iteration")

PRESETS = {
    "cleanrl": Preset(static=_CLEANRL_STATIC, hparams={}, source=CLEANRL),
    "cleanrl-cartpole": Preset(
        static=dict(_CLEANRL_STATIC, total_env_steps=500_000), hparams={}, source=CLEANRL, env_id="gymnax/CartPole-v1"
    ),
}

PQN = Algorithm(
    name="pqn",
    Static=Static,
    HParams=HParams,
    init=init,
    update=update,
    act=common.act_q,
    steps_per_iteration=common.rollout_steps,
    action_kinds="discrete",
    description="PQN: parallel-env Q(λ) with a LayerNorm Q-network, no replay buffer or target network",
    presets=PRESETS,
    check_static=check_static,
)
