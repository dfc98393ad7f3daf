"""Energy-model training speed (annealed DSM with double backprop): steps/s and pairs/s.

Two network sizes of the original: the maze net (4 -> [32, 64] -> 128 -> [64, 32, 8] -> 1) and the
humanoid net (210 -> [512, 1024] -> 2048 -> [1024, 512, 128] -> 1), batch 128 as in the original
and larger batches. Random data (speed does not depend on it). Writes
benchmarks/results/energy_dsm_<backend>.json and prints a table.
"""

from __future__ import annotations

import time

import jax

jax.config.update("jax_default_matmul_precision", "highest")  # as the CLI does
import numpy as np

from _report import write_result  # noqa: E402
from near.energy.train import EnergyConfig, make_trainer

SIZES = {
    "maze": dict(pair_dim=4, encoder_hidden=[32, 64], latent_dim=128, decoder_hidden=[64, 32, 8]),
    "humanoid": dict(pair_dim=210, encoder_hidden=[512, 1024], latent_dim=2048, decoder_hidden=[1024, 512, 128]),
}


def measure(name: str, batch: int, steps: int, repeats: int = 3, unroll: int = 1, flat: bool = False,
            precision: str = "float32") -> dict:
    size = dict(SIZES[name])
    pair_dim = size.pop("pair_dim")
    cfg = EnergyConfig(batch_size=batch, network_precision=precision, **size)
    init, train_chunk, *_ = make_trainer(cfg, pair_dim, unroll=unroll, flat_optimizer=flat)
    state = init(jax.random.PRNGKey(0))
    pairs = jax.random.normal(jax.random.PRNGKey(1), (20_000, pair_dim))
    start = time.perf_counter()
    state, losses = train_chunk(state, pairs, steps)
    jax.block_until_ready(losses)
    first = time.perf_counter() - start
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        state, losses = train_chunk(state, pairs, steps)
        jax.block_until_ready(losses)
        rates.append(steps / (time.perf_counter() - start))
    rate = float(np.median(rates))
    return {"net": name, "batch": batch, "unroll": unroll, "flat_optimizer": flat, "precision": precision,
            "steps_per_s": rate, "pairs_per_s": rate * batch, "first_call_s": first}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", action="store_true",
                        help="the humanoid net at batch 128 only, looped per unroll and with a flat optimiser")
    parser.add_argument("--steps", type=int, default=0, help="iterations per timed call (default: per case)")
    args = parser.parse_args()
    backend = jax.default_backend()
    if args.variants:  # (net, batch, steps, unroll, flat, matmul precision)
        steps = args.steps or 2000
        # the baseline, then the DSM step's matrix products on TF32 tensor cores (energy.network_precision;
        # float32 by default) right after it: the ratio comes first if a call ends early
        cases = [("humanoid", 128, steps, 1, False, "float32"), ("humanoid", 128, steps, 1, False, "tensorfloat32")]
        cases += [("humanoid", 128, steps, u, f, "float32") for f in (False, True) for u in (1, 4, 16)
                  if (u, f) != (1, False)]
    else:
        cases = [("maze", 128, 2000, 1, False, "float32"), ("humanoid", 128, 200, 1, False, "float32")]
        if backend != "cpu":
            cases += [("maze", 4096, 2000, 1, False, "float32"), ("humanoid", 1024, 500, 1, False, "float32"),
                      ("humanoid", 4096, 200, 1, False, "float32")]
    rows = []
    for name, batch, steps, unroll, flat, precision in cases:
        rows.append(measure(name, batch, steps, unroll=unroll, flat=flat, precision=precision))
        r = rows[-1]
        print(f"{name:9s} batch {batch:5d} unroll {unroll:2d} flat {flat!s:5s} {precision:13s}: {r['steps_per_s']:9.0f} "
              f"steps/s {r['pairs_per_s']:12.0f} pairs/s, first call {r['first_call_s']:.1f} s", flush=True)
    suffix = "_variants" if args.variants else ""
    path = write_result(f"energy_dsm_{backend}{suffix}", "energy model DSM training speed", rows)
    print("\n| net | batch | unroll | flat optimiser | matmul precision | steps/s | pairs/s | first call s |\n"
          "|---|---:|---:|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['net']} | {r['batch']} | {r['unroll']} | {r['flat_optimizer']} | {r['precision']} | "
              f"{r['steps_per_s']:.0f} | {r['pairs_per_s']:.0f} | {r['first_call_s']:.1f} |")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
