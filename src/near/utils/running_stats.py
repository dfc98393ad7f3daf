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


@struct.dataclass
class FlooredStats:
    """RunningStats whose normalisation divides by at least a floor per dimension (``min_var``, kept with
    the statistics, so a checkpoint restores it): where the data hold a feature nearly constant (the
    velocities of a held pose), a small deviation would otherwise reach the clip at 5 std
    (energy.velocity_std_floor; docs/humanoid_moving_like_the_clips.md item 45)."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array
    min_var: jax.Array


@struct.dataclass
class RunningCovariance:
    """Running mean and full covariance, for whitening strongly correlated inputs.

    A state pair [s_t, s_{t+1}] is dominated by the shared position; the step s_{t+1} - s_t, which
    carries the motion, is tiny next to it after per-dimension standardisation (0.03 std on the maze).
    Whitening with the full covariance gives that direction unit variance, so the noise levels reach it.
    """

    mean: jax.Array
    cov: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, dim: int) -> "RunningCovariance":
        return cls(jnp.zeros((dim,), jnp.float32), jnp.eye(dim, dtype=jnp.float32), jnp.ones((), jnp.float32))


def create(dim: int, kind: str = "diagonal", min_std: jax.Array | None = None):
    """Fresh statistics of ``dim`` inputs; ``min_std`` (dim,): a floor on the std that normalises (diagonal only)."""
    if min_std is not None:
        if kind != "diagonal":
            raise ValueError(f"a std floor needs the diagonal normalisation, not {kind!r}")
        return with_std_floor(RunningStats.create(dim), min_std)
    if kind == "diagonal":
        return RunningStats.create(dim)
    if kind == "whiten":
        return RunningCovariance.create(dim)
    raise ValueError(f"unknown normalisation {kind!r}; choose 'diagonal' or 'whiten'")


def with_std_floor(stats, min_std: jax.Array) -> FlooredStats:
    """Diagonal statistics with a floor ``min_std`` (dim,) on the std that normalises."""
    return FlooredStats(stats.mean, stats.var, stats.count, jnp.square(jnp.asarray(min_std, jnp.float32)))


def update(stats, batch: jax.Array):
    """Merge a batch (B, dim) into the running moments."""
    if isinstance(stats, RunningCovariance):
        return _update_cov(stats, batch)
    if isinstance(stats, FlooredStats):
        merged = update(RunningStats(stats.mean, stats.var, stats.count), batch)
        return FlooredStats(merged.mean, merged.var, merged.count, stats.min_var)
    batch = batch.reshape(-1, batch.shape[-1])
    n = jnp.asarray(batch.shape[0], jnp.float32)
    batch_mean = batch.mean(0)
    batch_var = batch.var(0, ddof=1) if batch.shape[0] > 1 else jnp.zeros_like(batch_mean)
    delta = batch_mean - stats.mean
    total = stats.count + n
    mean = stats.mean + delta * n / total
    m2 = stats.var * stats.count + batch_var * n + delta**2 * stats.count * n / total
    return RunningStats(mean, m2 / total, total)


def _update_cov(stats: RunningCovariance, batch: jax.Array) -> RunningCovariance:
    batch = batch.reshape(-1, batch.shape[-1])
    n = jnp.asarray(batch.shape[0], jnp.float32)
    batch_mean = batch.mean(0)
    centred = batch - batch_mean
    batch_cov = centred.T @ centred / jnp.maximum(n - 1.0, 1.0)
    delta = batch_mean - stats.mean
    total = stats.count + n
    m2 = stats.cov * stats.count + batch_cov * n + jnp.outer(delta, delta) * stats.count * n / total
    return RunningCovariance(stats.mean + delta * n / total, m2 / total, total)


def whitening_matrix(cov: jax.Array) -> jax.Array:
    """ZCA whitening W = C^{-1/2} (symmetric, so whitened axes stay close to the original ones)."""
    evals, evecs = jnp.linalg.eigh(cov.astype(jnp.float32))
    return (evecs * (1.0 / jnp.sqrt(jnp.maximum(evals, 0.0) + EPSILON))) @ evecs.T


@struct.dataclass
class Whitening:
    """A RunningCovariance as :func:`normalize` uses it: the mean and the ZCA matrix, computed once."""

    mean: jax.Array
    matrix: jax.Array


def frozen(stats):
    """The statistics ready for many :func:`normalize` calls between two updates. Whitening needs an
    eigendecomposition of the covariance: AMP's discriminator normalises at each of its steps (256 per
    iteration on push-T at 16,384 envs) with statistics that do not change in between, so it computes
    the matrix once, here, instead of at every step."""
    return Whitening(stats.mean, whitening_matrix(stats.cov)) if isinstance(stats, RunningCovariance) else stats


def normalize(stats, x: jax.Array, clip: float = 5.0) -> jax.Array:
    if isinstance(stats, Whitening):
        return jnp.clip((x - stats.mean) @ stats.matrix, -clip, clip)
    if isinstance(stats, RunningCovariance):
        return normalize(frozen(stats), x, clip)
    var = jnp.maximum(stats.var, stats.min_var) if isinstance(stats, FlooredStats) else stats.var
    return jnp.clip((x - stats.mean) / jnp.sqrt(var + EPSILON), -clip, clip)
