"""NEAR's reward: the energy of the policy's own pairs at the current noise level, annealed.

Spec near-algorithm.md §6. Once per PPO iteration, on the whole fresh rollout batch of pairs X:

1. Annealing (before this batch's rewards): e_bar = moving average (last k=3 iterations) of
   mean E(X, sigma_c). The first iteration at a level records E_init = e_bar. The level moves
   to c+1 (a smaller sigma) when e_bar >= E_init * (1 + p), p = 0.02. It never moves back.
   Sign trap: with E_init <= 0 the multiplicative rule is satisfied at once and the level
   cascades; ``anneal_rule="additive"`` (e_bar >= E_init + p*|E_init|) avoids it. We keep the
   original's multiplicative rule as the default so that results are comparable.
2. Raw energy e = E(X, sigma_c) at the (possibly new) level.
3. Centring: a buffer of the last 3 batch means; the centre m is refreshed from it on the first
   iteration and on every 3rd one, and kept otherwise (a deliberately stale mean).
4. r_energy = tanh((e - m) / 10).

``sigma_level=c >= 0`` fixes the level (no annealing). Everything is pure and jit-able; the state
is a pytree carried in the PPO train state.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import struct

ANNEAL_RULES = ("multiplicative", "additive")
SATURATED = 0.9  # |tanh| above this: the reward hardly grows with the energy any more


@dataclasses.dataclass
class RewardConfig:
    """How the style reward (energy or discriminator) and the task reward are combined."""

    task_weight: float = 0.0  # w_task
    style_weight: float = 1.0  # w_energy (NEAR) / w_disc (AMP)
    task_reward_scale: float = 1.0  # multiplies the env's task reward before weighting
    sigma_level: int = -1  # -1: anneal from level 0; c >= 0: fixed level c
    anneal_threshold: float = 0.02  # p
    anneal_rule: str = "multiplicative"  # the original's; "additive" fixes the sign trap
    moving_average: int = 3  # k of the energy moving average used by the annealing rule
    centre_every: int = 3  # refresh the reward centre every n-th iteration
    centre_window: int = 3  # batches averaged into the centre
    tanh_scale: float = 10.0  # r = tanh((e - m) / tanh_scale)
    squash: bool = True  # False: raw energy as the reward (the author's later JAX port)


@struct.dataclass
class AnnealState:
    level: jax.Array  # int32 current level index c
    e_init: jax.Array  # e_bar when the current level was entered
    has_init: jax.Array  # bool
    energy_buffer: jax.Array  # (k,) last per-iteration mean energies at the current level
    energy_count: jax.Array  # int32 valid entries (<= k)
    centre_buffer: jax.Array  # (w,) last batch means of e
    centre_count: jax.Array
    centre: jax.Array  # m
    iteration: jax.Array  # int32, number of completed reward computations


def init_anneal_state(cfg: RewardConfig) -> AnnealState:
    level = max(cfg.sigma_level, 0)
    return AnnealState(
        level=jnp.asarray(level, jnp.int32),
        e_init=jnp.zeros((), jnp.float32),
        has_init=jnp.zeros((), bool),
        energy_buffer=jnp.zeros((cfg.moving_average,), jnp.float32),
        energy_count=jnp.zeros((), jnp.int32),
        centre_buffer=jnp.zeros((cfg.centre_window,), jnp.float32),
        centre_count=jnp.zeros((), jnp.int32),
        centre=jnp.zeros((), jnp.float32),
        iteration=jnp.zeros((), jnp.int32),
    )


def _push(buffer: jax.Array, count: jax.Array, value: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Append to a last-k buffer; return (buffer, count, mean of the valid entries)."""
    buffer = jnp.roll(buffer, -1).at[-1].set(value)
    count = jnp.minimum(count + 1, buffer.shape[0])
    valid = jnp.arange(buffer.shape[0]) >= buffer.shape[0] - count
    return buffer, count, jnp.sum(jnp.where(valid, buffer, 0.0)) / count


