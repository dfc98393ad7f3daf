"""Throughput of the JAX maze env on CPU: batched env steps per second.

For each batch size, ``jit(vmap(env.step))`` is scanned over 50 steps with ``lax.scan`` (random
actions, states from ``vmap(env.reset)``), compiled and warmed up once, then timed 3 times; the
median is reported. Also sweeps the ``unroll`` factor of the 100-substep ``fori_loop`` at one batch
size. Writes benchmarks/results/maze_env_cpu.json and prints a table.

    PYTHONPATH=src python benchmarks/bench_maze_env.py [--batches 1,16,64,256,1024] [--unrolls 1,2,4,10]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from near.envs import maze  # noqa: E402
from near.envs.maze import MazeEnv  # noqa: E402

STEPS = 50
REPEATS = 3


def make_rollout(env: MazeEnv):
    vstep = jax.vmap(env.step)

    @jax.jit
    def rollout(state, actions):
        def body(s, a):
            s, obs, reward, done, _ = vstep(s, a)
            return s, (obs, reward, done)

        return jax.lax.scan(body, state, actions)

    return rollout


def time_batch(env: MazeEnv, batch: int, seed: int = 0) -> dict:
    key_reset, key_act = jax.random.split(jax.random.PRNGKey(seed))
    state, _ = jax.vmap(env.reset)(jax.random.split(key_reset, batch))
    actions = jax.random.uniform(key_act, (STEPS, batch, 2), minval=-1.0, maxval=1.0)
    rollout = make_rollout(env)
    t0 = time.perf_counter()
    jax.block_until_ready(rollout(state, actions))  # compile + warm-up
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        jax.block_until_ready(rollout(state, actions))
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {
        "batch": batch,
        "steps_per_call": STEPS,
        "times_s": times,
        "median_s": med,
        "env_steps_per_s": batch * STEPS / med,
        "substeps_per_s": batch * STEPS * env.config.substeps / med,
        "compile_and_first_call_s": compile_s,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", default="1,16,64,256,1024")
    ap.add_argument("--unrolls", default="1,2,4,10", help="unroll factors to sweep ('' to skip)")
    ap.add_argument("--unroll-batch", type=int, default=256)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "maze_env_cpu.json"))
    args = ap.parse_args()

    env = MazeEnv()
    rows = [time_batch(env, int(b)) for b in args.batches.split(",")]
    print(f"maze env, CPU, unroll={maze.DEFAULT_UNROLL}, {STEPS} steps per call, median of {REPEATS}")
    print(f"{'batch':>6} {'env steps/s':>13} {'substeps/s':>13} {'ms/call':>9} {'compile s':>10}")
    for r in rows:
        print(
            f"{r['batch']:>6} {r['env_steps_per_s']:>13,.0f} {r['substeps_per_s']:>13,.0f} "
            f"{1e3 * r['median_s']:>9.2f} {r['compile_and_first_call_s']:>10.2f}"
        )

    sweep = []
    if args.unrolls:
        default = maze.DEFAULT_UNROLL
        try:
            for u in (int(x) for x in args.unrolls.split(",")):
                maze.DEFAULT_UNROLL = u  # read when physics_step is traced
                r = time_batch(MazeEnv(), args.unroll_batch)
                r["unroll"] = u
                sweep.append(r)
        finally:
            maze.DEFAULT_UNROLL = default
        print(f"\nunroll sweep at batch {args.unroll_batch}")
        print(f"{'unroll':>6} {'env steps/s':>13} {'compile s':>10}")
        for r in sweep:
            print(f"{r['unroll']:>6} {r['env_steps_per_s']:>13,.0f} {r['compile_and_first_call_s']:>10.2f}")

    result = {
        "benchmark": "maze_env_cpu",
        "what": "jit(vmap(MazeEnv.step)) scanned over 50 steps, random actions; median of 3 timed calls",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "processor": platform.processor(),
            "cpu_model": cpu_model(),
            "machine": platform.machine(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "jax": jax.__version__,
            "jax_backend": jax.default_backend(),
        },
        "default_unroll": maze.DEFAULT_UNROLL,
        "results": rows,
        "unroll_sweep": sweep,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
