"""Flax modules shared by the algorithms: MLP and MinAtar CNN torsos, policy and value heads.

How the weights start is a named scheme (`INITIALIZERS`), which every algorithm exposes as its
`network_init` Static setting, because reference implementations differ here and it shows in
their results (CleanRL's DQN on CartPole-v1 reaches ~498 from flax's default init but ~473
from orthogonal init). The suite's default, "orthogonal", follows the PPO implementation
studies (Huang et al. 2022, "The 37 implementation details of PPO"): orthogonal weights with
gain sqrt(2) in hidden layers, 0.01 on the policy head and 1.0 on the value head, zero biases.
Presets pick the scheme of their source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu, "silu": nn.silu}

#: The initialisation schemes, by the name a Static `network_init` takes, and what each means.
INITIALIZERS = {
    "orthogonal": "orthogonal weights, gain sqrt(2) in hidden layers and the algorithm's own gain on each output "
    "layer; zero biases (CleanRL ppo.py and pqn.py, PureJaxRL, Stable-Baselines3's on-policy networks)",
    "lecun_normal": "flax's default for nn.Dense and nn.Conv: truncated-normal weights of variance 1/fan_in, zero "
    "biases (CleanRL dqn_jax.py, purejaxql)",
    "torch_default": "PyTorch's default for nn.Linear and nn.Conv2d: weights and biases uniform in +-1/sqrt(fan_in) "
    "(CleanRL dqn.py and sac_continuous_action.py, Stable-Baselines3's off-policy networks)",
    "torch_weights_zero_bias": "PyTorch's default weights, uniform in +-1/sqrt(fan_in), with zero biases",
    "glorot_uniform": "Keras' default for Dense: weights uniform in +-sqrt(6/(fan_in + fan_out)), zero biases "
    "(softlearning, the SAC authors' code)",
    "gymnax_blines": "flax's default lecun-normal weights with biases uniform in [0, 0.05) (gymnax-blines "
    "utils/models.py)",
}


def orthogonal(gain: float):
    return nn.initializers.orthogonal(gain)


def symmetric_uniform(bound: float) -> Callable:
    """An initialiser drawing uniformly from (-bound, bound): PyTorch's bias rule with bound 1/sqrt(fan_in)."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def layer_init(scheme: str, fan_in: int, gain: float) -> dict[str, Callable]:
    """`kernel_init` and `bias_init` for one nn.Dense or nn.Conv layer under `scheme`.

    `fan_in` is the inputs feeding one output unit (input features; input channels x kernel
    area for a convolution): PyTorch's bias rule needs it, and a flax bias initialiser only
    sees the bias's own shape. `gain` scales the orthogonal scheme only; the others set their
    scale from the layer's shape, on output layers too, as the libraries they copy do.
    """
    torch_weights = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")  # U(+-1/sqrt(fan_in))
    if scheme == "orthogonal":
        return dict(kernel_init=orthogonal(gain), bias_init=nn.initializers.zeros)
    if scheme == "lecun_normal":
        return dict(kernel_init=nn.initializers.lecun_normal(), bias_init=nn.initializers.zeros)
    if scheme == "torch_default":
        return dict(kernel_init=torch_weights, bias_init=symmetric_uniform(1.0 / np.sqrt(fan_in)))
    if scheme == "torch_weights_zero_bias":
        return dict(kernel_init=torch_weights, bias_init=nn.initializers.zeros)
    if scheme == "glorot_uniform":
        return dict(kernel_init=nn.initializers.glorot_uniform(), bias_init=nn.initializers.zeros)
    if scheme == "gymnax_blines":
        return dict(kernel_init=nn.initializers.lecun_normal(), bias_init=nn.initializers.uniform(0.05))
    raise ValueError(f"unknown network_init {scheme!r}; known: {', '.join(INITIALIZERS)}")


def check_network_init(static) -> list[tuple[str, str]]:
    """The spec-time check of a Static's `network_init` (every algorithm's check_static calls it)."""
    if static.network_init in INITIALIZERS:
        return []
    known = ", ".join(repr(name) for name in INITIALIZERS)
    return [("network_init", f"must be one of {known}; got {static.network_init!r}")]


class MLP(nn.Module):
    """Dense layers with an activation (and optional LayerNorm) after each; flat inputs."""

    hidden_sizes: Sequence[int]
    activation: str = "tanh"
    layer_norm: bool = False
    init_scheme: str = "orthogonal"

    @nn.compact
    def __call__(self, x):
        for width in self.hidden_sizes:
            x = nn.Dense(width, **layer_init(self.init_scheme, x.shape[-1], np.sqrt(2)))(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = ACTIVATIONS[self.activation](x)
        return x


class MinAtarCNN(nn.Module):
    """The MinAtar torso (Young & Tian 2019): one 3x3 conv with 16 channels, then dense layers."""

    hidden_sizes: Sequence[int] = (128,)
    activation: str = "relu"
    layer_norm: bool = False
    init_scheme: str = "orthogonal"

    @nn.compact
    def __call__(self, x):
        init = layer_init(self.init_scheme, x.shape[-1] * 3 * 3, np.sqrt(2))
        x = nn.Conv(16, (3, 3), padding="VALID", **init)(x)
        x = ACTIVATIONS[self.activation](x)
        x = x.reshape((*x.shape[:-3], -1))
        return MLP(self.hidden_sizes, self.activation, self.layer_norm, self.init_scheme)(x)


def torso(
    kind: str, hidden_sizes: Sequence[int], activation: str, layer_norm: bool, init_scheme: str = "orthogonal"
) -> nn.Module:
    if kind == "cnn":
        return MinAtarCNN(tuple(hidden_sizes), activation, layer_norm, init_scheme)
    return MLP(tuple(hidden_sizes), activation, layer_norm, init_scheme)


class Head(nn.Module):
    """A torso followed by one linear output layer (`gain`: its scale under orthogonal init)."""

    torso: nn.Module
    outputs: int
    gain: float
    init_scheme: str = "orthogonal"

    @nn.compact
    def __call__(self, x):
        features = self.torso(x)
        return nn.Dense(self.outputs, **layer_init(self.init_scheme, features.shape[-1], self.gain))(features)


class GaussianHead(nn.Module):
    """Mean from a torso, log standard deviation a free parameter (state independent)."""

    torso: nn.Module
    action_dim: int
    gain: float = 0.01
    init_scheme: str = "orthogonal"

    @nn.compact
    def __call__(self, x):
        mean = Head(self.torso, self.action_dim, self.gain, self.init_scheme)(x)
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        return mean, jnp.broadcast_to(log_std, mean.shape)


class ActorCritic(nn.Module):
    """Separate actor and critic networks (no shared torso), as CleanRL and PureJaxRL use."""

    action_dim: int
    discrete: bool
    network: str = "mlp"
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    layer_norm: bool = False
    init_scheme: str = "orthogonal"

    def setup(self):
        def make():
            return torso(self.network, self.hidden_sizes, self.activation, self.layer_norm, self.init_scheme)

        if self.discrete:
            self.actor = Head(make(), self.action_dim, 0.01, self.init_scheme)
        else:
            self.actor = GaussianHead(make(), self.action_dim, 0.01, self.init_scheme)
        self.critic = Head(make(), 1, 1.0, self.init_scheme)

    def __call__(self, obs):
        return self.policy(obs), self.value(obs)

    def policy(self, obs):
        """Logits (discrete) or (mean, log_std) (continuous)."""
        return self.actor(obs)

    def value(self, obs):
        return self.critic(obs)[..., 0]
