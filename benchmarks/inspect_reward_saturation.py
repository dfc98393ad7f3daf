"""At which noise level does NEAR's style reward turn into a sign? (issue #16)

NEAR's reward is tanh((E - m) / 10) with E = g(x) / sigma (ncsnv2 conditioning) and m the batch's mean
energy, so at level c a pair earns tanh((g - g_mean) / (10 sigma_c)): annealing to smaller sigma only
raises the gain. Once the spread of g over the policy's own pairs is many times 10 sigma, nearly every
pair earns +1 or -1, whether it is a little or far above the batch's mean: the reward then says "above
the batch" and no longer "how clip-like". The floored humanoid runs anneal to levels 16-30, where their
logged style-reward std (0.93 for the crane) says this happens.

This scores a trained NEAR policy's own deterministic episodes (16, up to 256 steps) and the clips' pairs
with an energy model, and reports per level: the share of the policy's pairs whose reward is saturated
(|r| > 0.9), the reward's std over them, what the clips' pairs would earn at the policy's centre, and the
reward a clip's pair earns over the policy's own top-decile pair (what being like the clips still pays
once the policy is at the top of its batch). Rows add up in benchmarks/results/NAME.json (one per ``--label``), and the plot draws them all;
``--mark LABEL=LEVEL`` draws the level a run reached.

    PYTHONPATH=src python benchmarks/inspect_reward_saturation.py --energy RUN_DIR --motion SET.yaml --policy RUN_DIR
        [--mark "crane_af=30"] [--plot PNG] [--name NAME]
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import merge_rows, read_result_rows, write_result
from inspect_energy_posture import energy_env, level_free_g, policy_env, policy_episodes

from near.energy.reward import SATURATED


def saturation_by_level(g_policy: np.ndarray, g_clips: np.ndarray, sigmas: np.ndarray, tanh_scale: float = 10.0) -> list[dict]:
    """Per level: the policy's pairs' rewards at their own batch centre (the mean of g) and the clips' pairs' at it."""
    centre = float(np.mean(g_policy))
    top_decile = np.quantile(g_policy, 0.9)
    rows = []
    for level, sigma in enumerate(np.asarray(sigmas, float)):
        policy = np.tanh((g_policy - centre) / (tanh_scale * sigma))
        clips = np.tanh((g_clips - centre) / (tanh_scale * sigma))
        top = np.tanh((top_decile - centre) / (tanh_scale * sigma))
        rows.append({"level": level, "sigma": float(sigma), "policy_saturated": float(np.mean(np.abs(policy) > SATURATED)),
                     "policy_reward_std": float(policy.std()), "clips_reward_mean": float(clips.mean()),
                     # what a clip's pair earns over the policy's own top-decile pair: what being like the
                     # clips still pays once the policy is at the top of its batch
                     "clips_over_policy_top_decile": float(clips.mean() - top)})
    return rows


def half_saturated_level(rows: list[dict]) -> int | None:
    """The first level where at least half the policy's pairs earn a saturated reward."""
    return next((r["level"] for r in rows if r["policy_saturated"] >= 0.5), None)


def plot(results: list[dict], marks: dict[str, int], path: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for res in results:
        levels = [r["level"] for r in res["levels"]]
        axes[0].plot(levels, [r["policy_saturated"] for r in res["levels"]], label=res["label"])
        axes[1].plot(levels, [r["clips_over_policy_top_decile"] for r in res["levels"]], label=res["label"])
    for ax in axes:
        for label, level in marks.items():
            ax.axvline(level, color="grey", lw=0.8, ls=":")
            ax.text(level, 1.01, label, rotation=90, fontsize=7, va="bottom", ha="center")
        ax.set_xlabel("noise level (sigma 20 -> 0.01)")
        ax.set_ylim(0, 1.1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("policy's pairs with |reward| > 0.9")
    axes[1].set_ylabel("reward of the clips' pairs over\nthe policy's top-decile pair")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--energy", required=True, help="run folder of near train-energy (humanoid)")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--policy", required=True, help="a NEAR policy's run folder")
    parser.add_argument("--label", default="", help="the row's name (default: the policy folder's)")
    parser.add_argument("--mark", nargs="*", default=[], help="LABEL=LEVEL: a level a run reached, drawn on the plot")
    parser.add_argument("--pairs", type=int, default=4096, help="clip pairs drawn")
    parser.add_argument("--plot", default="")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="reward_saturation")
    args = parser.parse_args(argv)
    marks = {}
    for spec in args.mark:
        label, _, level = spec.rpartition("=")
        if not label or not level.isdigit():
            parser.error(f"--mark {spec!r}: expected LABEL=LEVEL")
        marks[label] = int(level)

    model, _, cfg, env = energy_env(args.energy, args.motion)
    episodes = policy_episodes(cfg, policy_env(cfg, env, args.policy), args.policy, jax.random.PRNGKey(args.seed + 1), 16, 256)
    g_policy = level_free_g(model, np.concatenate([e["pair"] for e in episodes]))
    clips = jax.jit(env.demo_pairs, static_argnums=1)(jax.random.PRNGKey(args.seed), args.pairs)
    g_clips = level_free_g(model, clips)
    rows = saturation_by_level(g_policy, g_clips, np.asarray(model.sigmas), cfg.reward.tanh_scale)
    label = args.label or os.path.basename(os.path.normpath(args.policy))
    result = {"label": label, "energy": args.energy, "policy": args.policy, "motion": os.path.basename(args.motion),
              "policy_pairs": len(g_policy), "g_policy_mean": float(g_policy.mean()), "g_policy_std": float(g_policy.std()),
              "g_clips_mean": float(g_clips.mean()), "half_saturated_level": half_saturated_level(rows), "levels": rows}
    print(f"{label}: {len(g_policy)} policy pairs, g {g_policy.mean():.1f} +- {g_policy.std():.1f}, clips' g "
          f"{g_clips.mean():.1f}; half the policy's pairs saturated from level {result['half_saturated_level']}")
    print("| level | sigma | policy's pairs saturated | policy's reward std | clips' reward at its centre | clips' reward over its top-decile pair |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows[::5] + ([rows[-1]] if (len(rows) - 1) % 5 else []):
        print(f"| {r['level']} | {r['sigma']:.3g} | {r['policy_saturated']:.2f} | {r['policy_reward_std']:.2f} | "
              f"{r['clips_reward_mean']:+.2f} | {r['clips_over_policy_top_decile']:+.2f} |")
    results = merge_rows(read_result_rows(args.name), [result])  # rows of other policies, kept across calls
    print(write_result(args.name, "inspect_reward_saturation", results))
    if args.plot:
        print(plot(results, marks, args.plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
