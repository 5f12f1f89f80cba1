"""The machinery the algorithms share: the one place an algorithm module imports pieces from.

An algorithm module imports only this module, `base` (the contract), `networks`,
`distributions` and the environments -- never another algorithm. What lives here:

* environments: `vec_env` (the wrapped, vectorised training env), `policy_observations` (raw
  observations as the policy saw them in training);
* networks built from a Static: `actor_critic`, `q_network`;
* `rollout`: every algorithm's data collection, one signature; `flatten_steps`;
* advantages: `gae`, `standardize`;
* learning: `minibatch_epochs` (shuffled epochs of minibatch gradient steps), `annealed_lr`,
  `clipped_adam`, `actor_critic_adam`;
* the on-policy actor-critic algorithms (PPO, A2C, REINFORCE and their relatives):
  `ActorCriticState`, `init_actor_critic`, `collect_actor_critic`, `act_actor_critic`,
  `record_iteration`, and their two iterations, spelled out once each:
  - `surrogate_update`, the clipped-surrogate family's (PPO, DPO, SPO, Tang & Zhang's variants):
    each passes its network, optimiser, per-sample `objective` (PPO's `clipped_surrogate`) and
    advantage estimator explicitly; `surrogate_loss`, `annealed_adam`, `SurrogateStatic` and
    `SurrogateHParams` (PPO's settings) are theirs too;
  - `policy_gradient_update`, one gradient step per rollout (A2C, REINFORCE);
* action masks (envs with `has_action_mask`): `rollout` records them and hands them to the
  policy; the actor-critic family's policy, both its losses and `act_actor_critic` give illegal
  actions no probability (`distributions.mask_logits`); the ε-greedy learners act unmasked;
* ε-greedy acting (DQN, PQN): `epsilon`, `epsilon_greedy`, `collect_epsilon_greedy`, `act_q`;
* Static checks: `check_network`, `check_budget`, `check_minibatches`, `check_lr_decay_every`.

Statics are plain dataclasses; the functions here read the fields they need. Optional ones are
read with a default: a Static without `network` is an MLP's, without `normalize_obs` /
`normalize_reward` it never normalises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite import distributions as D
from jaxrl_suite.algos.base import EpisodeTracker, episode_metrics, nonnegative, positive, unit_interval
from jaxrl_suite.envs.core import Discrete
from jaxrl_suite.envs.wrappers import (
    ClipAction,
    EpisodeStatistics,
    FlattenObservation,
    NormalizeVecObservation,
    NormalizeVecReward,
    VecEnv,
    normalize_observation,
    observation_statistics,
)
from jaxrl_suite.networks import ACTIVATIONS, ActorCritic, Head, check_network_init, torso

# ---------------------------------------------------------------------------------------------
# Environments


def _flattened(static) -> bool:
    return getattr(static, "network", "mlp") == "mlp"


def vec_env(env, static, gamma: float = 0.99, *, clip_actions: bool = True):
    """The vectorised, wrapped environment an algorithm trains on.

    Observations are flattened for an MLP; continuous actions are clipped into the action space
    (unless the algorithm maps its actions into the bounds itself: `clip_actions=False`);
    observations and rewards are normalised when the Static asks (`gamma` discounts the return
    whose scale normalises rewards).
    """
    discrete = isinstance(env.action_space(env.default_params), Discrete)
    if _flattened(static) and len(env.observation_space(env.default_params).shape) > 1:
        env = FlattenObservation(env)
    if not discrete and clip_actions:
        env = ClipAction(env)
    venv = VecEnv(EpisodeStatistics(env), static.num_envs)
    if getattr(static, "normalize_obs", False):
        venv = NormalizeVecObservation(venv)
    if getattr(static, "normalize_reward", False):
        venv = NormalizeVecReward(venv, gamma)
    return venv


def policy_observations(obs: jax.Array, static, env, env_state) -> jax.Array:
    """A batch of raw observations as the policy saw them in training: flattened for an MLP,
    normalised with the training statistics kept in `env_state` (when the Static normalises)."""
    if _flattened(static):
        obs = obs.reshape((obs.shape[0], -1))
    if getattr(static, "normalize_obs", False):
        obs = normalize_observation(obs, observation_statistics(vec_env(env, static), env_state))
    return obs


# ---------------------------------------------------------------------------------------------
# Networks


def actor_critic(env, static) -> ActorCritic:
    """Separate actor and critic for `env`'s action space (categorical or Gaussian policy)."""
    space = env.action_space(env.default_params)
    discrete = isinstance(space, Discrete)
    return ActorCritic(
        action_dim=space.n if discrete else space.shape[0],
        discrete=discrete,
        network=static.network,
        hidden_sizes=static.hidden_sizes,
        activation=static.activation,
        layer_norm=static.layer_norm,
        init_scheme=static.network_init,
    )


