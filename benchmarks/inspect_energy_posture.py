"""Does a trained humanoid energy model mind a crouch? (issue #16)

Draws expert pairs [s(t), s(t - dt)] from a motion set and the same pairs changed the way the learnt
policies differ from their clips: knees bent and the root lowered (a crouch), the root lowered alone,
and the pose frozen (velocities zero, both states equal: standing still). Each changed pose goes
through the simulator's kinematics, so its observation is one the policy could produce.

With ncsnv2 conditioning E = g(x) / sigma, so the level only scales g: the table gives g per pair kind,
how often the clip's pair outranks its changed copy, and what the change costs in NEAR's reward
tanh((E - m) / 10) at a few noise levels (the reward gap, at a centre m halfway between the two).
With ``--policy RUN_DIR`` the pairs of that NEAR policy's own deterministic episodes (from the env's
resets) join the table: where the clips' pairs outrank the policy's, the reward still asks for more
than the policy does; where they do not, the energy cannot tell the policy's gait from the clips'.
It also asks whether the energy pays the policy to stand up: the policy's own consecutive states with
the knees straightened by ``--knee`` (never past straight) and the root raised by ``--drop``, against
the same states as they were (second table: how often the straightened pair ranks higher, and the
reward that straightening gains). A yes means the reward asks for the upright pose and PPO has not
found it; a no means the energy does not see the crouch where the policy is. The same for speed: the
policy's states with the root's horizontal velocity times ``--faster``, nothing else changed.
With ``--other RUN_DIR`` a second policy's own episodes (AMP's, say, which strides longer on the same
body) are scored too, against the first's: where the energy ranks the other's pairs higher, NEAR's
reward asks for that gait and PPO has not found it; where it ranks them lower, the reward holds NEAR
where it is.

    PYTHONPATH=src python benchmarks/inspect_energy_posture.py --energy RUN_DIR --motion SET.yaml [--pairs 4096]
        [--policy RUN_DIR [--other RUN_DIR]]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result

from near.config import compose_config
from near.energy.train import load_energy_model, trained_pair_span
from near.envs.core import make_pair
from near.eval.policy_eval import with_run_physics
from near.factories import make_env
from near.motion import library as ml

LEVELS = (0, 4, 10, 15, 20)


def energy_env(energy_dir: str, motion: str, *overrides: str, input_clip: float | None = None):
    """A humanoid energy model and the env that makes its pairs (the span it learnt): (model, meta, cfg, env).
    input_clip: score with this clip of the normalised input (energy.input_clip; 0: none) instead of the model's."""
    model, meta = load_energy_model(energy_dir, expect_env="humanoid")
    if input_clip is not None:
        model = dataclasses.replace(model, input_clip=input_clip)
    cfg = compose_config(["task=HumanoidNEAR", f"motion={motion}", f"task.pair_span={trained_pair_span(meta)}", *overrides])
    return model, meta, cfg, make_env(cfg)


def knee_hinges(env) -> np.ndarray:
    """Indices of the knees among the env's hinges (the only hinges that bend one way only)."""
    return np.flatnonzero(np.asarray(env.layout.hinge_range[:, 0]) >= 0)


