"""Soft Actor-Critic (Haarnoja et al. 2018) for continuous actions, with automatic entropy tuning.

The version of "Soft Actor-Critic Algorithms and Applications" (Haarnoja et al. 2018b): no
state-value network, twin Q critics with Polyak-averaged targets and the clipped double-Q
target, a tanh-squashed Gaussian policy with a state-dependent standard deviation, and a
temperature alpha tuned by gradient descent towards a target entropy (-|A| by default).

One iteration:

1. every one of `num_envs` environments takes `num_steps` steps; the first `learning_starts`
   env steps act uniformly at random, later ones sample the policy;
2. the transitions go into a replay ring buffer of `buffer_size` that lives in the train state;
3. once `learning_starts` env steps are in the buffer, `updates_per_iteration` critic steps are
   taken on fresh batches of `batch_size`. The actor and alpha take as many steps, in blocks of
   `policy_frequency`: after every `policy_frequency` critic steps, `policy_frequency` actor
   steps on the same batches (1 is the paper's alternation; 2 is CleanRL's delayed update,
   which it also compensates with extra actor steps). The targets move by Polyak averaging
   with rate `tau` after every `target_update_period`-th critic step.

The policy acts in the unit box (-1, 1)^|A|; actions are mapped affinely onto the env's Box
bounds (gymnax Pendulum-v1: [-2, 2]) only when they are sent to the env, so the critic, the
replay buffer and the entropy all live in unit-box coordinates. This is what the authors'
softlearning code does by normalising the action space; CleanRL instead measures log-probs in env
units, which shifts every entropy by sum(log(scale)) and so moves the meaning of a target entropy.

Truncation is not termination: a transition stores the observation the step really reached
(`info["final_obs"]`, not the auto-reset one), and the target bootstraps from it unless the
episode terminated.

Defaults (`Static()`, `HParams()`) are the paper's (Haarnoja et al. 2018b, Table 1): 2 x 256
ReLU networks, Adam at 3e-4 for critic, actor and alpha, batch 256, buffer 1e6, gamma 0.99,
tau 0.005, one gradient step per env step, target entropy -|A|, initial alpha 1 (softlearning's
log alpha = 0), plus CleanRL's 5,000 random warm-up steps; the weights start as PyTorch's
default with zero biases (`network_init`), while each preset takes its source's scheme. Every
scalar in `HParams` is traced, the optimisers are built from it inside the traced update, so a
grid of learning rates or taus is one vmapped program. `autotune = False` (a Static switch, as
it removes the alpha optimiser) keeps alpha fixed at `HParams.alpha`. Presets, with their sources, are at the bottom.

Not implemented: discrete-action SAC (Christodoulou 2019).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl_suite import distributions as D
from jaxrl_suite.algos import common
from jaxrl_suite.algos.base import (
    Algorithm,
    EpisodeTracker,
    Preset,
    ReplayBuffer,
    episode_metrics,
    hparam,
    nonnegative,
    positive,
    unit_interval,
)
from jaxrl_suite.envs.core import Box
from jaxrl_suite.networks import ACTIVATIONS, layer_init


@dataclasses.dataclass(frozen=True)
class Static:
    total_env_steps: int = 1_000_000
    num_envs: int = 1
    num_steps: int = 1  # env steps each env takes per iteration
    buffer_size: int = 1_000_000
    batch_size: int = 256
    learning_starts: int = 5_000  # env steps of uniformly random actions before any update
    updates_per_iteration: int = 1  # critic gradient steps per iteration
    policy_frequency: int = 1  # actor/alpha steps come in blocks of this many, after as many critic steps
    target_update_period: int = 1  # Polyak-average the targets after every this-many-th critic step
    autotune: bool = True  # learn alpha; False keeps it at HParams.alpha
    hidden_sizes: tuple[int, ...] = (256, 256)
    activation: str = "relu"
    network_init: str = "torch_weights_zero_bias"  # a scheme of networks.INITIALIZERS; presets set their source's


@struct.dataclass
class HParams:
    actor_lr: float = positive(3e-4)
    critic_lr: float = positive(3e-4)
    alpha_lr: float = positive(3e-4)
    gamma: float = unit_interval(0.99)
    tau: float = unit_interval(0.005)
    # The initial temperature (autotune: > 0, it is learnt as log alpha) or the fixed one (>= 0).
    alpha: float = nonnegative(1.0)
    target_entropy_per_dim: float = hparam(-1.0)  # target entropy = this x |A| (the paper's -|A|)


# The policy's log standard deviation is squashed smoothly into this range (as SpinningUp and
# CleanRL do): below -5 the policy is deterministic for all purposes and log-probs blow up;
# above 2 almost all of the tanh-squashed mass sits on the action bounds.
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


# ---------------------------------------------------------------------------------------------
# Networks


def linear(features: int, init_scheme: str, x: jax.Array, gain: float = 1.0) -> nn.Dense:
    """A dense layer for input `x`, initialised by `init_scheme` (networks.INITIALIZERS).

    The default, "torch_weights_zero_bias" (PyTorch's nn.Linear weights, U(+-1/sqrt(fan_in)), zero
    biases), is what this module has always used; the presets take their sources' schemes. `gain`
    matters only for "orthogonal" (sqrt 2 in hidden layers, 1 on the outputs).
    """
    return nn.Dense(features, **layer_init(init_scheme, x.shape[-1], gain))


class Torso(nn.Module):
    hidden_sizes: tuple[int, ...]
    activation: str
    init_scheme: str

    @nn.compact
    def __call__(self, x):
        for width in self.hidden_sizes:
            x = ACTIVATIONS[self.activation](linear(width, self.init_scheme, x, np.sqrt(2))(x))
        return x


class TanhGaussianActor(nn.Module):
    """Mean and log standard deviation of a Gaussian over pre-tanh actions, both from the state."""

    action_dim: int
    hidden_sizes: tuple[int, ...]
    activation: str
    init_scheme: str

    @nn.compact
    def __call__(self, obs):
        x = Torso(self.hidden_sizes, self.activation, self.init_scheme)(obs)
        mean = linear(self.action_dim, self.init_scheme, x)(x)
        raw = linear(self.action_dim, self.init_scheme, x)(x)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (jnp.tanh(raw) + 1.0)
        return mean, log_std


class TwinQ(nn.Module):
    """Two independent Q(obs, action) networks; returns both estimates stacked: [2, ...]."""

    hidden_sizes: tuple[int, ...]
    activation: str
    init_scheme: str

    @nn.compact
    def __call__(self, obs, action):
        x = jnp.concatenate([obs, action], axis=-1)
        qs = []
        for _ in range(2):
            features = Torso(self.hidden_sizes, self.activation, self.init_scheme)(x)
            qs.append(linear(1, self.init_scheme, features)(features)[..., 0])
        return jnp.stack(qs)


def networks(env, static: Static) -> tuple[TanhGaussianActor, TwinQ]:
    action_dim = env.action_space(env.default_params).shape[0]
    actor = TanhGaussianActor(action_dim, tuple(static.hidden_sizes), static.activation, static.network_init)
    return actor, TwinQ(tuple(static.hidden_sizes), static.activation, static.network_init)


# ---------------------------------------------------------------------------------------------
# The tanh-squashed Gaussian


def tanh_log_det_jacobian(pre_tanh):
    """log(d tanh(x)/dx) = log(1 - tanh(x)^2), written as 2 (log 2 - x - softplus(-2x)).

    The direct form rounds 1 - tanh(x)^2 to 0 once |x| exceeds about 9 in float32 and returns
    -inf; this one stays exact for any x.
    """
    return 2.0 * (jnp.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh))


def squashed_log_prob(mean, log_std, pre_tanh):
    """log density of u = tanh(x), x ~ N(mean, exp(log_std)), summed over action dimensions.

    By the change of variables, p_u(u) = p_x(x) / |du/dx|, so the Jacobian's log is subtracted.
    Taking the pre-tanh x (not u) keeps this finite where u rounds to +-1.
    """
    return D.gaussian_log_prob(mean, log_std, pre_tanh) - jnp.sum(tanh_log_det_jacobian(pre_tanh), axis=-1)


def squashed_sample(key, mean, log_std):
    """A reparameterised action in (-1, 1)^|A| and its log-probability."""
    pre_tanh = D.gaussian_sample(key, mean, log_std)
    return jnp.tanh(pre_tanh), squashed_log_prob(mean, log_std, pre_tanh)


# ---------------------------------------------------------------------------------------------
# Transitions, stored in the shared ring buffer (base.ReplayBuffer)


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array  # in the unit box
    reward: jax.Array
    next_obs: jax.Array  # the observation the step reached, before any auto-reset
    terminated: jax.Array  # float32: 1 cuts the bootstrap, truncation does not


# ---------------------------------------------------------------------------------------------
# State


@struct.dataclass
class Learner:
    """Everything gradient steps change."""

    actor: Any
    critic: Any
    target_critic: Any
    log_alpha: jax.Array
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any
    critic_steps: jax.Array  # int32, for the target update period


@struct.dataclass
class TrainState:
    learner: Learner
    buffer: ReplayBuffer
    env_state: Any
    obs: jax.Array
    key: jax.Array
    tracker: EpisodeTracker
    env_steps: jax.Array  # int32, env steps taken so far (all envs)


def steps_per_iteration(static: Static) -> int:
    return static.num_envs * static.num_steps


def to_env_action(unit_action, env, env_params):
    """Map actions from the unit box onto the env's Box bounds."""
    space = env.action_space(env_params)
    low = jnp.asarray(space.low, jnp.float32)
    high = jnp.asarray(space.high, jnp.float32)
    return low + 0.5 * (unit_action + 1.0) * (high - low)


