"""Deep Q-Networks (Mnih et al. 2015), with optional double DQN (van Hasselt et al. 2016).

One iteration collects `train_frequency` steps from each of `num_envs` environments with an
ε-greedy policy, writes them into a replay buffer, then takes one gradient step on a uniformly
sampled batch once `learning_starts` env steps have been collected. The target network moves
towards the online one, `θ⁻ ← τ θ + (1 − τ) θ⁻`, whenever the env-step count passes a
multiple of `target_update_period`: τ = 1 is the classic hard copy, a small τ with a period of
one iteration is Polyak averaging.

The replay buffer is a fixed-capacity ring buffer of arrays inside the train state
(`base.ReplayBuffer`), so a batch of runs is one vmapped program. Sampling is uniform with
replacement over the filled slots (as SB3's buffer, which CleanRL uses, samples).

Every scalar hyperparameter lives in `HParams` and is traced: the learning rate, γ, τ, the
ε schedule (from `epsilon_start` to `epsilon_end` linearly over the first
`exploration_fraction` of the budget) and even `learning_starts`, which only gates updates
with `jnp.where`. Shapes and loop lengths (buffer capacity, batch size, envs, train
frequency, target update period, network) are `Static`.

Defaults are CleanRL's `dqn.py`/`dqn_jax.py` for CartPole-v1 (CleanRL docs/rl-algorithms/dqn.md:
1 env, Adam lr 2.5e-4, buffer 10,000, batch 128, γ 0.99, target copy every 500 steps (τ = 1),
ε 1 → 0.05 over 50% of the steps, learning starts at 10,000 steps, a gradient step every 10
steps, MLP 120-84 relu, MSE loss, no gradient clipping; published 488.69 ± 16.11 (torch) and
498.38 ± 2.29 (jax) at 500k steps, 3 seeds) -- except the initialisation: `Static.network_init`
stays the suite's orthogonal one, while the `cleanrl` presets take dqn_jax.py's (flax's default,
"lecun_normal") and the `cleanrl-torch` presets dqn.py's (PyTorch's, "torch_default"). It
matters: over 16 seeds at 500k steps, orthogonal init reached 473 ± 36, flax's 498 ± 6, PyTorch's
483 ± 30.

Truncation is not termination: the stored next state is `info["final_obs"]` (the state the
episode was cut at, not the reset one) and the target bootstraps from it unless the episode
terminated.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite.algos import common
from jaxrl_suite.algos.base import (
    Algorithm,
    EpisodeTracker,
    Preset,
    ReplayBuffer,
    episode_metrics,
    nonnegative,
    positive,
    unit_interval,
)


@dataclasses.dataclass(frozen=True)
class Static:
    total_env_steps: int = 500_000
    num_envs: int = 1
    train_frequency: int = 10  # env steps per env between gradient steps (one iteration)
    buffer_size: int = 10_000
    batch_size: int = 128
    target_update_period: int = 500  # env steps between target updates
    double_dqn: bool = False
    loss: str = "mse"  # "mse" or "huber" (δ = 1, SB3's smooth L1)
    network: str = "mlp"  # "mlp" or "cnn" (MinAtar)
    hidden_sizes: tuple[int, ...] = (120, 84)
    activation: str = "relu"
    layer_norm: bool = False
    network_init: str = "orthogonal"  # a scheme of networks.INITIALIZERS; the CleanRL presets set their source's


@struct.dataclass
class HParams:
    lr: float = positive(2.5e-4)
    gamma: float = unit_interval(0.99)
    tau: float = unit_interval(1.0)
    epsilon_start: float = unit_interval(1.0)
    epsilon_end: float = unit_interval(0.05)
    exploration_fraction: float = nonnegative(0.5)
    learning_starts: float = nonnegative(10_000.0)  # env steps before the first gradient step
    adam_eps: float = nonnegative(1e-8)


class Transition(NamedTuple):
    """What the replay buffer stores."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array  # the true next state: info["final_obs"], never a reset observation
    terminated: jax.Array


