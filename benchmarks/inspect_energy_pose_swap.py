"""Does a humanoid energy model pay a policy to take its clips' pose, one body part at a time? (issue #16)

NEAR's crane-pose policies stand on both feet with the arms bent at the chest, where the clips stand on
the left foot with the right knee lifted to the hip and the arms spread. The policy's own states are
scored as they were and with one group of joints (the right leg, the arms, ...) set to a clip frame's
angles, everything else the policy's: if the right leg taken from the clips already pays, the reward asks
for the knee lift from where the policy stands, and what stops PPO is reaching it (balancing on one
foot); if it pays only with the rest of the clip's pose, the reward asks for the whole pose at once.

Each pair of the policy's deterministic episodes (16, up to 256 steps) gets one random clip frame for
both of its states, and the swapped joints are held still (their velocities zero), as in the clips' held
pose; every state goes through the simulator's kinematics. The table gives g = E * sigma, how often the
swapped pair ranks above the pair as played, and the reward per step that gains at a few noise levels
(``inspect_energy_posture.py``'s measures).

With ``--path K`` each group is also scored at K - 1 poses on the straight way (in DOF space: hinge
angles, ball joints' exp maps) from the policy's own angles, held still, to the clip frame's: if the
reward falls on the way before it rises, a policy that moves its joints a little at a time (PPO's small
steps) meets a valley and may stay where it is, however much the clip's pose pays. ``--plot`` draws the
reward gained along the way, one line per group. The table gives, at each pose, the share of the
features the way moves that the model's input normalisation clips (at 5 std: the energy is flat past
it); ``--input-clip 0`` scores the same poses with no clip.

    PYTHONPATH=src python benchmarks/inspect_energy_pose_swap.py --energy RUN_DIR --motion SET.yaml --policy RUN_DIR
        [--groups "right leg" arms "right leg+arms" "all joints"] [--from-time 0.5] [--path 10 --plot PNG]
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
from inspect_energy_posture import LEVELS, above, energy_env, level_free_g, policy_env, policy_episodes, reward_gap, reward_gaps

from near.envs.core import make_pair
from near.envs.humanoid import model as hm
from near.motion import humanoid
from near.motion import library as ml
from near.utils import running_stats

# DOF indices of each body part (near.motion.humanoid.BODY_PARTS; "arms": both as one)
PARTS = {
    "trunk and head": list(humanoid.BODY_PARTS["trunk"]),
    "arms": [*humanoid.BODY_PARTS["right_arm"], *humanoid.BODY_PARTS["left_arm"]],
    "right arm": list(humanoid.BODY_PARTS["right_arm"]),
    "left arm": list(humanoid.BODY_PARTS["left_arm"]),
    "right leg": list(humanoid.BODY_PARTS["right_leg"]),
    "left leg": list(humanoid.BODY_PARTS["left_leg"]),
    "all joints": list(range(humanoid.NUM_DOF)),
}


def group_dofs(group: str) -> list[int]:
    """The DOFs of a group named as parts joined by '+' (e.g. 'right leg+arms')."""
    unknown = [p for p in group.split("+") if p not in PARTS]
    if unknown:
        raise SystemExit(f"unknown body part {unknown} in {group!r}; parts: {sorted(PARTS)}")
    return sorted({i for p in group.split("+") for i in PARTS[p]})


def pose_swapper(env, episodes: list[dict]):
    """``swap(clip_dof, dofs, hold=True)``: each episode's pairs (states pair_span steps apart) with ``dofs`` set
    to ``clip_dof`` (one row per pair, the same for both of its states; (P, 28)), held still when ``hold``:
    (P, 210). One compiled program serves every body part (the part and ``hold`` are its arguments)."""
    span = env.config.pair_span
    firsts, offset = [], 0
    for e in episodes:
        firsts.append(offset + np.arange(max(0, len(e["qpos"]) - span)))
        offset += len(e["qpos"])
    firsts = jnp.asarray(np.concatenate(firsts))
    qpos = jnp.asarray(np.concatenate([e["qpos"] for e in episodes]))
    qvel = jnp.asarray(np.concatenate([e["qvel"] for e in episodes]))

    def observe(i, frame, mask, hold):
        q, v = qpos[i], qvel[i]
        dof = jnp.where(mask, frame, hm.dof_pos_from_qpos(env.layout, q))
        q = hm.qpos_from_pose(env.layout, q[:3], q[3:7], dof)
        v = v.at[6:].set(jnp.where(mask & hold, 0.0, v[6:]))
        return env._observe(env._kinematics(q, v))

    def one(first, frame, mask, hold):
        return make_pair(env, observe(first, frame, mask, hold), observe(first + span, frame, mask, hold))

    program = jax.jit(jax.vmap(one, in_axes=(0, 0, None, None)))

    def swap(clip_dof: np.ndarray, dofs: list[int], hold: bool = True) -> np.ndarray:
        if len(clip_dof) != len(firsts):
            raise ValueError(f"{len(clip_dof)} clip frames for {len(firsts)} pairs")
        mask = jnp.zeros(humanoid.NUM_DOF, bool).at[jnp.asarray(dofs, jnp.int32)].set(True)
        return np.asarray(program(firsts, jnp.asarray(clip_dof, jnp.float32), mask, jnp.asarray(hold)))

    return swap


def way_poses(swap, own: np.ndarray, frames: np.ndarray, dofs: list[int], steps: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The straight way from the policy's own angles of ``dofs`` (held still) to the clip frame's: its
    ``steps`` + 1 fractions and the pairs at each (one array of every pair per pose)."""
    alphas = np.linspace(0.0, 1.0, steps + 1)
    return alphas, [swap((1.0 - a) * own + a * frames, dofs) for a in alphas]