def changed_pairs(env, key, n: int, knee: float, drop: float) -> dict[str, jax.Array]:
    """Expert pairs and their crouched, lowered and frozen copies, (n, 210) each."""
    lib, dt = env.library, env.control_dt * env.config.pair_span  # the time between a pair's two states
    k_clip, k_time = jax.random.split(key)
    clips = ml.sample_clips(lib, k_clip, n)
    times = dt + jax.random.uniform(k_time, (n,)) * (lib.clip_length[clips] - dt)
    knee_dofs = jnp.asarray(np.asarray(env.layout.hinge_dof)[knee_hinges(env)])

    def obs(m, knee_bend, root_drop, frozen):
        dof = m.dof_pos.at[knee_dofs].add(knee_bend)
        root = m.root_pos - jnp.array([0.0, 0.0, root_drop])
        scale = 0.0 if frozen else 1.0
        return env.state_from_pose(root, m.root_rot, dof, scale * m.root_vel, scale * m.root_ang_vel,
                                   scale * m.dof_vel).obs

    def one(clip, time):
        now = jax.tree.map(lambda x: x[0], ml.motion_state(lib, clip[None], time[None]))
        before = jax.tree.map(lambda x: x[0], ml.motion_state(lib, clip[None], time[None] - dt))
        pair = lambda b, a: make_pair(env, b, a)  # noqa: E731
        return {
            "clip": pair(obs(before, 0.0, 0.0, False), obs(now, 0.0, 0.0, False)),
            "crouch": pair(obs(before, knee, drop, False), obs(now, knee, drop, False)),
            "root lowered": pair(obs(before, 0.0, drop, False), obs(now, 0.0, drop, False)),
            "frozen": pair(obs(now, 0.0, 0.0, True), obs(now, 0.0, 0.0, True)),
        }

    return jax.jit(jax.vmap(one))(clips, times)


def policy_env(cfg, env, run_dir: str):
    """The env a policy steps in: ``env`` (built from ``cfg``), or one with the physics its run trained with
    where that differs (as near play / near eval do)."""
    run_cfg = with_run_physics(dataclasses.replace(cfg, checkpoint=run_dir), [])
    return env if run_cfg.task.physics == cfg.task.physics else make_env(run_cfg)


def policy_episodes(cfg, env, run_dir: str, key, episodes: int, steps: int, record=("pair",)) -> list[dict]:
    """Each of a trained policy's deterministic episodes from the env's resets, up to its first
    termination: the recorded step infos (``pair``: [s(t + 1), s(t)], (T_i, 210); ``qpos``, ``qvel``)."""
    from near.envs.core import AutoReset
    from near.restore import load_policy
    from near.rl.evaluate import make_episode_runner
    from near.rl.ppo import act

    run_cfg, params, obs_stats, _ = load_policy(cfg, run_dir)
    policy = lambda args, obs, _key: act(args[0], run_cfg.train, args[1], obs, env.action_dim)  # noqa: E731
    out = make_episode_runner(AutoReset(env), policy, episodes, steps, record=record)((params, obs_stats), key)
    return [{name: out[name][:length, i] for name in record} for i, length in enumerate(out["episode_length"])]


def policy_episode_pairs(cfg, env, run_dir: str, key, episodes: int, steps: int) -> list[np.ndarray]:
    """Each of a trained policy's deterministic episodes as its pairs [s(t + 1), s(t)] (T_i, 210)."""
    return [e["pair"] for e in policy_episodes(cfg, env, run_dir, key, episodes, steps)]


def kinematic_pairs(env, episodes: list[dict], edits: dict) -> dict:
    """Pairs of states pair_span steps apart in each episode (its ``qpos``, ``qvel``), each state changed by each of
    ``edits`` ({name: (qpos, qvel) -> (qpos, qvel)}) and observed through the simulator's kinematics, all episodes
    and edits in one compiled call; pairs never cross from one episode to the next: ``{name: (P, 210)}``."""
    span = env.config.pair_span
    episodes = [e for e in episodes if len(e["qpos"]) > span]

    def each(q, v):
        return tuple(env._observe(env._kinematics(*edit(q, v))) for edit in edits.values())

    observed = jax.device_get(jax.jit(jax.vmap(each))(
        jnp.asarray(np.concatenate([e["qpos"] for e in episodes])), jnp.asarray(np.concatenate([e["qvel"] for e in episodes]))))
    ends = np.cumsum([len(e["qpos"]) for e in episodes])[:-1]
    return {name: np.concatenate([np.asarray(make_pair(env, o[:-span], o[span:])) for o in np.split(obs, ends)])
            for name, obs in zip(edits, observed)}