def optimizers(hp: HParams):
    """Actor, critic and alpha optimisers; built from traced learning rates, so they are data."""
    return optax.adam(hp.actor_lr), optax.adam(hp.critic_lr), optax.adam(hp.alpha_lr)


def temperature(learner: Learner, hp: HParams, static: Static) -> jax.Array:
    return jnp.exp(learner.log_alpha) if static.autotune else hp.alpha


def vec_env(env, static: Static):
    """The vectorised, wrapped environment; no action clipping: actions are mapped into the bounds."""
    return common.vec_env(env, static, clip_actions=False)


def init(key, hp: HParams, static: Static, env, env_params) -> TrainState:
    venv = vec_env(env, static)
    actor_net, critic_net = networks(env, static)
    key, actor_key, critic_key, env_key = jax.random.split(key, 4)
    obs, env_state = venv.reset(env_key, env_params)
    action_dim = env.action_space(env_params).shape[0]
    unit_action = jnp.zeros((static.num_envs, action_dim), jnp.float32)
    actor = actor_net.init(actor_key, obs)
    critic = critic_net.init(critic_key, obs, unit_action)
    # A fixed alpha (possibly 0) is read from hp; log alpha is then unused and must stay finite.
    log_alpha = jnp.log(hp.alpha) if static.autotune else jnp.zeros(())
    log_alpha = jnp.asarray(log_alpha, jnp.float32)
    actor_tx, critic_tx, alpha_tx = optimizers(hp)
    learner = Learner(
        actor=actor,
        critic=critic,
        target_critic=critic,
        log_alpha=log_alpha,
        actor_opt=actor_tx.init(actor),
        critic_opt=critic_tx.init(critic),
        alpha_opt=alpha_tx.init(log_alpha),
        critic_steps=jnp.zeros((), jnp.int32),
    )
    example = Transition(obs[0], unit_action[0], jnp.float32(0), obs[0], jnp.float32(0))
    return TrainState(
        learner=learner,
        buffer=ReplayBuffer.create(example, static.buffer_size),
        env_state=env_state,
        obs=obs,
        key=key,
        tracker=EpisodeTracker.create(),
        env_steps=jnp.zeros((), jnp.int32),
    )


