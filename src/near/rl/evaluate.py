"""Deterministic (or stochastic) evaluation episodes of a trained policy, batched and jitted."""

from __future__ import annotations

import threading
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np


def make_episode_runner(env, policy: Callable[..., jax.Array], num_episodes: int, max_steps: int,
                        record: tuple[str, ...] = (), reset: Callable | None = None) -> Callable:
    """Compile-once episode runner: ``runner(policy_args, key, reset_args=()) -> dict`` (see
    :func:`run_episodes`).

    ``policy(policy_args, obs, key) -> action``; the weights travel in ``policy_args`` (a pytree), so
    evaluating a changing policy during training reuses one compiled program. ``reset(reset_args, key)
    -> (state, obs)`` replaces ``env.reset`` where given: one program then also runs episodes from
    chosen starts (the humanoid's videos start from a clip's frame, near.eval.policy_eval).
    """
    reset = reset or (lambda _, key: env.reset(key))

    @jax.jit
    def rollout(policy_args, key, reset_args):
        k_reset, k_run = jax.random.split(key)
        state, obs = jax.vmap(reset, in_axes=(None, 0))(reset_args, jax.random.split(k_reset, num_episodes))

        def step(carry, k):
            state, obs, alive, ret, length, success = carry
            action = policy(policy_args, obs, k)
            next_state, next_obs, reward, done, info = jax.vmap(env.step)(state, action)
            keep = lambda new, old: jnp.where(alive.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)
            state = jax.tree.map(keep, next_state, state)
            obs = keep(next_obs, obs)
            ret = ret + jnp.where(alive, reward, 0.0)
            length = length + alive.astype(jnp.int32)
            success = success | (alive & info["success"])
            alive = alive & ~done
            return (state, obs, alive, ret, length, success), (obs, {name: info[name] for name in record})

        n = num_episodes
        init = (state, obs, jnp.ones(n, bool), jnp.zeros(n), jnp.zeros(n, jnp.int32), jnp.zeros(n, bool))
        (_, _, _, ret, length, success), (observations, recorded) = jax.lax.scan(
            step, init, jax.random.split(k_run, max_steps))
        # after its last step an env repeats that step's info, as its observations do (freezing them
        # here, not in the scan, spares a second trace of the step for the buffers' shapes)
        last = jnp.minimum(jnp.arange(max_steps)[:, None], jnp.maximum(length, 1)[None, :] - 1)  # (T, n)
        recorded = {name: value[last, jnp.arange(n)[None, :]] for name, value in recorded.items()}
        return jnp.concatenate([obs[None], observations]), ret, length, success, recorded

    ahead: dict = {}  # compile_ahead's "thread" and, once it succeeded, its compiled "program"

    def compile_ahead(policy_args, key: jax.Array, reset_args=()) -> None:
        """Trace the program for these arguments' shapes and placement here and compile it in a background
        thread, so that the first run() finds it ready: a training process starts it before its first
        iteration, and its evaluation's compile (40-60 s for a humanoid episode program on a GPU machine)
        overlaps the training program's compile and first iterations instead of stopping training at the
        first evaluation."""
        if "thread" in ahead:
            return
        # traced and lowered here, on the caller's thread, before the training program: MuJoCo Warp numbers its
        # FFI calls as they are traced, so a trace racing the training program's gave both programs other text
        # at every launch, and the compilation cache missed them (17 s of a warm GPU start-up)
        try:
            lowered = rollout.lower(policy_args, key, reset_args)
        except Exception:  # noqa: BLE001 - run() then traces again and raises it there
            return

        def build():
            try:
                ahead["program"] = lowered.compile()
            except Exception:  # noqa: BLE001, S110 - run() then compiles on its own thread and raises it there
                pass

        # a daemon: a run stopped early (Ctrl-C) exits without waiting for a compile it no longer needs
        ahead["thread"] = threading.Thread(target=build, name="compile-ahead", daemon=True)
        ahead["thread"].start()

    def call(policy_args, key: jax.Array, reset_args):
        if "thread" in ahead:
            ahead["thread"].join()
        if "program" in ahead:  # none after an error: jit compiles here and raises it on this thread
            try:
                return ahead["program"](policy_args, key, reset_args)
            except (TypeError, ValueError):  # arguments typed or placed otherwise than compiled for
                del ahead["program"]
        return rollout(policy_args, key, reset_args)

    def run(policy_args, key: jax.Array, reset_args=()) -> dict:
        observations, ret, length, success, recorded = jax.device_get(call(policy_args, key, reset_args))
        observations, ret, length, success = (np.asarray(x) for x in (observations, ret, length, success))
        return {
            **{name: np.asarray(value) for name, value in recorded.items()},
            "observations": observations,
            "episode_return": ret,
            "episode_length": length,
            "success": success,
            "success_rate": float(success.mean()),
            "mean_return": float(ret.mean()),
            "mean_length": float(length.mean()),
        }

    run.compile_ahead = compile_ahead
    return run


def run_episodes(env, policy: Callable[[jax.Array, jax.Array], jax.Array], key: jax.Array, num_episodes: int,
                 max_steps: int, record: tuple[str, ...] = ()) -> dict:
    """Run one episode in each of ``num_episodes`` parallel envs (no auto-reset).

    ``policy(obs, key) -> action``. Returns per-episode success, return, length and the per-step
    observations (T+1, N, obs_dim) with frames after termination repeating the terminal one. Each
    name in ``record`` is an entry of the env's step ``info`` (e.g. the humanoid's ``body_pos``)
    recorded per step as (T, N, ...), frozen after termination like the observations.
    """
    runner = make_episode_runner(env, lambda _, obs, k: policy(obs, k), num_episodes, max_steps, record)
    return runner((), key)


def split_episodes(result: dict) -> list[np.ndarray]:
    """Per-episode observations (length + 1, obs_dim) of a run_episodes / run_cem result."""
    obs, lengths = result["observations"], result["episode_length"]
    return [obs[: lengths[i] + 1, i] for i in range(obs.shape[1])]
