"""Policy and value networks (separate MLPs, as the original's rl_games `actor_critic`)."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

def _torch_default(scale: float = 1.0):
    """torch.nn.Linear's default weight init (what rl_games' "default" init leaves) times ``scale``; biases zero."""
    return nn.initializers.variance_scaling(scale ** 2 / 3.0, "fan_in", "uniform")


def _mlp(x: jax.Array, hidden: Sequence[int]) -> jax.Array:
    for width in hidden:
        x = nn.relu(nn.Dense(width, kernel_init=_torch_default(), bias_init=nn.initializers.zeros)(x))
    return x


class Actor(nn.Module):
    action_dim: int
    hidden: Sequence[int] = (256, 256)
    log_std_init: float = -3.0
    min_log_std: float = -20.0  # floor on the std the policy acts with (train.min_log_std)
    output_scale: float = 1.0  # the mean layer's initial weights times this (train.actor_output_scale)

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean = nn.Dense(self.action_dim, kernel_init=_torch_default(self.output_scale), bias_init=nn.initializers.zeros)(
            _mlp(obs, self.hidden))
        # state-independent log-std; whether it learns is decided by the trainer (AMP freezes it)
        log_std = self.param("log_std", nn.initializers.constant(self.log_std_init), (self.action_dim,))
        return mean, jnp.broadcast_to(jnp.maximum(log_std, self.min_log_std), mean.shape)


class Critic(nn.Module):
    hidden: Sequence[int] = (256, 256)

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return nn.Dense(1, kernel_init=_torch_default(), bias_init=nn.initializers.zeros)(_mlp(obs, self.hidden))[..., 0]


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, x: jax.Array) -> jax.Array:
    return jnp.sum(-0.5 * ((x - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
    return jnp.sum(log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e), axis=-1)
