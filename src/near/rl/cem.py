"""The CEM baseline: model-predictive random shooting over open-loop action sequences.

Spec near-algorithm.md §8.2 (the original's ``learning/cem/cem_continuous.py``). There is no policy
and no learning: at every real step, from the real env's *current* state,

1. sample ``num_batches`` batches of ``batch_size`` action sequences of length ``horizon`` from a
   per-timestep Gaussian N(mu, std) (initially N(0, init_std^2) per action dimension), clipped to
   [-1, 1];
2. simulate every sequence with a copy of the simulator started from the real state -- our envs are
   pure functions on pytrees, so a "copy" is just the state: ``vmap`` over sequences, ``lax.scan``
   over the horizon;
3. score each sequence by ``sum_t task_weight * r_task_t + energy_weight * E(pair_t, sigma_level)``,
   summed over its steps up to and including the one where it hits ``done`` (later steps count 0,
   or, with ``after_done="hold"``, repeat the reward of the done step: see "Termination" below);
4. in each batch keep the sequences whose score is >= the ``elites_per_batch``-th best score of that
   batch (the original: >= the ``floor(0.1 * 15) = 1``-th of the descending sort, i.e. the top 2;
   ties are kept, as ``>=`` does), and refit mean/std to all kept sequences (~20) at once;
5. execute ONE action drawn from N(mu_0, std_0) of the refit distribution (or mu_0 with
   ``deterministic``), clipped to [-1, 1].

With the default ``refits = 1`` all ``num_batches`` batches are drawn from the initial N(0, 1) and
there is one refit, exactly as the original. ``refits > 1`` is standard iterative CEM: draw the
population from the current distribution, refit, repeat.

Energy sign. NEAR's energy network output is an unnormalised log-density (higher = more
expert-like, spec §3 "Output semantics") and NEAR uses +E as the reward. The original CEM uses
``-E`` -- the spec calls the CEM code stale (it does not even run against the current network), so
that sign is not copied: here ``r_energy = +E(pair, sigma_level)``, so CEM seeks expert-like
transitions, as NEAR does. (No tanh / running-mean centring either: a sum of raw energies over a
fixed level is what the original scores with, and centring does not change the elite ranking.)

Termination. The default (``after_done="stop"``) ends a simulated sequence's reward at its first
``done``, as RL returns do. The raw energies are positive (~141 per maze step at level 22; the
demos' own mean is ~142), so ending early forfeits (H - n) steps of energy: the planner AVOIDS
every termination -- being stuck, but also reaching the goal. Measured on the maze (16 episodes,
10 refits, deterministic): 10/16 agents walk the corridor to the goal, then hover just outside its
radius (0.052-0.053 of |goal| against 0.05) for 100+ steps until the time limit ends every
simulated sequence anyway, and step in on the last step (650). ``after_done="hold"`` treats the
terminal state as absorbing -- the done step's reward repeats to the horizon -- which makes
termination neutral for the energy term, stuck included: in the same run every agent then stalls
at the end of wall D and is ended by the stuck rule (0/16), whereas with "stop" the looming stuck
termination pushes the stalled agents on. With task_weight > 0 the task reward (+1000 goal, -500
stuck) breaks the tie. NEAR's PPO reward is centred on the policy's running mean energy (§6), which
removes most of this bias there.

Std of the refit: the unbiased sample std of the elites (torch's ``.std`` default), per timestep and
action dimension. Samples are clipped *before* scoring and refitting, so the refit mean stays in
[-1, 1] (the original clipped only inside the env; its refit could leave the box).

Everything is compiled: one whole batch of episodes -- ``num_envs`` real envs vmapped, a
``lax.while_loop`` over time that stops once every real episode is done (or at ``max_steps``) --
is one jitted function. A real env that is done stops (its state, observation, return and length
are frozen, as in :func:`near.rl.evaluate.run_episodes`), although under ``vmap`` it keeps paying
for planning until all envs of the batch are done.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from near.envs.core import make_pair


@dataclasses.dataclass
class CEMConfig:
    """Model-predictive CEM. Defaults: the original's mazeCEM.yaml except sigma_level (see conf)."""

    horizon: int = 8  # steps per open-loop action sequence
    num_batches: int = 10  # the original: num_sims // num_actors = 160 // 16
    batch_size: int = 15  # sequences per batch (the original's 15 simulation copies)
    elites_per_batch: int = 2  # kept per batch: score >= the k-th best (ties kept); the original's top 2
    refits: int = 1  # 1 = the original (one refit); > 1 = iterative CEM
    init_std: float = 1.0  # std of the initial per-timestep Gaussian (mean 0)
    deterministic: bool = False  # execute mu_0 instead of a draw from N(mu_0, std_0)
    sigma_level: int = 22  # energy level (0 = largest); sigma 0.659 ~ the original's; conf/train/mazeCEM.yaml
    task_weight: float = 0.0
    energy_weight: float = 1.0
    num_envs: int = 16  # real episodes run in parallel
    episodes: int = 16  # real episodes in all (in rounds of num_envs)
    max_steps: int = 0  # real steps per episode; 0 = task.max_episode_steps
    after_done: str = "stop"  # simulated steps after a done: "stop" (count 0) or "hold" (repeat its reward)
    seed: int = -1  # -1 = the run's seed

    @property
    def population(self) -> int:
        return self.num_batches * self.batch_size


