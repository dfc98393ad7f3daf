"""Does a push-T energy on [s_t, s_t+1 - s_t] pairs stop paying most for a still agent? (issue #19)

inspect_pusht_energy.py found that NEAR's push-T energy, trained on the original's pairs [s_t, s_t+1],
pays a still agent more than the demonstrations' own moving pairs. One guess: the agent's step (a few
pixels) is small against the spread of positions over the table, so after per-feature normalisation a
still pair sits inside the noise around the demonstrations' pairs. This trains the same energy model
(the pushTNEAR config, seed 42) on pairs whose second half is the change of state, so that each feature
of the motion is normalised by its own spread, and scores policies' and demonstrations' pairs as
inspect_pusht_energy.py does (the style reward against the first policy's mean energy).

    python benchmarks/check_pusht_delta_pairs.py --data .pusht/pusht_cchi_v7_replay.zarr \
        --policy near=NEAR_RUN:pushTNEAR --policy ppo=PPO_RUN:pushT

CPU: about two minutes. Writes benchmarks/results/<name>.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import write_result
from inspect_pusht_energy import add_source_arguments, agent_still, cell, load_sources, masked_mean

from near.cli import configure_jax


def delta_pairs(pairs: np.ndarray) -> np.ndarray:
    """[s_t, s_t+1] (agent xy, block xy, block angle each) -> [s_t, s_t+1 - s_t], the angle's change wrapped."""
    out = np.asarray(pairs, np.float32).copy()
    out[:, 5:] -= out[:, :5]
    out[:, 9] = (out[:, 9] + np.pi) % (2 * np.pi) - np.pi
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_source_arguments(parser, levels="0,10,20,35,45", seed=0)
    parser.add_argument("--energy-seed", type=int, default=42, help="the energy model's seed")
    parser.add_argument("--name", default="pusht_energy_delta_pairs")
    args = parser.parse_args(argv)
    configure_jax()
    import jax.numpy as jnp

    from near.config import compose_config
    from near.energy.train import fit, model_from_state

    sources = load_sources(parser, args)
    cfg = compose_config(["task=pushTNEAR", f"task.data={os.path.expanduser(args.data)}", f"seed={args.energy_seed}"])
    deltas = {name: jnp.asarray(delta_pairs(pairs)) for name, (pairs, _) in sources.items()}
    with tempfile.TemporaryDirectory() as run_dir:
        state, last = fit(cfg.energy, np.asarray(deltas["demonstrations"]), run_dir, seed=args.energy_seed,
                          show_progress=False)
    model = model_from_state(cfg.energy, state)
    centre_source = next(iter(sources))
    rows = [{"energy": "pushTNEAR config on delta pairs", "seed": args.energy_seed, "iterations": cfg.energy.iterations,
             "final_loss": float(last["loss"]), "policies": args.policy}]
    print("| level (sigma) | pairs | agent still: fraction, reward | agent moving: reward | coverage >= 0.9: reward |")
    print("|---|---|---|---|---|")
    for level in (int(v) for v in args.levels.split(",")):
        energies = {name: np.asarray(model.energy(x, level)) for name, x in deltas.items()}
        centre = float(energies[centre_source].mean())
        for name, (pairs, coverage) in sources.items():
            reward = np.tanh((energies[name] - centre) / 10.0)
            still = agent_still(pairs)
            row = {"level": level, "sigma": float(model.sigmas[level]), "pairs": name, "still_fraction": float(still.mean()),
                   "reward_still": masked_mean(reward, still), "reward_moving": masked_mean(reward, ~still),
                   "reward_coverage_0.9": masked_mean(reward, coverage >= 0.9)}
            rows.append(row)
            cells = [cell(row[k]) for k in ("reward_still", "reward_moving", "reward_coverage_0.9")]
            print(f"| {level} ({row['sigma']:.3f}) | {name} | {row['still_fraction']:.2f}, {cells[0]} | {cells[1]} | {cells[2]} |")
    print(f"\nwrote {write_result(args.name, 'push-T energy on delta pairs: still against moving agents', rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
