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

PPO's relatives reuse its pieces rather than copy them: `init_state`, `collect`, `gae`,
`finish_iteration` and `act` serve A2C and REINFORCE too, and `update` takes keywords that swap
the policy objective (DPO, SPO), the network, the optimiser and the advantage estimator (the
Tang & Zhang variants in ppo_variants.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl_suite import distributions as D
from jaxrl_suite.algos.base import Algorithm, EpisodeTracker, Preset, episode_metrics
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
from jaxrl_suite.networks import ActorCritic, check_network_init


@dataclasses.dataclass(frozen=True)
class Static:
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


@struct.dataclass
class HParams:
    lr: float = 2.5e-4
    lr_final_ratio: float = 0.0
    lr_decay_fraction: float = 1.0
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    max_grad_norm: float = 0.5
    adam_eps: float = 1e-5


@struct.dataclass
class TrainState:
    params: Any
    opt_state: Any
    env_state: Any
    obs: jax.Array
    key: jax.Array
    tracker: EpisodeTracker
    update_count: jax.Array


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array
    final_obs: jax.Array
    returned_episode: jax.Array
    episode_return: jax.Array
    action_mask: jax.Array | None = None  # bool[..., n] where the env has masks (Jumanji), else None


def steps_per_iteration(static: Static) -> int:
    return static.num_envs * static.num_steps


def vec_env(env, static: Static, gamma: float = 0.99):
    """The vectorised, wrapped environment the algorithm trains on."""
    discrete = isinstance(env.action_space(env.default_params), Discrete)
    if static.network == "mlp" and len(env.observation_space(env.default_params).shape) > 1:
        env = FlattenObservation(env)
    if not discrete:
        env = ClipAction(env)
    venv = VecEnv(EpisodeStatistics(env), static.num_envs)
    if static.normalize_obs:
        venv = NormalizeVecObservation(venv)
    if static.normalize_reward:
        venv = NormalizeVecReward(venv, gamma)
    return venv


def network(env, static: Static) -> ActorCritic:
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


def lr_schedule(hp: HParams, static: Static):
    """The learning rate after `count` gradient steps: linear from `lr` to `lr * lr_final_ratio` over
    the first `lr_decay_fraction` of them, then flat; held for whole iterations with
    `lr_decay_every = "iteration"`."""
    updates_per_iteration = static.update_epochs * static.num_minibatches
    total_updates = (static.total_env_steps // steps_per_iteration(static)) * updates_per_iteration
    decay_updates = jnp.maximum(hp.lr_decay_fraction * total_updates, 1.0)

    def schedule(count):
        if static.lr_decay_every == "iteration":
            # CleanRL and PureJaxRL set the rate once per iteration and hold it for its epochs.
            count = count // updates_per_iteration * updates_per_iteration
        progress = jnp.minimum(count / decay_updates, 1.0)
        return hp.lr * (1.0 - progress * (1.0 - hp.lr_final_ratio))

    return schedule


def optimizer(hp: HParams, static: Static) -> optax.GradientTransformation:
    schedule = lr_schedule(hp, static)
    return optax.chain(
        optax.clip_by_global_norm(hp.max_grad_norm),
        optax.adam(schedule, eps=hp.adam_eps),
    )


def init(key, hp: HParams, static: Static, env, env_params) -> TrainState:
    return init_state(key, static, env, env_params, network(env, static), optimizer(hp, static))


def init_state(key, static, env, env_params, net, tx: optax.GradientTransformation) -> TrainState:
    """Reset the vectorised environments and initialise `net` and its optimiser `tx`."""
    venv = vec_env(env, static)
    key, net_key, env_key = jax.random.split(key, 3)
    obs, env_state = venv.reset(env_key, env_params)
    params = net.init(net_key, obs)
    return TrainState(
        params=params,
        opt_state=tx.init(params),
        env_state=env_state,
        obs=obs,
        key=key,
        tracker=EpisodeTracker.create(),
        update_count=jnp.zeros((), jnp.int32),
    )


def collect(state: TrainState, static: Static, env, env_params, gamma, net=None) -> tuple[TrainState, Transition]:
    """Run the current policy for `num_steps` steps in every environment.

    `net` is PPO's actor-critic unless given: any module whose call returns (policy, value).
    """
    venv = vec_env(env, static, gamma)
    net = network(env, static) if net is None else net
    discrete = net.discrete

    def step(carry, _):
        env_state, obs, key = carry
        key, act_key, step_key = jax.random.split(key, 3)
        dist, value = net.apply(state.params, obs)
        # illegal actions get no probability; the mask is kept so the loss sees the same policy
        mask = venv.action_mask(env_state, env_params) if venv.has_action_mask else None
        dist = D.mask_logits(dist, mask)
        action = D.sample(act_key, dist, discrete)
        next_obs, env_state, reward, terminated, truncated, info = venv.step(
            step_key, env_state, action, env_params
        )
        transition = Transition(
            obs=obs,
            action=action,
            log_prob=D.log_prob(dist, action, discrete),
            value=value,
            reward=reward,
            terminated=terminated,
            done=terminated | truncated,
            final_obs=info["final_obs"],
            returned_episode=info["returned_episode"],
            episode_return=info["episode_return"],
            action_mask=mask,
        )
        return (env_state, next_obs, key), transition

    (env_state, obs, key), traj = jax.lax.scan(
        step, (state.env_state, state.obs, state.key), None, static.num_steps
    )
    return state.replace(env_state=env_state, obs=obs, key=key), traj


def gae(traj: Transition, next_value: jax.Array, gamma, gae_lambda) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimates and value targets.

    `next_value[t]` is V(final_obs[t]): the value of the state reached by step t, before any
    auto-reset. It is the bootstrap target on truncation; termination zeroes it; the trace of
    advantages is cut at every episode end.
    """
    delta = traj.reward + gamma * (1.0 - traj.terminated) * next_value - traj.value

    def backward(advantage, inputs):
        delta_t, done_t = inputs
        advantage = delta_t + gamma * gae_lambda * (1.0 - done_t) * advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(delta[0]), (delta, traj.done.astype(jnp.float32)), reverse=True
    )
    return advantages, advantages + traj.value


def gae_advantages(traj: Transition, next_value: jax.Array, hp: HParams) -> tuple[jax.Array, jax.Array]:
    """PPO's estimator: GAE with the run's own gamma and lambda."""
    return gae(traj, next_value, hp.gamma, hp.gae_lambda)


def standardize(x: jax.Array) -> jax.Array:
    """Zero mean and unit standard deviation (the epsilon guards a constant batch)."""
    return (x - x.mean()) / (x.std() + 1e-8)


def clipped_surrogate(log_ratio: jax.Array, advantages: jax.Array, hp: HParams) -> jax.Array:
    """PPO's per-sample objective, to be maximised: min(r A, clip(r, 1 - eps, 1 + eps) A)."""
    ratio = jnp.exp(log_ratio)
    return jnp.minimum(ratio * advantages, jnp.clip(ratio, 1.0 - hp.clip_eps, 1.0 + hp.clip_eps) * advantages)


def loss_fn(params, net, batch, hp: HParams, static: Static, objective=clipped_surrogate):
    traj, advantages, targets = batch
    dist, value = net.apply(params, traj.obs)
    dist = D.mask_logits(dist, traj.action_mask)
    log_prob = D.log_prob(dist, traj.action, net.discrete)

    if static.clip_value_loss:
        clipped = traj.value + jnp.clip(value - traj.value, -hp.clip_eps, hp.clip_eps)
        value_loss = 0.5 * jnp.mean(jnp.maximum((value - targets) ** 2, (clipped - targets) ** 2))
    else:
        value_loss = 0.5 * jnp.mean((value - targets) ** 2)

    if static.normalize_advantages:
        advantages = standardize(advantages)
    policy_loss = -jnp.mean(objective(log_prob - traj.log_prob, advantages, hp))
    entropy = jnp.mean(D.entropy(dist, net.discrete))
    total = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy
    return total, (policy_loss, value_loss, entropy)


def update(
    state: TrainState,
    hp: HParams,
    static: Static,
    env,
    env_params,
    *,
    objective=clipped_surrogate,
    net=None,
    tx=None,
    advantages_fn=gae_advantages,
):
    """One iteration: collect a batch, then `update_epochs` x `num_minibatches` gradient steps.

    The keywords are for PPO's relatives: `objective(log_ratio, advantages, hp)` replaces the
    clipped surrogate; `net` and `tx` the actor-critic and its optimiser (built from `hp` when
    not given); `advantages_fn(traj, next_value, hp) -> (advantages, value targets)` replaces GAE.
    """
    net = network(env, static) if net is None else net
    tx = optimizer(hp, static) if tx is None else tx
    state, traj = collect(state, static, env, env_params, hp.gamma, net)

    next_value = net.apply(state.params, traj.final_obs, method=net.value)
    advantages, targets = advantages_fn(traj, next_value, hp)
    batch_size = steps_per_iteration(static)
    flat = jax.tree.map(lambda x: x.reshape((batch_size, *x.shape[2:])), (traj, advantages, targets))

    def minibatch_step(carry, minibatch):
        params, opt_state = carry
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, net, minibatch, hp, static, objective)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (loss, *aux)

    def epoch(carry, key):
        permutation = jax.random.permutation(key, batch_size)
        minibatches = jax.tree.map(
            lambda x: x[permutation].reshape((static.num_minibatches, -1, *x.shape[1:])), flat
        )
        return jax.lax.scan(minibatch_step, carry, minibatches)

    key, epoch_key = jax.random.split(state.key)
    (params, opt_state), (loss, policy_loss, value_loss, entropy) = jax.lax.scan(
        epoch, (state.params, state.opt_state), jax.random.split(epoch_key, static.update_epochs)
    )
    stats = dict(policy_loss=policy_loss.mean(), value_loss=value_loss.mean(), entropy=entropy.mean())
    return finish_iteration(state.replace(key=key), traj, params, opt_state, loss.mean(), **stats)


def finish_iteration(state: TrainState, traj: Transition, params, opt_state, loss, **stats):
    """Record the episodes that ended in `traj`, keep the new parameters, report the metrics."""
    tracker = state.tracker.record(traj.returned_episode, traj.episode_return)
    state = state.replace(
        params=params, opt_state=opt_state, tracker=tracker, update_count=state.update_count + 1
    )
    metrics = episode_metrics(tracker, loss, params)
    metrics.update(stats)
    return state, metrics


def act(
    state: TrainState, obs, key, static: Static, env, env_params, deterministic: bool, net=None, action_mask=None
):
    """Actions for a batch of raw observations, normalised with the training statistics.

    `action_mask` (bool[batch, n]) rules illegal actions out, as in training.
    """
    net = network(env, static) if net is None else net
    if static.network == "mlp":
        obs = obs.reshape((obs.shape[0], -1))
    if static.normalize_obs:
        obs = normalize_observation(obs, observation_statistics(vec_env(env, static), state.env_state))
    dist = net.apply(state.params, obs, method=net.policy)
    if net.discrete:
        dist = D.mask_logits(dist, action_mask)
    if deterministic:
        return D.mode(dist, net.discrete)
    return D.sample(key, dist, net.discrete)


def check_static(static: Static, env) -> list[tuple[str, str]]:
    errors = []
    batch = steps_per_iteration(static)
    if static.num_minibatches < 1 or batch % static.num_minibatches:
        errors.append(
            ("num_minibatches", f"num_envs x num_steps = {batch} is not divisible by num_minibatches = {static.num_minibatches}")
        )
    if static.lr_decay_every not in ("update", "iteration"):
        errors.append(("lr_decay_every", f"must be 'update' or 'iteration', got {static.lr_decay_every!r}"))
    return errors + check_rollout_and_network(static, env)


def check_rollout_and_network(static, env) -> list[tuple[str, str]]:
    """The checks every algorithm built on `collect` and `network` needs (A2C, REINFORCE too)."""
    errors = []
    batch = steps_per_iteration(static)
    if static.total_env_steps < batch:
        errors.append(("total_env_steps", f"{static.total_env_steps} is less than one iteration ({batch} env steps)"))
    if static.network not in ("mlp", "cnn"):
        errors.append(("network", f"must be 'mlp' or 'cnn', got {static.network!r}"))
    if static.network == "cnn" and len(env.observation_space(env.default_params).shape) != 3:
        errors.append(("network", "'cnn' needs image observations (height, width, channels)"))
    from jaxrl_suite.networks import ACTIVATIONS

    if static.activation not in ACTIVATIONS:
        errors.append(("activation", f"must be one of {sorted(ACTIVATIONS)}, got {static.activation!r}"))
    return errors + check_network_init(static)


CLEANRL = (
    "CleanRL ppo.py defaults (identical to PureJaxRL's ppo.py); published 490.04 +/- 6.12 on CartPole-v1 at 500k "
    "steps, 3 seeds (CleanRL docs/rl-algorithms/ppo.md). As there: orthogonal init (sqrt 2 hidden, 0.01 policy, 1 "
    "value), Adam eps 1e-5, the rate annealed to 0 once per iteration. Differs: a time-limit truncation bootstraps "
    "(CleanRL and PureJaxRL treat it as termination)"
)
# Every CleanRL PPO preset: the source's init and its once-per-iteration learning-rate steps.
_CLEANRL_STATIC = dict(network_init="orthogonal", lr_decay_every="iteration")

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

PRESETS = {
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
    act=act,
    steps_per_iteration=steps_per_iteration,
    action_kinds="both",
    description="PPO with GAE, clipped surrogate and value loss (CleanRL/PureJaxRL defaults)",
    presets=PRESETS,
    check_static=check_static,
)