def edited_pairs(env, episodes: list[dict], knee: float, drop: float, faster: float) -> dict[str, np.ndarray]:
    """The episodes' pairs (:func:`kinematic_pairs`) as they were, with the knees straightened by ``knee`` rad (not
    past straight) and the root raised by ``drop`` m, and with the root's horizontal velocity times ``faster``
    (nothing else changed: does the energy ask for the clips' speed?):
    ``{"policy": (P, 210), "straightened": (P, 210), "faster": (P, 210)}``."""
    knee_qpos = jnp.asarray(np.asarray(env.layout.hinge_qpos)[knee_hinges(env)])
    return kinematic_pairs(env, episodes, {
        "policy": lambda q, v: (q, v),
        "straightened": lambda q, v: (q.at[knee_qpos].set(jnp.maximum(q[knee_qpos] - knee, 0.0)).at[2].add(drop), v),
        "faster": lambda q, v: (q, v.at[:2].multiply(faster))})


def sample_pairs(episodes: list[dict], n: int) -> jax.Array:
    """n of the episodes' pairs, drawn without replacement (n, 210)."""
    pairs = np.concatenate([e["pair"] for e in episodes])
    return jnp.asarray(pairs[np.random.default_rng(0).permutation(len(pairs))[:n]])


def level_free_g(model, pairs) -> np.ndarray:
    """g = E * sigma of each pair (the model's energy with the level's scale taken out: E = g / sigma)."""
    return np.asarray(model.energy(jnp.asarray(pairs), 0)) * float(model.sigmas[0])


def reward_gap(gap: np.ndarray, sigma: float) -> np.ndarray:
    """What each difference in g is worth in NEAR's reward tanh((E - m) / 10) per step at noise ``sigma``, at a
    centre m halfway between the two (E = g / sigma)."""
    return 2 * np.tanh(gap / (2 * 10 * sigma))


def reward_gaps(gap: np.ndarray, sigmas: np.ndarray) -> dict[str, float]:
    """The mean of :func:`reward_gap` at each of LEVELS."""
    return {f"level_{lv}": float(np.mean(reward_gap(gap, sigmas[lv]))) for lv in LEVELS}