def q_network(env, static, init_gain: float = 1.0) -> Head:
    """Q(s, ·): a torso and one linear output per action (the gain: the output's orthogonal-init scale)."""
    actions = env.action_space(env.default_params).n
    body = torso(static.network, static.hidden_sizes, static.activation, static.layer_norm, static.network_init)
    return Head(body, actions, gain=init_gain, init_scheme=static.network_init)


# ---------------------------------------------------------------------------------------------
# Rollouts


class Rollout(NamedTuple):
    """What a rollout records per step, time-major then envs."""

    obs: jax.Array
    action: jax.Array  # as sent to the env
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array  # terminated or truncated
    final_obs: jax.Array  # the true next state, never a reset observation
    returned_episode: jax.Array  # an episode ended here...
    episode_return: jax.Array  # ...with this undiscounted return
    extras: Any  # what the policy returned alongside the action (log-probs, values, ε...)
    action_mask: Any = None  # bool[..., n], the legal actions, where the env has masks (Jumanji); else None


#: policy(keys, obs, t, action_mask) -> (action, extras): `keys` holds `policy_keys` PRNG keys for
#: this step, `obs` the batch of observations, `t` the step's index in the rollout (0-based),
#: `action_mask` the legal actions (bool[envs, n]) where the env has masks, else None.
Policy = Callable[[jax.Array, jax.Array, jax.Array, Any], tuple[jax.Array, Any]]


def rollout(state, policy: Policy, num_steps: int, static, env, env_params, *, gamma: float = 0.99,
            policy_keys: int = 1, clip_actions: bool = True) -> tuple[Any, Rollout]:
    """`num_steps` steps of `policy` in every env of `vec_env(env, static, gamma)`.

    `state` is any train state with `env_state`, `obs` and `key`; they come back advanced. Each
    step splits the key into (next key, `policy_keys` keys for the policy, the env's key).
    """
    venv = vec_env(env, static, gamma, clip_actions=clip_actions)

    def step(carry, t):
        env_state, obs, key = carry
        keys = jax.random.split(key, policy_keys + 2)
        key, step_key = keys[0], keys[-1]
        action_mask = venv.action_mask(env_state, env_params) if venv.has_action_mask else None
        action, extras = policy(keys[1:-1], obs, t, action_mask)
        next_obs, env_state, reward, terminated, truncated, info = venv.step(step_key, env_state, action, env_params)
        record = Rollout(
            obs=obs,
            action=action,
            reward=reward,
            terminated=terminated,
            done=terminated | truncated,
            final_obs=info["final_obs"],
            returned_episode=info["returned_episode"],
            episode_return=info["episode_return"],
            extras=extras,
            action_mask=action_mask,  # kept, so a loss recomputes the policy that acted
        )
        return (env_state, next_obs, key), record

    (env_state, obs, key), traj = jax.lax.scan(step, (state.env_state, state.obs, state.key), jnp.arange(num_steps))
    return state.replace(env_state=env_state, obs=obs, key=key), traj


def flatten_steps(tree: Any) -> Any:
    """Merge the leading (time, env) axes of every leaf into one batch axis."""
    return jax.tree.map(lambda x: x.reshape((x.shape[0] * x.shape[1], *x.shape[2:])), tree)


# ---------------------------------------------------------------------------------------------
# Advantages


