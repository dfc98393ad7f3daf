"""Can the energy see how fast a policy's root moves? (issue #16)

The energy model normalises each of its 210 inputs by the clips' own mean and std and clips the result at
``energy.input_clip`` stds (the original's 5). Where the clips barely move (the crane pose's root: std 0.018 m/s)
a few centimetres a second already reach the clip, and every faster root then reads as the same input. This
script measures that on a policy's own deterministic episodes:

- per feature group of the pair, the share of its numbers at the clip, for the policy's pairs and the clips';
- the policy's pairs with the root's horizontal velocity scaled to each of ``--speeds`` (m/s, the mean
  horizontal root speed over its pairs; 0 holds the root still, nothing else changed), scored by the model:
  the level-free g (E = g / sigma) and the reward per step that speed gains at level ``--level`` over the
  policy's own speed. Where g stops changing past some speed, the energy cannot tell a glide from a drift.

    python benchmarks/inspect_energy_input_clip.py --energy ENERGY_RUN --motion SET.yaml --policy RUN
        [--speeds 0 0.03 0.1 0.3 0.9] [--episodes 8] [--name energy_input_clip]
    python benchmarks/inspect_energy_input_clip.py --plot PNG LABEL=RESULT.json ...   # the sweeps, one line each
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
from inspect_energy_posture import energy_env, kinematic_pairs, level_free_g, policy_env, policy_episodes, reward_gap

from near.envs.humanoid.obs import FEATURE_GROUPS, OBS_DIM


def clipped_share(model, pairs: np.ndarray) -> dict[str, float]:
    """Per feature group (both halves of the pair), the share of the normalised inputs at the model's clip."""
    at_clip = np.asarray(model.at_clip(jnp.asarray(pairs)))
    return {group: float(at_clip[:, np.concatenate([np.asarray(idx), np.asarray(idx) + OBS_DIM])].mean())
            for group, idx in FEATURE_GROUPS.items()}


def root_speed_pairs(env, episodes: list[dict], speeds) -> tuple[float, dict]:
    """The episodes' pairs with the root's horizontal velocity rescaled so that its mean speed is each of
    ``speeds`` (m/s), through the simulator's kinematics (:func:`kinematic_pairs`): (the policy's own mean speed,
    {speed: (P, 210)}); the key "own" holds the pairs at the policy's own speed, through the same kinematics."""
    moving = [e for e in episodes if len(e["qpos"]) > env.config.pair_span]
    own = float(np.mean(np.linalg.norm(np.concatenate([e["qvel"][:, :2] for e in moving]), axis=-1)))
    scales = {speed: speed / own if own > 0 else 0.0 for speed in speeds} | {"own": 1.0}
    return own, kinematic_pairs(env, moving, {speed: (lambda q, v, k=k: (q, v.at[:2].multiply(k)))
                                              for speed, k in scales.items()})


def plot_sweeps(png: str, labelled: list[str]) -> None:
    """The reward each root speed gains over the policy's own, one line per LABEL=RESULT.json of this script,
    with the policy's own speed marked."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for item in labelled:
        label, path = item.split("=", 1)
        with open(path) as f:
            head, *sweep = json.load(f)["results"]
        line, = ax.plot([r["root_speed"] for r in sweep], [r["reward_gain_per_step"] for r in sweep], "o-", label=label)
        ax.axvline(head["own_root_speed"], color=line.get_color(), ls=":", lw=1)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("root speed set to, m/s (dotted: the policy's own)")
    ax.set_ylabel(f"reward gained per step, level {head['level']}")
    ax.set_title("What the energy pays for the root's speed, the rest of each pair as played", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(png)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--plot"]:
        if len(argv) < 3 or any("=" not in a for a in argv[2:]):
            raise SystemExit("usage: inspect_energy_input_clip.py --plot PNG LABEL=RESULT.json ...")
        plot_sweeps(argv[1], argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--energy", required=True, help="run folder of near train-energy (humanoid, E = g / sigma)")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--policy", required=True, help="a policy's run folder (any method): its own episodes")
    parser.add_argument("--speeds", nargs="+", type=float, default=[0.0, 0.03, 0.1, 0.3, 0.9])
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--level", type=int, default=4, help="the noise level the reward gains are given at")
    parser.add_argument("--clip-pairs", type=int, default=4096, help="clip pairs drawn for the clipped shares")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="energy_input_clip")
    args = parser.parse_args(argv)

    model, _, cfg, env = energy_env(args.energy, args.motion)
    if model.net.conditioning != "sigma":
        parser.error(f"{args.energy}: conditioned on the level by an embedding; this reads the level-free g")
    if not 0 <= args.level < len(model.sigmas):
        parser.error(f"--level {args.level}: the model has levels 0-{len(model.sigmas) - 1}")
    episodes = policy_episodes(cfg, policy_env(cfg, env, args.policy), args.policy, jax.random.PRNGKey(args.seed),
                               args.episodes, args.steps, ("pair", "qpos", "qvel"))
    clip_pairs = np.asarray(env.demo_pairs(jax.random.PRNGKey(args.seed + 1), args.clip_pairs))
    policy_pairs = np.concatenate([e["pair"] for e in episodes])
    shares = {"policy": clipped_share(model, policy_pairs), "clips": clipped_share(model, clip_pairs)}
    own, swept = root_speed_pairs(env, episodes, args.speeds)
    sigma = float(model.sigmas[args.level])
    g_own = level_free_g(model, swept.pop("own"))
    sweep = []
    for speed, pairs in swept.items():
        g = level_free_g(model, pairs)
        sweep.append({"root_speed": speed, "g_mean": float(g.mean()),
                      "reward_gain_per_step": float(np.mean(reward_gap(g - g_own, sigma))),
                      "root_velocity_clipped": clipped_share(model, pairs)["root velocity"]})

    print(f"energy {args.energy} (input clip {model.input_clip:g} stds), policy {args.policy}: "
          f"{len(episodes)} episodes, {len(policy_pairs)} pairs, own mean root speed {own:.3f} m/s")
    print("| feature group | " + " | ".join(f"{k}: share at the clip" for k in shares) + " |")
    print("|---|" + "---:|" * len(shares))
    for group in FEATURE_GROUPS:
        print(f"| {group} | " + " | ".join(f"{shares[k][group]:.3f}" for k in shares) + " |")
    print(f"\n| root speed, m/s | g | reward gained per step at level {args.level} (sigma {sigma:.2f}) over its own "
          f"{own:.3f} m/s (g {g_own.mean():.1f}) | root velocity inputs at the clip |")
    print("|---:|---:|---:|---:|")
    for row in sweep:
        print(f"| {row['root_speed']:g} | {row['g_mean']:.1f} | {row['reward_gain_per_step']:+.3f} | "
              f"{row['root_velocity_clipped']:.3f} |")
    path = write_result(args.name, "can the energy see the root's speed: clipped inputs and a root-speed sweep",
                        [{"energy": args.energy, "motion": os.path.basename(args.motion), "policy": args.policy,
                          "input_clip": model.input_clip, "level": args.level, "sigma": sigma,
                          "episodes": len(episodes), "pairs": len(policy_pairs), "own_root_speed": own,
                          "g_own": float(g_own.mean()), "clipped_share": shares}] + sweep)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