def above(label: str, higher: np.ndarray, lower: np.ndarray, sigmas: np.ndarray, **extra) -> dict:
    """How often ``higher``'s pairs outrank ``lower``'s (pair by pair) and the reward that gains."""
    m = min(len(higher), len(lower))
    gain = higher[:m] - lower[:m]
    return {"pairs": label, **extra, "n": int(m), "g_mean": float(higher.mean()), "g_policy_mean": float(lower.mean()),
            "ranks_above_policy": float(np.mean(gain > 0)),
            **{f"reward_gain_{k}": v for k, v in reward_gaps(gain, sigmas).items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--energy", required=True, help="run folder of near train-energy (humanoid)")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--pairs", type=int, default=4096)
    parser.add_argument("--policy", default="", help="a NEAR policy's run folder: score its own pairs too")
    parser.add_argument("--other", default="", help="another policy's run folder (e.g. AMP's): its pairs against --policy's")
    parser.add_argument("--knee", type=float, default=0.4, help="extra knee bend of the crouch, rad")
    parser.add_argument("--drop", type=float, default=0.05, help="root lowered by, m")
    parser.add_argument("--faster", type=float, default=1.4,
                        help="the policy's root horizontal velocity times this (about 1 / its speed ratio)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="energy_posture")
    args = parser.parse_args(argv)
    if args.other and not args.policy:
        parser.error("--other compares with --policy's pairs: give --policy too")

    model, _, cfg, env = energy_env(args.energy, args.motion)  # pairs as the model learnt them
    pairs = changed_pairs(env, jax.random.PRNGKey(args.seed), args.pairs, args.knee, args.drop)
    episodes = []
    if args.policy:  # n // 256 deterministic episodes of 256 steps or more, each up to its first termination
        episodes = policy_episodes(cfg, policy_env(cfg, env, args.policy), args.policy, jax.random.PRNGKey(args.seed + 1), max(1, -(-args.pairs // 256)),
                                   256, ("pair", "qpos", "qvel"))
        pairs["policy"] = sample_pairs(episodes, args.pairs)
    if args.other:
        other = policy_episodes(cfg, policy_env(cfg, env, args.other), args.other, jax.random.PRNGKey(args.seed + 1), max(1, -(-args.pairs // 256)), 256)
        pairs["other policy"] = sample_pairs(other, args.pairs)
    sigmas = np.asarray(model.sigmas)
    g = {kind: level_free_g(model, p) for kind, p in pairs.items()}
    upright = []
    if episodes:  # does the energy pay the policy to straighten up where it is?
        edited = edited_pairs(env, episodes, args.knee, args.drop, args.faster)
        g_edit = {k: level_free_g(model, p) for k, p in edited.items()}
        for kind, label in (("straightened", "policy, knees straightened"),
                            ("faster", f"policy, root {args.faster:g} x as fast")):
            upright.append(above(label, g_edit[kind], g_edit["policy"], sigmas))
    rows = []
    for kind, values in g.items():
        row = {"pairs": kind, "g_mean": float(values.mean()), "g_std": float(values.std()), "g_median": float(np.median(values))}
        if kind != "clip":
            m = min(len(values), len(g["clip"]))  # the policy's pairs are not copies: paired at random
            gap = g["clip"][:m] - values[:m]
            row["clip_ranks_higher"] = float(np.mean(gap > 0))
            row.update({f"reward_gap_{k}": v for k, v in reward_gaps(gap, sigmas).items()})  # what the change costs
        rows.append(row)
    if args.other:  # the other policy's pairs against the policy's, paired at random
        upright.append(above("other policy above policy", g["other policy"], g["policy"], sigmas, other=args.other))
    print(f"energy model {args.energy}, motion {os.path.basename(args.motion)}, {args.pairs} pairs; "
          f"crouch = knees +{args.knee} rad and root -{args.drop} m")
    head = "| pairs | g mean (std) | g median | clip ranks higher | " + " | ".join(f"reward gap, level {lv} (sigma {sigmas[lv]:.2f})"
                                                                       for lv in LEVELS) + " |"
    print(head + "\n|" + "---|" * (4 + len(LEVELS)))
    for r in rows:
        gaps = " | ".join(f"{r[f'reward_gap_level_{lv}']:.3f}" if f"reward_gap_level_{lv}" in r else "" for lv in LEVELS)
        print(f"| {r['pairs']} | {r['g_mean']:.1f} ({r['g_std']:.1f}) | {r['g_median']:.1f} | {r.get('clip_ranks_higher', float('nan')):.3f} | {gaps} |")
    for r, what in zip(upright, (f"straightened (knees -{args.knee} rad, root +{args.drop} m)",
                                 f"with the root {args.faster:g} x as fast", f"replaced by {args.other}'s own")):
        print(f"\nThe policy's own states {what}, {r['n']} pairs of {len(episodes)} episodes: g {r['g_mean']:.1f} "
              f"against {r['g_policy_mean']:.1f} as they were; ranks higher {r['ranks_above_policy']:.3f}; reward gained: "
              + ", ".join(f"level {lv} {r[f'reward_gain_level_{lv}']:.3f}" for lv in LEVELS))
    path = write_result(args.out, "inspect_energy_posture",
                        [{"energy": args.energy, "motion": os.path.basename(args.motion), "knee": args.knee,
                          "drop": args.drop, "faster": args.faster, "policy": args.policy, "other": args.other, "levels": {str(lv): float(sigmas[lv]) for lv in LEVELS}}]
                        + rows + upright)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