# ---------------------------------------------------------------------------------------------
# Acting


def collect(state: TrainState, static: Static, env, env_params):
    """`num_steps` steps in every env: uniformly random actions for the first `learning_starts`
    env steps, then samples of the policy. The rollout's extras are the unit-box actions."""
    actor_net, _ = networks(env, static)

    def policy(keys, obs, t, action_mask):  # continuous actions: never masked
        policy_key, random_key = keys
        policy_action, _ = squashed_sample(policy_key, *actor_net.apply(state.learner.actor, obs))
        random_action = jax.random.uniform(random_key, policy_action.shape, minval=-1.0, maxval=1.0)
        env_steps = state.env_steps + t * static.num_envs
        action = jnp.where(env_steps < static.learning_starts, random_action, policy_action)
        return to_env_action(action, env, env_params), action

    state, traj = common.rollout(state, policy, static.num_steps, static, env, env_params, policy_keys=2,
                                 clip_actions=False)
    state = state.replace(env_steps=state.env_steps + static.num_steps * static.num_envs)
    transitions = Transition(traj.obs, traj.extras, traj.reward, traj.final_obs, traj.terminated.astype(jnp.float32))
    return state, transitions, (traj.returned_episode, traj.episode_return)


def act(state: TrainState, obs, key, static: Static, env, env_params, deterministic: bool):
    """Env actions for a batch of raw observations: tanh(mean) when deterministic, else a sample."""
    actor_net, _ = networks(env, static)
    mean, log_std = actor_net.apply(state.learner.actor, common.policy_observations(obs, static, env, state.env_state))
    unit_action = jnp.tanh(mean) if deterministic else squashed_sample(key, mean, log_std)[0]
    return to_env_action(unit_action, env, env_params)