def way_to_the_clip(model, alphas: np.ndarray, pairs: list[np.ndarray], as_played: np.ndarray, sigmas: np.ndarray,
                    dofs: list[int]) -> dict:
    """g along a way of :func:`way_poses`: the mean reward gained at each pose, and how many pairs whose end
    pays more than their start dip below the start on the way by more than 0.01 a step at level 4 (a
    valley between where the policy is and the clip)."""
    g = np.stack([level_free_g(model, p) for p in pairs])  # (steps + 1, P)
    rows = [{"alpha": float(a), **above(f"{a:.2f}", g[i], as_played, sigmas),
             **{f"gain_over_start_{k}": v for k, v in reward_gaps(g[i] - g[0], sigmas).items()}}
            for i, a in enumerate(alphas)]
    pays = g[-1] > g[0]
    dip = reward_gap(g[0] - g[1:-1].min(axis=0), sigmas[4])  # how far below its start a pair falls on the way
    valley = pays & (dip > 0.01)
    return {"dofs": [humanoid.DOF_NAMES[i] for i in dofs], "end_pays": float(pays.mean()),
            "valley": float(valley.sum() / max(1, pays.sum())),
            "valley_depth": float(dip[valley].mean()) if valley.any() else 0.0, "steps": rows}


def beyond_clip(stats, pairs: list[np.ndarray]) -> list[float]:
    """At each pose of a way, the share of the features the way moves that lie at or beyond 5 std of the
    statistics ``stats`` (where the original's input clip makes the energy flat)."""
    moved = np.abs(pairs[-1] - pairs[0]) > 1e-6
    if not moved.any():
        return [0.0] * len(pairs)
    return [float(np.mean(np.abs(np.asarray(running_stats.normalize(stats, jnp.asarray(p), clip=np.inf)))[moved] >= 5.0))
            for p in pairs]


def print_rows(rows: list[dict], paths: dict[str, dict], sigmas: np.ndarray) -> None:
    print("| the policy's states with | g mean | ranks above as played | "
          + " | ".join(f"reward gained, level {lv} (sigma {sigmas[lv]:.2f})" for lv in LEVELS) + " |")
    print("|---|---:|---:|" + "---:|" * len(LEVELS))
    for r in rows:
        print(f"| {r['pairs']} | {r['g_mean']:.1f} | {r['ranks_above_policy']:.3f} | "
              + " | ".join(f"{r[f'reward_gain_level_{lv}']:.3f}" for lv in LEVELS) + " |")
    for group, way in paths.items():
        print(f"\n{group}, from the policy's angles held still (0) to the clip frame's (1): {way['valley']:.1%} of the "
              f"pairs the clip's pose pays fall below their start on the way ({way['valley_depth']:.3f} a step at "
              f"level 4, mean over those)")
        print("| of the way | g mean | reward gained over as played, level 4 | over the start, level 4 | "
              "moved features beyond 5 std |")
        print("|---:|---:|---:|---:|---:|")
        for r in way["steps"]:
            print(f"| {r['alpha']:.2f} | {r['g_mean']:.1f} | {r['reward_gain_level_4']:.3f} | {r['gain_over_start_level_4']:.3f} | "
                  f"{r.get('beyond_clip', float('nan')):.1%} |")


