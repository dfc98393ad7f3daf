"""What a humanoid policy does before it has learnt anything, per seed (issue #16).

PPO's actor starts from random weights (torch's default init, as the original's rl_games), so its mean action
is not zero: on the clips' reset states it is a pose of its own, different for every seed, that the first
million steps of training start from. The action is an absolute PD target (a hinge's target is its range's
centre plus 0.7 x range x a; a ball joint's the exp map pi x a), so a mean action of 0.1 moves a knee's target by
0.2 rad. This builds the actor of each seed exactly as `near train` does (the same key splits; the first
rollout's normalisation, zero mean and unit variance, and the one its reset states give after the first
update) and reports, against the frozen action std PPO explores with: the mean action's part common to all
states (its bias) and the part that varies with the state, and the knees' and elbows' PD targets at the bias.

    PYTHONPATH=src python benchmarks/inspect_policy_init.py --task HumanoidNEAR --motion SET.yaml \\
        --seeds 42 700 8125 [--states 512] [--override train.actor_output_scale=0.01 ...] [--play 30] [--name policy_init_run]

``--play N`` also plays each first actor's mean action for N control steps from the reset states: the steps until
it falls and, until then, the knees' mean angle and the pelvis's height: what the physics makes of the pose.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import merge_rows, read_result_rows, write_result


def initial_actor(cfg, obs_dim: int, action_dim: int):
    """(actor, params) of `near train`'s first iteration for cfg.seed (near.rl.ppo.make_train's keys)."""
    from near.rl.ppo import init_keys, make_networks

    actor, _ = make_networks(cfg.train, action_dim)
    return actor, actor.init(init_keys(jax.random.PRNGKey(cfg.seed))[1], jnp.zeros((1, obs_dim)))


def seed_programs(env, cfg, steps: int):
    """(reset, play) compiled once for every seed of one task and motion: the seed's weights and statistics are
    arguments, not constants, so a new seed reuses the programs. ``play(params, stats, states)`` plays the first
    actor's mean action ``steps`` control steps from the reset states (no auto-reset) and gives, per state, the
    knees' mean angle (rad, 0 straight, the range's centre 1.40) and the pelvis's mean height until its first
    fall, and the steps until then."""
    from near.motion.humanoid import DOF_NAMES
    from near.rl.ppo import make_networks
    from near.utils import running_stats

    actor, _ = make_networks(cfg.train, env.action_dim)
    knees = [i for i, d in enumerate(env.layout.hinge_dof) if DOF_NAMES[int(d)].endswith("knee")]
    knee_qpos = jnp.asarray(env.layout.hinge_qpos[knees])

    def one(params, stats, state):
        def step(state, _):
            obs = running_stats.normalize(stats, state.obs[None]) if cfg.train.normalize_obs else state.obs[None]
            state, _, _, done, _ = env.step(state, jnp.clip(actor.apply(params, obs)[0][0], -1.0, 1.0))
            return state, (state.qpos[knee_qpos].mean(), state.qpos[2], done)
        _, (knee, height, done) = jax.lax.scan(step, state, None, steps)
        up = jnp.cumsum(done) == 0  # the steps before its first fall
        n = jnp.maximum(up.sum(), 1)
        return (knee * up).sum() / n, (height * up).sum() / n, up.sum()

    return jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(one, in_axes=(None, None, 0)))


def play_first_actor(play, params, stats, states, steps: int) -> dict:
    knee, height, standing = play(params, stats, states)
    return {"steps": steps, "knee_angle": float(jnp.mean(knee)), "root_height": float(jnp.mean(height)),
            "steps_to_fall": float(jnp.mean(standing)), "fallen": float(jnp.mean(standing < steps))}


def init_row(task: str, motion: str, seed: int, states: int, overrides: list[str], play: int = 0, env=None,
             programs=None) -> dict:
    """The row of one seed; ``env`` and ``programs`` (seed_programs, built from the same task, motion, overrides
    and ``play``) save building and compiling them again."""
    from near.config import compose_config
    from near.envs.humanoid.model import action_to_targets
    from near.factories import make_env
    from near.motion.humanoid import DOF_NAMES
    from near.utils import running_stats

    cfg = compose_config([f"task={task}", f"motion={motion}", f"seed={seed}", *overrides])
    env = env or make_env(cfg)
    reset, play_program = programs or seed_programs(env, cfg, play)
    reset_states, obs = reset(jax.random.split(jax.random.PRNGKey(10_000 + seed), states))
    actor, params = initial_actor(cfg, env.obs_dim, env.action_dim)
    first = running_stats.RunningStats.create(env.obs_dim)  # the first rollout's: zero mean, unit variance
    updated = running_stats.update(first, obs)  # as PPO's first update merges its rollout
    std = math.exp(cfg.train.log_std_init)
    row = {"task": task, "motion": os.path.basename(motion), "seed": seed, "states": states,
           "overrides": " ".join(overrides), "action_std": std}
    layout = env.layout
    hinge_zero = np.asarray(action_to_targets(layout, jnp.zeros(env.action_dim))[1])  # a zero action: the ranges' centres
    for name, stats in (("first_rollout", first), ("after_first_update", updated)):
        normalised = running_stats.normalize(stats, obs) if cfg.train.normalize_obs else obs
        mean = np.asarray(actor.apply(params, normalised)[0], np.float64)
        bias, varying = mean.mean(0), mean.std(0)
        hinge = np.asarray(action_to_targets(layout, jnp.asarray(bias, jnp.float32))[1])
        row[name] = {
            "bias_rms": float(np.sqrt(np.mean(bias ** 2))), "varying_rms": float(np.sqrt(np.mean(varying ** 2))),
            "bias_over_std": float(np.sqrt(np.mean(bias ** 2)) / std),
            "largest_bias": {DOF_NAMES[i]: float(bias[i]) for i in np.argsort(-np.abs(bias))[:4]},
            "hinge_target_shift_rad": {DOF_NAMES[int(d)]: float(h - z) for d, h, z in
                                       zip(layout.hinge_dof, hinge, hinge_zero)},
        }
    if play:  # at the first rollout's normalisation, as PPO's first episodes act (the mean, without the noise)
        row["played"] = play_first_actor(play_program, params, first, reset_states, play)
    return row


def table(rows: list[dict]) -> str:
    lines = ["| seed | overrides | action std | normalisation | bias (rms) | varies with the state (rms) | bias / std | "
             "knees' targets moved, rad (right, left) | largest biases |",
             "|---:|---|---:|---|---:|---:|---:|---|---|"]
    for r in rows:
        for name in ("first_rollout", "after_first_update"):
            s = r[name]
            knees = [v for k, v in s["hinge_target_shift_rad"].items() if "knee" in k]
            lines.append(f"| {r['seed']} | {r['overrides'] or '-'} | {r['action_std']:.3f} | {name.replace('_', ' ')} | "
                         f"{s['bias_rms']:.3f} | {s['varying_rms']:.3f} | {s['bias_over_std']:.1f} | "
                         + ", ".join(f"{k:+.2f}" for k in knees) + " | "
                         + ", ".join(f"{k} {v:+.2f}" for k, v in s["largest_bias"].items()) + " |")
    played = [r for r in rows if "played" in r]
    if played:
        lines += ["", "| seed | overrides | played (steps) | steps to its fall | until then: knees' mean angle, rad | pelvis's mean height, m | fallen |",
                  "|---:|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['seed']} | {r['overrides'] or '-'} | {r['played']['steps']} | {r['played']['steps_to_fall']:.1f} | "
                  f"{r['played']['knee_angle']:.2f} | {r['played']['root_height']:.2f} | {r['played']['fallen']:.2f} |" for r in played]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="HumanoidNEAR")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 700, 8125])
    parser.add_argument("--states", type=int, default=512)
    parser.add_argument("--override", nargs="*", default=[], help="config overrides, e.g. train.actor_output_scale=0.01")
    parser.add_argument("--play", type=int, default=0, help="play the first actor's mean action this many control steps")
    parser.add_argument("--name", default="policy_init")
    args = parser.parse_args(argv)
    from near.config import compose_config
    from near.factories import make_env

    cfg = compose_config([f"task={args.task}", f"motion={args.motion}", *args.override])  # the seed's not in it
    env = make_env(cfg)
    programs = seed_programs(env, cfg, args.play)
    rows = [init_row(args.task, args.motion, seed, args.states, args.override, args.play, env, programs)
            for seed in args.seeds]
    print(table(rows))
    key = lambda r: (r["task"], r["motion"], r["seed"], r["overrides"])  # noqa: E731
    print(write_result(args.name, "inspect_policy_init", merge_rows(read_result_rows(args.name), rows, key=key)))


if __name__ == "__main__":
    main()