@struct.dataclass
class TrainState:
    params: Any
    target_params: Any
    opt_state: Any
    buffer: ReplayBuffer
    env_state: Any
    obs: jax.Array
    key: jax.Array
    tracker: EpisodeTracker
    env_steps: jax.Array  # int32, env steps collected so far (all envs)
    epsilon: jax.Array  # the exploration rate of the latest step; `act` samples with it


def steps_per_iteration(static: Static) -> int:
    return static.num_envs * static.train_frequency


def optimizer(hp: HParams) -> optax.GradientTransformation:
    return optax.adam(hp.lr, eps=hp.adam_eps)


def init(key, hp: HParams, static: Static, env, env_params) -> TrainState:
    key, net_key, env_key = jax.random.split(key, 3)
    obs, env_state = common.vec_env(env, static).reset(env_key, env_params)
    params = common.q_network(env, static).init(net_key, obs)
    example = Transition(
        obs=obs[0],
        action=jnp.zeros((), jnp.int32),
        reward=jnp.zeros((), jnp.float32),
        next_obs=obs[0],
        terminated=jnp.zeros((), jnp.bool_),
    )
    return TrainState(
        params=params,
        target_params=params,
        opt_state=optimizer(hp).init(params),
        buffer=ReplayBuffer.create(example, static.buffer_size),
        env_state=env_state,
        obs=obs,
        key=key,
        tracker=EpisodeTracker.create(),
        env_steps=jnp.zeros((), jnp.int32),
        epsilon=common.epsilon(hp, static, 0),
    )


def td_loss(params, target_params, net, batch: Transition, hp: HParams, static: Static):
    q_values = net.apply(params, batch.obs)
    q_taken = jnp.take_along_axis(q_values, batch.action[:, None].astype(jnp.int32), axis=-1)[:, 0]
    next_target = net.apply(target_params, batch.next_obs)
    if static.double_dqn:
        # The online network picks the next action, the target network values it, which
        # removes the max operator's upward bias.
        next_action = jnp.argmax(net.apply(params, batch.next_obs), axis=-1)
        next_q = jnp.take_along_axis(next_target, next_action[:, None], axis=-1)[:, 0]
    else:
        next_q = jnp.max(next_target, axis=-1)
    target = batch.reward + hp.gamma * (1.0 - batch.terminated.astype(jnp.float32)) * next_q
    error = q_taken - jax.lax.stop_gradient(target)
    if static.loss == "huber":
        loss = jnp.mean(optax.huber_loss(error, delta=1.0))
    else:
        loss = jnp.mean(error**2)
    return loss, q_taken.mean()


def update(state: TrainState, hp: HParams, static: Static, env, env_params):
    """One iteration: collect, store, then (after warm-up) one gradient step and a target update."""
    net = common.q_network(env, static)
    tx = optimizer(hp)
    state, rollout = common.collect_epsilon_greedy(state, net, hp, static, env, env_params, static.train_frequency)
    n = steps_per_iteration(static)
    stored = Transition(rollout.obs, rollout.action, rollout.reward, rollout.final_obs, rollout.terminated)
    buffer = state.buffer.add(common.flatten_steps(stored))

    key, sample_key = jax.random.split(state.key)
    batch = buffer.sample(sample_key, static.batch_size)
    (loss, q_mean), grads = jax.value_and_grad(td_loss, has_aux=True)(
        state.params, state.target_params, net, batch, hp, static
    )
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)

    # Counters are traced, so warm-up and target syncs are selects, not Python branches.
    learning = state.env_steps >= hp.learning_starts
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(learning, a, b), new, old)
    params, opt_state = keep((params, opt_state), (state.params, state.opt_state))
    period = static.target_update_period
    crossed = state.env_steps // period > (state.env_steps - n) // period
    polyak = optax.incremental_update(params, state.target_params, hp.tau)
    target_params = jax.tree.map(
        lambda a, b: jnp.where(learning & crossed, a, b), polyak, state.target_params
    )

    tracker = state.tracker.record(rollout.returned_episode, rollout.episode_return)
    state = state.replace(
        params=params, target_params=target_params, opt_state=opt_state, buffer=buffer, key=key, tracker=tracker
    )
    metrics = episode_metrics(tracker, loss, params)
    metrics.update(q_value=q_mean, epsilon=state.epsilon, learning=learning.astype(jnp.float32))
    return state, metrics