def gae(traj: Rollout, values: jax.Array, next_values: jax.Array, gamma, gae_lambda) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimates and value targets.

    `values[t]` is V(obs[t]); `next_values[t]` is V(final_obs[t]), the value of the state reached
    by step t before any auto-reset. It is the bootstrap target on truncation; termination zeroes
    it; the trace of advantages is cut at every episode end.
    """
    delta = traj.reward + gamma * (1.0 - traj.terminated) * next_values - values

    def backward(advantage, inputs):
        delta_t, done_t = inputs
        advantage = delta_t + gamma * gae_lambda * (1.0 - done_t) * advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(delta[0]), (delta, traj.done.astype(jnp.float32)), reverse=True
    )
    return advantages, advantages + values


def standardize(x: jax.Array) -> jax.Array:
    """Zero mean and unit standard deviation (the epsilon guards a constant batch)."""
    return (x - x.mean()) / (x.std() + 1e-8)


# ---------------------------------------------------------------------------------------------
# Learning


def minibatch_epochs(key, params, opt_state, batch: Any, loss_fn, tx: optax.GradientTransformation, epochs: int,
                     minibatches: int):
    """`epochs` passes over `batch` (leaves with a leading batch axis), each shuffled and cut into
    `minibatches` gradient steps of `tx` on `loss_fn(params, minibatch) -> (loss, aux)`.

    Returns `((params, opt_state), (loss, aux))`, the losses stacked [epochs, minibatches].
    """
    size = jax.tree.leaves(batch)[0].shape[0]

    def minibatch_step(carry, minibatch):
        params, opt_state = carry
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, minibatch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (loss, aux)

    def epoch(carry, key):
        permutation = jax.random.permutation(key, size)
        shuffled = jax.tree.map(lambda x: x[permutation].reshape((minibatches, -1, *x.shape[1:])), batch)
        return jax.lax.scan(minibatch_step, carry, shuffled)

    return jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, epochs))


def total_updates(static) -> int:
    """Optimiser steps in a run of `update_epochs` x `num_minibatches` steps per iteration of
    `num_envs` x `num_steps` env steps (a remainder of the budget is dropped)."""
    iterations = static.total_env_steps // rollout_steps(static)
    return iterations * static.update_epochs * static.num_minibatches


def annealed_lr(hp, static) -> Callable[[jax.Array], jax.Array]:
    """The learning rate after `count` optimiser steps: linear from `hp.lr` to `hp.lr *
    hp.lr_final_ratio` over the first `hp.lr_decay_fraction` of the run's `total_updates`, then
    flat (CleanRL's annealing is ratio 0, fraction 1; a constant rate is ratio 1; all three are
    traced). It moves at every step, or with `static.lr_decay_every = "iteration"` once per
    iteration of `update_epochs` x `num_minibatches` steps, as CleanRL and PureJaxRL hold it."""
    updates_per_iteration = static.update_epochs * static.num_minibatches
    decay_updates = jnp.maximum(hp.lr_decay_fraction * total_updates(static), 1.0)

    def schedule(count):
        if static.lr_decay_every == "iteration":
            count = count // updates_per_iteration * updates_per_iteration
        progress = jnp.minimum(count / decay_updates, 1.0)
        return hp.lr * (1.0 - progress * (1.0 - hp.lr_final_ratio))

    return schedule


def clipped_adam(lr, hp) -> optax.GradientTransformation:
    """Adam with learning rate `lr`, after clipping the gradient's global norm to `hp.max_grad_norm`."""
    return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(lr, eps=hp.adam_eps))


def actor_critic_adam(hp) -> optax.GradientTransformation:
    """One clipped Adam for the actor (`hp.actor_lr`) and another for the critic (`hp.critic_lr`).

    The actor-critic's parameters are {"params": {"actor": ..., "critic": ...}}; each subtree is
    routed to the optimiser of its name, so neither network's gradients scale the other's step.
    """
    return optax.multi_transform(
        {"actor": clipped_adam(hp.actor_lr, hp), "critic": clipped_adam(hp.critic_lr, hp)},
        lambda params: {"params": {name: name for name in params["params"]}},
    )


# ---------------------------------------------------------------------------------------------
# The on-policy actor-critic algorithms (PPO, A2C, REINFORCE and their relatives)


@dataclasses.dataclass(frozen=True)
class SurrogateStatic:
    """PPO's shapes and switches (CleanRL's defaults), which DPO, SPO and Tang & Zhang's variants share."""

    total_env_steps: int = 500_000
    num_envs: int = 4
    num_steps: int = 128
    num_minibatches: int = 4
    update_epochs: int = 4
    network: str = "mlp"  # "mlp" or "cnn" (MinAtar)
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    layer_norm: bool = False
    network_init: str = "orthogonal"  # a scheme of networks.INITIALIZERS
    lr_decay_every: str = "update"  # "update" (every gradient step) or "iteration" (CleanRL, PureJaxRL)
    clip_value_loss: bool = True
    normalize_advantages: bool = True
    normalize_obs: bool = False
    normalize_reward: bool = False


