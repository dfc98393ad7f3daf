"""Which demonstration pairs sit on the energy network's output floor? (issue #16, item 55)

The original's network ends in an ELU, so g > -1, and where its input is far below 0 its gradient,
the score DSM trains, is nearly 0. This reads the scalar before that ELU (the same weights applied
without it) for the demonstration pairs `near train-energy` ranks and for its random pairs, and gives,
per energy model: the ranking at levels 0, 25 and 49, the share of demonstration and of random pairs
whose pre-activation is below --below (ELU gradient exp(below)), and the medians.

    python benchmarks/inspect_energy_floor.py --energy RUN [RUN ...] --motion .motion/amp_humanoid_MOTION.yaml \\
        [--below -2] [--name energy_floor_MOTION] [--plot docs/X.png]

--plot draws each model's DSM loss over its iterations, dashed where the model ranks under 90 %: models
of one setting and several seeds show whether the trapped pairs part their curve from the others'.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys

import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result
from inspect_energy_posture import energy_env

from near.commands.train_energy import ranking_sets
from near.energy.train import ranking_accuracies
from near.factories import demo_pairs
from near.utils.logging import read_metrics


def pre_activation(model, pairs: np.ndarray, level: int) -> np.ndarray:
    """The network's scalar before its final activation, level-free (times sigma)."""
    linear = dataclasses.replace(model, net=model.net.clone(output_activation="none"))
    return np.asarray(linear.energy(jnp.asarray(pairs), level)) * float(model.sigmas[level])


def inspect(energy_dir: str, motion: str, below: float) -> dict:
    model, meta, cfg, env = energy_env(energy_dir, motion)  # cfg: seed 42's random pairs for every model
    demo, random_pairs, levels = ranking_sets(cfg, demo_pairs(cfg, env))
    ranked = ranking_accuracies(model, demo, random_pairs, levels)
    demo_pre, random_pre = pre_activation(model, demo, 0), pre_activation(model, random_pairs, 0)
    floored = demo_pre < below
    return {"energy": energy_dir, "output_activation": model.net.output_activation,
            "rank_accuracy": {str(c): float(ranked[c]) for c in levels},
            "demo_pre_activation_median": float(np.median(demo_pre)),
            "random_pre_activation_median": float(np.median(random_pre)),
            "demo_share_below": float(floored.mean()), "random_share_below": float((random_pre < below).mean()),
            "below": below, "pairs": len(demo),
            "seed": (meta.get("config") or {}).get("seed"), **loss_curve(energy_dir)}


def loss_curve(run_dir: str) -> dict:
    """The logged DSM loss of a model's training: {"steps": [...], "losses": [...]} (NaN rows left out)."""
    columns = read_metrics(run_dir)
    points = [(int(s), float(v)) for s, v in zip(columns.get("step", []), columns.get("loss", []))
              if math.isfinite(v) and math.isfinite(s)]
    return {"steps": [s for s, _ in points], "losses": [v for _, v in points]}


def plot_curves(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5 + 0.18 * len(rows)))
    for r in rows:
        worst = min(r["rank_accuracy"].values())
        where = "on the floor" if r["output_activation"] == "elu" else "below it (no floor)"
        label = (f"{os.path.basename(r['energy'].rstrip('/'))} (seed {r['seed']}, {r['output_activation']}): "
                 f"ranks {100 * worst:.0f} %, {100 * r['demo_share_below']:.0f} % of demo pairs {where}")
        ax.plot(r["steps"], r["losses"], "-" if worst >= 0.9 else "--", label=label)
    ax.set_xlabel("DSM iteration")
    ax.set_ylabel("DSM loss")
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=1, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--energy", nargs="+", required=True, help="energy model run folders")
    parser.add_argument("--motion", required=True)
    parser.add_argument("--below", type=float, default=-2.0, help="a pre-activation under this is 'on the floor'")
    parser.add_argument("--name", default="energy_floor")
    parser.add_argument("--plot", help="a PNG of the models' DSM loss curves")
    args = parser.parse_args(argv)
    rows = [inspect(e, args.motion, args.below) for e in args.energy]
    print(f"| energy model | last activation | ranking (levels 0 / 25 / 49) | demo pairs below {args.below:g} "
          "| random pairs below | median pre-activation: demo / random |")
    print("|---|---|---|---:|---:|---:|")
    for r in rows:
        ranks = " / ".join(f"{v:.3f}" for v in r["rank_accuracy"].values())
        print(f"| {r['energy']} | {r['output_activation']} | {ranks} | {r['demo_share_below']:.3f} | "
              f"{r['random_share_below']:.3f} | {r['demo_pre_activation_median']:.1f} / {r['random_pre_activation_median']:.1f} |")
    print(write_result(args.name, "demonstration pairs on the energy network's output floor", rows))
    if args.plot:
        plot_curves(rows, args.plot)
        print(args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
