"""What NEAR's push-T energy pays along the way to the goal (issue #19: why NEAR flattens near half coverage).

Scores transition pairs with a push-T energy model at chosen noise levels: the demonstrations' pairs and
those of trained policies' deterministic episodes (from the original's random starts), each pair binned
by the goal coverage of its later state, and split by whether the agent moves. The style reward a pair would earn is tanh((e - m) / 10) with
m the mean energy of the first policy's pairs (NEAR's running centre is its own batch mean): if the
pairs near the goal earn less than those far from it, the style reward pays NEAR to stop short.

    python benchmarks/inspect_pusht_energy.py --energy ENERGY_RUN --policy near=NEAR_RUN:pushTNEAR \
        --policy ppo=PPO_RUN:pushT --data .pusht/pusht_cchi_v7_replay.zarr --levels 0,20,35

Writes benchmarks/results/<name>.json and prints one table per level (CPU: about a minute).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result
from inspect_pusht_policy import evaluation_episodes

from near.cli import configure_jax

BINS = (0.0, 0.3, 0.6, 0.9, 1.01)
STILL_PX = 0.5  # an agent step shorter than this counts as standing still (the agent moves ~1-10 px a step)


def masked_mean(values: np.ndarray, mask: np.ndarray) -> float | None:
    return float(values[mask].mean()) if mask.any() else None


def cell(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def agent_still(pairs: np.ndarray) -> np.ndarray:
    """Pairs [s_t, s_t+1] whose agent moves less than STILL_PX."""
    return np.linalg.norm(pairs[:, 5:7] - pairs[:, 0:2], axis=1) < STILL_PX


def policy_pairs(task: str, run: str, episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs [s_t, s_t+1] of a policy's deterministic episodes, and the coverage of each s_t+1."""
    from near.data.demos import DemoSet

    _, out = evaluation_episodes(task, run, episodes, seed)
    obs, lengths = np.asarray(out["observations"]), np.asarray(out["episode_length"]).astype(int)
    states = [obs[: n + 1, i] for i, n in enumerate(lengths)]  # s_0 .. s_n of each episode
    return pairs_and_coverage(DemoSet(np.concatenate(states).astype(np.float32), np.cumsum([len(s) for s in states])))


def pairs_and_coverage(demos) -> tuple[np.ndarray, np.ndarray]:
    import jax

    from near.data.demos import transition_pairs
    from near.envs.pusht import coverage

    pairs = transition_pairs(demos, order="past_first")
    later = pairs[:, 5:]
    return pairs, np.asarray(jax.jit(jax.vmap(coverage))(later[:, 2:4], later[:, 4]))


def add_source_arguments(parser: argparse.ArgumentParser, levels: str, seed: int) -> None:
    """The policies and demonstrations to score, the levels and the evaluation episodes."""
    parser.add_argument("--policy", action="append", default=[], help="NAME=RUN:TASK (repeatable; the first sets the centre)")
    parser.add_argument("--data", required=True, help="the demonstrations (zarr)")
    parser.add_argument("--levels", default=levels)
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--seed", type=int, default=seed, help="the evaluation episodes' seed")


def load_sources(parser: argparse.ArgumentParser, args) -> dict:
    """{name: (pairs, coverage)} of each --policy's deterministic episodes, then of the demonstrations."""
    from near.data.demos import load_zarr_demos

    if not args.policy:
        parser.error("give at least one --policy NAME=RUN:TASK (its mean energy is the reward's centre)")
    sources = {}
    for spec in args.policy:
        name, _, rest = spec.partition("=")
        run, _, task = rest.rpartition(":")
        if not (name and run and task):
            parser.error(f"--policy {spec!r}: expected NAME=RUN:TASK, e.g. near=runs/pusht_near:pushTNEAR")
        sources[name] = policy_pairs(task, run, args.episodes, args.seed)
    sources["demonstrations"] = pairs_and_coverage(load_zarr_demos(os.path.expanduser(args.data)))
    return sources


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--energy", required=True, help="a push-T energy model's run folder")
    add_source_arguments(parser, levels="0,20,35", seed=0)
    parser.add_argument("--name", default="pusht_energy_by_coverage")
    args = parser.parse_args(argv)
    configure_jax()
    import jax.numpy as jnp

    from near.energy.train import load_energy_model

    sources = load_sources(parser, args)
    model, _ = load_energy_model(args.energy, expect_pair_dim=10, expect_env="pusht")
    centre_source = next(iter(sources))
    rows = []
    for level in (int(v) for v in args.levels.split(",")):
        energies = {k: np.asarray(model.energy(jnp.asarray(p), level)) for k, (p, _) in sources.items()}
        centre = float(energies[centre_source].mean())
        print(f"\nlevel {level} (sigma {float(model.sigmas[level]):.3f}); centre m = {centre:.1f}, the mean energy of "
              f"{centre_source}'s pairs; reward = tanh((e - m) / 10)")
        edges = [f"{lo:.1f}-{min(hi, 1.0):.1f}" for lo, hi in zip(BINS[:-1], BINS[1:])]
        print("| pairs | all: n, mean e, reward | " + " | ".join(f"coverage {e}: n, reward" for e in edges)
              + f" | agent still (< {STILL_PX} px): fraction, reward | agent moving: reward |")
        print("|---|---|" + "---|" * (len(edges) + 2))
        for name, (pairs, cov) in sources.items():
            e = energies[name]
            reward = np.tanh((e - centre) / 10.0)
            bins = [{"coverage": label, "n": int(inside.sum()), "energy_mean": masked_mean(e, inside),
                     "reward_mean": masked_mean(reward, inside)}
                    for label, inside in ((label, (cov >= lo) & (cov < hi)) for lo, hi, label in zip(BINS[:-1], BINS[1:], edges))]
            still = agent_still(pairs)
            rows.append({"level": level, "sigma": float(model.sigmas[level]), "pairs": name, "n": int(len(e)),
                         "energy_mean": float(e.mean()), "reward_mean": float(reward.mean()), "centre": centre, "bins": bins,
                         "still": {"fraction": float(still.mean()), "reward_mean": masked_mean(reward, still),
                                   "reward_mean_moving": masked_mean(reward, ~still)}})
            s = rows[-1]["still"]
            print(f"| {name} | {len(e)}, {e.mean():.1f}, {reward.mean():+.3f} | "
                  + " | ".join(f"{b['n']}, {cell(b['reward_mean'])}" for b in bins)
                  + f" | {s['fraction']:.2f}, {cell(s['reward_mean'])} | {cell(s['reward_mean_moving'])} |")
    path = write_result(args.name, "push-T energy by goal coverage",
                        [{"energy": args.energy, "policies": args.policy, "episodes": args.episodes}] + rows)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