#: What CleanRL's ppo.py sets beyond SurrogateStatic's defaults: its init and once-per-iteration lr steps.
CLEANRL_SURROGATE_STATIC = dict(network_init="orthogonal", lr_decay_every="iteration")


@struct.dataclass
class SurrogateHParams:
    """PPO's hyperparameters (CleanRL's defaults), which DPO and SPO share."""

    lr: float = positive(2.5e-4)
    lr_final_ratio: float = nonnegative(0.0)
    lr_decay_fraction: float = unit_interval(1.0)
    gamma: float = unit_interval(0.99)
    gae_lambda: float = unit_interval(0.95)
    clip_eps: float = nonnegative(0.2)
    vf_coef: float = nonnegative(0.5)
    ent_coef: float = nonnegative(0.01)
    max_grad_norm: float = nonnegative(0.5)
    adam_eps: float = nonnegative(1e-5)


@struct.dataclass
class ActorCriticState:
    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array
    key: jax.Array
    tracker: EpisodeTracker


class ActorCriticStep(NamedTuple):
    """What the actor-critic's rollout records besides the action."""

    log_prob: jax.Array
    value: jax.Array


def init_actor_critic(key, static, env, env_params, net, tx: optax.GradientTransformation) -> ActorCriticState:
    """Reset the vectorised environments and initialise `net` and its optimiser `tx`."""
    key, net_key, env_key = jax.random.split(key, 3)
    obs, env_state = vec_env(env, static).reset(env_key, env_params)
    params = net.init(net_key, obs)
    return ActorCriticState(
        params=params, opt_state=tx.init(params), env_state=env_state, obs=obs, key=key, tracker=EpisodeTracker.create()
    )


def collect_actor_critic(state: ActorCriticState, net, static, env, env_params, gamma):
    """`static.num_steps` steps of the current policy in every env; `net` returns (policy, value)."""

    def policy(keys, obs, t, action_mask):
        dist, value = net.apply(state.params, obs)
        dist = D.mask_logits(dist, action_mask)  # illegal actions get no probability
        action = D.sample(keys[0], dist, net.discrete)
        return action, ActorCriticStep(D.log_prob(dist, action, net.discrete), value)

    return rollout(state, policy, static.num_steps, static, env, env_params, gamma=gamma)


def clipped_surrogate(log_ratio: jax.Array, advantages: jax.Array, hp) -> jax.Array:
    """PPO's per-sample objective, to be maximised: min(r A, clip(r, 1 - eps, 1 + eps) A)."""
    ratio = jnp.exp(log_ratio)
    return jnp.minimum(ratio * advantages, jnp.clip(ratio, 1.0 - hp.clip_eps, 1.0 + hp.clip_eps) * advantages)


def surrogate_loss(params, net, batch, hp, static, objective):
    """The clipped-surrogate family's loss on a minibatch `(traj, advantages, value targets)`:
    -mean(objective(log ratio, advantages, hp)) + vf_coef * value loss - ent_coef * entropy.

    The value loss is clipped to `clip_eps` around the old values when `static.clip_value_loss`;
    advantages are standardised per minibatch when `static.normalize_advantages`.
    """
    traj, advantages, targets = batch
    old = traj.extras
    dist, value = net.apply(params, traj.obs)
    dist = D.mask_logits(dist, traj.action_mask)  # the policy that acted, masks and all
    log_prob = D.log_prob(dist, traj.action, net.discrete)

    if static.clip_value_loss:
        clipped = old.value + jnp.clip(value - old.value, -hp.clip_eps, hp.clip_eps)
        value_loss = 0.5 * jnp.mean(jnp.maximum((value - targets) ** 2, (clipped - targets) ** 2))
    else:
        value_loss = 0.5 * jnp.mean((value - targets) ** 2)

    if static.normalize_advantages:
        advantages = standardize(advantages)
    policy_loss = -jnp.mean(objective(log_prob - old.log_prob, advantages, hp))
    entropy = jnp.mean(D.entropy(dist, net.discrete))
    total = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy
    return total, (policy_loss, value_loss, entropy)


def gae_advantages(traj: Rollout, next_value: jax.Array, hp) -> tuple[jax.Array, jax.Array]:
    """PPO's estimator: GAE with the run's own gamma and lambda."""
    return gae(traj, traj.extras.value, next_value, hp.gamma, hp.gae_lambda)


