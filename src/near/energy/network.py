"""The noise-conditioned energy network ("SimpleNet" of the original, spec near-algorithm.md §3).

encoder MLP -> (+ sinusoidal level embedding, "embedding" variant only) -> decoder MLP -> scalar -> ELU
(``output_activation="none"`` leaves the scalar as it is).
With ``conditioning="sigma"`` (the original's ``ncsnv2: True``, our default) the network has no noise
input at all: its output is divided by sigma, E(x, sigma) = g(x) / sigma.

Output convention: higher = more expert-like. Its input-gradient is the score, so it is a
log-density up to a constant, and NEAR uses it directly (no minus sign) as the reward.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

CONDITIONING = ("sigma", "embedding")
# the activation on the network's scalar: "elu" (the original's; g > -1) or "none" (g unbounded). Where the
# ELU saturates (g near -1) its gradient vanishes, so pairs that DSM pushes there early get no signal back
OUTPUT_ACTIVATIONS = ("elu", "none")


def _dense(features: int) -> nn.Dense:
    # Xavier-uniform weights, biases 0.01, as the original's `param_init: xavier_uniform`.
    return nn.Dense(features, kernel_init=nn.initializers.xavier_uniform(), bias_init=nn.initializers.constant(0.01))


def sinusoidal_embedding(level: jax.Array, dim: int, steps: float = 100.0) -> jax.Array:
    """Embedding of the integer level index c (not sigma): t = 100*c, [sin(t f), cos(t f)]."""
    half = dim // 2
    freqs = jnp.exp(-jnp.arange(half) * jnp.log(10000.0) / (half - 1))
    t = steps * level.astype(jnp.float32)[..., None]
    return jnp.concatenate([jnp.sin(t * freqs), jnp.cos(t * freqs)], axis=-1)


class EnergyNet(nn.Module):
    encoder_hidden: Sequence[int] = (32, 64)
    latent_dim: int = 128
    decoder_hidden: Sequence[int] = (64, 32, 8)
    conditioning: str = "sigma"
    output_activation: str = "elu"

    @nn.compact
    def __call__(self, x: jax.Array, level: jax.Array, sigma: jax.Array) -> jax.Array:
        """x: (..., D) normalised pairs; level: (...,) int; sigma: (...,) float. Returns (...,)."""
        h = x
        for width in self.encoder_hidden:
            h = nn.elu(_dense(width)(h))
        h = _dense(self.latent_dim)(h)  # no activation at the end of the encoder
        if self.conditioning == "embedding":
            h = h + sinusoidal_embedding(level, self.latent_dim)
        for width in self.decoder_hidden:
            h = nn.elu(_dense(width)(h))
        g = _dense(1)(h)[..., 0]
        if self.output_activation == "elu":
            g = nn.elu(g)  # the original's final ELU: g > -1
        if self.conditioning == "sigma":
            return g / sigma
        return g
