"""Where, feature by feature, a humanoid policy's pairs sit from its clips' in the energy model's own input
units (issue #16). The energy sees a pair through its input normalisation: (x - mean) / std of the clips'
pairs, clipped at 5. Where the clips hold a feature nearly still (the crane's velocities: std 0.02-0.3), a
policy's small balancing motions along it reach the clip and can outweigh a wrong pose.

For the clips' pairs and each policy's (its deterministic episodes from the env's resets), the table gives
the mean squared normalised value per feature group, summed over the group's numbers in both states (the
clips' own spread: about the group's size), and the share of numbers at the clip. With ``--floor F`` the same
is computed with the std of every velocity feature at least F (energy.velocity_std_floor), to see what a
floor would change before training with it.

    python benchmarks/inspect_pair_features.py --energy ENERGY_RUN --motion SET.yaml NEAR=RUN [Track=RUN ...]
        [--floor 0.5] [--episodes 16] [--name pair_features_MOTION]
"""

from __future__ import annotations

import argparse
import os
import sys

import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result
from inspect_energy_posture import energy_env, policy_env, policy_episodes, sample_pairs

from near.envs.humanoid.obs import FEATURE_GROUPS as GROUPS


def group_z2(z: np.ndarray, half: int = 105) -> dict[str, dict[str, float]]:
    """Mean over pairs of the squared normalised values per group (both states of the pair), and the share
    of the group's numbers at the clip (|z| >= 5)."""
    out = {}
    for name, r in GROUPS.items():
        idx = list(r) + [i + half for i in r]
        out[name] = {"z2": float(np.mean(np.sum(z[:, idx] ** 2, axis=1))),
                     "clipped": float(np.mean(np.abs(z[:, idx]) >= 5.0 - 1e-6))}
    out["all"] = {"z2": float(np.mean(np.sum(z ** 2, axis=1))), "clipped": float(np.mean(np.abs(z) >= 5.0 - 1e-6))}
    return out


def normalised(stats, pairs, min_std=None) -> np.ndarray:
    from near.utils import running_stats

    if min_std is not None:  # the same statistics with a std floor, as energy.velocity_std_floor would train them
        stats = running_stats.with_std_floor(stats, min_std)
    return np.asarray(running_stats.normalize(stats, jnp.asarray(pairs)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR (policies on this motion set)")
    parser.add_argument("--energy", required=True, help="run folder of near train-energy (its input statistics)")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--floor", type=float, default=0.0, help="also with each velocity feature's std at least this")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--pairs", type=int, default=4096)
    parser.add_argument("--name", default="pair_features")
    args = parser.parse_args(argv)

    import jax

    from near.commands.train_energy import std_floor

    model, _, cfg, env = energy_env(args.energy, args.motion, f"energy.velocity_std_floor={args.floor}")
    pairs = {"clips": np.asarray(jax.jit(env.demo_pairs, static_argnums=1)(jax.random.PRNGKey(0), args.pairs))}
    for spec in args.runs:
        label, run = spec.split("=", 1)
        episodes = policy_episodes(cfg, policy_env(cfg, env, run), run, jax.random.PRNGKey(1), args.episodes, 256)
        pairs[label] = np.asarray(sample_pairs(episodes, args.pairs))
    floors = [(0.0, None)]  # as the model normalises, and with --floor's std floor
    if args.floor > 0:
        floors.append((args.floor, std_floor(cfg, env, 2 * env.pair_state_dim)))
    rows = []
    for label, p in pairs.items():
        for floor, ms in floors:
            rows.append({"pairs": label, "velocity_std_floor": floor, "n": len(p), **group_z2(normalised(model.stats, p, ms))})
    names = [*GROUPS, "all"]
    print(f"energy model {args.energy}: mean squared normalised value per feature group (both states; share at the clip)")
    print("| pairs | velocity std floor | " + " | ".join(names) + " |\n|---|---:|" + "---:|" * len(names))
    for r in rows:
        print(f"| {r['pairs']} | {r['velocity_std_floor']:g} | "
              + " | ".join(f"{r[g]['z2']:.0f} ({r[g]['clipped']:.0%})" for g in names) + " |")
    path = write_result(args.name, f"pair features in the energy's normalised units, {os.path.basename(args.motion)}, "
                        f"energy {args.energy}", rows)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