def surrogate_update(state: ActorCriticState, hp, static, env, env_params, *, net, tx, objective, advantages):
    """One iteration of the clipped-surrogate family: collect a batch with `net`, estimate
    `advantages(traj, next_value, hp) -> (advantages, value targets)`, then `update_epochs` x
    `num_minibatches` steps of `tx` on `surrogate_loss` with the per-sample `objective(log_ratio,
    advantages, hp)` (PPO's clipped surrogate, DPO's drift, SPO's penalty)."""
    state, traj = collect_actor_critic(state, net, static, env, env_params, hp.gamma)
    next_value = net.apply(state.params, traj.final_obs, method=net.value)
    advantage, targets = advantages(traj, next_value, hp)

    def loss_fn(params, minibatch):
        return surrogate_loss(params, net, minibatch, hp, static, objective)

    key, epoch_key = jax.random.split(state.key)
    batch = flatten_steps((traj, advantage, targets))
    (params, opt_state), (loss, (policy_loss, value_loss, entropy)) = minibatch_epochs(
        epoch_key, state.params, state.opt_state, batch, loss_fn, tx, static.update_epochs, static.num_minibatches
    )
    stats = dict(policy_loss=policy_loss.mean(), value_loss=value_loss.mean(), entropy=entropy.mean())
    return record_iteration(state.replace(key=key), traj, params, opt_state, loss.mean(), **stats)


def policy_gradient_update(state: ActorCriticState, hp, static, env, env_params, *, tx, gae_lambda, vf_coef):
    """One iteration of A2C and REINFORCE: collect one rollout, take one step of `tx` on

        -mean(log pi(a|s) A) + vf_coef * mean((R - V(s))^2) - ent_coef * mean(entropy)

    with A and R from GAE(`gae_lambda`); `hp` needs `gamma` and `ent_coef`."""
    net = actor_critic(env, static)
    state, traj = collect_actor_critic(state, net, static, env, env_params, hp.gamma)
    next_value = net.apply(state.params, traj.final_obs, method=net.value)
    advantages, returns = gae(traj, traj.extras.value, next_value, hp.gamma, gae_lambda)

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
    return record_iteration(state, traj, params, opt_state, loss, **stats)


def annealed_adam(hp, static) -> optax.GradientTransformation:
    """PPO's optimiser: Adam after global-norm clipping, its learning rate annealed (`annealed_lr`)
    over the run's `update_epochs` x `num_minibatches` steps per iteration."""
    return optax.chain(
        optax.clip_by_global_norm(hp.max_grad_norm),
        optax.adam(annealed_lr(hp, static), eps=hp.adam_eps),
    )


def check_rollout_static(static, env) -> list[tuple[str, str]]:
    """The Static checks of an actor-critic that learns from rollouts of `num_envs` x `num_steps`."""
    return check_budget(static, rollout_steps(static)) + check_network(static, env)


def check_surrogate_static(static, env) -> list[tuple[str, str]]:
    """The Static checks of the clipped-surrogate family: the rollout's, minibatches that divide it, the lr steps."""
    return check_minibatches(static, rollout_steps(static)) + check_lr_decay_every(static) + check_rollout_static(
        static, env
    )


def record_iteration(state: ActorCriticState, traj: Rollout, params, opt_state, loss, **stats):
    """Record the episodes that ended in `traj`, keep the new parameters, report the metrics."""
    tracker = state.tracker.record(traj.returned_episode, traj.episode_return)
    state = state.replace(params=params, opt_state=opt_state, tracker=tracker)
    metrics = episode_metrics(tracker, loss, params)
    metrics.update(stats)
    return state, metrics


def act_actor_critic(state: ActorCriticState, obs, key, static, env, env_params, deterministic: bool,
                     action_mask=None):
    """The policy's actions for a batch of raw observations: its mode, or a sample (`Algorithm.act`).
    `action_mask` (bool[batch, n]) rules illegal actions out, as in training.

    Only the actor is applied, so a critic-less network's parameters serve as well."""
    net = actor_critic(env, static)
    dist = net.apply(state.params, policy_observations(obs, static, env, state.env_state), method=net.policy)
    if net.discrete:
        dist = D.mask_logits(dist, action_mask)
    if deterministic:
        return D.mode(dist, net.discrete)
    return D.sample(key, dist, net.discrete)


