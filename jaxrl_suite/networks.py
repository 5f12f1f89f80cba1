"""Flax modules shared by the algorithms: MLP and MinAtar CNN torsos, policy and value heads.

Initialisation follows the convention of the PPO implementation studies (Huang et al. 2022,
"The 37 implementation details of PPO"): orthogonal weights with gain sqrt(2) in hidden
layers, 0.01 on the policy head and 1.0 on the value head, zero biases.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu, "silu": nn.silu}


def orthogonal(gain: float):
    return nn.initializers.orthogonal(gain)


class MLP(nn.Module):
    """Dense layers with an activation (and optional LayerNorm) after each; flat inputs."""

    hidden_sizes: Sequence[int]
    activation: str = "tanh"
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x):
        for width in self.hidden_sizes:
            x = nn.Dense(width, kernel_init=orthogonal(np.sqrt(2)), bias_init=nn.initializers.zeros)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = ACTIVATIONS[self.activation](x)
        return x


class MinAtarCNN(nn.Module):
    """The MinAtar torso (Young & Tian 2019): one 3x3 conv with 16 channels, then dense layers."""

    hidden_sizes: Sequence[int] = (128,)
    activation: str = "relu"
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(16, (3, 3), padding="VALID", kernel_init=orthogonal(np.sqrt(2)))(x)
        x = ACTIVATIONS[self.activation](x)
        x = x.reshape((*x.shape[:-3], -1))
        return MLP(self.hidden_sizes, self.activation, self.layer_norm)(x)


def torso(kind: str, hidden_sizes: Sequence[int], activation: str, layer_norm: bool) -> nn.Module:
    if kind == "cnn":
        return MinAtarCNN(tuple(hidden_sizes), activation, layer_norm)
    return MLP(tuple(hidden_sizes), activation, layer_norm)


class Head(nn.Module):
    """A torso followed by one linear output layer with the given init gain."""

    torso: nn.Module
    outputs: int
    gain: float

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.outputs, kernel_init=orthogonal(self.gain), bias_init=nn.initializers.zeros)(
            self.torso(x)
        )


class GaussianHead(nn.Module):
    """Mean from a torso, log standard deviation a free parameter (state independent)."""

    torso: nn.Module
    action_dim: int
    gain: float = 0.01

    @nn.compact
    def __call__(self, x):
        mean = Head(self.torso, self.action_dim, self.gain)(x)
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

    def setup(self):
        make = lambda: torso(self.network, self.hidden_sizes, self.activation, self.layer_norm)
        if self.discrete:
            self.actor = Head(make(), self.action_dim, 0.01)
        else:
            self.actor = GaussianHead(make(), self.action_dim, 0.01)
        self.critic = Head(make(), 1, 1.0)

    def __call__(self, obs):
        return self.policy(obs), self.value(obs)

    def policy(self, obs):
        """Logits (discrete) or (mean, log_std) (continuous)."""
        return self.actor(obs)

    def value(self, obs):
        return self.critic(obs)[..., 0]