def plot_ways(ways: dict[tuple[str, float], dict], path: str, title: str) -> None:
    """The reward gained along each (group, input clip)'s way (top; a line style per clip) and the
    share of the moved features beyond 5 std (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 6), sharex=True, height_ratios=(2, 1))
    first_clip = next(iter(ways))[1] if ways else None
    colours, styles = {}, {}
    for (group, clip), way in ways.items():
        colour = colours.setdefault(group, f"C{len(colours)}")
        style = styles.setdefault(clip, ("-", "--", ":", "-.")[len(styles) % 4])
        alphas = [r["alpha"] for r in way["steps"]]
        top.plot(alphas, [r["gain_over_start_level_4"] for r in way["steps"]], marker="o", color=colour, ls=style,
                 label=f"{group}, input clip {clip:g}" if clip else f"{group}, no clip")
        if clip == first_clip and "beyond_clip" in way["steps"][0]:
            bottom.plot(alphas, [100 * r["beyond_clip"] for r in way["steps"]], marker="o", color=colour, label=group)
    top.axhline(0.0, color="grey", lw=0.8)
    top.set_ylabel("reward per step over the start, level 4")
    top.set_title(title, fontsize=10)
    top.legend(fontsize=8)
    bottom.set_ylabel("moved features\nbeyond 5 std, %")
    bottom.set_xlabel("of the way from the policy's angles (0, held still) to the clip frame's (1)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--energy", required=True, help="run folder of near train-energy (humanoid)")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--policy", required=True, help="a NEAR policy's run folder")
    parser.add_argument("--groups", nargs="+", default=["right leg", "arms", "right leg+arms", "all joints"],
                        help=f"body parts, or parts joined by '+'; parts: {', '.join(PARTS)}")
    parser.add_argument("--from-time", type=float, default=0.0,
                        help="draw the clip frames from this fraction of each clip on (0.5: the crane's held pose)")
    parser.add_argument("--path", type=int, default=0,
                        help="also score K - 1 poses on the straight way from the policy's angles to the clip's")
    parser.add_argument("--input-clip", type=float, nargs="+", default=None,
                        help="score with these clips of the normalised input instead of the model's (0: none), each in turn")
    parser.add_argument("--plot", default="", help="with --path: a PNG of the reward gained along the way")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="energy_pose_swap")
    args = parser.parse_args(argv)
    groups = {g: group_dofs(g) for g in args.groups}
    if not 0.0 <= args.from_time < 1.0:
        parser.error("--from-time is a fraction of each clip in [0, 1)")
    if args.path == 1 or args.path < 0 or (args.plot and not args.path):
        parser.error("--path is the number of steps from the policy's angles to the clip's (2 or more); --plot needs it")

    model, _, cfg, env = energy_env(args.energy, args.motion)
    episodes = policy_episodes(cfg, policy_env(cfg, env, args.policy), args.policy, jax.random.PRNGKey(args.seed + 1), 16, 256,
                               ("qpos", "qvel"))
    episodes = [e for e in episodes if len(e["qpos"]) > env.config.pair_span]
    n = sum(len(e["qpos"]) - env.config.pair_span for e in episodes)
    k_clip, k_time = jax.random.split(jax.random.PRNGKey(args.seed))
    clips = ml.sample_clips(env.library, k_clip, n)
    lengths = env.library.clip_length[clips]
    times = lengths * (args.from_time + (1.0 - args.from_time) * jax.random.uniform(k_time, lengths.shape))
    frames = np.asarray(ml.motion_state(env.library, clips, times).dof_pos)
    swap = pose_swapper(env, episodes)
    # the control: the same joints held still at the policy's own angles (of each pair's first state)
    own = np.concatenate([np.asarray(hm.dof_pos_from_qpos(env.layout, jnp.asarray(e["qpos"][:-env.config.pair_span])))
                          for e in episodes])

    # the pairs do not depend on the input clip: made once, scored under each clip
    played = swap(frames, [], hold=False)
    swapped = {group: (swap(frames, dofs), swap(own, dofs)) for group, dofs in groups.items()}
    way_pairs = {group: way_poses(swap, own, frames, dofs, args.path) for group, dofs in groups.items()} if args.path else {}
    beyond = {group: beyond_clip(model.stats, pairs) for group, (_, pairs) in way_pairs.items()}
    sigmas = np.asarray(model.sigmas)

    results, ways = [], {}
    # the model's inputs within its clip score as before under another clip; beyond it they now count
    for clip in args.input_clip or [model.input_clip]:
        scored = dataclasses.replace(model, input_clip=clip)
        as_played = level_free_g(scored, played)
        rows = []
        for group, dofs in groups.items():
            names = [humanoid.DOF_NAMES[i] for i in dofs]
            from_clips, held = swapped[group]
            rows.append(above(f"{group} from the clips", level_free_g(scored, from_clips), as_played, sigmas,
                              dofs=names, input_clip=clip))
            rows.append(above(f"{group} held still, its own angles", level_free_g(scored, held), as_played, sigmas,
                              dofs=names, input_clip=clip))
        paths = {}
        for group, (alphas, pairs) in way_pairs.items():
            paths[group] = way_to_the_clip(scored, alphas, pairs, as_played, sigmas, groups[group])
            for step, share in zip(paths[group]["steps"], beyond[group]):
                step["beyond_clip"] = share
        ways.update({(group, clip): way for group, way in paths.items()})
        print(f"energy model {args.energy} (input clip {clip or 'none'}), motion {os.path.basename(args.motion)}, the policy "
              f"{args.policy}: {n} pairs of {len(episodes)} episodes, g as played {as_played.mean():.1f}")
        print_rows(rows, paths, sigmas)
        results += [{"energy": args.energy, "motion": os.path.basename(args.motion), "policy": args.policy, "pairs": n,
                     "from_time": args.from_time, "input_clip": clip, "g_as_played": float(as_played.mean()),
                     "levels": {str(lv): float(sigmas[lv]) for lv in LEVELS}}] + rows
        results += [{"pairs": f"{group}, the way from its own angles to the clips'", "input_clip": clip, **way}
                    for group, way in paths.items()]
    path = write_result(args.out, "inspect_energy_pose_swap", results)
    print(path)
    if args.plot:
        plot_ways(ways, args.plot, f"{os.path.basename(args.motion)}: the way to the clip's pose")
        print(args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
