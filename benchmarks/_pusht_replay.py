"""Recorded push-T episodes replayed in the JAX env, all at once (bench_pusht_fidelity.py, inspect_pusht_demos.py)."""

from __future__ import annotations

import numpy as np


def replay_program(states: np.ndarray, actions: np.ndarray, starts: np.ndarray, steps: np.ndarray):
    """``(rollout, state0, targets)``: ``rollout(state0, targets)`` gives the observations (T, E, 5) after
    each of the first ``steps[e]`` recorded actions of episode e, every episode from its recorded first
    state (``reset_to``, agent velocity 0, no extra physics step) in one vmapped scan. Shorter episodes
    repeat their last action; read only their first ``steps[e]`` rows."""
    import jax
    import jax.numpy as jnp

    from near.envs.pusht import PushTEnv, physics_step

    env = PushTEnv()
    targets = np.zeros((len(starts), int(steps.max()), 2), np.float32)
    for e, (lo, n) in enumerate(zip(starts, steps)):
        targets[e, :n] = actions[lo : lo + n]
        targets[e, n:] = actions[lo + n - 1]
    state0 = jax.vmap(lambda s: env.reset_to(s[:2], s[2:4], s[4])[0])(jnp.asarray(states[starts], jnp.float32))

    @jax.jit
    def rollout(state, targets):
        def step(s, target):
            s = jax.vmap(physics_step)(s, target)
            return s, jax.vmap(env.observe)(s)

        return jax.lax.scan(step, state, jnp.swapaxes(targets, 0, 1))[1]

    return rollout, state0, jnp.asarray(targets)