def check_static(static: Static, env) -> list[tuple[str, str]]:
    errors = common.check_network(static, env)
    n = steps_per_iteration(static)
    if static.batch_size > static.buffer_size:
        errors.append(("batch_size", f"a batch of {static.batch_size} is larger than the buffer "
                                     f"(buffer_size = {static.buffer_size})"))
    if n > static.buffer_size:
        errors.append(
            ("buffer_size",
             f"{static.buffer_size} cannot hold one iteration's num_envs x train_frequency = {n} transitions")
        )
    errors += common.check_budget(static, n)
    if static.target_update_period < 1:
        errors.append(("target_update_period", f"must be at least 1 env step, got {static.target_update_period}"))
    if static.loss not in ("mse", "huber"):
        errors.append(("loss", f"must be 'mse' or 'huber', got {static.loss!r}"))
    return errors


_CLEANRL_TIMING = (
    "learning_starts is 10,001 so that gradient steps and target copies follow CleanRL's (global_step > "
    "learning_starts, a gradient step every 10th step): the first after 10,010 env steps (CleanRL: 10,011), the "
    "first target copy after 10,500. Differs: one env step earlier each, so a 500k run ends with one more of each "
    "(49,000 gradient steps, CleanRL 48,999)"
)
CLEANRL_JAX = (
    "CleanRL dqn_jax.py defaults: flax's default init (lecun-normal weights, zero biases), Adam eps 1e-8, target "
    "copied every 500 steps; published 498.38 +/- 2.29 on CartPole-v1 at 500k steps, 3 seeds (CleanRL "
    "docs/rl-algorithms/dqn.md). As there, a time-limit truncation bootstraps; " + _CLEANRL_TIMING
)
CLEANRL_TORCH = (
    "CleanRL dqn.py defaults: PyTorch's default nn.Linear init (weights and biases U(+-1/sqrt(fan_in))), Adam eps "
    "1e-8, target copied every 500 steps; published 488.69 +/- 16.11 on CartPole-v1 at 500k steps, 3 seeds "
    "(CleanRL docs/rl-algorithms/dqn.md). As there, a time-limit truncation bootstraps; " + _CLEANRL_TIMING
)
_CLEANRL_HPARAMS = dict(learning_starts=10_001.0)

PRESETS = {
    "cleanrl": Preset(static=dict(network_init="lecun_normal"), hparams=_CLEANRL_HPARAMS, source=CLEANRL_JAX),
    "cleanrl-cartpole": Preset(
        static=dict(total_env_steps=500_000, network_init="lecun_normal"), hparams=_CLEANRL_HPARAMS,
        source=CLEANRL_JAX, env_id="gymnax/CartPole-v1",
    ),
    "cleanrl-torch": Preset(static=dict(network_init="torch_default"), hparams=_CLEANRL_HPARAMS, source=CLEANRL_TORCH),
    "cleanrl-torch-cartpole": Preset(
        static=dict(total_env_steps=500_000, network_init="torch_default"), hparams=_CLEANRL_HPARAMS,
        source=CLEANRL_TORCH, env_id="gymnax/CartPole-v1",
    ),
}

DQN = Algorithm(
    name="dqn",
    Static=Static,
    HParams=HParams,
    init=init,
    update=update,
    act=common.act_q,
    steps_per_iteration=steps_per_iteration,
    action_kinds="discrete",
    description="DQN with a ring replay buffer, ε-greedy, target network (hard or Polyak), optional double DQN",
    presets=PRESETS,
    check_static=check_static,
)