# ---------------------------------------------------------------------------------------------
# Learning


def critic_step(learner: Learner, batch: Transition, key, hp: HParams, static: Static, nets):
    """One gradient step on both critics towards the clipped double-Q soft target."""
    actor_net, critic_net = nets
    _, critic_tx, _ = optimizers(hp)
    alpha = temperature(learner, hp, static)
    next_action, next_log_prob = squashed_sample(key, *actor_net.apply(learner.actor, batch.next_obs))
    next_q = jnp.min(critic_net.apply(learner.target_critic, batch.next_obs, next_action), axis=0)
    soft_value = next_q - alpha * next_log_prob
    target = batch.reward + hp.gamma * (1.0 - batch.terminated) * soft_value

    def loss_fn(critic):
        q = critic_net.apply(critic, batch.obs, batch.action)  # [2, batch]
        return 0.5 * jnp.mean(jnp.sum((q - target) ** 2, axis=0)), jnp.mean(q)

    (loss, q_value), grads = jax.value_and_grad(loss_fn, has_aux=True)(learner.critic)
    updates, critic_opt = critic_tx.update(grads, learner.critic_opt, learner.critic)
    critic = optax.apply_updates(learner.critic, updates)
    critic_steps = learner.critic_steps + 1
    # Polyak averaging every `target_update_period` critic steps; a select costs one pass over
    # the critic's parameters, and keeps the period free of any divisibility constraint.
    due = critic_steps % static.target_update_period == 0
    target_critic = jax.tree.map(
        lambda online, target: jnp.where(due, hp.tau * online + (1.0 - hp.tau) * target, target),
        critic,
        learner.target_critic,
    )
    learner = learner.replace(critic=critic, critic_opt=critic_opt, target_critic=target_critic,
                              critic_steps=critic_steps)
    return learner, (loss, q_value)


