"""The functional environment protocol and the one wrapper every learner uses.

An environment is a plain object with pure methods on pytrees:

    state, obs = env.reset(key)
    state, obs, reward, done, info = env.step(state, action)

``step`` never resets by itself; :class:`AutoReset` does that, builds the state pair that the
energy model / discriminator sees, and keeps episode statistics. Batch with ``jax.vmap``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from flax import struct


class Env(Protocol):
    obs_dim: int
    action_dim: int
    pair_state_dim: int  # size of the per-step state that goes into a pair
    pair_order: str  # "past_first": [s_t, s_{t+1}] (maze, push-T); "current_first": [s_{t+1}, s_t]

    def reset(self, key: jax.Array) -> tuple[Any, jax.Array]: ...

    def step(self, state: Any, action: jax.Array) -> tuple[Any, jax.Array, jax.Array, jax.Array, dict]: ...

    def pair_state(self, state: Any) -> jax.Array: ...


def make_pair(env: Env, before: jax.Array, after: jax.Array) -> jax.Array:
    """Concatenate two per-step states in the environment's documented pair order."""
    if env.pair_order == "past_first":
        return jnp.concatenate([before, after], axis=-1)
    if env.pair_order == "current_first":
        return jnp.concatenate([after, before], axis=-1)
    raise ValueError(f"unknown pair_order {env.pair_order!r}")


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


@struct.dataclass
class WrappedState:
    env_state: Any
    key: jax.Array
    episode_return: jax.Array  # running task return of the current episode
    episode_length: jax.Array


class AutoReset:
    """Auto-reset, state pairs and episode statistics around a single (unbatched) env.

    The pair of a step is always the true transition (s_t, s_{t+1}) of one episode: on a terminal
    step it ends in the terminal state, never in the next episode's first state (the original's
    wrapper emits a cross-episode pair there; we do not).
    """

    def __init__(self, env: Env, reset: Callable | None = None):
        self.env = env
        # where episodes start: the env's own reset, or another one of the same signature (push-T's
        # demonstration starts for training, near.factories.training_reset); evaluation uses env.reset
        self._reset = reset or env.reset
        self.obs_dim = env.obs_dim
        self.action_dim = env.action_dim
        self.pair_dim = 2 * env.pair_state_dim

    def reset(self, key: jax.Array) -> tuple[WrappedState, jax.Array]:
        key, sub = jax.random.split(key)
        env_state, obs = self._reset(sub)
        zero = jnp.zeros((), jnp.float32)
        return WrappedState(env_state, key, zero, jnp.zeros((), jnp.int32)), obs

    def step(self, state: WrappedState, action: jax.Array):
        # an env that keeps past states (the humanoid's task.pair_span) may start the pair further back
        before = getattr(self.env, "pair_before", self.env.pair_state)(state.env_state)
        env_state, obs, reward, done, info = self.env.step(state.env_state, action)
        after = self.env.pair_state(env_state)
        # A NaN or inf anywhere in the new state (an exploding simulation) ends this env's episode
        # and resets it; the step counts in info["nonfinite"] and nothing non-finite reaches the
        # learner (one bad env would otherwise poison the whole batch's update).
        bad = ~_all_finite((env_state, obs, reward, after)) | info.get("nonfinite", False)
        pair = jnp.where(bad, make_pair(self.env, before, before), make_pair(self.env, before, after))
        reward = jnp.where(bad, 0.0, reward)
        done = done | bad

        episode_return = state.episode_return + reward
        episode_length = state.episode_length + 1
        key, sub = jax.random.split(state.key)
        reset_state, reset_obs = self._reset(sub)
        info = dict(info)
        info["pair"] = pair
        info["terminal_obs"] = jnp.where(bad, reset_obs, obs)
        info["episode_return"] = episode_return  # valid where done
        info["episode_length"] = episode_length
        info["nonfinite"] = bad
        # of those, the steps an env's own guard ended (the humanoid's launch guard); False for the others
        info["launched"] = jnp.asarray(info.get("launched", False)) & bad
        for flag in ("truncated", "success"):  # a blown-up episode neither succeeds nor bootstraps
            if flag in info:
                info[flag] = info[flag] & ~bad

        env_state = jax.tree.map(lambda r, s: jnp.where(done, r, s), reset_state, env_state)
        obs = jnp.where(done, reset_obs, obs)
        new = WrappedState(
            env_state=env_state,
            key=key,
            episode_return=jnp.where(done, 0.0, episode_return),
            episode_length=jnp.where(done, 0, episode_length),
        )
        return new, obs, reward, done, info