def rollout_steps(static) -> int:
    """Env steps per iteration of `num_envs` x `num_steps` (`Algorithm.steps_per_iteration`)."""
    return static.num_envs * static.num_steps


# ---------------------------------------------------------------------------------------------
# ε-greedy acting (DQN, PQN)


def epsilon(hp, static, env_steps) -> jax.Array:
    """ε after `env_steps` steps: linear from `epsilon_start` to `epsilon_end` over the first
    `exploration_fraction` of the budget, then flat (CleanRL's and SB3's schedule)."""
    duration = hp.exploration_fraction * static.total_env_steps
    progress = jnp.where(duration > 0, jnp.minimum(env_steps / jnp.maximum(duration, 1.0), 1.0), 1.0)
    return hp.epsilon_start + (hp.epsilon_end - hp.epsilon_start) * progress


def epsilon_greedy(key, q_values: jax.Array, eps) -> jax.Array:
    """Greedy actions over the last axis, each replaced by a uniformly random one with
    probability `eps` (independently per leading index, i.e. per env)."""
    explore_key, action_key = jax.random.split(key)
    batch = q_values.shape[:-1]
    explore = jax.random.uniform(explore_key, batch) < eps
    random_action = jax.random.randint(action_key, batch, 0, q_values.shape[-1])
    return jnp.where(explore, random_action, jnp.argmax(q_values, axis=-1))


def collect_epsilon_greedy(state, net, hp, static, env, env_params, num_steps: int):
    """`num_steps` ε-greedy steps in every env with the online Q-network, ε following its schedule.

    `state` carries params, env_state, obs, key, env_steps and epsilon (the latest step's ε,
    which `act_q` samples with); the schedule reads `epsilon_start`, `epsilon_end` and
    `exploration_fraction` from `hp`.
    """

    def policy(keys, obs, t, action_mask):  # the Q-learners act unmasked
        eps = epsilon(hp, static, state.env_steps + t * static.num_envs)
        return epsilon_greedy(keys[0], net.apply(state.params, obs), eps), eps

    state, traj = rollout(state, policy, num_steps, static, env, env_params)
    env_steps = state.env_steps + num_steps * static.num_envs
    return state.replace(env_steps=env_steps, epsilon=traj.extras[-1]), traj


def act_q(state, obs, key, static, env, env_params, deterministic: bool):
    """Greedy actions; or, when not deterministic, ε-greedy at the current training ε (`Algorithm.act`)."""
    q_values = q_network(env, static).apply(state.params, policy_observations(obs, static, env, state.env_state))
    if deterministic:
        return jnp.argmax(q_values, axis=-1)
    return epsilon_greedy(key, q_values, state.epsilon)


# ---------------------------------------------------------------------------------------------
# Static checks: (field, message) pairs, as `Algorithm.check_static` returns them


def check_network(static, env) -> list[tuple[str, str]]:
    """The torso's settings: the kind of network (when the Static has one), the activation, the init."""
    errors = []
    network = getattr(static, "network", "mlp")
    if network not in ("mlp", "cnn"):
        errors.append(("network", f"must be 'mlp' or 'cnn', got {network!r}"))
    if network == "cnn" and len(env.observation_space(env.default_params).shape) != 3:
        errors.append(("network", "'cnn' needs image observations (height, width, channels)"))
    if static.activation not in ACTIVATIONS:
        errors.append(("activation", f"must be one of {sorted(ACTIVATIONS)}, got {static.activation!r}"))
    return errors + check_network_init(static)


def check_budget(static, steps_per_iteration: int) -> list[tuple[str, str]]:
    if static.total_env_steps < steps_per_iteration:
        message = f"{static.total_env_steps} is less than one iteration ({steps_per_iteration} env steps)"
        return [("total_env_steps", message)]
    return []


def check_minibatches(static, batch: int) -> list[tuple[str, str]]:
    if static.num_minibatches < 1 or batch % static.num_minibatches:
        return [("num_minibatches", f"num_envs x num_steps = {batch} is not divisible by num_minibatches = "
                                    f"{static.num_minibatches}")]
    return []


def check_lr_decay_every(static) -> list[tuple[str, str]]:
    if static.lr_decay_every not in ("update", "iteration"):
        return [("lr_decay_every", f"must be 'update' or 'iteration', got {static.lr_decay_every!r}")]
    return []
