"""Running mean / variance (Chan et al. parallel merge), as a pytree, for input normalisation.

Semantics follow rl_games' RunningMeanStd used by the original (spec near-algorithm.md §2): mean 0,
var 1, count 1 at init; merged with the batch mean and *unbiased* batch variance; outputs are
``clip((x - mean) / sqrt(var + 1e-5), -clip, clip)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

EPSILON = 1e-5


@struct.dataclass
class RunningStats:
    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, dim: int) -> "RunningStats":
        return cls(jnp.zeros((dim,), jnp.float32), jnp.ones((dim,), jnp.float32), jnp.ones((), jnp.float32))


def update(stats: RunningStats, batch: jax.Array) -> RunningStats:
    """Merge a batch (B, dim) into the running moments."""
    batch = batch.reshape(-1, batch.shape[-1])
    n = jnp.asarray(batch.shape[0], jnp.float32)
    batch_mean = batch.mean(0)
    batch_var = batch.var(0, ddof=1) if batch.shape[0] > 1 else jnp.zeros_like(batch_mean)
    delta = batch_mean - stats.mean
    total = stats.count + n
    mean = stats.mean + delta * n / total
    m2 = stats.var * stats.count + batch_var * n + delta**2 * stats.count * n / total
    return RunningStats(mean, m2 / total, total)


def normalize(stats: RunningStats, x: jax.Array, clip: float = 5.0) -> jax.Array:
    return jnp.clip((x - stats.mean) / jnp.sqrt(stats.var + EPSILON), -clip, clip)
