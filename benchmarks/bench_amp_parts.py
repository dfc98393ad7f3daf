"""Where AMP's iteration time goes: each part of its style reward timed alone at a rollout's size.

On one H200 AMP trains push-T at 277 k env steps/s at 16,384 envs against NEAR's 2.61 M: about 3.2 us
more per env step at every batch size (docs/pusht_at_scale.md). This times, at the pairs of one
rollout (envs x horizon), with the pushTAMP config's discriminator: the reward over the rollout
(``compute``), the whole discriminator update (``update``: input statistics, the gradient steps and the
replay store), the replay store alone (``store``, with the buffer full; ``store_scatter``: the store as it
was before 2026-12-04, scattering every rollout pair), the input statistics alone
(``stats``, over rollout and demo pairs), the demo sample (``demo_gather``) and the store's prefix sum
(``cumsum``). Median of ``--repeats`` calls after a compiling one.

    python benchmarks/bench_amp_parts.py --data .../pusht_cchi_v7_replay.zarr --envs 1024 16384
    python benchmarks/bench_amp_parts.py --motion .motion/amp_humanoid_run.yaml --envs 4096 16384   # the humanoid's

Writes benchmarks/results/amp_parts_<backend>.json and prints a table (ms per call).
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_default_matmul_precision", "highest")  # as the CLI does
import jax.numpy as jnp
import numpy as np
from _report import untrained_style, write_result

from near.config import compose_config
from near.factories import make_env
from near.utils import running_stats


def store_by_scatter(style, state, pairs, key):
    """The replay store as it was before 2026-12-04: every rollout pair scattered into the buffer, the
    dropped ones at an out-of-range slot (kept here to time against the gathering store)."""
    size = style.cfg.replay_buffer_size
    full = state.replay_count >= size
    keep = jnp.where(full, jax.random.uniform(key, (pairs.shape[0],)) < style.cfg.replay_keep_prob, True)
    offsets = jnp.cumsum(keep) - 1
    kept = jnp.sum(keep)
    positions = jnp.where(keep & (offsets >= kept - size), (state.replay_ptr + offsets) % size, size)
    return state.replay.at[positions].set(pairs, mode="drop")


def median_ms(fn, args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def measure(style, num_envs: int, horizon: int, repeats: int) -> dict:
    key = jax.random.PRNGKey(0)
    state = style.init(key)
    full = state.replace(replay_count=jnp.asarray(style.cfg.replay_buffer_size, jnp.int32))
    pairs = jax.random.normal(key, (horizon, num_envs, style.pair_dim))
    flat = pairs.reshape(-1, style.pair_dim)
    n = flat.shape[0]
    parts = {
        "compute": (jax.jit(style.compute), (state, pairs)),
        "update": (jax.jit(style.update), (full, pairs, key)),
        "store": (jax.jit(style._store), (full, flat, key)),
        "store_scatter": (jax.jit(lambda s, p, k: store_by_scatter(style, s, p, k)), (full, flat, key)),
        "stats": (jax.jit(running_stats.update), (state.stats, jnp.concatenate([flat, flat]))),
        "demo_gather": (jax.jit(lambda k: style.demo_pairs[jax.random.randint(k, (n,), 0, style.demo_pairs.shape[0])]), (key,)),
        "cumsum": (jax.jit(lambda k: jnp.cumsum(jax.random.uniform(k, (n,)) < 0.1)), (key,)),
    }
    row = {"num_envs": num_envs, "pairs": n, "updates_per_iteration": style.updates_per_iteration}
    for name, (fn, args) in parts.items():
        row[f"{name}_ms"] = median_ms(fn, args, repeats)
    row["update_us_per_pair"] = 1e3 * row["update_ms"] / n
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="the push-T demonstration store (zarr)")
    parser.add_argument("--motion", help="a humanoid motion set (yaml): times HumanoidAMP instead of push-T")
    parser.add_argument("--envs", nargs="+", type=int, default=[1024, 4096])
    parser.add_argument("--minibatches", type=int, default=8, help="PPO minibatches per epoch (sets the discriminator's steps)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default=f"amp_parts_{jax.default_backend()}")
    args = parser.parse_args(argv)
    if bool(args.data) == bool(args.motion):
        parser.error("give --data (push-T) or --motion (the humanoid)")
    task, source = ("pushTAMP", f"task.data={args.data}") if args.data else ("HumanoidAMP", f"motion={args.motion}")
    rows = []
    for envs in args.envs:
        horizon = compose_config([f"task={task}"]).train.horizon
        cfg = compose_config([f"task={task}", source, f"train.num_envs={envs}",
                              f"train.minibatch_size={envs * horizon // args.minibatches}"])
        env = make_env(cfg)
        rows.append(measure(untrained_style(cfg, env), envs, cfg.train.horizon, args.repeats))
        print(" ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    keys = [k for k in rows[0] if k.endswith("_ms")]
    print("| envs | pairs | " + " | ".join(k[:-3] + " (ms)" for k in keys) + " |")
    print("|---:|---:|" + "---:|" * len(keys))
    for r in rows:
        print(f"| {r['num_envs']:,} | {r['pairs']:,} | " + " | ".join(f"{r[k]:.2f}" for k in keys) + " |")
    print(write_result(args.name, "AMP's style reward, part by part, at one rollout's size", rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
