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

    PYTHONPATH=src python benchmarks/inspect_energy_pose_swap.py --energy RUN_DIR --motion SET.yaml --policy RUN_DIR
        [--groups "right leg" arms "right leg+arms" "all joints"] [--from-time 0.5]
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result
from inspect_energy_posture import LEVELS, above, energy_env, level_free_g, policy_env, policy_episodes

from near.envs.core import make_pair
from near.envs.humanoid import model as hm
from near.motion import humanoid
from near.motion import library as ml

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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--energy", required=True, help="run folder of near train-energy (humanoid)")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--policy", required=True, help="a NEAR policy's run folder")
    parser.add_argument("--groups", nargs="+", default=["right leg", "arms", "right leg+arms", "all joints"],
                        help=f"body parts, or parts joined by '+'; parts: {', '.join(PARTS)}")
    parser.add_argument("--from-time", type=float, default=0.0,
                        help="draw the clip frames from this fraction of each clip on (0.5: the crane's held pose)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="energy_pose_swap")
    args = parser.parse_args(argv)
    groups = {g: group_dofs(g) for g in args.groups}
    if not 0.0 <= args.from_time < 1.0:
        parser.error("--from-time is a fraction of each clip in [0, 1)")

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

    sigmas = np.asarray(model.sigmas)
    swap = pose_swapper(env, episodes)
    as_played = level_free_g(model, swap(frames, [], hold=False))
    # the control: the same joints held still at the policy's own angles (of each pair's first state)
    own = np.concatenate([np.asarray(hm.dof_pos_from_qpos(env.layout, jnp.asarray(e["qpos"][:-env.config.pair_span])))
                          for e in episodes])
    rows = []
    for group, dofs in groups.items():
        names = [humanoid.DOF_NAMES[i] for i in dofs]
        rows.append(above(f"{group} from the clips", level_free_g(model, swap(frames, dofs)),
                          as_played, sigmas, dofs=names))
        rows.append(above(f"{group} held still, its own angles", level_free_g(model, swap(own, dofs)),
                          as_played, sigmas, dofs=names))
    print(f"energy model {args.energy}, motion {os.path.basename(args.motion)}, the policy {args.policy}: "
          f"{n} pairs of {len(episodes)} episodes, g as played {as_played.mean():.1f}")
    print("| the policy's states with | g mean | ranks above as played | "
          + " | ".join(f"reward gained, level {lv} (sigma {sigmas[lv]:.2f})" for lv in LEVELS) + " |")
    print("|---|---:|---:|" + "---:|" * len(LEVELS))
    for r in rows:
        print(f"| {r['pairs']} | {r['g_mean']:.1f} | {r['ranks_above_policy']:.3f} | "
              + " | ".join(f"{r[f'reward_gain_level_{lv}']:.3f}" for lv in LEVELS) + " |")
    path = write_result(args.out, "inspect_energy_pose_swap",
                        [{"energy": args.energy, "motion": os.path.basename(args.motion), "policy": args.policy,
                          "pairs": n, "from_time": args.from_time, "g_as_played": float(as_played.mean()),
                          "levels": {str(lv): float(sigmas[lv]) for lv in LEVELS}}] + rows)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