def anneal_step(state: AnnealState, mean_energy: jax.Array, num_levels: int, cfg: RewardConfig) -> AnnealState:
    """One annealing decision given the batch-mean energy at the current level."""
    if cfg.sigma_level >= 0:
        return state
    buffer, count, e_bar = _push(state.energy_buffer, state.energy_count, mean_energy)
    e_init = jnp.where(state.has_init, state.e_init, e_bar)
    if cfg.anneal_rule == "multiplicative":
        improved = e_bar >= e_init * (1.0 + cfg.anneal_threshold)
    elif cfg.anneal_rule == "additive":
        improved = e_bar >= e_init + cfg.anneal_threshold * jnp.abs(e_init)
    else:
        raise ValueError(f"unknown anneal_rule {cfg.anneal_rule!r}; choose one of {ANNEAL_RULES}")
    advance = improved & (state.level < num_levels - 1)
    return state.replace(
        level=state.level + advance.astype(jnp.int32),
        e_init=jnp.where(advance, 0.0, e_init),
        has_init=~advance,
        energy_buffer=jnp.where(advance, jnp.zeros_like(buffer), buffer),
        energy_count=jnp.where(advance, 0, count),
    )


def centre_and_squash(state: AnnealState, energy: jax.Array, cfg: RewardConfig) -> tuple[jax.Array, AnnealState]:
    """tanh((e - m)/scale) with the stale running centre m of the original."""
    buffer, count, window_mean = _push(state.centre_buffer, state.centre_count, energy.mean())
    epoch_num = state.iteration + 1  # the original counts epochs from 1
    refresh = (epoch_num % cfg.centre_every == 0) | (epoch_num == 1)
    centre = jnp.where(refresh, window_mean, state.centre)
    reward = jnp.tanh((energy - centre) / cfg.tanh_scale) if cfg.squash else energy
    return reward, state.replace(centre_buffer=buffer, centre_count=count, centre=centre, iteration=epoch_num)


def near_reward(energy_fn: Callable[[jax.Array, jax.Array], jax.Array], state: AnnealState, pairs: jax.Array,
                num_levels: int, cfg: RewardConfig) -> tuple[jax.Array, AnnealState, dict]:
    """Energy reward of a rollout batch of pairs (..., D): anneal, then evaluate, centre and squash.

    ``energy_fn(pairs, level)`` is the frozen model's raw energy at an integer level.
    """
    if cfg.sigma_level >= num_levels:
        raise ValueError(f"sigma_level={cfg.sigma_level} but the energy model has only {num_levels} levels")
    before = state.level
    energy_before = energy_fn(pairs, before)
    state = anneal_step(state, energy_before.mean(), num_levels, cfg)
    energy = jax.lax.cond(state.level == before, lambda: energy_before, lambda: energy_fn(pairs, state.level))
    reward, state = centre_and_squash(state, energy, cfg)
    # the share of pairs paid (almost) +-1: high once the level's gain outgrows the batch's spread of energy,
    # where the reward says "above the batch's mean" and no longer how far (notebook item 59)
    saturated = jnp.mean(jnp.abs(reward) > SATURATED) if cfg.squash else jnp.zeros(())
    metrics = {"energy": energy.mean(), "energy_reward": reward.mean(), "energy_reward_saturated": saturated,
               "sigma_level": state.level, "reward_centre": state.centre}
    return reward, state, metrics


def sign_trap_error(output_activation: str, cfg: RewardConfig) -> str | None:
    """Why a NEAR training would anneal wrongly, or None: an energy network without its final ELU gives the
    policy's pairs energies below zero, where the multiplicative rule advances a level every iteration."""
    if output_activation == "none" and cfg.sigma_level == -1 and cfg.anneal_rule == "multiplicative":
        return ("an energy model without the final ELU (energy.output_activation=none) gives the policy's pairs "
                "energies below zero, where the original's multiplicative annealing rule (reward.anneal_rule="
                "multiplicative) moves up a level every iteration (the sign trap: such a crane run sat at the last "
                "level from 3 M steps on). Pass reward.anneal_rule=additive, or a fixed level reward.sigma_level=c")
    return None


def sign_trap_message(records: list[dict], window: int = 5) -> str | None:
    """Host-side check of logged iterations (``sigma_level``, ``energy``): a message when the level rose at each
    of the last ``window`` iterations while the policy's mean energy was at or below zero. That is the
    multiplicative rule's sign trap (a cascade to the last level), not the policy improving."""
    recent = [r for r in records if "sigma_level" in r and "energy" in r][-(window + 1):]
    if len(recent) <= window:
        return None
    rises = all(b["sigma_level"] == a["sigma_level"] + 1 for a, b in itertools.pairwise(recent))
    if not rises or max(r["energy"] for r in recent[1:]) > 0:
        return None
    return (f"the noise level rose at each of the last {window} iterations (to {int(recent[-1]['sigma_level'])}) with "
            f"the policy's mean energy below zero ({recent[-1]['energy']:.3g}): the multiplicative annealing rule's sign "
            "trap, a cascade to the last level; reward.anneal_rule=additive or a fixed reward.sigma_level avoids it")