def actor_step(learner: Learner, batch: Transition, key, hp: HParams, static: Static, nets, action_dim: int):
    """One gradient step on the actor, then one on alpha (when autotuned)."""
    actor_net, critic_net = nets
    actor_tx, _, alpha_tx = optimizers(hp)
    alpha = temperature(learner, hp, static)

    def loss_fn(actor):
        action, log_prob = squashed_sample(key, *actor_net.apply(actor, batch.obs))
        q = jnp.min(critic_net.apply(learner.critic, batch.obs, action), axis=0)
        return jnp.mean(alpha * log_prob - q), log_prob

    (loss, log_prob), grads = jax.value_and_grad(loss_fn, has_aux=True)(learner.actor)
    updates, actor_opt = actor_tx.update(grads, learner.actor_opt, learner.actor)
    learner = learner.replace(actor=optax.apply_updates(learner.actor, updates), actor_opt=actor_opt)

    if static.autotune:
        # J(alpha) = E[-alpha (log pi + target entropy)]: alpha grows while the policy's entropy
        # is below the target and shrinks above it. Optimised through log alpha to stay positive.
        gap = jax.lax.stop_gradient(jnp.mean(log_prob)) + hp.target_entropy_per_dim * action_dim
        grad = jax.grad(lambda log_alpha: -jnp.exp(log_alpha) * gap)(learner.log_alpha)
        updates, alpha_opt = alpha_tx.update(grad, learner.alpha_opt, learner.log_alpha)
        learner = learner.replace(log_alpha=optax.apply_updates(learner.log_alpha, updates), alpha_opt=alpha_opt)
    return learner, (loss, -jnp.mean(log_prob))


def learn(learner: Learner, buffer: ReplayBuffer, key, hp: HParams, static: Static, env):
    """`updates_per_iteration` critic steps and as many actor steps, in blocks of `policy_frequency`."""
    nets = networks(env, static)
    action_dim = env.action_space(env.default_params).shape[0]
    period = static.policy_frequency

    def block(learner, key):
        sample_key, critic_key, actor_key = jax.random.split(key, 3)
        batches = jax.vmap(lambda k: buffer.sample(k, static.batch_size))(jax.random.split(sample_key, period))
        learner, critic_stats = jax.lax.scan(
            lambda lrn, xs: critic_step(lrn, xs[0], xs[1], hp, static, nets),
            learner,
            (batches, jax.random.split(critic_key, period)),
        )
        learner, actor_stats = jax.lax.scan(
            lambda lrn, xs: actor_step(lrn, xs[0], xs[1], hp, static, nets, action_dim),
            learner,
            (batches, jax.random.split(actor_key, period)),
        )
        return learner, (*critic_stats, *actor_stats)

    blocks = static.updates_per_iteration // period
    learner, stats = jax.lax.scan(block, learner, jax.random.split(key, blocks))
    q_loss, q_value, actor_loss, entropy = (jnp.mean(s) for s in stats)
    return learner, {"q_loss": q_loss, "q_value": q_value, "actor_loss": actor_loss, "entropy": entropy}


LEARNING_STATS = ("q_loss", "q_value", "actor_loss", "entropy")


def update(state: TrainState, hp: HParams, static: Static, env, env_params):
    """One iteration: collect `steps_per_iteration` env steps, then learn if the warm-up is over."""
    state, traj, (returned, episode_return) = collect(state, static, env, env_params)
    buffer = state.buffer.add(common.flatten_steps(traj))
    key, learn_key = jax.random.split(state.key)

    def warming_up():
        # Nothing to learn yet: the learning statistics read 0 until learning starts.
        return state.learner, {name: jnp.zeros((), jnp.float32) for name in LEARNING_STATS}

    learner, stats = jax.lax.cond(
        state.env_steps >= static.learning_starts,
        lambda: learn(state.learner, buffer, learn_key, hp, static, env),
        warming_up,
    )
    tracker = state.tracker.record(returned, episode_return)
    state = state.replace(learner=learner, buffer=buffer, key=key, tracker=tracker)
    params = (learner.actor, learner.critic, learner.log_alpha)
    metrics = episode_metrics(tracker, stats["q_loss"], params)
    metrics.update(stats, alpha=temperature(learner, hp, static))
    return state, metrics


def check_static(static: Static, env) -> list[tuple[str, str]]:
    errors = []
    batch = steps_per_iteration(static)
    space = env.action_space(env.default_params)
    if isinstance(space, Box) and not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        errors.append(("env", f"SAC squashes actions into the env's bounds, and {env.name} has unbounded actions"))
    if static.updates_per_iteration % static.policy_frequency:
        errors.append((
            "policy_frequency",
            f"updates_per_iteration = {static.updates_per_iteration} is not a multiple of policy_frequency = "
            f"{static.policy_frequency}; raise num_steps and updates_per_iteration together to keep the replay ratio",
        ))
    if static.buffer_size < batch:
        errors.append(("buffer_size", f"{static.buffer_size} cannot hold one iteration's {batch} transitions"))
    if static.total_env_steps < batch:
        errors.append(("total_env_steps", f"{static.total_env_steps} is less than one iteration ({batch} env steps)"))
    elif static.learning_starts >= static.total_env_steps:
        errors.append(("learning_starts", f"{static.learning_starts} is not below total_env_steps = "
                                          f"{static.total_env_steps}: nothing would be learned"))
    if static.learning_starts < 0:
        errors.append(("learning_starts", f"must be >= 0, got {static.learning_starts}"))
    return errors + common.check_network(static, env)


