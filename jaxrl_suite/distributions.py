"""The two action distributions the algorithms need, as pure functions of their parameters.

Kept small on purpose: distrax would pull in tfp-nightly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

LOG_2PI = jnp.log(2.0 * jnp.pi)


#: the logit an illegal action gets: its probability underflows to exactly 0, while 0 * log p
#: stays finite in the entropy (-inf would make it nan)
MASKED_LOGIT = -1e9


def mask_logits(logits, mask):
    """Categorical logits with the actions where `mask` is False made impossible; None keeps all."""
    return logits if mask is None else jnp.where(mask, logits, MASKED_LOGIT)


def categorical_sample(key, logits):
    return jax.random.categorical(key, logits)


def categorical_log_prob(logits, action):
    log_p = jax.nn.log_softmax(logits)
    return jnp.take_along_axis(log_p, action[..., None].astype(jnp.int32), axis=-1)[..., 0]


def categorical_entropy(logits):
    log_p = jax.nn.log_softmax(logits)
    return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)


def gaussian_sample(key, mean, log_std):
    return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)


def gaussian_log_prob(mean, log_std, action):
    """Log density of a diagonal Gaussian, summed over action dimensions."""
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * LOG_2PI, axis=-1)


def gaussian_entropy(log_std):
    return jnp.sum(log_std + 0.5 * (1.0 + LOG_2PI), axis=-1)


def sample(key, dist, discrete: bool):
    return categorical_sample(key, dist) if discrete else gaussian_sample(key, *dist)


def log_prob(dist, action, discrete: bool):
    return categorical_log_prob(dist, action) if discrete else gaussian_log_prob(*dist, action)


def entropy(dist, discrete: bool):
    return categorical_entropy(dist) if discrete else gaussian_entropy(dist[1])


def mode(dist, discrete: bool):
    """The deterministic action: argmax for discrete, the mean for Gaussian policies."""
    return jnp.argmax(dist, axis=-1) if discrete else dist[0]