def validate_cem(cfg: CEMConfig) -> None:
    checks = [
        (cfg.horizon >= 1, f"cem.horizon must be >= 1, got {cfg.horizon}"),
        (cfg.num_batches >= 1 and cfg.batch_size >= 1, "cem.num_batches and cem.batch_size must be >= 1"),
        (1 <= cfg.elites_per_batch <= cfg.batch_size,
         f"cem.elites_per_batch must be in [1, cem.batch_size={cfg.batch_size}], got {cfg.elites_per_batch}"),
        (cfg.num_batches * cfg.elites_per_batch >= 2,
         "need at least 2 elites in all (cem.num_batches * cem.elites_per_batch) to refit a std"),
        (cfg.refits >= 1, f"cem.refits must be >= 1, got {cfg.refits}"),
        (cfg.init_std > 0, f"cem.init_std must be > 0, got {cfg.init_std}"),
        (cfg.num_envs >= 1 and cfg.episodes >= 1, "cem.num_envs and cem.episodes must be >= 1"),
        (cfg.max_steps >= 0, "cem.max_steps must be >= 0"),
        (cfg.after_done in ("stop", "hold"), f"cem.after_done must be 'stop' or 'hold', got {cfg.after_done!r}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


# ----------------------------------------------------------------------------------------------
# the planner's pieces (pure; tested on their own)


def elite_mask(scores: jax.Array, k: int) -> jax.Array:
    """Per batch (last axis), the sequences whose score is >= the k-th best score of the batch.

    ``scores``: (..., batch_size). Returns bools of the same shape; ties with the k-th best are kept,
    so a batch can contribute more than k elites (the original's ``score >= sorted[k-1]``).
    """
    kth = jax.lax.top_k(scores, k)[0][..., -1:]
    return scores >= kth


def refit(samples: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean and unbiased std over the masked samples. ``samples`` (..., H, A), ``mask`` (...)."""
    w = mask.astype(samples.dtype).reshape(mask.shape + (1, 1))
    axes = tuple(range(mask.ndim))
    n = jnp.sum(w, axis=axes)
    mu = jnp.sum(w * samples, axis=axes) / n
    var = jnp.sum(w * (samples - mu) ** 2, axis=axes) / jnp.maximum(n - 1.0, 1.0)
    return mu, jnp.sqrt(var)


def cem_plan(score_fn: Callable[[jax.Array], jax.Array], key: jax.Array, cfg: CEMConfig, action_dim: int):
    """One planning round. ``score_fn(actions (P, H, A)) -> (P,)``, P = cfg.population.

    Returns ``(action (A,), info)`` with info: ``mu``, ``std`` (H, A) of the final refit, ``elite_score``
    (mean score of the last refit's elites), ``best_score``, ``num_elites``.
    """
    H, B, K = cfg.horizon, cfg.num_batches, cfg.batch_size
    mu = jnp.zeros((H, action_dim), jnp.float32)
    std = jnp.full((H, action_dim), cfg.init_std, jnp.float32)
    keys = jax.random.split(key, cfg.refits + 1)

    def one_refit(carry, k):
        mu, std = carry
        eps = jax.random.normal(k, (B, K, H, action_dim), jnp.float32)
        samples = jnp.clip(mu + std * eps, -1.0, 1.0)
        scores = score_fn(samples.reshape(B * K, H, action_dim)).reshape(B, K)
        mask = elite_mask(scores, cfg.elites_per_batch)
        new_mu, new_std = refit(samples, mask)
        stats = {"elite_score": jnp.sum(jnp.where(mask, scores, 0.0)) / jnp.sum(mask),
                 "best_score": jnp.max(scores), "num_elites": jnp.sum(mask)}
        return (new_mu, new_std), stats

    (mu, std), stats = jax.lax.scan(one_refit, (mu, std), keys[:-1])
    stats = jax.tree.map(lambda x: x[-1], stats)
    if cfg.deterministic:
        action = mu[0]
    else:
        action = mu[0] + std[0] * jax.random.normal(keys[-1], (action_dim,), jnp.float32)
    return jnp.clip(action, -1.0, 1.0), {"mu": mu, "std": std, **stats}


def make_sequence_scorer(env, energy_fn: Callable | None, cfg: CEMConfig):
    """``score(state, actions (P, H, A)) -> (P,)``: simulate each sequence from ``state`` (one
    unbatched env state) and sum its weighted rewards up to and including its first ``done``; after
    it, steps count 0 (``after_done="stop"``) or repeat the done step's reward (``"hold"``)."""
    use_energy = energy_fn is not None and cfg.energy_weight != 0.0
    if cfg.energy_weight != 0.0 and energy_fn is None:
        raise ValueError("cem.energy_weight != 0 needs an energy model")

    def simulate(state, actions):  # actions (H, A) -> rewards (H,), pairs (H, D), alive-before (H,)
        def step(carry, action):
            s, alive = carry
            s2, _, reward, done, _ = env.step(s, action)
            pair = make_pair(env, env.pair_state(s), env.pair_state(s2))
            return (s2, alive & ~done), (reward, pair, alive)

        _, out = jax.lax.scan(step, (state, jnp.ones((), bool)), actions)
        return out

    def score(state, actions):
        rewards, pairs, alive = jax.vmap(simulate, in_axes=(None, 0))(state, actions)
        total = cfg.task_weight * rewards.astype(jnp.float32)
        if use_energy:
            energy = energy_fn(pairs, jnp.asarray(cfg.sigma_level, jnp.int32)).reshape(rewards.shape)
            total = total + cfg.energy_weight * energy
        score = jnp.sum(jnp.where(alive, total, 0.0), axis=-1)
        if cfg.after_done == "hold":  # absorbing terminal state: its step's reward repeats to the horizon
            n = jnp.sum(alive, axis=-1)  # steps up to and including the done one (>= 1)
            last = jnp.take_along_axis(total, (n - 1)[:, None], axis=-1)[:, 0]
            score = score + (total.shape[-1] - n) * last
        return score

    return score


# ----------------------------------------------------------------------------------------------
# whole episodes


def make_cem_episodes(env, energy_fn: Callable | None, cfg: CEMConfig, max_steps: int, num_envs: int | None = None):
    """A jitted ``episodes(key) -> dict`` running one CEM-controlled episode in each of ``num_envs``
    real envs (default cfg.num_envs) for at most ``max_steps`` steps. Arrays in the result:
    observations (T+1, N, obs_dim) (frames after termination repeat the terminal one), episode_return,
    episode_length, success, planning_score (mean elite score over the episode's steps),
    energy (mean energy of the executed transitions at sigma_level; 0 without a model), steps_run."""
    validate_cem(cfg)
    n = cfg.num_envs if num_envs is None else num_envs
    score = make_sequence_scorer(env, energy_fn, cfg)
    use_energy = energy_fn is not None

    def plan(state, key):
        return cem_plan(lambda actions: score(state, actions), key, cfg, env.action_dim)

    def real_energy(before, after):
        if not use_energy:
            return jnp.zeros(before.shape[:1], jnp.float32)
        pairs = make_pair(env, before, after)
        return energy_fn(pairs, jnp.asarray(cfg.sigma_level, jnp.int32)).reshape(before.shape[:1])

    def episodes(key):
        k_reset, k_run = jax.random.split(key)
        state, obs = jax.vmap(env.reset)(jax.random.split(k_reset, n))
        frames = jnp.zeros((max_steps + 1,) + obs.shape, obs.dtype).at[0].set(obs)
        zeros = jnp.zeros(n, jnp.float32)
        carry = dict(t=jnp.zeros((), jnp.int32), state=state, obs=obs, frames=frames, alive=jnp.ones(n, bool),
                     ret=zeros, length=jnp.zeros(n, jnp.int32), success=jnp.zeros(n, bool),
                     plan_score=zeros, energy=zeros)

        def cond(c):
            return (c["t"] < max_steps) & jnp.any(c["alive"])

        def body(c):
            keys = jax.random.split(jax.random.fold_in(k_run, c["t"]), n)
            action, info = jax.vmap(plan)(c["state"], keys)
            next_state, next_obs, reward, done, step_info = jax.vmap(env.step)(c["state"], action)
            e = real_energy(jax.vmap(env.pair_state)(c["state"]), jax.vmap(env.pair_state)(next_state))
            alive = c["alive"]
            keep = lambda new, old: jnp.where(alive.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)  # noqa: E731
            obs = keep(next_obs, c["obs"])
            success_now = step_info.get("success", jnp.zeros(n, bool))
            return dict(
                t=c["t"] + 1,
                state=jax.tree.map(keep, next_state, c["state"]),
                obs=obs,
                frames=jax.lax.dynamic_update_index_in_dim(c["frames"], obs, c["t"] + 1, 0),
                alive=alive & ~done,
                ret=c["ret"] + jnp.where(alive, reward, 0.0),
                length=c["length"] + alive.astype(jnp.int32),
                success=c["success"] | (alive & success_now),
                plan_score=c["plan_score"] + jnp.where(alive, info["elite_score"], 0.0),
                energy=c["energy"] + jnp.where(alive, e, 0.0),
            )

        c = jax.lax.while_loop(cond, body, carry)
        t_end = c["t"]
        idx = jnp.arange(max_steps + 1).reshape((-1,) + (1,) * obs.ndim)
        frames = jnp.where(idx <= t_end, c["frames"], c["frames"][t_end])
        steps = jnp.maximum(c["length"], 1).astype(jnp.float32)
        return {"observations": frames, "episode_return": c["ret"], "episode_length": c["length"],
                "success": c["success"], "planning_score": c["plan_score"] / steps, "energy": c["energy"] / steps,
                "steps_run": t_end}

    return jax.jit(episodes)


def run_cem(env, energy_fn: Callable | None, cfg: CEMConfig, key: jax.Array, max_steps: int) -> dict:
    """Run ``cfg.episodes`` CEM-controlled episodes, ``cfg.num_envs`` at a time.

    ``energy_fn(pairs (..., D), level) -> (...)`` is the raw energy (e.g. ``EnergyModel.energy``;
    higher = more expert-like), or None for task-reward-only planning (then energy_weight must be 0).
    Returns the keys of :func:`near.rl.evaluate.run_episodes` (observations (T+1, N, obs_dim),
    episode_return (task return), episode_length, success, success_rate, mean_return, mean_length)
    plus planning_score (per episode), mean_planning_score, energy / mean_energy (executed
    transitions at sigma_level), and timing: compile_seconds, run_seconds, planning_steps (loop
    iterations summed over rounds; every one plans for num_envs envs), seconds_per_step (wall time
    of one real step of a whole round, i.e. num_envs plannings in parallel), sim_steps (simulated
    env steps: population * horizon * refits per env and loop iteration).
    """
    validate_cem(cfg)
    n = min(cfg.num_envs, cfg.episodes)
    rounds = math.ceil(cfg.episodes / n)
    episodes = make_cem_episodes(env, energy_fn, cfg, max_steps, n)
    t0 = time.time()
    compiled = episodes.lower(key).compile()
    compile_seconds = time.time() - t0
    results, run_seconds, steps_run = [], 0.0, 0
    for r in range(rounds):
        t0 = time.time()
        out = jax.device_get(compiled(jax.random.fold_in(key, r)))
        run_seconds += time.time() - t0
        steps_run += int(out["steps_run"])
        results.append(out)
    cat = {k: np.concatenate([o[k] for o in results], axis=1 if k == "observations" else 0)
           for k in ("observations", "episode_return", "episode_length", "success", "planning_score", "energy")}
    cat = {k: (v[:, : cfg.episodes] if k == "observations" else v[: cfg.episodes]) for k, v in cat.items()}
    lengths = cat["episode_length"]
    weights = lengths / max(lengths.sum(), 1)
    return {
        **cat,
        "success_rate": float(cat["success"].mean()),
        "mean_return": float(cat["episode_return"].mean()),
        "mean_length": float(lengths.mean()),
        "mean_planning_score": float(np.sum(weights * cat["planning_score"])),
        "mean_energy": float(np.sum(weights * cat["energy"])),
        "env_steps": int(lengths.sum()),
        "compile_seconds": compile_seconds,
        "run_seconds": run_seconds,
        "planning_steps": steps_run,
        "seconds_per_step": run_seconds / max(steps_run, 1),
        "sim_steps": int(steps_run * n * cfg.population * cfg.horizon * cfg.refits),
    }


__all__ = ["CEMConfig", "run_cem", "make_cem_episodes", "cem_plan", "elite_mask", "refit", "make_sequence_scorer",
           "validate_cem"]