def check_hparams(hparams, static: Static) -> list[tuple[str, str]]:
    if static.autotune and hparams["alpha"] <= 0:
        alpha = hparams["alpha"]
        return [("alpha", f"with autotune the temperature is learnt as log alpha, so it must start > 0, got {alpha}")]
    return []


# ---------------------------------------------------------------------------------------------
# Presets

PAPER = (
    "Haarnoja et al. 2018b, 'Soft Actor-Critic Algorithms and Applications', Table 1 (+ CleanRL's 5k warm-up "
    "steps), with the init of the authors' softlearning code (Keras Dense defaults: glorot-uniform weights, zero "
    "biases). Differs: Adam eps is optax's 1e-8 (softlearning's TF2 Adam: 1e-7); softlearning's policy scale is "
    "softplus(.) + 1e-5, here log std is squashed into [-5, 2] (CleanRL's form)"
)
CLEANRL = (
    "CleanRL sac_continuous_action.py defaults: PyTorch's default nn.Linear init (weights and biases "
    "U(+-1/sqrt(fan_in))), Adam eps 1e-8, policy lr 3e-4, q lr 1e-3 (also alpha's), policy_frequency 2, "
    "learning_starts 5e3, Polyak targets after every critic step; its one env step per update kept by 2 steps + "
    "2 updates per iteration. As there, a time-limit truncation bootstraps. Differs: CleanRL's two delayed actor "
    "steps reuse the batch of its latest critic step, here they take the two critic batches; its first update "
    "comes 2 env steps later (global_step > learning_starts); it measures log-probs in env action units "
    "(module docstring)"
)

PENDULUM = (
    "RL Baselines3 Zoo hyperparams/sac.yml, Pendulum-v1 (Adam 1e-3, SB3 SAC defaults otherwise: batch 256, "
    "tau 0.005, gamma 0.99, auto alpha from 1, Adam eps 1e-8, PyTorch's default nn.Linear init), scaled for a "
    "2-core CPU: 2 x 64 networks, 8 envs with 2 updates per iteration (replay ratio 0.25), 1,000 warm-up steps, "
    "the whole 100k-step run in the buffer. Differs: SB3 clips log std to [-20, 2], here it is squashed into [-5, 2]"
)

PRESETS = {
    "haarnoja2018": Preset(static=dict(network_init="glorot_uniform"), hparams={}, source=PAPER),
    "cleanrl": Preset(
        static=dict(num_steps=2, updates_per_iteration=2, policy_frequency=2, network_init="torch_default"),
        hparams=dict(actor_lr=3e-4, critic_lr=1e-3, alpha_lr=1e-3),
        source=CLEANRL,
    ),
    "pendulum": Preset(
        static=dict(
            total_env_steps=100_000, num_envs=8, updates_per_iteration=2, buffer_size=100_000,
            learning_starts=1_000, hidden_sizes=(64, 64), network_init="torch_default",
        ),
        hparams=dict(actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3),
        source=PENDULUM,
        env_id="gymnax/Pendulum-v1",
    ),
}

SAC = Algorithm(
    name="sac",
    Static=Static,
    HParams=HParams,
    init=init,
    update=update,
    act=act,
    steps_per_iteration=steps_per_iteration,
    action_kinds="continuous",
    description="Soft Actor-Critic with twin Q, tanh-Gaussian policy and automatic temperature (Haarnoja et al. 2018b)",
    presets=PRESETS,
    check_static=check_static,
    check_hparams=check_hparams,
)
